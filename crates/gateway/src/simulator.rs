//! A payment gateway simulator: the subset of Stripe's PaymentIntents API that
//! [`HttpPaymentGateway`](crate::HttpPaymentGateway) speaks, in memory, with test tokens that
//! make it fail the way real gateways do. The `emporium-gateway-simulator` binary serves it.
//!
//! Tokens (the `payment_method` of an authorization):
//!
//! | token | answer |
//! |---|---|
//! | `tok_visa`, any other `tok_…` | 200, intent `requires_capture` (authorized) |
//! | `tok_chargeDeclined…` | 402 `card_error` (`card_declined`; suffixes such as `InsufficientFunds`, `ExpiredCard` pick the code) |
//! | anything not starting with `tok_` | 402 `card_error` `invalid_payment_method` |
//! | `tok_timeout` | authorizes and records the answer, then waits `slow` before sending it: the client times out while the payment exists |
//! | `tok_flaky` | 500 to the first attempt of each idempotency key (nothing authorized), then as `tok_visa` |
//! | `tok_unavailable` | 503, always, nothing authorized |
//!
//! Idempotency as Stripe: a request that got as far as being processed is stored under its
//! `Idempotency-Key`; the same key with the same method, path and body gets the stored
//! status and body again (header `Idempotent-Replayed: true`), without acting twice; with
//! other parameters it gets 400 `idempotency_error`. Failures before processing (bad
//! parameters, 500, 503) are not stored, so a retry is processed anew.
//!
//! Every `/v1` request needs `Authorization: Bearer <api key>` (401 otherwise).
//! `GET /__sim/stats` (no key needed) counts, per idempotency key, the authorization
//! requests received (`requests`) and the authorizations performed (`authorizations`), and
//! per intent id the cancellations and refunds performed.
//!
//! Lenient where Stripe is strict: an uncaptured (`requires_capture`) intent can be
//! refunded, since the port has no capture step.

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::TcpListener;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The API key the simulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sk_test_emporium";

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The one key accepted in `Authorization: Bearer <key>`.
    pub api_key: String,
    /// How long `tok_timeout` authorizations wait before answering.
    pub slow: Duration,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            api_key: DEFAULT_API_KEY.into(),
            slow: Duration::from_secs(3),
        }
    }
}

/// The simulator's routes and in-memory state; clones share the state.
#[derive(Clone)]
pub struct Simulator {
    shared: web::Data<Shared>,
}

struct Shared {
    config: SimulatorConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// In creation order.
    intents: Vec<IntentRecord>,
    /// Idempotency key -> the answer given.
    responses: HashMap<String, Stored>,
    /// Keys whose first `tok_flaky` attempt already failed.
    flaky_seen: HashSet<String>,
    requests: BTreeMap<String, u32>,
    authorizations: BTreeMap<String, u32>,
    cancellations: BTreeMap<String, u32>,
    refunds: BTreeMap<String, u32>,
}

struct Stored {
    fingerprint: String,
    status: u16,
    body: Value,
}

struct IntentRecord {
    id: String,
    amount: i64,
    currency: String,
    payment_method: String,
    status: &'static str,
    metadata: Map<String, Value>,
    created: u64,
    last_payment_error: Option<Value>,
    refunded: i64,
}

impl IntentRecord {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": if self.status == "requires_capture" { self.amount } else { 0 },
            "amount_refunded": self.refunded,
            "currency": self.currency,
            "capture_method": "manual",
            "payment_method": self.payment_method,
            "status": self.status,
            "metadata": self.metadata,
            "created": self.created,
            "last_payment_error": self.last_payment_error,
            "livemode": false,
        })
    }
}

/// What a handler decided, before idempotency storage and the optional delay.
struct Reply {
    status: u16,
    body: Value,
    /// Stored under the idempotency key (the request was processed).
    store: bool,
    delay: Option<Duration>,
}

impl Reply {
    fn processed(status: u16, body: Value) -> Self {
        Reply {
            status,
            body,
            store: true,
            delay: None,
        }
    }

    fn refused(status: u16, body: Value) -> Self {
        Reply {
            store: false,
            ..Reply::processed(status, body)
        }
    }
}

fn error_body(kind: &str, code: Option<&str>, param: Option<&str>, message: &str) -> Value {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    json!({ "error": error })
}

