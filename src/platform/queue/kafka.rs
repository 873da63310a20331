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
use uuid::Uuid;

use super::{
    outbox, supervise, Backoff, Consumer, ConsumerStats, DatabaseQueue, DeadLetter, HandlerError,
    Message, QueueBackend, QueueError,
};
use crate::platform::config::{KafkaSettings, QueueSettings};
use crate::platform::db::{Db, DbError};
use crate::platform::metrics::QueueMetrics;

const ID: &str = "agora-id";
const TOPIC: &str = "agora-topic";
const ATTEMPT: &str = "agora-attempt";
const DUE: &str = "agora-due-ms";
const PUBLISHED: &str = "agora-published-ms";
const GROUP: &str = "agora-group";
const ERROR: &str = "agora-error";

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

    /// `poll_gap`: the longest this consumer may go without reading (it is then taken out of
    /// its group); also how long a rebalance waits for members.
    fn consumer(&self, group: &str, poll_gap: Duration) -> Result<Reader, KafkaError> {
        let k = kafka(&self.settings);
        let context = GroupContext {
            group: group.to_string(),
        };
        ClientConfig::new()
            .set("max.poll.interval.ms", poll_gap.as_millis().to_string())
            .set("bootstrap.servers", &k.brokers)
            .set("group.id", self.name(group))
            .set("client.id", self.name(group))
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "500")
            // Offsets are stored only once a message is settled.
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", k.session_timeout_ms.to_string())
            .create_with_context(context)
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
impl Shared {
    /// One round; returns how many messages reached the broker.
    async fn relay_once(&self) -> Result<usize, DbError> {
        let k = kafka(&self.settings);
        let lease = chrono::Duration::milliseconds((k.produce_timeout_ms * 2) as i64);
        let rows = outbox::claim_unrelayed(&self.db, k.relay_batch_size as u64, lease).await?;
        if rows.is_empty() {
            self.broker_ok();
            return Ok(0);
        }
        let topics: Vec<String> = rows
            .iter()
            .map(|r| self.name(&r.topic))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if let Err(e) = self.ensure_topics(&topics).await {
            self.broker_failed(&e);
            return Ok(0);
        }
        let sends = rows.iter().map(|r| {
            let payload = serde_json::to_vec(&r.payload.0).unwrap_or_default();
            let topic = self.name(&r.topic);
            let h = headers(&[
                (ID, r.id.to_string()),
                (PUBLISHED, millis(r.created_at)),
                (ATTEMPT, "1".into()),
            ]);
            async move { self.produce(&topic, &r.key, &payload, h).await }
        });
        let results = futures::future::join_all(sends).await;
        let mut relayed = Vec::new();
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(()) => relayed.push(row.id),
                // Left for the next round once the lease ends.
                Err(e) => self.broker_failed(&e),
            }
        }
        let n = relayed.len();
        if n == rows.len() {
            self.broker_ok();
        }
        outbox::mark_relayed(&self.db, relayed).await?;
        Ok(n)
    }

    async fn run_relay(self: Arc<Self>, stop: CancellationToken) {
        let k = kafka(&self.settings);
        let idle = Duration::from_millis(k.relay_interval_ms);
        let published = self.db.signals().listen_all();
        loop {
            // Listening before the read, so a commit during it is not missed.
            let woken = published.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let pause = match self.relay_once().await {
                Ok(n) if n == k.relay_batch_size as usize => Duration::ZERO,
                Ok(_) if self.broker_error.lock().expect("lock").is_some() => {
                    Duration::from_secs(1)
                }
                Ok(_) => idle,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay could not read the outbox");
                    Duration::from_secs(1)
                }
            };
            // A commit here wakes the relay unless the broker is away (then: wait a second).
            let woken_matters = pause == idle;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
                _ = woken, if woken_matters => {}
            }
        }
    }
}

/// How a message settled.
enum Settled {
    Done,
    Retry,
    Dead,
}

