//! Consumer groups on the main topics and on each group's retry topic: handlers run, offsets
//! stored once a message settled, retries and dead letters produced, lag watched.

use super::*;

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
            traceparent: header(m, TRACEPARENT),
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
        let span = crate::platform::telemetry::consumer_span(group, &message);
        let result = AssertUnwindSafe(consumer.handle(&message).instrument(span))
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
                let mut pairs = vec![
                    (ID, message.id.to_string()),
                    (TOPIC, message.topic.clone()),
                    (ATTEMPT, (message.attempt + 1).to_string()),
                    (DUE, millis(due)),
                    (PUBLISHED, millis(message.published_at)),
                ];
                pairs.extend(message.traceparent.clone().map(|t| (TRACEPARENT, t)));
                let h = headers(&pairs);
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
    pub(super) async fn run_consumer(
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
