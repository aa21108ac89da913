//! `GET /api/health`: one check per configured store.

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/health")
            .route(web::get().to(health))
            .default_service(super::not_allowed("GET")),
    );
}

/// 200 `{"status": "ok", "checks": {...}}` when every store answers; 503 (with
/// `Retry-After`) when one does not, naming it twice: its check reads `"unavailable: <why>"`,
/// and `failing` lists the stores that did not answer, e.g.
/// `{"status": "unavailable", "failing": ["postgres"], "checks": {"postgres": "unavailable:
/// timed out", "mongodb": "ok"}}`.
///
/// Every probe asks its store directly (never a cache or a fail-fast guard) and is bounded
/// by a timeout, so this answers within seconds whatever state the stores are in, and turns
/// back to 200 by itself once the store is back.
#[utoipa::path(get, path = "/api/health", tag = "operations",
    responses((status = 200, description = "every store answers"),
        (status = 503, description = "a store is down; `failing` names it and its check says why")))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let results = state.backend.check_health().await;
    let failing: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| *name)
        .collect();
    let checks: Map<String, Value> = results
        .into_iter()
        .map(|(name, r)| {
            let value = match r {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("unavailable: {e}"),
            };
            (name.to_string(), Value::String(value))
        })
        .collect();
    if failing.is_empty() {
        return HttpResponse::Ok().json(json!({"status": "ok", "checks": checks}));
    }
    tracing::warn!(?failing, "health check failed");
    HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", super::error::RETRY_AFTER_SECS.to_string()))
        .json(json!({"status": "unavailable", "failing": failing, "checks": checks}))
}