impl Settled {
    fn label(&self) -> &'static str {
        match self {
            Settled::Done => "done",
            Settled::Retry => "retry",
            Settled::Dead => "dead",
        }
    }
}

/// The consumers: main topics and the retry topic of each group.
impl Shared {
    fn to_message(&self, m: &OwnedMessage, retried: bool) -> Result<Message, String> {
        let payload = m.payload().unwrap_or_default();
        let payload =
            serde_json::from_slice(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
        let prefix = format!("{}.", kafka(&self.settings).namespace);
        let topic = if retried {
            header(m, TOPIC).ok_or("retry without its topic header")?
        } else {
            m.topic()
                .strip_prefix(&prefix)
                .unwrap_or(m.topic())
                .to_string()
        };
        let id = header(m, ID)
            .and_then(|v| v.parse().ok())
            .ok_or("message without its id header")?;
        Ok(Message {
            id,
            topic,
            key: m
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            payload,
            attempt: header(m, ATTEMPT).and_then(|a| a.parse().ok()).unwrap_or(1),
            published_at: from_millis(header(m, PUBLISHED)).unwrap_or_else(Utc::now),
        })
    }

    /// Produces until the broker takes it, or gives up at shutdown (then the message is read
    /// again after restart, as its offset was not stored).
    async fn produce_until_taken(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        h: &OwnedHeaders,
        stop: &CancellationToken,
    ) -> bool {
        loop {
            match self.produce(topic, key, payload, h.clone()).await {
                Ok(()) => return true,
                Err(e) => self.broker_failed(&e),
            }
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Runs the handler and settles the message; false if it could not be settled (shutdown
    /// with the broker away), so its offset must not be stored.
    async fn process(
        &self,
        consumer: &dyn Consumer,
        raw: &OwnedMessage,
        retried: bool,
        stop: &CancellationToken,
    ) -> bool {
        let group = consumer.group();
        let message = match self.to_message(raw, retried) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(consumer = group, topic = raw.topic(), error = %e, "unreadable message skipped");
                return true;
            }
        };
        let started = Instant::now();
        let result = AssertUnwindSafe(consumer.handle(&message))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(HandlerError::Retry("handler panicked".into())));
        let max = consumer
            .max_attempts()
            .unwrap_or(self.settings.max_attempts);
        let settled = match &result {
            Ok(()) => Settled::Done,
            Err(HandlerError::Retry(_)) if message.attempt < max => Settled::Retry,
            Err(_) => Settled::Dead,
        };
        if let Err(e) = &result {
            tracing::warn!(consumer = group, topic = %message.topic, attempt = message.attempt,
                outcome = settled.label(), error = %e, "message handler failed");
        }
        let payload = raw.payload().unwrap_or_default();
        let key = message.key.as_str();
        let taken = match (&settled, &result) {
            (Settled::Done, _) | (_, Ok(())) => true,
            (Settled::Retry, Err(_)) => {
                let delay = self.backoff.delay(message.attempt);
                let due = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                let h = headers(&[
                    (ID, message.id.to_string()),
                    (TOPIC, message.topic.clone()),
                    (ATTEMPT, (message.attempt + 1).to_string()),
                    (DUE, millis(due)),
                    (PUBLISHED, millis(message.published_at)),
                ]);
                let topic = self.retry_topic(group);
                self.produce_until_taken(&topic, key, payload, &h, stop)
                    .await
            }
            (Settled::Dead, Err(e)) => {
                let error = e.to_string();
                let h = headers(&[
                    (ID, message.id.to_string()),
                    (TOPIC, message.topic.clone()),
                    (GROUP, group.to_string()),
                    (ATTEMPT, message.attempt.to_string()),
                    (ERROR, error.clone()),
                    (PUBLISHED, millis(message.published_at)),
                ]);
                let topic = self.dlq_topic(&message.topic);
                // Should this fail, the produce below keeps trying until the broker is back.
                let _ = self.ensure_topics(std::slice::from_ref(&topic)).await;
                let taken = self
                    .produce_until_taken(&topic, key, payload, &h, stop)
                    .await;
                if taken {
                    if let Err(e) = outbox::record_dead(&self.db, &message, group, &error).await {
                        tracing::error!(error = %e, message = %message.id, "could not record the dead letter");
                    }
                }
                taken
            }
        };
        if taken {
            self.metrics
                .processed
                .with_label_values(&[group, settled.label()])
                .inc();
            self.metrics
                .duration
                .with_label_values(&[group])
                .observe(started.elapsed().as_secs_f64());
        }
        taken
    }

    /// Reads the group's topics (or, `retried`, its retry topic) until shutdown.
    async fn run_consumer(
        self: Arc<Self>,
        consumer: Arc<dyn Consumer>,
        retried: bool,
        stop: CancellationToken,
    ) {
        let group = consumer.group().to_string();
        let topics: Vec<String> = if retried {
            vec![self.retry_topic(&group)]
        } else {
            consumer.topics().iter().map(|t| self.name(t)).collect()
        };
        let kafka_group = if retried {
            format!("{group}.retry")
        } else {
            group.clone()
        };
        // Topics first: a group cannot read a topic that does not exist yet.
        while let Err(e) = self.ensure_topics(&topics).await {
            self.broker_failed(&e);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        // Long enough for a full batch of slow handlers; the retry consumer also sleeps until
        // a retry is due, up to the longest backoff.
        let k = kafka(&self.settings);
        let mut poll_gap = Duration::from_millis((k.session_timeout_ms * 3).max(30_000));
        if retried {
            poll_gap += Duration::from_millis(self.settings.backoff_max_ms);
        }
        let reader = match self.consumer(&kafka_group, poll_gap) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!(consumer = %group, error = %e, "could not create the Kafka consumer");
                return;
            }
        };
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        if let Err(e) = reader.subscribe(&names) {
            tracing::error!(consumer = %group, error = %e, "could not subscribe");
            return;
        }
        let lag = tokio::spawn(self.clone().watch_lag(
            reader.clone(),
            topics.clone(),
            group.clone(),
            retried,
            stop.clone(),
        ));
        // Up to `batch_size` messages run at once; an offset is stored only once every
        // message before it in its partition has settled.
        let limit = self.settings.batch_size.max(1) as usize;
        let mut running: futures::stream::FuturesUnordered<Settling> = Default::default();
        let mut offsets = Offsets::default();
        // Keys in flight: one message per key at a time, so a message relayed twice (a relay
        // cut short) is never handled twice at once, and a key's messages keep their order.
        let mut keys: HashSet<Vec<u8>> = HashSet::new();
        let settle = |done: Finished, offsets: &mut Offsets, keys: &mut HashSet<Vec<u8>>| {
            keys.remove(&done.key);
            if !done.taken {
                return false;
            }
            if let Some(next) = offsets.settle(&done.topic, done.partition, done.offset) {
                if let Err(e) = reader.store_offset(&done.topic, done.partition, next) {
                    tracing::warn!(consumer = %group, error = %e, "could not store the offset");
                }
            }
            true
        };
        'reading: loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                Some(done) = running.next(), if !running.is_empty() => {
                    if !settle(done, &mut offsets, &mut keys) {
                        break;
                    }
                }
                received = reader.recv(), if running.len() < limit => {
                    let m = match received {
                        Ok(m) => m.detach(),
                        Err(e) => {
                            tracing::warn!(consumer = %group, error = %e, "Kafka consumer error");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                    };
                    if retried {
                        // Not before its time; the main topics flow on meanwhile.
                        let due = from_millis(header(&m, DUE)).unwrap_or_else(Utc::now);
                        if let Ok(wait) = (due - Utc::now()).to_std() {
                            tokio::select! {
                                _ = stop.cancelled() => break,
                                _ = tokio::time::sleep(wait) => {}
                            }
                        }
                    }
                    let key = m.key().unwrap_or_default().to_vec();
                    while keys.contains(&key) {
                        let Some(done) = running.next().await else { break };
                        if !settle(done, &mut offsets, &mut keys) {
                            break 'reading;
                        }
                    }
                    keys.insert(key.clone());
                    offsets.start(m.topic(), m.partition(), m.offset());
                    let (this, consumer, stop) = (self.clone(), consumer.clone(), stop.clone());
                    running.push(
                        async move {
                            let taken = this.process(consumer.as_ref(), &m, retried, &stop).await;
                            Finished {
                                topic: m.topic().to_string(),
                                partition: m.partition(),
                                offset: m.offset(),
                                key,
                                taken,
                            }
                        }
                        .boxed(),
                    );
                }
            }
        }
        // Running handlers finish; what settled in order is stored, then committed.
        while let Some(done) = running.next().await {
            settle(done, &mut offsets, &mut keys);
        }
        if let Err(e) = reader.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(consumer = %group, error = %e, "final offset commit");
        }
        lag.abort();
    }

    /// Keeps `queue_consumer_lag` current (high watermark minus the group's committed offset,
    /// over every partition of the topics), and rejoins the group when it is stuck: this
    /// member holds no partition while work waits and nobody's offsets move, which is what a
    /// group looks like while the broker still counts a member that died (kill -9) as alive.
    async fn watch_lag(
        self: Arc<Self>,
        reader: Arc<Reader>,
        topics: Vec<String>,
        group: String,
        retried: bool,
        stop: CancellationToken,
    ) {
        let every = Duration::from_secs(self.settings.metrics_interval_secs.max(1));
        let patience = Duration::from_millis(kafka(&self.settings).session_timeout_ms * 2);
        let mut stalled: Option<(Instant, i64)> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let (r, t) = (reader.clone(), topics.clone());
            let reading = tokio::task::spawn_blocking(move || group_state(&r, &t)).await;
            let Ok(Ok(state)) = reading else { continue };
            let prefix = format!("{}.", kafka(&self.settings).namespace);
            let mut total = 0;
            for (topic, lag) in &state.lag {
                total += lag;
                let topic = topic.strip_prefix(&prefix).unwrap_or(topic).to_string();
                self.metrics
                    .lag
                    .with_label_values(&[&group, &topic])
                    .set(*lag as i64);
            }
            let key = if retried {
                format!("{group}.retry")
            } else {
                group.clone()
            };
            self.lag.lock().expect("lock").insert(key, total);

            stalled = match stalled {
                _ if !(state.assigned == 0 && total > 0) => None,
                Some((since, committed)) if committed == state.committed => {
                    if since.elapsed() < patience {
                        Some((since, committed))
                    } else {
                        tracing::warn!(consumer = %group, lag = total, "no partitions while work waits; rejoining the group");
                        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                        reader.unsubscribe();
                        if let Err(e) = reader.subscribe(&names) {
                            tracing::warn!(consumer = %group, error = %e, "could not rejoin");
                        }
                        None
                    }
                }
                _ => Some((Instant::now(), state.committed)),
            };
        }
    }
}

