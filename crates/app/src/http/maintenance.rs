//! The write gate in front of the API: every write passes it (ADR 0015).
//!
//! A backup holds writes back for the instant of its consistent point; a restore refuses
//! them with 503 `maintenance` (and `Retry-After`) for its whole run. Reads (`GET`,
//! `HEAD`, `OPTIONS`) go on, except in the stretch where a restore replaces the stores'
//! contents (a half-loaded store would answer 404 for a product that exists before and
//! after). The admin routes and the health check never wait here.

use super::error::ApiError;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

pub async fn write_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path();
    if path.starts_with("/api/admin/") || path == "/api/health" {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("no app state"));
    };
    let gate = state.backups.gate();
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        if gate.replacing() {
            let refused = ApiError::from(emporium_domain::Error::Maintenance).error_response();
            return Ok(req.into_response(refused));
        }
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    match gate.admit().await {
        Ok(_pass) => Ok(next.call(req).await?.map_into_boxed_body()),
        Err(e) => Ok(req.into_response(ApiError::from(e).error_response())),
    }
}
