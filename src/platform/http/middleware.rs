//! Request-scoped middleware: request ids, the per-request span, access log and metrics,
//! and problem+json for every error response.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing::Instrument;

use super::error::{ApiError, PROBLEM_JSON};
use crate::platform::metrics::Metrics;

pub const REQUEST_ID: &str = "x-request-id";

/// Request ids for requests that bring none: UUIDv7, so they sort by time in logs.
#[derive(Clone, Copy, Default)]
pub struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// While draining, every answer closes its connection: a proxy's kept-alive connections end
/// cleanly after a response, so none is found idle and cut when the listener closes.
pub async fn close_when_draining(
    State(draining): State<CancellationToken>,
    req: Request,
    next: Next,
) -> Response {
    let mut response = next.run(req).await;
    if draining.is_cancelled() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// One span per request (its fields reach every log line inside), one access-log line, and
/// the HTTP metrics labelled by route template, never by raw path.
pub async fn observe(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let path = req.uri().path().to_string();
    let request_id = request_id(&req);
    let span = tracing::info_span!(
        "request",
        %method,
        %route,
        %request_id,
        trace_id = tracing::field::Empty,
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    // The span's name for the tracing backend, made only while traces are exported.
    crate::platform::telemetry::continue_trace(
        &span,
        || format!("{method} {route}"),
        req.headers(),
    );

    let response = next.run(req).instrument(span.clone()).await;

    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let latency = started.elapsed();
    metrics
        .http_requests
        .with_label_values(&[method.as_str(), &route, &status.to_string()])
        .inc();
    metrics
        .http_duration
        .with_label_values(&[method.as_str(), &route])
        .observe(latency.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            %method,
            %route,
            %path,
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            %request_id,
            "request"
        )
    });
    response
}

/// Renders every error response as problem+json with the request id: `ApiError`s from
/// handlers, and bare statuses from the router and layers (404, 405, 408, 413...).
pub async fn problem_json(req: Request, next: Next) -> Response {
    let request_id = Some(request_id(&req)).filter(|id| !id.is_empty());
    let response = next.run(req).await;
    if !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    if let Some(error) = response.extensions().get::<ApiError>() {
        return error.render(request_id);
    }
    // Handlers that answer an error in JSON of their own (readiness) keep their body; bare
    // and plain-text bodies from the router and layers become problems.
    let keep = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|ct| ct.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON) || ct.starts_with("application/json"));
    if keep {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut rendered = ApiError::from_status(parts.status).render(request_id);
    // Keep what the layer said besides the body (Allow, Retry-After...).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().entry(name).or_insert(value.clone());
        }
    }
    rendered
}

/// A handler that panicked: a 500 problem (the problem middleware adds the request id), the
/// connection kept. The panic itself is logged by the hook `telemetry::init` installs.
pub fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    use axum::response::IntoResponse;
    let message = crate::platform::telemetry::panic_message(payload.as_ref());
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

/// Answers routes that do not exist.
pub async fn not_found(req: Request<Body>) -> ApiError {
    ApiError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.uri().path()
    ))
}
