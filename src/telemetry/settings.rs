//! Where traces go and which are kept, as the OpenTelemetry SDK's standard variables say.

/// Where traces go and which are kept: the OpenTelemetry SDK's standard variables. Nothing is
/// exported without an endpoint.
#[derive(Clone, Default, PartialEq)]
pub struct TracingSettings {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's base URL; traces go to `/v1/traces`.
    pub endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the whole URL traces go to, over `endpoint`.
    pub traces_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`; only `http/protobuf` is built in.
    pub protocol: String,
    /// `OTEL_EXPORTER_OTLP_HEADERS`: sent with every export (may hold a credential).
    pub headers: Vec<(String, String)>,
    pub service_name: String,
    pub resource_attributes: Vec<(String, String)>,
    pub sampler: TraceSampler,
    /// The ratio of the `…traceidratio` samplers (1.0 when missing or outside 0..=1).
    pub sampler_arg: Option<f64>,
}

impl TracingSettings {
    /// The URL spans are sent to, if any.
    pub fn traces_endpoint(&self) -> Option<String> {
        if let Some(url) = self.traces_endpoint.as_ref().filter(|u| !u.is_empty()) {
            return Some(url.clone());
        }
        let base = self.endpoint.as_ref().filter(|u| !u.is_empty())?;
        Some(format!("{}/v1/traces", base.trim_end_matches('/')))
    }
}

/// Export headers may carry a collector's credential: only their names are shown.
impl std::fmt::Debug for TracingSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracingSettings")
            .field("endpoint", &self.endpoint)
            .field("traces_endpoint", &self.traces_endpoint)
            .field("protocol", &self.protocol)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("service_name", &self.service_name)
            .field("resource_attributes", &self.resource_attributes)
            .field("sampler", &self.sampler)
            .field("sampler_arg", &self.sampler_arg)
            .finish()
    }
}

/// `OTEL_TRACES_SAMPLER`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum TraceSampler {
    AlwaysOn,
    AlwaysOff,
    Traceidratio,
    /// A trace the client started is kept as the client chose; a new one always.
    #[default]
    ParentbasedAlwaysOn,
    ParentbasedAlwaysOff,
    ParentbasedTraceidratio,
}
