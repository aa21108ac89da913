//! Distributed tracing (issue 12 part 3): one placed order is one trace, continuing the
//! client's W3C `traceparent`, with a span per saga step and per ledger call. The spans go
//! to an in-memory exporter; only traces a client started are sampled, so the other tests
//! of this binary export nothing.

use crate::helpers::TestApp;
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::OnceLock;
use tracing_subscriber::prelude::*;

static TRACES: OnceLock<(InMemorySpanExporter, SdkTracerProvider)> = OnceLock::new();

/// The process's subscriber with the OpenTelemetry layer, installed once.
fn traces() -> &'static (InMemorySpanExporter, SdkTracerProvider) {
    TRACES.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = emporium_app::telemetry::tracer_provider(
            SdkTracerProvider::builder()
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
                .with_simple_exporter(exporter.clone()),
        );
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(
                "info,sqlx=warn,mongodb=warn",
            ))
            .with(emporium_app::telemetry::otel_layer(&provider));
        let _ = tracing::subscriber::set_global_default(subscriber);
        (exporter, provider)
    })
}

pub async fn one_order_is_one_trace_with_its_saga_steps_and_store_calls(app: &TestApp) {
    let (exporter, provider) = traces();
    let product = app.product("Traced kettle", "kitchen", "20.00", 5).await;
    let trace_id = TraceId::from_hex(&uuid::Uuid::new_v4().simple().to_string()).unwrap();
    let client_span = SpanId::from_hex("00f067aa0ba902b7").unwrap();
    let response = app
        .client
        .post(app.url("/orders"))
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&json!({"customer_id": "traced", "items": [{"product_id": product["id"], "quantity": 1}],
                      "payment": {"method": "card", "token": "tok_visa"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let _ = provider.force_flush();
    let spans: Vec<SpanData> = exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.span_context.trace_id() == trace_id)
        .collect();
    let names: Vec<String> = spans.iter().map(|s| s.name.to_string()).collect();
    let by_id = |id: SpanId| spans.iter().find(|s| s.span_context.span_id() == id);
    let root = spans
        .iter()
        .find(|s| s.parent_span_id == client_span)
        .unwrap_or_else(|| panic!("no span continues the client's: {names:?}"));
    assert_eq!(root.name, "POST /api/orders", "{names:?}");
    // The request's span carries the trace id as a field, so every log line inside the
    // request (the fmt layer prints its spans' fields) carries it too.
    assert!(
        root.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "trace_id" && kv.value.to_string() == trace_id.to_string()),
        "{:?}",
        root.attributes
    );
    // Every span of the trace hangs, through its parents, from that root.
    for span in &spans {
        let mut at = span;
        let mut hops = 0;
        while at.span_context.span_id() != root.span_context.span_id() {
            at = by_id(at.parent_span_id).unwrap_or_else(|| {
                panic!("{} is cut from the request's tree: {names:?}", span.name)
            });
            hops += 1;
            assert!(hops < 50);
        }
    }
    let saga = spans
        .iter()
        .find(|s| s.name == "saga")
        .unwrap_or_else(|| panic!("no saga span: {names:?}"));
    let steps: Vec<String> = spans
        .iter()
        .filter(|s| s.name == "saga.step" && s.parent_span_id == saga.span_context.span_id())
        .filter_map(|s| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "step")
                .map(|kv| kv.value.to_string())
        })
        .collect();
    assert!(steps.len() >= 2, "the saga's steps: {steps:?} in {names:?}");
    let store_calls: Vec<String> = spans
        .iter()
        .filter(|s| s.name == "store.call")
        .filter_map(|s| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "operation")
                .map(|kv| kv.value.to_string())
        })
        .collect();
    assert!(!store_calls.is_empty(), "no store call spans: {names:?}");
    let stores: std::collections::BTreeSet<String> = spans
        .iter()
        .filter(|s| s.name == "store.call")
        .filter_map(|s| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "store")
                .map(|kv| kv.value.to_string())
        })
        .collect();
    assert!(
        stores.contains("postgres") && stores.contains("mongodb"),
        "calls to both stores: {stores:?} ({store_calls:?})"
    );
    assert!(
        store_calls.iter().any(|op| op == "find products"),
        "the prices read from MongoDB: {store_calls:?}"
    );
    // Names only: no value of the order appears in any attribute.
    for span in &spans {
        for kv in &span.attributes {
            assert!(
                !kv.value.to_string().contains("tok_visa"),
                "{}: {} = {}",
                span.name,
                kv.key,
                kv.value
            );
        }
    }
}
