//! Traces: the OTLP exporter (nothing runs until an endpoint is configured), the target every
//! span meant for it is made with, and W3C trace context read from clients and carried with
//! events.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, trace::TraceContextExt as _};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub mod db;
mod document;
pub mod events;
pub mod graphql;
pub mod http;
mod propagation;
mod settings;
#[cfg(test)]
mod tests;

pub use document::stripped;
pub use propagation::{Carrier, continue_from, link_to, trace_context_in, traceparent_of};
pub use settings::{TraceSampler, TracingSettings};

/// The target of the spans exported (HTTP server, GraphQL operation, database, event
/// delivery): the log lines never show them, and the exporter sees no other span or event.
pub const TARGET: &str = "otel";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL `{0}` is not supported: use http/protobuf")]
    Protocol(String),
    #[error("the OTLP exporter could not be built: {0}")]
    Exporter(String),
}

/// The tracer provider `settings` ask for, or `None` (nothing exported) without an endpoint.
pub fn provider(settings: &TracingSettings) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    let Some(endpoint) = settings.traces_endpoint() else {
        return Ok(None);
    };
    if settings.protocol != "http/protobuf" {
        return Err(TelemetryError::Protocol(settings.protocol.clone()));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        // The standard headers variable may carry a collector's credential: never logged.
        .with_headers(settings.headers.iter().cloned().collect())
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_attributes(
            settings
                .resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .with_service_name(settings.service_name.clone())
        .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler(settings.sampler, settings.sampler_arg))
            .with_resource(resource)
            .build(),
    ))
}

fn sampler(kind: TraceSampler, arg: Option<f64>) -> Sampler {
    let ratio = arg.filter(|r| (0.0..=1.0).contains(r)).unwrap_or(1.0);
    match kind {
        TraceSampler::AlwaysOn => Sampler::AlwaysOn,
        TraceSampler::AlwaysOff => Sampler::AlwaysOff,
        TraceSampler::Traceidratio => Sampler::TraceIdRatioBased(ratio),
        TraceSampler::ParentbasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        TraceSampler::ParentbasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        TraceSampler::ParentbasedTraceidratio => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

/// The layer that exports `provider`'s spans: only those of [`TARGET`], never an event (a log
/// line's fields stay in the log).
pub fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("cockpit-gateway"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_level(false)
        .with_tracked_inactivity(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span() && meta.target() == TARGET
        }))
}

/// Sends what is left and stops the exporter (on the caller's thread: it waits for the
/// export thread).
pub fn shutdown(provider: SdkTracerProvider) {
    if let Err(e) = provider.shutdown() {
        // Through the log, so a JSON log stays JSON lines to its end.
        tracing::warn!(error = %e, "traces: the exporter did not shut down cleanly");
    }
}

/// Whether `span` is exported with a trace of its own context (false when nothing exports).
pub fn is_traced(span: &tracing::Span) -> bool {
    !span.is_disabled() && span.context().span().span_context().is_valid()
}
