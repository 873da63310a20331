//! Queue adapter on the database itself: no other service needed.
//!
//! Each message gets one delivery row per subscribed consumer group. Workers claim due
//! deliveries with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite the single
//! writer serialises claims), keep the lease alive while the handler runs, and settle the
//! delivery only if they still hold it, so two workers never run the same delivery at once.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use sea_query::{
    Alias, CommonTableExpression, Cond, Expr, Iden, LockBehavior, LockType, OnConflict, Order,
    Query, WithClause,
};
use serde_json::Value;
use sqlx::types::Json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::{
    supervise, Backoff, Consumer, ConsumerStats, DeadLetter, HandlerError, Message, Outgoing,
    QueueBackend, QueueError,
};
use crate::platform::config::QueueSettings;
use crate::platform::db::{Backend, Db, DbError, Tx};
use crate::platform::metrics::QueueMetrics;

#[derive(Iden)]
pub(super) enum QueueSubscriptions {
    Table,
    Consumer,
    Topic,
    CreatedAt,
}

#[derive(Iden)]
pub(super) enum QueueMessages {
    Table,
    Id,
    Topic,
    Key,
    Payload,
    CreatedAt,
    TraceParent,
    /// Read by the broker relay only.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    RelayedAt,
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    RelayLockedUntil,
}

#[derive(Iden)]
pub(super) enum QueueDeliveries {
    Table,
    Id,
    MessageId,
    Consumer,
    Status,
    Attempts,
    AvailableAt,
    LockedUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
}

use QueueDeliveries as D;
use QueueMessages as M;

/// What a handler or the relay reads of a message, in `MessageRow`'s order.
pub(super) const MESSAGE_COLUMNS: [QueueMessages; 6] = [
    M::Id,
    M::Topic,
    M::Key,
    M::Payload,
    M::CreatedAt,
    M::TraceParent,
];

const PENDING: &str = "pending";
const PROCESSING: &str = "processing";
const DONE: &str = "done";
pub(super) const DEAD: &str = "dead";

/// Inserts the message and a delivery for every group subscribed to its topic. On
/// PostgreSQL both inserts are one statement (the message in a `WITH`), so a publish costs
/// one round trip inside its transaction; SQLite runs in process and takes two.
pub(super) async fn insert_message(tx: &mut Tx, message: Outgoing) -> Result<Uuid, DbError> {
    tx.mark_published(&message.topic);
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mut insert_message = Query::insert();
    insert_message
        .into_table(M::Table)
        .columns(MESSAGE_COLUMNS)
        .values_panic([
            id.into(),
            message.topic.clone().into(),
            message.key.into(),
            message.payload.into(),
            now.into(),
            crate::platform::telemetry::current_traceparent().into(),
        ]);

    // One delivery per subscribed group, chosen by the database in the same statement.
    let new_id = match tx.backend() {
        Backend::Postgres => Expr::cust("gen_random_uuid()"),
        Backend::Sqlite => Expr::cust("randomblob(16)"),
    };
    let mut insert_deliveries = Query::insert();
    insert_deliveries
        .into_table(D::Table)
        .columns([
            D::Id,
            D::MessageId,
            D::Consumer,
            D::Status,
            D::Attempts,
            D::AvailableAt,
            D::CreatedAt,
            D::UpdatedAt,
        ])
        .select_from(
            Query::select()
                .expr(new_id)
                .expr(Expr::val(id))
                .column(QueueSubscriptions::Consumer)
                .expr(Expr::val(PENDING))
                .expr(Expr::val(0i32))
                .expr(Expr::val(now))
                .expr(Expr::val(now))
                .expr(Expr::val(now))
                .from(QueueSubscriptions::Table)
                .and_where(Expr::col(QueueSubscriptions::Topic).eq(message.topic))
                .to_owned(),
        )
        .expect("as many values as columns");
    match tx.backend() {
        Backend::Postgres => {
            // A data-modifying WITH runs whether or not the main statement reads it, and
            // the deliveries' foreign key is checked at the statement's end.
            let message = CommonTableExpression::new()
                .query(insert_message)
                .table_name(Alias::new("published"))
                .to_owned();
            tx.execute(&insert_deliveries.with(WithClause::new().cte(message).to_owned()))
                .await?;
        }
        Backend::Sqlite => {
            tx.execute(&insert_message).await?;
            tx.execute(&insert_deliveries).await?;
        }
    }
    Ok(id)
}

