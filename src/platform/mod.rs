//! Shared infrastructure. Knows no domain.

pub mod backup;
pub mod breaker;
pub mod budget;
pub mod clock;
pub mod config;
pub mod db;
pub mod http;
pub mod mailer;
pub mod metrics;
pub mod money;
pub mod openapi;
pub mod queue;
pub mod remote;
pub mod signing;
pub mod telemetry;
pub mod templating;
pub mod text;

use std::sync::Arc;

use self::clock::Clock;
use self::config::Settings;
use self::db::Db;
use self::mailer::Mailer;
use self::metrics::Metrics;
use self::queue::QueueBackend;

/// What every domain is built on.
#[derive(Clone)]
pub struct Platform {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub queue: Arc<dyn QueueBackend>,
    pub mailer: Arc<dyn Mailer>,
    pub metrics: Metrics,
    /// Business time for every domain; see `platform::clock`.
    pub clock: Clock,
    /// Memory for uploads and attachments handled whole; see `platform::budget`.
    pub large_bodies: budget::MemoryBudget,
    /// Where rate limits keep their buckets (`server.limit_store`).
    pub limit_store: http::rate_limit::LimitStore,
    /// Cancelled when the server stops accepting connections (after the drain): long-lived
    /// responses such as event streams end then.
    pub stopping: tokio_util::sync::CancellationToken,
}

/// A domain's name and one line on what it does (its OpenAPI tag).
#[derive(Debug, Clone, Copy)]
pub struct DomainInfo {
    pub name: &'static str,
    pub description: &'static str,
}

/// A background loop of a domain, run until the token is cancelled at shutdown.
pub type Task = Box<
    dyn FnOnce(tokio_util::sync::CancellationToken) -> futures::future::BoxFuture<'static, ()>
        + Send,
>;
