//! The write gate in front of the API: every write passes it (ADR 0015).
//!
//! A backup holds writes back for the instant of its consistent point; a restore refuses
//! them with 503 `maintenance` (and `Retry-After`) for its whole run. Reads (`GET`,
//! `HEAD`, `OPTIONS`) and the admin routes never wait here.

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
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if reads || req.path().starts_with("/api/admin/") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("no app state"));
    };
    match state.backups.gate().admit().await {
        Ok(_pass) => Ok(next.call(req).await?.map_into_boxed_body()),
        Err(e) => Ok(req.into_response(ApiError::from(e).error_response())),
    }
}