#[derive(sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    message_id: Uuid,
    attempts: i32,
}

/// A claimed delivery with its message.
#[derive(sqlx::FromRow)]
struct ClaimedMessage {
    id: Uuid,
    message_id: Uuid,
    attempts: i32,
    topic: String,
    key: String,
    payload: Json<Value>,
    created_at: DateTime<Utc>,
    trace_parent: Option<String>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    topic: String,
    key: String,
    payload: Json<Value>,
    created_at: DateTime<Utc>,
    trace_parent: Option<String>,
}

struct Job {
    delivery_id: Uuid,
    attempts: i32,
    message: Message,
}

enum Outcome {
    Done,
    Retry,
    Dead,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
        }
    }
}

/// The database adapter. Cheap to clone: clones share workers' state.
#[derive(Clone)]
pub struct DatabaseQueue(Arc<Shared>);

struct Shared {
    db: Db,
    settings: QueueSettings,
    backoff: Backoff,
    metrics: QueueMetrics,
    running: Arc<AtomicBool>,
}

impl DatabaseQueue {
    /// One dead delivery, for an adapter that replays it elsewhere.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(super) async fn dead_letter(
        &self,
        delivery_id: Uuid,
    ) -> Result<Option<DeadLetter>, DbError> {
        self.0.dead_letter(delivery_id).await
    }

    pub fn new(db: Db, settings: QueueSettings, metrics: QueueMetrics) -> Self {
        Self(Arc::new(Shared {
            backoff: Backoff::from_settings(&settings),
            db,
            settings,
            metrics,
            running: Arc::new(AtomicBool::new(false)),
        }))
    }
}