/// What one member sees of its group.
struct GroupState {
    /// Lag per topic, over all partitions.
    lag: HashMap<String, u64>,
    /// Partitions this member holds.
    assigned: usize,
    /// Sum of the group's committed offsets: moves while anyone consumes.
    committed: i64,
}

fn group_state(reader: &Reader, topics: &[String]) -> Result<GroupState, KafkaError> {
    let timeout = Duration::from_secs(5);
    let mut all = rdkafka::TopicPartitionList::new();
    for topic in topics {
        let metadata = reader.fetch_metadata(Some(topic), timeout)?;
        for t in metadata.topics() {
            for p in t.partitions() {
                all.add_partition(t.name(), p.id());
            }
        }
    }
    let committed = reader.committed_offsets(all, timeout)?;
    let mut state = GroupState {
        lag: HashMap::new(),
        assigned: reader.assignment()?.count(),
        committed: 0,
    };
    for e in committed.elements() {
        let (low, high) = reader.fetch_watermarks(e.topic(), e.partition(), timeout)?;
        let done = match e.offset() {
            Offset::Offset(o) => o,
            _ => low,
        };
        state.committed += done;
        *state.lag.entry(e.topic().to_string()).or_default() += (high - done).max(0) as u64;
    }
    Ok(state)
}

