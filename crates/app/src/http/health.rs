//! `GET /api/health`: one check per configured store.

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health));
}

/// 200 `{"status": "ok", "checks": {...}}` when every store answers, 503 naming the
/// failing one otherwise.
#[utoipa::path(get, path = "/api/health", tag = "operations",
    responses((status = 200, description = "every store answers"),
        (status = 503, description = "a store is down; its check names the problem")))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let results = state.backend.check_health().await;
    let healthy = results.iter().all(|(_, r)| r.is_ok());
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
    let body = json!({"status": if healthy { "ok" } else { "unavailable" }, "checks": checks});
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", super::error::RETRY_AFTER_SECS.to_string()))
            .json(body)
    }
}
