//! Queue adapter on Kafka. The outbox stays the source of truth: a relay moves committed
//! outbox rows to their topic (key = the message key) and marks them relayed, so a broker
//! outage only delays delivery while the API keeps accepting.
//!
//! Each consumer group reads its topics as a Kafka consumer group and stores an offset only
//! once the handler settled the message (at least once). A failed message does not block its
//! partition: it goes to the group's retry topic `<group>.retry` with the attempt and the time
//! it is due, read by a second consumer that waits for that time. Exhausted messages go to
//! `<topic>.dlq` and are recorded as dead letters in the database, from where `replay` puts
//! them back on the retry topic.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use futures::{FutureExt, StreamExt};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message as _, Offset};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::{
    outbox, supervise, Backoff, Consumer, ConsumerStats, DatabaseQueue, DeadLetter, HandlerError,
    Message, QueueBackend, QueueError,
};
use crate::platform::config::{KafkaSettings, QueueSettings};
use crate::platform::db::{Db, DbError};
use crate::platform::metrics::QueueMetrics;

mod consumer;
mod relay;

const ID: &str = "agora-id";
const TOPIC: &str = "agora-topic";
const ATTEMPT: &str = "agora-attempt";
const DUE: &str = "agora-due-ms";
const PUBLISHED: &str = "agora-published-ms";
const GROUP: &str = "agora-group";
const ERROR: &str = "agora-error";
/// The publisher's trace (W3C Trace Context), while traces are exported.
const TRACEPARENT: &str = "traceparent";

/// The Kafka adapter. Cheap to clone.
#[derive(Clone)]
pub struct KafkaQueue(Arc<Shared>);

struct Shared {
    db: Db,
    settings: QueueSettings,
    backoff: Backoff,
    metrics: QueueMetrics,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Dead letters live in the database, listed as the database adapter lists them.
    dead: DatabaseQueue,
    running: Arc<AtomicBool>,
    /// Why the broker cannot be reached, while it cannot.
    broker_error: Mutex<Option<String>>,
    created_topics: Mutex<HashSet<String>>,
    /// Messages each group has yet to read, from the last lag reading.
    lag: Mutex<HashMap<String, u64>>,
}

fn kafka(settings: &QueueSettings) -> &KafkaSettings {
    &settings.kafka
}

impl KafkaQueue {
    pub fn new(db: Db, settings: QueueSettings, metrics: QueueMetrics) -> anyhow::Result<Self> {
        let k = kafka(&settings);
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &k.brokers)
            .set("client.id", format!("{}-relay", k.namespace))
            .set("message.timeout.ms", k.produce_timeout_ms.to_string())
            .set("linger.ms", "5")
            .create()?;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &k.brokers)
            .create()?;
        let dead = DatabaseQueue::new(db.clone(), settings.clone(), metrics.clone());
        Ok(Self(Arc::new(Shared {
            backoff: Backoff::from_settings(&settings),
            db,
            settings,
            metrics,
            producer,
            admin,
            dead,
            running: Arc::new(AtomicBool::new(false)),
            broker_error: Mutex::new(None),
            created_topics: Mutex::new(HashSet::new()),
            lag: Mutex::new(HashMap::new()),
        })))
    }
}

/// Topic and group names inside the namespace.
impl Shared {
    fn name(&self, local: &str) -> String {
        format!("{}.{local}", kafka(&self.settings).namespace)
    }

    fn retry_topic(&self, group: &str) -> String {
        self.name(&format!("{group}.retry"))
    }

    fn dlq_topic(&self, topic: &str) -> String {
        self.name(&format!("{topic}.dlq"))
    }

    fn broker_failed(&self, error: impl std::fmt::Display) {
        let mut slot = self.broker_error.lock().expect("lock");
        if slot.is_none() {
            tracing::warn!(error = %error, "Kafka is unreachable; messages wait in the outbox");
        }
        *slot = Some(error.to_string());
    }

    fn broker_ok(&self) {
        if self.broker_error.lock().expect("lock").take().is_some() {
            tracing::info!("Kafka is reachable again");
        }
    }

    /// Creates topics Agora needs (once per process; existing ones are fine).
    async fn ensure_topics(&self, topics: &[String]) -> Result<(), KafkaError> {
        let missing: Vec<&String> = {
            let created = self.created_topics.lock().expect("lock");
            topics.iter().filter(|t| !created.contains(*t)).collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let k = kafka(&self.settings);
        let new: Vec<NewTopic> = missing
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    k.partitions,
                    TopicReplication::Fixed(k.replication_factor),
                )
            })
            .collect();
        let options = AdminOptions::new()
            .request_timeout(Some(Duration::from_secs(5)))
            .operation_timeout(Some(Duration::from_secs(5)));
        let results = self.admin.create_topics(new.iter(), &options).await?;
        let mut created = self.created_topics.lock().expect("lock");
        for result in results {
            match result {
                Ok(topic) | Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    created.insert(topic);
                }
                Err((topic, code)) => {
                    return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                        tracing::warn!(%topic, ?code, "could not create topic");
                    })
                }
            }
        }
        Ok(())
    }

    /// Sends one record and waits for the broker to take it.
    async fn produce(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> Result<(), KafkaError> {
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        self.producer
            .send(record, Duration::from_secs(5))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }
}

