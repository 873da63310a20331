//! The durable queue port: events and jobs published inside the caller's transaction
//! (outbox), delivered at least once to every consumer group subscribed to the topic,
//! retried with exponential backoff and jitter, dead-lettered after `max_attempts`, and
//! replayable from there.
//!
//! The shape follows Kafka's on purpose (topics, message keys, consumer groups), so a broker
//! adapter can deliver the same messages: the outbox stays the source of truth either way.
//! Delivery order is not guaranteed; consumers must be idempotent, since a message whose
//! handler was cut short (crash, lease expiry) is delivered again.

pub mod backoff;
mod database;
#[cfg(feature = "kafka")]
mod kafka;
#[cfg(feature = "kafka")]
mod outbox;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use backoff::Backoff;
pub use database::DatabaseQueue;
#[cfg(feature = "kafka")]
pub use kafka::KafkaQueue;

use crate::platform::config::{QueueBackend as QueueBackendKind, QueueSettings};
use crate::platform::db::{Db, DbError, Tx};
use crate::platform::metrics::QueueMetrics;

/// A message as a consumer receives it.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: Uuid,
    pub topic: String,
    /// Aggregate id (user, order...): the partition key on a broker.
    pub key: String,
    pub payload: Value,
    /// 1 on the first delivery to this consumer group.
    pub attempt: u32,
    pub published_at: DateTime<Utc>,
    /// The trace the publisher was in (W3C `traceparent`), while traces are exported: the
    /// handler's span continues it.
    pub traceparent: Option<String>,
}

impl Message {
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, HandlerError> {
        serde_json::from_value(self.payload.clone())
            .map_err(|e| HandlerError::Permanent(format!("payload of {}: {e}", self.topic)))
    }
}

/// A message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub topic: String,
    pub key: String,
    pub payload: Value,
}

impl Outgoing {
    pub fn new(topic: impl Into<String>, key: impl Into<String>, payload: &impl Serialize) -> Self {
        Self {
            topic: topic.into(),
            key: key.into(),
            payload: serde_json::to_value(payload).unwrap_or(Value::Null),
        }
    }
}

/// How a handler failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth trying again later (a network error, a 4xx from an SMTP relay).
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (bad payload, a 5xx from an SMTP relay): dead-letter now.
    #[error("{0}")]
    Permanent(String),
}

impl From<anyhow::Error> for HandlerError {
    fn from(e: anyhow::Error) -> Self {
        HandlerError::Retry(format!("{e:#}"))
    }
}

/// A consumer group and what it does with each message of its topics.
#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// The consumer group: every message of a subscribed topic is delivered once to each group.
    fn group(&self) -> &str;
    fn topics(&self) -> Vec<String>;
    /// Overrides `queue.max_attempts` for this consumer.
    fn max_attempts(&self) -> Option<u32> {
        None
    }
    async fn handle(&self, message: &Message) -> Result<(), HandlerError>;
}

/// A delivery that exhausted its attempts or failed permanently.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub delivery_id: Uuid,
    pub message_id: Uuid,
    pub consumer: String,
    pub topic: String,
    pub key: String,
    pub payload: Value,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub failed_at: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
}

/// Backlog of one consumer group.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ConsumerStats {
    pub consumer: String,
    /// Waiting for a first try or a retry.
    pub pending: u64,
    pub processing: u64,
    pub dead: u64,
}

/// The delivery side of the queue; the database adapter today, a broker adapter later.
#[async_trait]
pub trait QueueBackend: Send + Sync + 'static {
    /// Records which topics each consumer group receives. Done before serving, so a message
    /// published from the first request on reaches every group.
    async fn subscribe(&self, consumers: &[Arc<dyn Consumer>]) -> Result<(), DbError>;
    /// Delivers to `consumers` until `shutdown`, letting running handlers finish. The handle
    /// ends when every worker has stopped.
    async fn start(
        &self,
        consumers: Vec<Arc<dyn Consumer>>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, DbError>;
    fn is_running(&self) -> bool;
    /// Running, but not as it should (a broker out of reach): what readiness reports.
    async fn degraded(&self) -> Option<String> {
        None
    }
    async fn stats(&self) -> Result<Vec<ConsumerStats>, DbError>;
    async fn dead_letters(
        &self,
        consumer: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<DeadLetter>, u64), DbError>;
    /// Puts a dead delivery back in line with a fresh set of attempts. False if there was none.
    async fn replay(&self, delivery_id: Uuid) -> Result<bool, QueueError>;
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("message broker: {0}")]
    Broker(String),
}

/// The backend `queue.backend` names.
pub fn from_settings(
    db: Db,
    settings: &QueueSettings,
    metrics: QueueMetrics,
) -> anyhow::Result<Arc<dyn QueueBackend>> {
    Ok(match settings.backend {
        QueueBackendKind::Database => Arc::new(DatabaseQueue::new(db, settings.clone(), metrics)),
        #[cfg(feature = "kafka")]
        QueueBackendKind::Kafka => Arc::new(KafkaQueue::new(db, settings.clone(), metrics)?),
        #[cfg(not(feature = "kafka"))]
        QueueBackendKind::Kafka => {
            anyhow::bail!("queue.backend = \"kafka\" needs a build with the `kafka` feature")
        }
    })
}

/// Publishes `message` inside `tx`: it is delivered only if `tx` commits.
pub async fn publish(tx: &mut Tx, message: Outgoing) -> Result<Uuid, DbError> {
    database::insert_message(tx, message).await
}

/// Marks the queue running until every task in `tasks` ended, logging any that panicked.
fn supervise(
    mut tasks: tokio::task::JoinSet<()>,
    running: Arc<std::sync::atomic::AtomicBool>,
) -> JoinHandle<()> {
    /// Clears the flag however the supervisor ends.
    struct Running(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }
    running.store(true, std::sync::atomic::Ordering::SeqCst);
    let guard = Running(running);
    tokio::spawn(async move {
        let _guard = guard;
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "queue worker ended abnormally");
            }
        }
    })
}