fn invalid(param: &str, message: &str) -> Reply {
    Reply::refused(
        400,
        error_body(
            "invalid_request_error",
            Some("parameter_invalid"),
            Some(param),
            message,
        ),
    )
}

fn respond(status: u16, body: Value) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(body)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

fn bump(counts: &mut BTreeMap<String, u32>, key: &str) {
    *counts.entry(key.to_owned()).or_default() += 1;
}

/// The card error a declining token stands for, as Stripe's test tokens do.
fn decline_for(token: &str) -> Value {
    let (code, decline_code, message) = match token.strip_prefix("tok_chargeDeclined") {
        Some("InsufficientFunds") => (
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
        Some("LostCard") => (
            "card_declined",
            Some("lost_card"),
            "Your card was declined.",
        ),
        Some("StolenCard") => (
            "card_declined",
            Some("stolen_card"),
            "Your card was declined.",
        ),
        Some("Fraudulent") => (
            "card_declined",
            Some("fraudulent"),
            "Your card was declined.",
        ),
        Some("ExpiredCard") => ("expired_card", None, "Your card has expired."),
        Some("IncorrectCvc") => (
            "incorrect_cvc",
            None,
            "Your card's security code is incorrect.",
        ),
        Some("ProcessingError") => (
            "processing_error",
            None,
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        Some(_) => (
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        ),
        None => (
            "invalid_payment_method",
            None,
            "The payment method token is invalid.",
        ),
    };
    let mut error = json!({
        "type": "card_error",
        "code": code,
        "message": message,
        "param": "payment_method",
    });
    if let Some(decline_code) = decline_code {
        error["decline_code"] = json!(decline_code);
    }
    error
}

/// `metadata['key']:'value'` (either quote), the one search clause the simulator knows.
fn parse_metadata_query(query: &str) -> Option<(String, String)> {
    let rest = query.trim().strip_prefix("metadata[")?;
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &rest[1..];
    let (key, rest) = rest.split_once(quote)?;
    let rest = rest.strip_prefix("]:")?;
    let value = rest.strip_prefix(quote)?.strip_suffix(quote)?;
    if key.is_empty() || value.contains(quote) {
        return None;
    }
    Some((key.to_owned(), value.to_owned()))
}

impl Simulator {
    pub fn new(config: SimulatorConfig) -> Self {
        Simulator {
            shared: web::Data::new(Shared {
                config,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Registers the routes and the state on an actix-web `App`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.shared.clone())
            .route("/v1/payment_intents", web::post().to(create_intent))
            .route("/v1/payment_intents/search", web::get().to(search_intents))
            .route(
                "/v1/payment_intents/{id}/cancel",
                web::post().to(cancel_intent),
            )
            .route("/v1/refunds", web::post().to(create_refund))
            .route("/__sim/stats", web::get().to(stats))
            .default_service(web::to(|| async {
                respond(
                    404,
                    error_body(
                        "invalid_request_error",
                        None,
                        None,
                        "Unrecognized request URL.",
                    ),
                )
            }));
    }

    /// An HTTP server on `listener` (already bound, so the caller knows the port). Await the
    /// returned [`Server`] to run it.
    pub fn serve(self, listener: TcpListener) -> std::io::Result<Server> {
        let server = HttpServer::new(move || {
            let simulator = self.clone();
            actix_web::App::new().configure(move |cfg| simulator.configure(cfg))
        })
        .workers(2)
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        Ok(server)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The 401 answer when the request lacks our bearer key.
    fn unauthenticated(&self, req: &HttpRequest) -> Option<HttpResponse> {
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented == Some(self.config.api_key.as_str()) {
            return None;
        }
        let message = match presented {
            Some(_) => "Invalid API Key provided.",
            None => "You did not provide an API key. Provide it as `Authorization: Bearer <key>`.",
        };
        Some(respond(
            401,
            error_body("invalid_request_error", None, None, message),
        ))
    }
}

fn idempotency_key(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The JSON object a POST carries (an empty body is `{}`), `None` when it is not one.
fn parse_body(body: &[u8]) -> Option<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(json!({}));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

fn bad_body() -> HttpResponse {
    respond(
        400,
        error_body(
            "invalid_request_error",
            None,
            None,
            "The request body must be a JSON object.",
        ),
    )
}

/// Runs `handle` once per idempotency key and parameters: replays the stored answer for a
/// repeated request, refuses a key reused with other parameters.
async fn idempotent(
    req: &HttpRequest,
    shared: &Shared,
    body: &Value,
    handle: impl FnOnce(&mut State, &SimulatorConfig) -> Reply,
) -> HttpResponse {
    let key = idempotency_key(req);
    let fingerprint = format!("{} {} {body}", req.method(), req.path());
    let reply = {
        let mut state = shared.lock();
        if let Some(stored) = key.as_ref().and_then(|k| state.responses.get(k)) {
            if stored.fingerprint == fingerprint {
                let mut response = respond(stored.status, stored.body.clone());
                response.headers_mut().insert(
                    actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
                    actix_web::http::header::HeaderValue::from_static("true"),
                );
                return response;
            }
            let message = format!(
                "Keys for idempotent requests can only be used with the same parameters they \
                 were first used with. Try using a key other than '{}' if you meant to \
                 execute a different request.",
                key.as_deref().unwrap_or_default()
            );
            return respond(400, error_body("idempotency_error", None, None, &message));
        }
        let reply = handle(&mut state, &shared.config);
        if let (true, Some(key)) = (reply.store, key) {
            state.responses.insert(
                key,
                Stored {
                    fingerprint,
                    status: reply.status,
                    body: reply.body.clone(),
                },
            );
        }
        reply
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    respond(reply.status, reply.body)
}

async fn create_intent(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    if let Some(refusal) = shared.unauthenticated(&req) {
        return refusal;
    }
    let Some(params) = parse_body(&body) else {
        return bad_body();
    };
    let key = idempotency_key(&req)
        .or_else(|| params["metadata"]["order_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "(none)".into());
    bump(&mut shared.lock().requests, &key);
    idempotent(&req, &shared, &params, |state, config| {
        authorize(state, config, &key, &params)
    })
    .await
}

fn authorize(state: &mut State, config: &SimulatorConfig, key: &str, params: &Value) -> Reply {
    let Some(amount) = params["amount"].as_i64().filter(|a| *a >= 0) else {
        return invalid(
            "amount",
            "amount must be a non-negative integer in minor units",
        );
    };
    let Some(currency) = params["currency"]
        .as_str()
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_lowercase()))
    else {
        return invalid("currency", "currency must be a lower-case ISO 4217 code");
    };
    let Some(token) = params["payment_method"].as_str() else {
        return invalid("payment_method", "payment_method is required");
    };
    let metadata = match &params["metadata"] {
        Value::Null => Map::new(),
        Value::Object(m) if m.values().all(Value::is_string) => m.clone(),
        _ => return invalid("metadata", "metadata must map keys to strings"),
    };
    match token {
        "tok_unavailable" => {
            return Reply::refused(
                503,
                error_body(
                    "api_error",
                    None,
                    None,
                    "The gateway is temporarily unavailable.",
                ),
            )
        }
        "tok_flaky" if state.flaky_seen.insert(key.to_owned()) => {
            return Reply::refused(
                500,
                error_body(
                    "api_error",
                    None,
                    None,
                    "An unexpected error occurred; nothing was charged.",
                ),
            )
        }
        _ => {}
    }
    let decline = (!token.starts_with("tok_") || token.starts_with("tok_chargeDeclined"))
        .then(|| decline_for(token));
    let intent = IntentRecord {
        id: new_id("pi"),
        amount,
        currency: currency.to_owned(),
        payment_method: token.to_owned(),
        status: if decline.is_some() {
            "requires_payment_method"
        } else {
            "requires_capture"
        },
        metadata,
        created: now(),
        last_payment_error: decline.clone(),
        refunded: 0,
    };
    let intent_json = intent.to_json();
    state.intents.push(intent);
    bump(&mut state.authorizations, key);
    let mut reply = match decline {
        None => Reply::processed(200, intent_json),
        Some(mut error) => {
            error["payment_intent"] = intent_json;
            Reply::processed(402, json!({ "error": error }))
        }
    };
    if token == "tok_timeout" {
        reply.delay = Some(config.slow);
    }
    reply
}

async fn search_intents(
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    if let Some(refusal) = shared.unauthenticated(&req) {
        return refusal;
    }
    let Some((field, value)) = query.get("query").and_then(|q| parse_metadata_query(q)) else {
        let Reply { status, body, .. } = invalid(
            "query",
            "the simulator only searches `metadata['<key>']:'<value>'`",
        );
        return respond(status, body);
    };
    let state = shared.lock();
    let data: Vec<Value> = state
        .intents
        .iter()
        .filter(|i| i.metadata.get(&field).and_then(Value::as_str) == Some(value.as_str()))
        .map(IntentRecord::to_json)
        .collect();
    respond(
        200,
        json!({
            "object": "search_result",
            "url": "/v1/payment_intents/search",
            "has_more": false,
            "next_page": null,
            "data": data,
        }),
    )
}

fn no_such_intent(id: &str, param: &str) -> Reply {
    Reply::refused(
        404,
        error_body(
            "invalid_request_error",
            Some("resource_missing"),
            Some(param),
            &format!("No such payment_intent: '{id}'"),
        ),
    )
}

fn unexpected_state(intent: &IntentRecord, action: &str) -> Reply {
    let mut body = error_body(
        "invalid_request_error",
        Some("payment_intent_unexpected_state"),
        None,
        &format!(
            "You cannot {action} this PaymentIntent because it has a status of {}.",
            intent.status
        ),
    );
    body["error"]["payment_intent"] = intent.to_json();
    Reply::processed(400, body)
}

async fn cancel_intent(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    if let Some(refusal) = shared.unauthenticated(&req) {
        return refusal;
    }
    let Some(params) = parse_body(&body) else {
        return bad_body();
    };
    let id = path.into_inner();
    idempotent(&req, &shared, &params, |state, _| {
        let Some(intent) = state.intents.iter_mut().find(|i| i.id == id) else {
            return no_such_intent(&id, "intent");
        };
        if matches!(intent.status, "canceled" | "succeeded") {
            return unexpected_state(intent, "cancel");
        }
        intent.status = "canceled";
        let answer = intent.to_json();
        bump(&mut state.cancellations, &id);
        Reply::processed(200, answer)
    })
    .await
}

async fn create_refund(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    if let Some(refusal) = shared.unauthenticated(&req) {
        return refusal;
    }
    let Some(params) = parse_body(&body) else {
        return bad_body();
    };
    idempotent(&req, &shared, &params, |state, _| {
        let Some(id) = params["payment_intent"].as_str() else {
            return invalid("payment_intent", "payment_intent is required");
        };
        let requested = match &params["amount"] {
            Value::Null => None,
            amount => match amount.as_i64().filter(|a| *a > 0) {
                Some(a) => Some(a),
                None => return invalid("amount", "amount must be a positive integer"),
            },
        };
        let Some(intent) = state.intents.iter_mut().find(|i| i.id == id) else {
            return no_such_intent(id, "payment_intent");
        };
        if !matches!(intent.status, "requires_capture" | "succeeded") {
            return unexpected_state(intent, "refund");
        }
        let remaining = intent.amount - intent.refunded;
        let amount = requested.unwrap_or(remaining);
        if remaining == 0 {
            return Reply::processed(
                400,
                error_body(
                    "invalid_request_error",
                    Some("charge_already_refunded"),
                    None,
                    &format!("PaymentIntent {id} has already been refunded."),
                ),
            );
        }
        if amount > remaining {
            return Reply::processed(
                400,
                error_body(
                    "invalid_request_error",
                    Some("amount_too_large"),
                    Some("amount"),
                    &format!(
                        "Refund amount ({amount}) is greater than unrefunded amount ({remaining})."
                    ),
                ),
            );
        }
        intent.refunded += amount;
        let refund = json!({
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent.currency,
            "payment_intent": id,
            "status": "succeeded",
            "created": now(),
        });
        bump(&mut state.refunds, id);
        Reply::processed(200, refund)
    })
    .await
}

async fn stats(shared: web::Data<Shared>) -> HttpResponse {
    let state = shared.lock();
    respond(
        200,
        json!({
            "requests": state.requests,
            "authorizations": state.authorizations,
            "cancellations": state.cancellations,
            "refunds": state.refunds,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test;

    const BEARER: (&str, &str) = ("Authorization", "Bearer sk_test_emporium");

    fn authorization(key: &str, amount: i64, token: &str) -> test::TestRequest {
        test::TestRequest::post()
            .uri("/v1/payment_intents")
            .insert_header(BEARER)
            .insert_header(("Idempotency-Key", key))
            .set_json(json!({
                "amount": amount, "currency": "usd", "capture_method": "manual",
                "confirm": true, "payment_method": token, "metadata": {"order_id": key},
            }))
    }

    #[actix_web::test]
    async fn parses_the_metadata_search_clause() {
        assert_eq!(
            parse_metadata_query("metadata['order_id']:'abc'"),
            Some(("order_id".into(), "abc".into()))
        );
        assert_eq!(
            parse_metadata_query(r#"metadata["order_id"]:"abc""#),
            Some(("order_id".into(), "abc".into()))
        );
        assert_eq!(parse_metadata_query("status:'succeeded'"), None);
        assert_eq!(parse_metadata_query("metadata['order_id']:'a'b'"), None);
    }

    #[actix_web::test]
    async fn replays_a_repeated_request_and_refuses_changed_parameters() {
        let sim = Simulator::new(SimulatorConfig::default());
        let app = test::init_service(actix_web::App::new().configure(|c| sim.configure(c))).await;

        let first =
            test::call_service(&app, authorization("k1", 1000, "tok_visa").to_request()).await;
        assert_eq!(first.status(), 200);
        let first: Value = test::read_body_json(first).await;
        let again =
            test::call_service(&app, authorization("k1", 1000, "tok_visa").to_request()).await;
        assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
        let again: Value = test::read_body_json(again).await;
        assert_eq!(first, again);

        let changed =
            test::call_service(&app, authorization("k1", 2000, "tok_visa").to_request()).await;
        assert_eq!(changed.status(), 400);
        let changed: Value = test::read_body_json(changed).await;
        assert_eq!(changed["error"]["type"], "idempotency_error");

        let stats: Value = test::call_and_read_body_json(
            &app,
            test::TestRequest::get().uri("/__sim/stats").to_request(),
        )
        .await;
        assert_eq!(stats["authorizations"]["k1"], 1);
        assert_eq!(stats["requests"]["k1"], 3);
    }

    #[actix_web::test]
    async fn wants_the_api_key() {
        let sim = Simulator::new(SimulatorConfig::default());
        let app = test::init_service(actix_web::App::new().configure(|c| sim.configure(c))).await;
        let request = test::TestRequest::get()
            .uri("/v1/payment_intents/search?query=metadata%5B%27order_id%27%5D%3A%27x%27")
            .to_request();
        assert_eq!(test::call_service(&app, request).await.status(), 401);
        let request = authorization("k2", 100, "tok_visa")
            .insert_header(("Authorization", "Bearer sk_wrong"))
            .to_request();
        assert_eq!(test::call_service(&app, request).await.status(), 401);
    }

    #[actix_web::test]
    async fn declines_by_token_and_refunds_once() {
        let sim = Simulator::new(SimulatorConfig::default());
        let app = test::init_service(actix_web::App::new().configure(|c| sim.configure(c))).await;
        let declined = test::call_service(
            &app,
            authorization("k3", 100, "tok_chargeDeclinedInsufficientFunds").to_request(),
        )
        .await;
        assert_eq!(declined.status(), 402);
        let declined: Value = test::read_body_json(declined).await;
        assert_eq!(declined["error"]["decline_code"], "insufficient_funds");
        assert_eq!(
            declined["error"]["payment_intent"]["status"],
            "requires_payment_method"
        );

        let approved: Value =
            test::call_and_read_body_json(&app, authorization("k4", 100, "tok_visa").to_request())
                .await;
        let refund = |key: &str| {
            test::TestRequest::post()
                .uri("/v1/refunds")
                .insert_header(BEARER)
                .insert_header(("Idempotency-Key", key))
                .set_json(json!({"payment_intent": approved["id"], "amount": 100}))
                .to_request()
        };
        assert_eq!(test::call_service(&app, refund("r1")).await.status(), 200);
        let second = test::call_service(&app, refund("r2")).await;
        assert_eq!(second.status(), 400);
        let second: Value = test::read_body_json(second).await;
        assert_eq!(second["error"]["code"], "charge_already_refunded");
    }
}
