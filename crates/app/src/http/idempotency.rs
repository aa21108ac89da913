//! `Idempotency-Key` on `POST /api/orders`: reading the header, and answering a keyed
//! placement. What a key means (claim, replay, continue after a crash) is the domain's:
//! `OrderService::place_idempotent`. This module only maps it to HTTP, and a replayed
//! outcome is mapped exactly like a first one, plus the `Idempotent-Replayed` header.

use super::dto::OrderResponse;
use super::error::{ApiError, ApiResult};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use emporium_domain::model::IdempotencyKey;
use emporium_domain::service::KeyedPlacement;

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// Set on a replayed response.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// The request's key, if any: 1-255 printable ASCII characters.
pub fn key_of(req: &HttpRequest) -> ApiResult<Option<IdempotencyKey>> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| "must be printable ASCII".to_owned())
        .and_then(IdempotencyKey::parse)
        .map_err(|e| ApiError::BadRequest(format!("{HEADER} {e}")))?;
    Ok(Some(key))
}

/// The answer to a keyed placement: 201 with the order, or the refusal's error, either
/// marked as a replay when nothing ran this time.
pub fn respond(placement: KeyedPlacement) -> HttpResponse {
    let mut response = match placement.outcome {
        Ok(order) => HttpResponse::Created().json(OrderResponse::from(order)),
        Err(e) => ApiError::from(e).error_response(),
    };
    if placement.replayed {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
            actix_web::http::header::HeaderValue::from_static("true"),
        );
    }
    response
}
