//! [`HttpPaymentGateway`]: the [`PaymentGateway`] port over a Stripe-style HTTP API.

use crate::config::HttpGatewayConfig;
use crate::error::GatewayError;
use crate::minor_units::to_minor_units;
use crate::wire::{answer_of, ApiError, ErrorBody, Intent, SearchResult};
use async_trait::async_trait;
use emporium_domain::model::{Money, OrderId};
use emporium_domain::ports::{Authorization, PaymentGateway};
use emporium_domain::Result;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tracing::Instrument;

/// A payment gateway reached over HTTP (Stripe's PaymentIntents API, or the simulator).
///
/// Cheap to share behind an `Arc`: it holds one connection pool.
#[derive(Debug, Clone)]
pub struct HttpPaymentGateway {
    http: reqwest::Client,
    base: Url,
    config: HttpGatewayConfig,
}

/// One HTTP exchange that ended with a status line and a body.
struct Answer {
    status: StatusCode,
    body: String,
}

impl Answer {
    fn json<T: DeserializeOwned>(&self) -> Result<T, GatewayError> {
        serde_json::from_str(&self.body).map_err(|e| {
            GatewayError::Protocol(format!(
                "HTTP {}: {e}: {}",
                self.status,
                excerpt(&self.body)
            ))
        })
    }

    /// The Stripe error object of a refusal, or one made up from the raw body.
    fn error(&self) -> ApiError {
        serde_json::from_str::<ErrorBody>(&self.body)
            .map(|b| b.error)
            .unwrap_or_else(|_| ApiError {
                message: Some(excerpt(&self.body)),
                ..ApiError::default()
            })
    }

    fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The error for an answer no operation has a better meaning for.
    fn refusal(&self) -> GatewayError {
        let error = self.error();
        match self.status.as_u16() {
            401 | 403 => GatewayError::Unauthorized {
                status: self.status.as_u16(),
                message: error.message(),
            },
            _ if error.kind == "idempotency_error" => GatewayError::KeyReused(error.message()),
            status => GatewayError::Rejected {
                status,
                code: error.code.clone().unwrap_or_else(|| error.kind.clone()),
                message: error.message(),
            },
        }
    }
}

/// Why one attempt ended without an answer.
enum AttemptError {
    /// Worth another attempt with the same idempotency key.
    Retry(String),
    /// Another attempt would fail the same way.
    Fatal(GatewayError),
}

/// Statuses that are not an answer: the request may or may not have been acted on (or
/// was refused for now), and repeating it with the same idempotency key is safe.
fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::CONFLICT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

