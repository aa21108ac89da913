//! `/api/admin/*`: operator routes behind `Authorization: Bearer <admin token>`.

use super::dto::ErrorBody;
use super::error::{ApiError, ApiResult};
use super::query;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use emporium_domain::model::SagaState;
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/sagas")
            .route(web::get().to(list_sagas))
            .default_service(super::not_allowed("GET")),
    );
}

/// Refuses the request unless it carries the configured admin token. With no token
/// configured, admin routes are closed.
fn require_admin(req: &HttpRequest, state: &AppState) -> ApiResult<()> {
    let Some(expected) = state.admin_token.as_deref() else {
        return Err(ApiError::Unauthorized(
            "admin routes are disabled: set EMPORIUM_ADMIN_TOKEN",
        ));
    };
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::Unauthorized("missing or wrong admin token")),
    }
}

/// Compares without an early exit, so response time does not leak the token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sagas by state (`running`, `compensating`, `completed`, `compensated`, `stuck`;
/// default `stuck`), oldest first: what recovery has not finished yet.
#[utoipa::path(get, path = "/api/admin/sagas", tag = "operations",
    params(("state" = Option<String>, Query, pattern = r"^(running|compensating|completed|compensated|stuck)$"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500)),
    responses((status = 200, description = "sagas in that state"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn list_sagas(
    req: HttpRequest,
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    require_admin(&req, &state)?;
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
