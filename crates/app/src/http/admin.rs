//! `/api/admin/*`: operator routes behind `Authorization: Bearer <admin token>`.

use super::dto::ErrorBody;
use super::error::{ApiError, ApiResult};
use super::query;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse, ResponseError};
use emporium_domain::model::{AdminScope, AuditEntry, SagaState};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(from_fn(guard))
            .service(
                web::resource("/sagas")
                    .route(web::get().to(list_sagas))
                    .default_service(super::not_allowed("GET")),
            )
            .configure(super::backups::routes)
            .configure(super::topology::routes)
            .service(
                web::resource("/audit")
                    .route(web::get().to(audit_log))
                    .default_service(super::not_allowed("GET")),
            )
            .default_service(web::to(super::no_route)),
    );
}

/// The name of the admin token a request came with (set by the guard): who, in the audit
/// and backup logs.
#[derive(Debug, Clone)]
pub struct AdminActor(pub String);

/// The scope a request needs: reading for `GET` and `HEAD`, writing for anything else.
fn needed(method: &Method) -> AdminScope {
    if matches!(*method, Method::GET | Method::HEAD) {
        AdminScope::Read
    } else {
        AdminScope::Write
    }
}

fn bearer(req: &ServiceRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
}

/// In front of every admin route: with no token configured the routes do not exist
/// (404); otherwise the request needs a known token (401) of a scope that allows it
/// (403). Every call that reaches this point with tokens configured goes into the audit
/// log, with the token's name (never the token) and the answer.
async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("no app state"));
    };
    if state.admin_tokens.is_empty() {
        let error = ApiError::NoRoute(format!(
            "no route for {} {} (admin routes are off: no admin token is configured)",
            req.method(),
            req.path()
        ));
        return Ok(req.into_response(error.error_response()));
    }
    let (method, path) = (req.method().to_string(), req.path().to_owned());
    let token = bearer(&req)
        .and_then(|t| state.admin_tokens.authenticate(t))
        .cloned();
    let actor = token.as_ref().map(|t| t.name.clone());
    let response = match &token {
        None => req.into_response(
            ApiError::Unauthorized("missing or unknown admin token").error_response(),
        ),
        Some(t) if !t.scope.allows(needed(req.method())) => req
            .into_response(ApiError::Forbidden("this admin token may only read").error_response()),
        Some(t) => {
            actix_web::HttpMessage::extensions_mut(&req).insert(AdminActor(t.name.clone()));
            next.call(req).await?.map_into_boxed_body()
        }
    };
    let entry = AuditEntry::new(actor, &method, &path, response.status().as_u16());
    tracing::info!(actor = ?entry.actor, method, path, status = entry.status, "admin call");
    if let Err(e) = state.audit.record(&entry).await {
        tracing::error!(error = %e, actor = ?entry.actor, method, path, status = entry.status,
            "the admin call could not be written to the audit log");
    }
    Ok(response)
}

/// The audit log: every admin call (who: the token's name; what; when; the answer),
/// newest first, paged.
#[utoipa::path(get, path = "/api/admin/audit", tag = "operations",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 500),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, description = "audit entries, newest first"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn audit_log(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let page = state.audit.entries(query::page(&pairs)?).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Sagas by state (`running`, `compensating`, `completed`, `compensated`, `stuck`;
/// default `stuck`), oldest first: what recovery has not finished yet.
#[utoipa::path(get, path = "/api/admin/sagas", tag = "operations",
    params(("state" = Option<String>, Query, pattern = r"^(running|compensating|completed|compensated|stuck)$"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500)),
    responses((status = 200, description = "sagas in that state"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn list_sagas(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let saga_state = match pairs.iter().rev().find(|(k, _)| k == "state") {
        Some((_, v)) => v
            .parse::<SagaState>()
            .map_err(|e| ApiError::BadRequest(format!("query parameter `state`: {e}")))?,
        None => SagaState::Stuck,
    };
    let page = query::page(&pairs)?;
    let sagas = state.recovery.sagas_in(saga_state, page.limit).await?;
    let total = sagas.len();
    Ok(HttpResponse::Ok().json(json!({
        "items": sagas, "total": total, "limit": page.limit, "offset": 0
    })))
}
