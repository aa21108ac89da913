//! `Idempotency-Key` on `POST /api/orders`: a retried request never runs twice.
//!
//! The key is claimed in the idempotency store before the saga runs. The claim carries the
//! new order's id, so a retry after a crash (or after a 503) continues the *same* order:
//! every saga step is idempotent on the order id. Final answers (2xx and 4xx) are stored
//! and replayed; a 5xx releases the claim so the next retry proceeds at once.

use super::error::{ApiError, ApiResult};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use emporium_domain::model::{OrderId, OrderStatus};
use emporium_domain::ports::{IdempotencyClaim, Stores};
use emporium_domain::Error;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// Set on a replayed response.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";
/// How long a claim blocks duplicates before it counts as abandoned (its process died).
pub const LEASE: Duration = Duration::from_secs(30);
/// How long keys are kept.
pub const TTL: chrono::Duration = chrono::Duration::hours(24);

/// The request's key, if any: 1-255 printable ASCII characters.
pub fn key_of(req: &HttpRequest) -> ApiResult<Option<String>> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        .ok_or_else(|| {
            ApiError::BadRequest(format!("{HEADER} must be 1-255 printable ASCII characters"))
        })?;
    Ok(Some(key.to_owned()))
}

/// A digest of the request body that ignores key order and whitespace.
pub fn fingerprint(body: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(body, &mut canonical);
    format!("{:x}", Sha256::digest(canonical.as_bytes()))
}

/// JSON text with object keys sorted at every level (a dependency may turn on serde_json's
/// `preserve_order`, so map order cannot be relied on).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Runs `work` at most once per key, replaying its stored answer afterwards.
pub async fn run_once<F, Fut>(
    stores: &Stores,
    key: &str,
    fingerprint: &str,
    work: F,
) -> ApiResult<HttpResponse>
where
    F: FnOnce(Uuid) -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), Error>>,
{
    let claim = stores
        .idempotency
        .claim(key, fingerprint, Uuid::now_v7(), LEASE)
        .await?;
    let id = match claim {
        IdempotencyClaim::Proceed { id } => id,
        IdempotencyClaim::Replay { status, body } => {
            let status = StatusCode::from_u16(status)
                .map_err(|_| Error::Internal(format!("stored status {status} is not HTTP")))?;
            return Ok(HttpResponse::build(status)
                .insert_header((REPLAYED_HEADER, "true"))
                .json(body));
        }
        IdempotencyClaim::Mismatch => {
            return Err(Error::Conflict(format!(
                "{HEADER} `{key}` was already used with a different request body"
            ))
            .into())
        }
        IdempotencyClaim::InFlight => {
            return Err(Error::Conflict(format!(
                "a request with {HEADER} `{key}` is still in flight; retry shortly"
            ))
            .into())
        }
    };
    let (status, body) = match work(id).await {
        Ok(answer) => answer,
        Err(e) => {
            let api = ApiError::from(e);
            if api.status_code().is_server_error() {
                let resume = resume_id(stores, id).await;
                if let Err(re) = stores.idempotency.release(key, resume).await {
                    tracing::warn!(key, error = %re, "could not release an idempotency key");
                }
                return Err(api);
            }
            (api.status_code(), api.body())
        }
    };
    if let Err(e) = stores
        .idempotency
        .complete(key, status.as_u16(), &body)
        .await
    {
        tracing::error!(key, error = %e, "could not store the response of an idempotent request");
    }
    Ok(HttpResponse::build(status).json(body))
}

/// The order a retry after a 5xx should work on: the same one while it can still go
/// forward (not created yet, pending, or sold), a fresh one when the failed attempt was
/// compensated (its order is `failed` or `cancelled` for good). When the ledger cannot be
/// asked, the same one: the saga then answers from the order's final state.
async fn resume_id(stores: &Stores, id: Uuid) -> Uuid {
    match stores.orders.get(OrderId::from(id)).await {
        Ok(Some(order)) if matches!(order.status, OrderStatus::Failed | OrderStatus::Cancelled) => {
            Uuid::now_v7()
        }
        _ => id,
    }
}

/// Deletes keys older than [`TTL`] every `every`, for as long as the process runs.
pub async fn sweep(stores: Stores, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match stores
            .idempotency
            .purge(emporium_domain::model::now() - TTL)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired idempotency keys removed"),
            Err(e) => tracing::warn!(error = %e, "idempotency sweep failed; will retry"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint;
    use serde_json::json;

    #[test]
    fn fingerprint_ignores_key_order_but_not_values() {
        let a = json!({"a": 1, "b": {"x": [1, {"p": 1, "q": 2}], "y": "s"}});
        let b = json!({"b": {"y": "s", "x": [1, {"q": 2, "p": 1}]}, "a": 1});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let c = json!({"b": {"y": "s", "x": [{"q": 2, "p": 1}, 1]}, "a": 1});
        assert_ne!(fingerprint(&a), fingerprint(&c), "array order matters");
        assert_ne!(fingerprint(&json!({"a": 1})), fingerprint(&json!({"a": 2})));
    }
}
