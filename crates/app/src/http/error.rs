//! The one place where errors become HTTP responses.
//!
//! Every handler returns `Result<_, ApiError>`; `ApiError` wraps the domain's typed
//! [`Error`] and the few errors only HTTP knows (a malformed body or query). Each variant maps
//! to exactly one status and one contract error code.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use emporium_domain::Error;
use serde_json::{json, Value};

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u32 = 5;

/// An error on its way to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] Error),
    /// Malformed JSON or query string (400 `bad_request`).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed JSON whose values have the wrong type (422 `validation_failed`).
    #[error("{0}")]
    BadBody(String),
    /// The request body is larger than the limit (413).
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// Missing or wrong admin token (401 `unauthorized`).
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such route or resource (404).
    #[error("{0}")]
    NoRoute(String),
    /// The route exists, the method does not (405).
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Domain(e) => match e {
                Error::Validation(_) => "validation_failed",
                Error::NotFound(_) => "not_found",
                Error::Conflict(_) => "conflict",
                Error::InsufficientStock(_) => "insufficient_stock",
                Error::PriceChanged(_) => "price_changed",
                Error::Forbidden(_) => "forbidden",
                Error::InvalidTransition { .. } => "invalid_transition",
                Error::PaymentDeclined { .. } => "payment_declined",
                Error::Unavailable(_) => "unavailable",
                Error::Maintenance => "maintenance",
                Error::OutsideWindow { .. } => "validation_failed",
                Error::JobRunning { .. } => "conflict",
                Error::NotSharded(_) => "not_sharded",
                Error::Internal(_) => "internal",
            },
            ApiError::BadRequest(_) => "bad_request",
            ApiError::BadBody(_) => "validation_failed",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NoRoute(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The `error` object of the body: code, message and the details each case carries.
    pub fn body(&self) -> Value {
        let message = match self {
            ApiError::Domain(Error::Internal(_)) => "internal error".to_string(),
            ApiError::Domain(Error::Validation(_)) => "request validation failed".to_string(),
            other => other.to_string(),
        };
        let mut error = json!({"code": self.code(), "message": message});
        match self {
            ApiError::Domain(Error::Validation(fields)) => error["details"] = json!(fields),
            ApiError::Domain(Error::InsufficientStock(short)) => error["details"] = json!(short),
            ApiError::Domain(Error::PriceChanged(changes)) => {
                error["details"] = json!(changes
                    .iter()
                    .map(|c| json!({"product_id": c.product_id, "old": c.old.to_string(),
                                    "new": c.new.to_string(), "currency": c.new.currency().to_string()}))
                    .collect::<Vec<_>>())
            }
            ApiError::Domain(Error::PaymentDeclined { order_id, .. }) => {
                error["order_id"] = json!(order_id)
            }
            ApiError::Domain(Error::JobRunning { job_id }) => error["job_id"] = json!(job_id),
            ApiError::Domain(Error::OutsideWindow { message, from, to }) => {
                error["details"] = json!([{"field": "to", "message": message}]);
                error["window"] = json!({"from": from, "to": to});
            }
            ApiError::Domain(Error::InvalidTransition { from, to }) => {
                error["details"] = json!([{"from": from, "to": to}])
            }
            ApiError::BadBody(message) => {
                error["details"] = json!([{"field": "body", "message": message}])
            }
            _ => {}
        }
        json!({ "error": error })
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Domain(e) => match e {
                Error::Validation(_) | Error::OutsideWindow { .. } => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                Error::NotFound(_) => StatusCode::NOT_FOUND,
                Error::Conflict(_)
                | Error::NotSharded(_)
                | Error::JobRunning { .. }
                | Error::InsufficientStock(_)
                | Error::PriceChanged(_)
                | Error::InvalidTransition { .. } => StatusCode::CONFLICT,
                Error::Forbidden(_) => StatusCode::FORBIDDEN,
                Error::PaymentDeclined { .. } => StatusCode::PAYMENT_REQUIRED,
                Error::Unavailable(_) | Error::Maintenance => StatusCode::SERVICE_UNAVAILABLE,
                Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BadBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        if let ApiError::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(self.body())
    }
}

/// Shorthand for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// Actix's body errors, as contract errors: syntax errors are 400, type errors 422.
pub fn json_error(err: actix_web::error::JsonPayloadError, limit: usize) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Deserialize(e) if e.is_data() => ApiError::BadBody(e.to_string()),
        E::Deserialize(e) => ApiError::BadRequest(format!("malformed JSON: {e}")),
        E::ContentType => {
            ApiError::BadRequest("expected a JSON body with Content-Type: application/json".into())
        }
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::TooLarge(limit),
        other => ApiError::BadRequest(format!("unreadable body: {other}")),
    }
}
