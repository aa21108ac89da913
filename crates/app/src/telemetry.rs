//! Tracing set-up: `RUST_LOG` filters (default `info`), text or JSON lines on stderr, and,
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, every span exported over OTLP/HTTP to that
//! collector (issue 12): one trace per request, continuing a W3C `traceparent` the client
//! sent, with a span per saga step and per ledger call, and the trace handed on to the
//! payment gateway. Log lines inside a request carry its `trace_id`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// What to flush when the process ends: the exporter batches spans.
#[derive(Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends what is still batched; the server calls it on its way out.
    pub fn shutdown(&self) {
        if let Some(provider) = &self.provider {
            if let Err(e) = provider.shutdown() {
                eprintln!("warning: the trace exporter did not shut down cleanly: {e}");
            }
        }
    }
}

/// The tracer provider for the collector `OTEL_EXPORTER_OTLP_ENDPOINT` names (the OTLP
/// exporter reads that variable, and the other `OTEL_EXPORTER_OTLP_*` ones, itself);
/// `None` without it.
fn otlp_provider() -> Option<SdkTracerProvider> {
    std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")?;
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!(
                "warning: OTEL_EXPORTER_OTLP_ENDPOINT is set, but the exporter did not start: {e}"
            );
            return None;
        }
    };
    Some(tracer_provider(
        SdkTracerProvider::builder().with_batch_exporter(exporter),
    ))
}

/// A provider named `emporium`, installed as the global one, with W3C trace context as
/// the propagator (incoming `traceparent`, and the one sent to the payment gateway).
pub fn tracer_provider(
    builder: opentelemetry_sdk::trace::TracerProviderBuilder,
) -> SdkTracerProvider {
    let provider = builder
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("emporium")
                .build(),
        )
        .build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    opentelemetry::global::set_tracer_provider(provider.clone());
    provider
}

/// The layer that turns `tracing` spans into OpenTelemetry spans of `provider`.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("emporium"))
}

/// Installs the global subscriber once; later calls do nothing (tests call it repeatedly).
pub fn init(format: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,mongodb=warn"));
    let provider = otlp_provider();
    let otel = provider.as_ref().map(otel_layer);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let installed = if format == "json" {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
    if installed.is_ok() && provider.is_some() {
        tracing::info!("traces are exported over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT)");
    }
    Telemetry { provider }
}
