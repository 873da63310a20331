//! Logging: JSON lines when not on a terminal (or `log.format = "json"`), pretty otherwise.
//! Traces: exported over OTLP/HTTP when `telemetry.otlp.endpoint` (or the standard
//! `OTEL_EXPORTER_OTLP_*ENDPOINT` variables) name a collector. A request joins the trace its
//! caller started (W3C `traceparent`), and its trace id is in every log line inside it and in
//! its problem+json answers.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::OnceLock;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::platform::config::{LogFormat, LogSettings, OtlpSettings, TelemetrySettings};

/// Set once traces are exported: the propagator reads and writes `traceparent`.
static PROPAGATOR: OnceLock<TraceContextPropagator> = OnceLock::new();

/// The trace exporter; `shutdown` sends what is still buffered.
pub struct Tracing(Option<SdkTracerProvider>);

impl Tracing {
    pub fn shutdown(self) {
        if let Some(provider) = self.0 {
            if let Err(e) = provider.shutdown() {
                eprintln!("sending the last traces: {e}");
            }
        }
    }
}

/// Installs the global subscriber; `RUST_LOG` overrides `log.level`. A second call is a no-op.
pub fn init(log: &LogSettings, telemetry: &TelemetrySettings) -> Tracing {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let json = match log.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let fmt = if json {
        fmt.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        fmt.boxed()
    };
    let provider = exporter(&telemetry.otlp);
    let traces = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("agora")));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(traces)
        .try_init()
        .is_ok();
    log_panics();
    match provider {
        Some(provider) if installed => {
            let _ = PROPAGATOR.set(TraceContextPropagator::new());
            Tracing(Some(provider))
        }
        other => {
            Tracing(other).shutdown();
            Tracing(None)
        }
    }
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty())
}

/// The OTLP/HTTP exporter, when an endpoint is configured and `OTEL_SDK_DISABLED` is not true.
fn exporter(otlp: &OtlpSettings) -> Option<SdkTracerProvider> {
    let from_env =
        env_set("OTEL_EXPORTER_OTLP_ENDPOINT") || env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    if std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        || (otlp.endpoint.is_empty() && !from_env)
    {
        return None;
    }
    let mut builder = opentelemetry_otlp::SpanExporter::builder().with_http();
    if !otlp.endpoint.is_empty() {
        builder =
            builder.with_endpoint(format!("{}/v1/traces", otlp.endpoint.trim_end_matches('/')));
    }
    let exporter = match builder.build() {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("traces are off: the OTLP exporter did not start: {e}");
            return None;
        }
    };
    let mut provider = SdkTracerProvider::builder().with_batch_exporter(exporter);
    if !env_set("OTEL_TRACES_SAMPLER") {
        provider = provider.with_sampler(Sampler::ParentBased(Box::new(
            Sampler::TraceIdRatioBased(otlp.sample_ratio),
        )));
    }
    let mut resource = Resource::builder();
    if !env_set("OTEL_SERVICE_NAME") {
        resource = resource.with_service_name(otlp.service_name.clone());
    }
    Some(provider.with_resource(resource.build()).build())
}

/// Joins the trace the caller started (`traceparent`, when traces are exported) and records
/// the span's `name` and trace id on it, so every log line inside carries the id.
pub fn continue_trace(span: &Span, name: impl FnOnce() -> String, headers: &axum::http::HeaderMap) {
    let Some(propagator) = PROPAGATOR.get() else {
        return;
    };
    span.record("otel.name", name());
    let parent = propagator.extract(&opentelemetry_http::HeaderExtractor(headers));
    let _ = span.set_parent(parent);
    if let Some(id) = trace_id(span) {
        span.record("trace_id", id);
    }
}

/// The current span's context as a W3C `traceparent`, to keep with a queue message.
pub fn current_traceparent() -> Option<String> {
    let propagator = PROPAGATOR.get()?;
    let mut carrier = HashMap::new();
    propagator.inject_context(&Span::current().context(), &mut carrier);
    carrier.remove("traceparent")
}

/// A span for a call to another service (a provider, Nominatim, another Agora process):
/// `name` says what, e.g. "smtp send".
pub fn client_span(name: &str) -> Span {
    tracing::info_span!(
        "call",
        otel.name = %name,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
    )
}

/// A span for a database transaction, while traces are exported; otherwise none, so a
/// transaction costs no span when nobody reads it.
pub fn transaction_span(system: &'static str) -> Span {
    if PROPAGATOR.get().is_none() {
        return Span::none();
    }
    tracing::info_span!(
        "transaction",
        otel.name = "db transaction",
        otel.kind = "client",
        db.system.name = system,
    )
}

/// Marks the span failed, for the tracing backend's error views.
pub fn record_error(span: &Span) {
    span.record("otel.status_code", "ERROR");
}

/// The span a queue handler runs in: it continues the trace the message was published in.
pub fn consumer_span(group: &str, message: &crate::platform::queue::Message) -> Span {
    let span = tracing::info_span!(
        "message",
        consumer = group,
        topic = %message.topic,
        attempt = message.attempt,
        trace_id = tracing::field::Empty,
        otel.name = %format!("{} process", message.topic),
        otel.kind = "consumer",
        messaging.destination.name = %message.topic,
        messaging.consumer.group.name = group,
    );
    if let (Some(propagator), Some(traceparent)) = (PROPAGATOR.get(), &message.traceparent) {
        let carrier = HashMap::from([("traceparent".to_string(), traceparent.clone())]);
        let _ = span.set_parent(propagator.extract(&carrier));
    }
    if let Some(id) = trace_id(&span) {
        span.record("trace_id", id);
    }
    span
}

/// The id of the trace a span belongs to; `None` while traces are not exported.
pub fn trace_id(span: &Span) -> Option<String> {
    PROPAGATOR.get()?;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Panics go to the log like every other error: as an event inside the current span, so a
/// panic while serving a request carries its request id, route and method.
fn log_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(|l| l.to_string()).unwrap_or_default();
            let message = panic_message(info.payload());
            tracing::error!(panic = %message, %location, "panicked");
        }));
    });
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}