/// A group's consumer, reporting what happens to its membership.
type Reader = StreamConsumer<GroupContext>;

struct GroupContext {
    group: String,
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let group = &self.group;
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                tracing::warn!(consumer = %group, facility, "librdkafka: {message}")
            }
            _ => tracing::debug!(consumer = %group, facility, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(consumer = %self.group, error = %error, "Kafka: {reason}");
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &rdkafka::TopicPartitionList| {
            list.elements()
                .iter()
                .map(|e| format!("{}/{}", e.topic(), e.partition()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(consumer = %self.group, partitions = %partitions(list), "partitions assigned")
            }
            Rebalance::Revoke(list) => {
                tracing::info!(consumer = %self.group, partitions = %partitions(list), "partitions revoked")
            }
            Rebalance::Error(e) => {
                tracing::warn!(consumer = %self.group, error = %e, "rebalance failed")
            }
        }
    }
}

/// A message being handled.
type Settling = futures::future::BoxFuture<'static, Finished>;

/// A message handled: where it was, and whether it settled (else shutdown cut it short).
struct Finished {
    topic: String,
    partition: i32,
    offset: i64,
    key: Vec<u8>,
    taken: bool,
}

/// Offsets in flight per partition, to store only ones below which everything settled.
#[derive(Default)]
struct Offsets(HashMap<(String, i32), std::collections::BTreeMap<i64, bool>>);

