//! Liveness, readiness, metrics and build information.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Json;
use crate::platform::db::Db;
use crate::platform::metrics::Metrics;
use crate::platform::queue::QueueBackend;

#[derive(Clone)]
pub struct HealthState {
    pub db: Db,
    pub queue: Arc<dyn QueueBackend>,
    pub metrics: Metrics,
    /// The domains compiled into this binary, for `/info`.
    pub domains: Vec<&'static str>,
    /// Cancelled when shutdown begins: from then on this replica is not ready.
    pub draining: CancellationToken,
}

#[derive(Serialize, ToSchema)]
pub struct Liveness {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` when every check passes, `degraded` when the queue's broker is out of reach
    /// (still ready: messages wait in the outbox), `draining` once shutdown has begun (requests
    /// are still served for `server.drain_secs`), else `unavailable`.
    #[schema(example = "ok")]
    pub status: &'static str,
    pub checks: ReadinessChecks,
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// The database answers.
    #[schema(example = "ok")]
    pub database: String,
    /// Every migration this binary knows of is applied.
    #[schema(example = "ok")]
    pub migrations: String,
    /// The queue workers are running (`ok`, `stopped`, or `degraded: ...`).
    #[schema(example = "ok")]
    pub queue: String,
}

#[derive(Serialize, ToSchema)]
pub struct BuildInfo {
    #[schema(example = "agora")]
    pub name: &'static str,
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// Domains compiled into this binary.
    #[schema(example = json!(["auth", "catalog"]))]
    pub domains: Vec<&'static str>,
}

pub fn routes() -> OpenApiRouter<HealthState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Routes under `/api/v1` that belong to no domain.
pub fn api_routes() -> OpenApiRouter<HealthState> {
    OpenApiRouter::new().routes(routes!(info))
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/health", operation_id = "getHealth", tag = "platform",
    responses((status = 200, description = "Alive", body = Liveness)))]
async fn health() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// Readiness: the database answers, migrations are applied and the queue runs.
#[utoipa::path(get, path = "/readyz", operation_id = "getReadiness", tag = "platform",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Not ready; `checks` says why", body = Readiness),
    ))]
async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    let database = match state.db.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            "unreachable".to_string()
        }
    };
    let migrations = match state
        .db
        .pending_migrations(&migration_owners(&state.domains))
        .await
    {
        Ok(pending) if pending.is_empty() => "ok".to_string(),
        Ok(pending) => format!("{} pending", pending.len()),
        Err(_) => "unknown".to_string(),
    };
    let (queue, degraded) = if !state.queue.is_running() {
        ("stopped".to_string(), false)
    } else if let Some(why) = state.queue.degraded().await {
        (format!("degraded: {why}"), true)
    } else {
        ("ok".to_string(), false)
    };
    // A degraded queue still takes work (it waits in the outbox): ready, but say so.
    let draining = state.draining.is_cancelled();
    let ready = !draining && database == "ok" && migrations == "ok" && (queue == "ok" || degraded);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: match (ready, degraded) {
            _ if draining => "draining",
            (false, _) => "unavailable",
            (true, true) => "degraded",
            (true, false) => "ok",
        },
        checks: ReadinessChecks {
            database,
            migrations,
            queue,
        },
    };
    (status, Json(body))
}

/// Prometheus metrics in text format.
#[utoipa::path(get, path = "/metrics", operation_id = "getMetrics", tag = "platform",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<HealthState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&state.db),
    )
}

/// Name, version and the domains this binary was built with.
#[utoipa::path(get, path = "/info", operation_id = "getInfo", tag = "platform",
    responses((status = 200, description = "Build information", body = BuildInfo)))]
async fn info(State(state): State<HealthState>) -> Json<BuildInfo> {
    Json(BuildInfo {
        name: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        domains: state.domains.clone(),
    })
}

/// The platform's migrations and those of the domains this process hosts.
pub fn migration_owners(domains: &[&'static str]) -> Vec<&'static str> {
    std::iter::once("platform")
        .chain(domains.iter().copied())
        .collect()
}