impl Shared {
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.settings.lease_secs as i64)
    }

    async fn subscribe_all(&self, consumers: &[Arc<dyn Consumer>]) -> Result<(), DbError> {
        let now = Utc::now();
        for consumer in consumers {
            for topic in consumer.topics() {
                self.db
                    .execute(
                        Query::insert()
                            .into_table(QueueSubscriptions::Table)
                            .columns([
                                QueueSubscriptions::Consumer,
                                QueueSubscriptions::Topic,
                                QueueSubscriptions::CreatedAt,
                            ])
                            .values_panic([consumer.group().into(), topic.into(), now.into()])
                            .on_conflict(
                                OnConflict::columns([
                                    QueueSubscriptions::Consumer,
                                    QueueSubscriptions::Topic,
                                ])
                                .do_nothing()
                                .to_owned(),
                            ),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Takes up to `limit` due deliveries of `group`: pending ones whose time has come, and
    /// processing ones whose lease ran out (their worker died).
    async fn claim(&self, group: &str, limit: usize) -> Result<Vec<Job>, DbError> {
        let now = Utc::now();
        let due = Query::select()
            .column(D::Id)
            .from(D::Table)
            .and_where(Expr::col(D::Consumer).eq(group))
            .cond_where(
                Cond::any()
                    .add(
                        Cond::all()
                            .add(Expr::col(D::Status).eq(PENDING))
                            .add(Expr::col(D::AvailableAt).lte(now)),
                    )
                    .add(
                        Cond::all()
                            .add(Expr::col(D::Status).eq(PROCESSING))
                            .add(Expr::col(D::LockedUntil).lt(now)),
                    ),
            )
            .order_by(D::AvailableAt, Order::Asc)
            .limit(limit as u64)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let mut take = Query::update();
        take.table(D::Table)
            .value(D::Status, PROCESSING)
            .value(D::LockedUntil, now + self.lease())
            .value(D::Attempts, Expr::col(D::Attempts).add(1))
            .value(D::UpdatedAt, now)
            .and_where(Expr::col(D::Id).in_subquery(due))
            .returning(Query::returning().columns([D::Id, D::MessageId, D::Attempts]));
        let jobs: Vec<ClaimedMessage> = match self.db.backend() {
            // The claim and its messages in one round trip.
            Backend::Postgres => {
                let claimed = Alias::new("claimed");
                let read = Query::select()
                    .column((claimed.clone(), D::Id))
                    .column((claimed.clone(), D::MessageId))
                    .column((claimed.clone(), D::Attempts))
                    .columns([
                        (M::Table, M::Topic),
                        (M::Table, M::Key),
                        (M::Table, M::Payload),
                        (M::Table, M::CreatedAt),
                        (M::Table, M::TraceParent),
                    ])
                    .from(claimed.clone())
                    .inner_join(
                        M::Table,
                        Expr::col((M::Table, M::Id)).equals((claimed.clone(), D::MessageId)),
                    )
                    .to_owned();
                let cte = CommonTableExpression::new()
                    .query(take)
                    .table_name(claimed)
                    .to_owned();
                self.db
                    .fetch_all(&read.with(WithClause::new().cte(cte).to_owned()))
                    .await?
            }
            Backend::Sqlite => {
                let claimed: Vec<Claimed> = self.db.fetch_all(&take).await?;
                if claimed.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<Uuid> = claimed.iter().map(|c| c.message_id).collect();
                let rows: Vec<MessageRow> = self
                    .db
                    .fetch_all(
                        Query::select()
                            .columns(MESSAGE_COLUMNS)
                            .from(M::Table)
                            .and_where(Expr::col(M::Id).is_in(ids)),
                    )
                    .await?;
                let mut messages: HashMap<Uuid, MessageRow> =
                    rows.into_iter().map(|m| (m.id, m)).collect();
                claimed
                    .into_iter()
                    .filter_map(|c| {
                        let m = messages.remove(&c.message_id)?;
                        Some(ClaimedMessage {
                            id: c.id,
                            message_id: c.message_id,
                            attempts: c.attempts,
                            topic: m.topic,
                            key: m.key,
                            payload: m.payload,
                            created_at: m.created_at,
                            trace_parent: m.trace_parent,
                        })
                    })
                    .collect()
            }
        };
        Ok(jobs
            .into_iter()
            .map(|c| Job {
                delivery_id: c.id,
                attempts: c.attempts,
                message: Message {
                    id: c.message_id,
                    topic: c.topic,
                    key: c.key,
                    payload: c.payload.0,
                    attempt: c.attempts as u32,
                    published_at: c.created_at,
                    traceparent: c.trace_parent,
                },
            })
            .collect())
    }

    /// Runs one job to its outcome, keeping its lease alive meanwhile.
    async fn process(&self, consumer: &dyn Consumer, job: Job) {
        let started = Instant::now();
        let span = crate::platform::telemetry::consumer_span(consumer.group(), &job.message);
        let handled =
            AssertUnwindSafe(consumer.handle(&job.message).instrument(span)).catch_unwind();
        tokio::pin!(handled);
        let renew_every =
            Duration::from_secs(self.settings.lease_secs).max(Duration::from_secs(1)) / 3;
        let result = loop {
            tokio::select! {
                result = &mut handled => break result,
                _ = tokio::time::sleep(renew_every) => {
                    if let Err(e) = self.renew_lease(&job).await {
                        tracing::warn!(error = %e, delivery = %job.delivery_id, "could not renew lease");
                    }
                }
            }
        };
        let result = result.unwrap_or_else(|_| Err(HandlerError::Retry("handler panicked".into())));

        let max_attempts = consumer
            .max_attempts()
            .unwrap_or(self.settings.max_attempts);
        let group = consumer.group();
        let outcome = match &result {
            Ok(()) => Outcome::Done,
            Err(HandlerError::Retry(_)) if (job.attempts as u32) < max_attempts => Outcome::Retry,
            Err(_) => Outcome::Dead,
        };
        match &result {
            Ok(()) => {
                tracing::debug!(consumer = group, topic = %job.message.topic, "message handled")
            }
            Err(e) => tracing::warn!(
                consumer = group,
                topic = %job.message.topic,
                delivery = %job.delivery_id,
                attempt = job.attempts,
                outcome = outcome.label(),
                error = %e,
                "message handler failed"
            ),
        }
        let error = result.err().map(|e| e.to_string());
        if let Err(e) = self.settle(&job, &outcome, error).await {
            // The lease runs out and the message is delivered again: at least once.
            tracing::error!(error = %e, delivery = %job.delivery_id, "could not record outcome");
        }
        self.metrics
            .processed
            .with_label_values(&[group, outcome.label()])
            .inc();
        self.metrics
            .duration
            .with_label_values(&[group])
            .observe(started.elapsed().as_secs_f64());
    }

    /// Matches only while this worker holds the delivery: same status and attempt count.
    fn held(job: &Job) -> Cond {
        Cond::all()
            .add(Expr::col(D::Id).eq(job.delivery_id))
            .add(Expr::col(D::Status).eq(PROCESSING))
            .add(Expr::col(D::Attempts).eq(job.attempts))
    }

    async fn renew_lease(&self, job: &Job) -> Result<u64, DbError> {
        let now = Utc::now();
        self.db
            .execute(
                Query::update()
                    .table(D::Table)
                    .value(D::LockedUntil, now + self.lease())
                    .value(D::UpdatedAt, now)
                    .cond_where(Self::held(job)),
            )
            .await
    }

    async fn settle(
        &self,
        job: &Job,
        outcome: &Outcome,
        error: Option<String>,
    ) -> Result<(), DbError> {
        let now = Utc::now();
        let mut update = Query::update();
        update
            .table(D::Table)
            .value(D::LockedUntil, Option::<DateTime<Utc>>::None)
            .value(D::UpdatedAt, now)
            .cond_where(Self::held(job));
        match outcome {
            Outcome::Done => update.value(D::Status, DONE),
            Outcome::Retry => {
                let delay = self.backoff.delay(job.attempts as u32);
                let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                update
                    .value(D::Status, PENDING)
                    .value(D::AvailableAt, at)
                    .value(D::LastError, error)
            }
            Outcome::Dead => update.value(D::Status, DEAD).value(D::LastError, error),
        };
        let changed = self.db.execute(&update).await?;
        if changed == 0 {
            tracing::warn!(delivery = %job.delivery_id, "lease was lost before the outcome was recorded");
        }
        Ok(())
    }

    /// Keeps up to `batch_size` deliveries running: claims as many as there are free slots,
    /// and claims again as soon as one frees, so a slow email never holds the others back.
    async fn run_worker(self: Arc<Self>, consumer: Arc<dyn Consumer>, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let slots = self.settings.batch_size.max(1) as usize;
        let published = self.db.signals().listen(&consumer.topics());
        // Spawned, so running jobs make progress while the next claim waits on the database.
        let mut running = tokio::task::JoinSet::new();
        while !shutdown.is_cancelled() {
            // Listening before the claim, so a commit during it is not missed.
            let woken = published.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let free = slots - running.len();
            let mut more_waiting = false;
            if free > 0 {
                match self.claim(consumer.group(), free).await {
                    Ok(jobs) => {
                        more_waiting = jobs.len() == free;
                        for job in jobs {
                            let (this, consumer) = (self.clone(), consumer.clone());
                            running
                                .spawn(async move { this.process(consumer.as_ref(), job).await });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(consumer = consumer.group(), error = %e, "could not claim messages")
                    }
                }
            }
            // Other replicas' messages are found by the poll; this one's wake it at once.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = running.join_next(), if !running.is_empty() => {
                    // Every slot that freed meanwhile is filled by one claim.
                    while running.try_join_next().is_some() {}
                }
                _ = tokio::time::sleep(poll), if !more_waiting => {}
                _ = &mut woken, if !more_waiting => {}
            }
        }
        // Running jobs finish even when shutdown is asked for meanwhile.
        while running.join_next().await.is_some() {}
    }

    /// Removes messages older than the retention whose deliveries all succeeded.
    async fn purge_delivered(&self) -> Result<u64, DbError> {
        let cutoff = Utc::now() - chrono::Duration::hours(self.settings.retention_hours as i64);
        let unfinished = Query::select()
            .expr(Expr::val(1))
            .from(D::Table)
            .and_where(Expr::col((D::Table, D::MessageId)).equals((M::Table, M::Id)))
            .and_where(Expr::col((D::Table, D::Status)).ne(DONE))
            .to_owned();
        // Deliveries go with their message (ON DELETE CASCADE).
        self.db
            .execute(
                Query::delete()
                    .from_table(M::Table)
                    .and_where(Expr::col((M::Table, M::CreatedAt)).lt(cutoff))
                    .and_where(Expr::exists(unfinished).not()),
            )
            .await
    }

    async fn run_housekeeping(self: Arc<Self>, shutdown: CancellationToken) {
        let every = Duration::from_secs(self.settings.metrics_interval_secs.max(1));
        loop {
            match self.stats().await {
                Ok(stats) => self.metrics.set_backlog(&stats),
                Err(e) => tracing::warn!(error = %e, "could not read queue statistics"),
            }
            match self.purge_delivered().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(messages = n, "purged delivered messages"),
                Err(e) => tracing::warn!(error = %e, "could not purge delivered messages"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

#[async_trait]
impl QueueBackend for DatabaseQueue {
    async fn subscribe(&self, consumers: &[Arc<dyn Consumer>]) -> Result<(), DbError> {
        self.0.subscribe_all(consumers).await
    }

    async fn start(
        &self,
        consumers: Vec<Arc<dyn Consumer>>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, DbError> {
        let mut tasks = tokio::task::JoinSet::new();
        for consumer in consumers {
            tasks.spawn(self.0.clone().run_worker(consumer, shutdown.clone()));
        }
        tasks.spawn(self.0.clone().run_housekeeping(shutdown));
        Ok(supervise(tasks, self.0.running.clone()))
    }

    fn is_running(&self) -> bool {
        self.0.running.load(Ordering::SeqCst)
    }

    async fn stats(&self) -> Result<Vec<ConsumerStats>, DbError> {
        self.0.stats().await
    }

    async fn dead_letters(
        &self,
        consumer: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<DeadLetter>, u64), DbError> {
        self.0.dead_letters(consumer, limit, offset).await
    }

    async fn replay(&self, delivery_id: Uuid) -> Result<bool, QueueError> {
        Ok(self.0.replay(delivery_id).await?)
    }
}

/// Backlog, dead letters and replay: the operator's side of the queue.
impl Shared {
    async fn stats(&self) -> Result<Vec<ConsumerStats>, DbError> {
        let rows: Vec<(String, String, i64)> = self
            .db
            .fetch_all(
                Query::select()
                    .columns([D::Consumer, D::Status])
                    .expr(Expr::col(D::Id).count())
                    .from(D::Table)
                    .and_where(Expr::col(D::Status).is_in([PENDING, PROCESSING, DEAD]))
                    .group_by_columns([D::Consumer, D::Status]),
            )
            .await?;
        let mut by_consumer: std::collections::BTreeMap<String, ConsumerStats> = Default::default();
        for (consumer, status, count) in rows {
            let stats = by_consumer
                .entry(consumer.clone())
                .or_insert_with(|| ConsumerStats {
                    consumer,
                    ..Default::default()
                });
            let count = count as u64;
            match status.as_str() {
                PENDING => stats.pending = count,
                PROCESSING => stats.processing = count,
                _ => stats.dead = count,
            }
        }
        Ok(by_consumer.into_values().collect())
    }

    async fn dead_letters(
        &self,
        consumer: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<DeadLetter>, u64), DbError> {
        let mut filter = Cond::all().add(Expr::col((D::Table, D::Status)).eq(DEAD));
        if let Some(consumer) = consumer {
            filter = filter.add(Expr::col((D::Table, D::Consumer)).eq(consumer));
        }
        let (total,): (i64,) = self
            .db
            .fetch_one(
                Query::select()
                    .expr(Expr::col((D::Table, D::Id)).count())
                    .from(D::Table)
                    .cond_where(filter.clone()),
            )
            .await?;
        let rows: Vec<DeadRow> = self
            .db
            .fetch_all(
                dead_rows()
                    .cond_where(filter)
                    .order_by((D::Table, D::UpdatedAt), Order::Desc)
                    .limit(limit)
                    .offset(offset),
            )
            .await?;
        Ok((
            rows.into_iter().map(DeadRow::into_dead_letter).collect(),
            total as u64,
        ))
    }

    async fn dead_letter(&self, delivery_id: Uuid) -> Result<Option<DeadLetter>, DbError> {
        let row: Option<DeadRow> = self
            .db
            .fetch_optional(
                dead_rows()
                    .and_where(Expr::col((D::Table, D::Id)).eq(delivery_id))
                    .and_where(Expr::col((D::Table, D::Status)).eq(DEAD)),
            )
            .await?;
        Ok(row.map(DeadRow::into_dead_letter))
    }

    async fn replay(&self, delivery_id: Uuid) -> Result<bool, DbError> {
        let now = Utc::now();
        let changed = self
            .db
            .execute(
                Query::update()
                    .table(D::Table)
                    .value(D::Status, PENDING)
                    .value(D::Attempts, 0i32)
                    .value(D::AvailableAt, now)
                    .value(D::LockedUntil, Option::<DateTime<Utc>>::None)
                    .value(D::UpdatedAt, now)
                    .and_where(Expr::col(D::Id).eq(delivery_id))
                    .and_where(Expr::col(D::Status).eq(DEAD)),
            )
            .await?;
        Ok(changed > 0)
    }
}

/// Dead deliveries with their messages; the caller adds the filter.
fn dead_rows() -> sea_query::SelectStatement {
    Query::select()
        .expr_as(Expr::col((D::Table, D::Id)), Alias::new("delivery_id"))
        .expr_as(Expr::col((M::Table, M::Id)), Alias::new("message_id"))
        .column((D::Table, D::Consumer))
        .column((M::Table, M::Topic))
        .column((M::Table, M::Key))
        .column((M::Table, M::Payload))
        .column((D::Table, D::Attempts))
        .column((D::Table, D::LastError))
        .column((D::Table, D::UpdatedAt))
        .expr_as(
            Expr::col((M::Table, M::CreatedAt)),
            Alias::new("published_at"),
        )
        .from(D::Table)
        .inner_join(
            M::Table,
            Expr::col((M::Table, M::Id)).equals((D::Table, D::MessageId)),
        )
        .to_owned()
}

#[derive(sqlx::FromRow)]
struct DeadRow {
    delivery_id: Uuid,
    message_id: Uuid,
    consumer: String,
    topic: String,
    key: String,
    payload: Json<Value>,
    attempts: i32,
    last_error: Option<String>,
    updated_at: DateTime<Utc>,
    published_at: DateTime<Utc>,
}

impl DeadRow {
    fn into_dead_letter(self) -> DeadLetter {
        DeadLetter {
            delivery_id: self.delivery_id,
            message_id: self.message_id,
            consumer: self.consumer,
            topic: self.topic,
            key: self.key,
            payload: self.payload.0,
            attempts: self.attempts as u32,
            last_error: self.last_error,
            failed_at: self.updated_at,
            published_at: self.published_at,
        }
    }
}