impl Offsets {
    fn start(&mut self, topic: &str, partition: i32, offset: i64) {
        self.0
            .entry((topic.to_string(), partition))
            .or_default()
            .insert(offset, false);
    }

    /// Marks `offset` settled; returns the highest offset below which all settled, if it moved.
    fn settle(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        let open = self.0.get_mut(&(topic.to_string(), partition))?;
        open.insert(offset, true);
        let mut done = None;
        while let Some(entry) = open.first_entry() {
            if !*entry.get() {
                break;
            }
            done = Some(*entry.key());
            entry.remove();
        }
        done
    }
}

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

    /// `pending` is the groups' lag (main and retry topics), `dead` the recorded dead letters.
    async fn stats(&self) -> Result<Vec<ConsumerStats>, DbError> {
        let mut by_group: HashMap<String, ConsumerStats> = HashMap::new();
        for s in self.0.dead.stats().await? {
            by_group.insert(s.consumer.clone(), s);
        }
        for (key, lag) in self.0.lag.lock().expect("lock").iter() {
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
    async fn run_housekeeping(self: Arc<Self>, stop: CancellationToken) {
        let every = Duration::from_secs(self.settings.metrics_interval_secs.max(1));
        loop {
            match outbox::count_unrelayed(&self.db).await {
                Ok(n) => self.metrics.unrelayed.set(n as i64),
                Err(e) => tracing::warn!(error = %e, "could not count the outbox"),
            }
            match self.dead.stats().await {
                Ok(stats) => {
                    let mut stats = stats;
                    let lag = self.lag.lock().expect("lock").clone();
                    for s in &mut stats {
                        s.pending = lag.get(&s.consumer).copied().unwrap_or_default();
                    }
                    self.metrics.set_backlog(&stats);
                }
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
