//! The OpenTelemetry flags, each read from its standard `OTEL_*` variable too.

use clap::Args;

use crate::telemetry::{TraceSampler, TracingSettings};

/// Traces exported over OTLP (HTTP, protobuf); off unless an endpoint is given.
#[derive(Debug, Args)]
pub struct TracingArgs {
    /// The collector's base URL (e.g. http://127.0.0.1:4318); spans go to `<url>/v1/traces`.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// The whole URL spans go to, over the base URL.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", global = true)]
    pub otel_exporter_otlp_traces_endpoint: Option<String>,
    /// Only `http/protobuf` is built in; any other is refused at start.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        default_value = "http/protobuf",
        global = true
    )]
    pub otel_exporter_otlp_protocol: String,
    /// Headers sent with every export, `name=value` comma-separated (values percent-encoded).
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_HEADERS",
        hide_env_values = true,
        global = true
    )]
    pub otel_exporter_otlp_headers: Option<String>,
    /// `service.name` of every span.
    #[arg(
        long,
        env = "OTEL_SERVICE_NAME",
        default_value = "cockpit-gateway",
        global = true
    )]
    pub otel_service_name: String,
    /// More resource attributes, `key=value` comma-separated (values percent-encoded).
    #[arg(long, env = "OTEL_RESOURCE_ATTRIBUTES", global = true)]
    pub otel_resource_attributes: Option<String>,
    /// Which traces are kept.
    #[arg(long, env = "OTEL_TRACES_SAMPLER", value_enum, default_value_t = TraceSampler::default(), global = true)]
    pub otel_traces_sampler: TraceSampler,
    /// The ratio of the `…traceidratio` samplers, 0 to 1.
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", global = true)]
    pub otel_traces_sampler_arg: Option<f64>,
}

impl TracingArgs {
    pub fn settings(&self) -> TracingSettings {
        TracingSettings {
            endpoint: self.otel_exporter_otlp_endpoint.clone(),
            traces_endpoint: self.otel_exporter_otlp_traces_endpoint.clone(),
            protocol: self.otel_exporter_otlp_protocol.trim().to_owned(),
            headers: pairs(self.otel_exporter_otlp_headers.as_deref()),
            service_name: self.otel_service_name.clone(),
            resource_attributes: pairs(self.otel_resource_attributes.as_deref()),
            sampler: self.otel_traces_sampler,
            sampler_arg: self.otel_traces_sampler_arg,
        }
    }
}

/// `k=v,k2=v2` as the OpenTelemetry variables write lists; a member without `=` or key is
/// left out.
pub fn pairs(list: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s.trim())
            .decode_utf8_lossy()
            .into_owned()
    };
    list.unwrap_or_default()
        .split(',')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            (!key.is_empty()).then(|| (key.to_owned(), decode(value)))
        })
        .collect()
}
