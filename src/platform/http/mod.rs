//! The HTTP platform: problem+json errors, extractors, and the middleware stack every route runs behind.

pub mod cached;
pub mod client_ip;
pub mod drain;
pub mod error;
pub mod extract;
pub mod health;
pub mod middleware;
pub mod rate_limit;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::Router;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

pub use cached::JsonBytes;
pub use client_ip::ClientIp;
pub use error::{ApiError, FieldError, Problem};
pub use extract::{mark_replayed, IdempotencyKey, Json, Page, PageParams, Pagination, Path, Query};
use middleware::{MakeRequestUuidV7, REQUEST_ID};
use rate_limit::RateLimit;

use crate::platform::config::Settings;
use crate::platform::metrics::Metrics;

/// Prefix of every domain route.
pub const API_PREFIX: &str = "/api/v1";

/// Probes and scrapes are never rate limited.
pub const UNLIMITED_PATHS: &[&str] = &["/health", "/readyz", "/metrics"];

/// Nor are the console's static assets: immutable, cached by browsers for a year.
const UNLIMITED_PREFIX: &str = "/assets/";

/// Wraps `router` in the platform middleware, outermost first: request id, span + access
/// log + metrics, client address, CORS, compression, security headers, problem+json, timeout, body limit,
/// rate limit. Error responses are rendered inside the header layers so they get them too.
pub fn apply_layers(
    router: Router,
    settings: &Settings,
    metrics: Metrics,
    limiter: Option<Arc<RateLimit>>,
    draining: CancellationToken,
    in_flight: Arc<drain::InFlight>,
) -> Router {
    let server = &settings.server;
    let request_id = HeaderName::from_static(REQUEST_ID);
    let router = match limiter {
        Some(limiter) => router.layer(from_fn_with_state(limiter, limit_unless_probe)),
        None => router,
    };
    let router = router.layer(from_fn_with_state(
        draining,
        middleware::close_when_draining,
    ));
    router
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(
                    request_id.clone(),
                    MakeRequestUuidV7,
                ))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(from_fn_with_state(
                    Arc::new(server.trusted_proxies.clone()),
                    client_ip::find_client_ip,
                ))
                .layer(from_fn_with_state(metrics, middleware::observe))
                .layer(cors(&server.cors.allowed_origins))
                .layer(CompressionLayer::new())
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(from_fn(middleware::problem_json))
                .layer(CatchPanicLayer::custom(middleware::panicked))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Duration::from_secs(server.request_timeout_secs),
                ))
                .layer(DefaultBodyLimit::max(server.body_limit_bytes)),
        )
        .layer(from_fn_with_state(in_flight, drain::track))
}

async fn limit_unless_probe(
    state: axum::extract::State<Arc<RateLimit>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if UNLIMITED_PATHS.contains(&path) || path.starts_with(UNLIMITED_PREFIX) {
        return next.run(req).await;
    }
    rate_limit::rate_limit(state, req, next).await
}

fn cors(origins: &[String]) -> CorsLayer {
    if origins.is_empty() {
        // No Access-Control-Allow-Origin is ever sent: browsers refuse cross-origin calls.
        return CorsLayer::new();
    }
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static(REQUEST_ID),
        ])
        .expose_headers([HeaderName::from_static(REQUEST_ID), header::RETRY_AFTER])
        .max_age(Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        // Validated at start-up (Settings::validate).
        let list = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok());
        layer.allow_origin(AllowOrigin::list(list))
    }
}