fn headers(pairs: &[(&str, String)]) -> OwnedHeaders {
    pairs.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
        h.insert(Header {
            key,
            value: Some(value.as_bytes()),
        })
    })
}

fn header(m: &OwnedMessage, name: &str) -> Option<String> {
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn millis(t: DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

fn from_millis(text: Option<String>) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(text?.parse().ok()?).single()
}

/// The relay: committed outbox rows to their topics.

#[async_trait]
impl QueueBackend for KafkaQueue {
    /// Groups live on the broker: no subscriptions in the database, so publishing writes only
    /// the outbox row. (Topics are created by the consumers and the relay, once the broker
    /// answers, so start-up does not wait for it.)
    async fn subscribe(&self, _consumers: &[Arc<dyn Consumer>]) -> Result<(), DbError> {
        outbox::clear_subscriptions(&self.0.db).await?;
        Ok(())
    }

    async fn start(
        &self,
        consumers: Vec<Arc<dyn Consumer>>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, DbError> {
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.0.clone().run_relay(shutdown.clone()));
        for consumer in consumers {
            for retried in [false, true] {
                tasks.spawn(self.0.clone().run_consumer(
                    consumer.clone(),
                    retried,
                    shutdown.clone(),
                ));
            }
        }
        tasks.spawn(self.0.clone().run_housekeeping(shutdown));
        Ok(supervise(tasks, self.0.running.clone()))
    }

    fn is_running(&self) -> bool {
        self.0.running.load(Ordering::SeqCst)
    }

    async fn degraded(&self) -> Option<String> {
        let error = self.0.broker_error.lock().expect("lock").clone()?;
        let waiting = outbox::count_unrelayed(&self.0.db)
            .await
            .unwrap_or_default();
        Some(format!(
            "broker unreachable ({error}); {waiting} messages wait in the outbox"
        ))
    }

    async fn stats(&self) -> Result<Vec<ConsumerStats>, DbError> {
        self.0.consumer_stats().await
    }

    async fn dead_letters(
        &self,
        consumer: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<DeadLetter>, u64), DbError> {
        self.0.dead.dead_letters(consumer, limit, offset).await
    }

    /// Back on the group's retry topic, due now, with fresh attempts.
    async fn replay(&self, delivery_id: Uuid) -> Result<bool, QueueError> {
        let Some(dead) = self.0.dead.dead_letter(delivery_id).await? else {
            return Ok(false);
        };
        let payload = serde_json::to_vec(&dead.payload).unwrap_or_default();
        let h = headers(&[
            (ID, dead.message_id.to_string()),
            (TOPIC, dead.topic.clone()),
            (ATTEMPT, "1".into()),
            (DUE, millis(Utc::now())),
            (PUBLISHED, millis(dead.published_at)),
        ]);
        let topic = self.0.retry_topic(&dead.consumer);
        self.0
            .produce(&topic, &dead.key, &payload, h)
            .await
            .map_err(|e| QueueError::Broker(e.to_string()))?;
        outbox::forget_dead(&self.0.db, delivery_id).await?;
        Ok(true)
    }
}

impl Shared {
    /// Every group this process knows (by its lag or its dead letters): `pending` is the lag
    /// of its main and retry topics, `dead` its recorded dead letters.
    async fn consumer_stats(&self) -> Result<Vec<ConsumerStats>, DbError> {
        let mut by_group: HashMap<String, ConsumerStats> = HashMap::new();
        for s in self.dead.stats().await? {
            by_group.insert(s.consumer.clone(), s);
        }
        for (key, lag) in self.lag.lock().expect("lock").iter() {
            let group = key.strip_suffix(".retry").unwrap_or(key).to_string();
            let s = by_group
                .entry(group.clone())
                .or_insert_with(|| ConsumerStats {
                    consumer: group,
                    ..Default::default()
                });
            s.pending += lag;
        }
        let mut stats: Vec<ConsumerStats> = by_group.into_values().collect();
        stats.sort_by(|a, b| a.consumer.cmp(&b.consumer));
        Ok(stats)
    }

    async fn run_housekeeping(self: Arc<Self>, stop: CancellationToken) {
        let every = Duration::from_secs(self.settings.metrics_interval_secs.max(1));
        loop {
            match outbox::count_unrelayed(&self.db).await {
                Ok(n) => self.metrics.unrelayed.set(n as i64),
                Err(e) => tracing::warn!(error = %e, "could not count the outbox"),
            }
            match self.consumer_stats().await {
                Ok(stats) => self.metrics.set_backlog(&stats),
                Err(e) => tracing::warn!(error = %e, "could not read dead letters"),
            }
            let cutoff = Utc::now() - chrono::Duration::hours(self.settings.retention_hours as i64);
            if let Err(e) = outbox::purge_relayed(&self.db, cutoff).await {
                tracing::warn!(error = %e, "could not purge relayed messages");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}