fn excerpt(body: &str) -> String {
    const MAX: usize = 200;
    match body.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

/// A transport error with its causes ("error sending request: ... : connection refused").
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl HttpPaymentGateway {
    /// A gateway client for `config`; fails only on a configuration that cannot work.
    pub fn new(config: HttpGatewayConfig) -> Result<Self, GatewayError> {
        if config.attempts == 0 {
            return Err(GatewayError::Config("attempts must be at least 1".into()));
        }
        if config.timeout.is_zero() {
            return Err(GatewayError::Config("timeout must be positive".into()));
        }
        let base = Url::parse(&config.base_url)
            .map_err(|e| GatewayError::Config(format!("base_url `{}`: {e}", config.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(GatewayError::Config(format!(
                "base_url `{}` must be an http(s) URL",
                config.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .user_agent(concat!("emporium-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::Config(describe(&e)))?;
        Ok(HttpPaymentGateway { http, base, config })
    }

    pub fn config(&self) -> &HttpGatewayConfig {
        &self.config
    }

    /// `base_url` followed by `segments`, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("new() checked the base URL can hold a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// Sends a request until it gets an answer, at most `attempts` times, every time with
    /// the same idempotency key. Returns the first answer that is not retryable.
    async fn call(
        &self,
        op: &'static str,
        key: &str,
        method: Method,
        url: Url,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, GatewayError> {
        let span = tracing::info_span!("payment_gateway", op, key, attempt = tracing::field::Empty);
        let attempts = self.config.attempts;
        async {
            let mut last = String::new();
            for attempt in 1..=attempts {
                if attempt > 1 {
                    tokio::time::sleep(self.config.pause_before(attempt)).await;
                }
                tracing::Span::current().record("attempt", attempt);
                match self.attempt(&method, &url, idempotency_key, body).await {
                    Ok(answer) if !is_retryable(answer.status) => {
                        tracing::debug!(status = answer.status.as_u16(), "gateway answered");
                        return Ok(answer);
                    }
                    Ok(answer) => {
                        last = format!("HTTP {}: {}", answer.status, answer.error().message());
                    }
                    Err(AttemptError::Retry(why)) => last = why,
                    Err(AttemptError::Fatal(e)) => return Err(e),
                }
                tracing::warn!(error = %last, "gateway attempt failed");
            }
            tracing::warn!(error = %last, "gateway gave no answer; giving up");
            Err(GatewayError::Exhausted { attempts, last })
        }
        .instrument(span)
        .await
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, AttemptError> {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(&self.config.api_key);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        for (name, value) in trace_headers() {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let body = response.text().await?;
            Ok::<_, reqwest::Error>(Answer { status, body })
        };
        match tokio::time::timeout(self.config.timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) if e.is_builder() => {
                Err(AttemptError::Fatal(GatewayError::Config(describe(&e))))
            }
            Ok(Err(e)) => Err(AttemptError::Retry(describe(&e))),
            Err(_) => Err(AttemptError::Retry(format!(
                "no answer within {:?}",
                self.config.timeout
            ))),
        }
    }

    async fn authorize_payment(
        &self,
        key: OrderId,
        amount: &Money,
        token: &str,
    ) -> Result<Authorization, GatewayError> {
        let body = json!({
            "amount": to_minor_units(amount)?,
            "currency": amount.currency().as_str().to_ascii_lowercase(),
            "capture_method": "manual",
            "confirm": true,
            "payment_method": token,
            "metadata": { "order_id": key.to_string() },
        });
        let key_text = key.to_string();
        let url = self.url(&["v1", "payment_intents"]);
        let answer = self
            .call(
                "authorize",
                &key_text,
                Method::POST,
                url,
                Some(&key_text),
                Some(&body),
            )
            .await?;
        if answer.is_success() {
            let intent: Intent = answer.json()?;
            return answer_of(&intent).ok_or_else(|| {
                GatewayError::Protocol(format!(
                    "payment intent {} is `{}` after confirmation",
                    intent.id, intent.status
                ))
            });
        }
        let error = answer.error();
        match answer.status.as_u16() {
            402 => Ok(Authorization::Declined {
                reason: error.decline_reason(),
            }),
            // Stripe refuses an unknown payment method before creating an intent.
            400 if error.param.as_deref() == Some("payment_method") => {
                Ok(Authorization::Declined {
                    reason: "invalid payment token".into(),
                })
            }
            // The key was used with other parameters: the first answer stands, as the
            // port promises ("calling again with the same key MUST return the first answer").
            400 if error.kind == "idempotency_error" => {
                tracing::warn!(order_id = %key, "authorization repeated with other parameters; returning the first answer");
                self.find(key)
                    .await?
                    .ok_or_else(|| GatewayError::KeyReused(error.message()))
            }
            _ => Err(answer.refusal()),
        }
    }

    async fn find(&self, key: OrderId) -> Result<Option<Authorization>, GatewayError> {
        let mut url = self.url(&["v1", "payment_intents", "search"]);
        url.query_pairs_mut()
            .append_pair("query", &format!("metadata['order_id']:'{key}'"));
        let answer = self
            .call("lookup", &key.to_string(), Method::GET, url, None, None)
            .await?;
        if !answer.is_success() {
            return Err(answer.refusal());
        }
        let found: SearchResult = answer.json()?;
        // With idempotency keys there is one intent per order; should there be more (a key
        // expired), the first one created holds the first answer.
        let mut answers: Vec<_> = found
            .data
            .iter()
            .filter_map(|intent| answer_of(intent).map(|a| (intent.created, a)))
            .collect();
        answers.sort_by_key(|(created, _)| *created);
        Ok(answers.into_iter().next().map(|(_, answer)| answer))
    }

    async fn cancel(&self, reference: &str) -> Result<(), GatewayError> {
        let url = self.url(&["v1", "payment_intents", reference, "cancel"]);
        let idempotency_key = format!("void-{reference}");
        let answer = self
            .call(
                "void",
                reference,
                Method::POST,
                url,
                Some(&idempotency_key),
                Some(&json!({})),
            )
            .await?;
        if answer.is_success() {
            return Ok(());
        }
        let error = answer.error();
        let already_cancelled = error.code() == "payment_intent_unexpected_state"
            && error
                .payment_intent
                .as_ref()
                .is_some_and(|intent| intent.status == "canceled");
        match answer.status.as_u16() {
            400 if already_cancelled => Ok(()),
            404 => Err(GatewayError::UnknownIntent(reference.to_owned())),
            _ => Err(answer.refusal()),
        }
    }

    async fn refund_payment(&self, reference: &str, amount: &Money) -> Result<(), GatewayError> {
        let body = json!({ "payment_intent": reference, "amount": to_minor_units(amount)? });
        let url = self.url(&["v1", "refunds"]);
        let idempotency_key = format!("refund-{reference}");
        let answer = self
            .call(
                "refund",
                reference,
                Method::POST,
                url,
                Some(&idempotency_key),
                Some(&body),
            )
            .await?;
        if answer.is_success() {
            return Ok(());
        }
        match answer.status.as_u16() {
            400 if answer.error().code() == "charge_already_refunded" => Ok(()),
            404 => Err(GatewayError::UnknownIntent(reference.to_owned())),
            _ => Err(answer.refusal()),
        }
    }
}

#[async_trait]
impl PaymentGateway for HttpPaymentGateway {
    async fn authorize(
        &self,
        idempotency_key: OrderId,
        amount: &Money,
        token: &str,
    ) -> Result<Authorization> {
        Ok(self
            .authorize_payment(idempotency_key, amount, token)
            .await?)
    }

    async fn lookup(&self, idempotency_key: OrderId) -> Result<Option<Authorization>> {
        Ok(self.find(idempotency_key).await?)
    }

    async fn void(&self, reference: &str) -> Result<()> {
        Ok(self.cancel(reference).await?)
    }

    async fn refund(&self, reference: &str, amount: &Money) -> Result<()> {
        Ok(self.refund_payment(reference, amount).await?)
    }
}
/// The W3C trace context of the current span (`traceparent`, and `tracestate` when there
/// is one), so the gateway's side of a payment joins the order's trace (issue 12); empty
/// when traces are off.
pub fn trace_headers() -> Vec<(String, String)> {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = tracing::Span::current().context();
    let mut headers = std::collections::HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut headers));
    headers.into_iter().collect()
}

#[cfg(test)]
mod trace_tests {
    use super::trace_headers;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::prelude::*;

    /// Inside a span of a traced request, the gateway gets the span's W3C trace context;
    /// with traces off, no header at all.
    #[test]
    fn the_gateway_call_carries_the_current_trace() {
        assert!(trace_headers().is_empty(), "no trace, no header");
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_simple_exporter(opentelemetry_sdk::trace::InMemorySpanExporter::default())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("payment");
            let _entered = span.enter();
            use opentelemetry::trace::TraceContextExt;
            use tracing_opentelemetry::OpenTelemetrySpanExt;
            let trace_id = span.context().span().span_context().trace_id();
            let headers = trace_headers();
            let traceparent = headers
                .iter()
                .find(|(k, _)| k == "traceparent")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{headers:?}"));
            assert!(
                traceparent.starts_with(&format!("00-{trace_id}-")),
                "{traceparent}"
            );
        });
    }
}
