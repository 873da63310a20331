//! Mail's SQL, over sea-query.

use chrono::{DateTime, Utc};
use sea_query::{
    Alias, CommonTableExpression, Cond, Expr, Func, Iden, OnConflict, Order, Query,
    SelectStatement, UpdateStatement, WithClause,
};
use sqlx::types::Json;
use uuid::Uuid;

use super::model::{Attempt, Email, EmailStatus, Recipients};
use crate::platform::db::{contains, Backend, Db, DbError, Tx};

#[derive(Iden)]
enum MailEmails {
    Table,
    Id,
    OwnerId,
    Recipients,
    Subject,
    TextBody,
    HtmlBody,
    Status,
    Attempts,
    LastError,
    MessageId,
    IdempotencyKey,
    RequestHash,
    CreatedAt,
    UpdatedAt,
    SentAt,
    Attachments,
}

#[derive(Iden)]
enum MailAttempts {
    Table,
    Id,
    EmailId,
    Attempt,
    StartedAt,
    DurationMs,
    Outcome,
    Response,
}

#[derive(Iden)]
enum MailSuppressions {
    Table,
    Address,
    Reason,
    CreatedAt,
}

use MailEmails as E;

#[derive(sqlx::FromRow)]
pub struct EmailRow {
    id: Uuid,
    owner_id: Uuid,
    recipients: Json<Recipients>,
    subject: String,
    text_body: Option<String>,
    html_body: Option<String>,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    message_id: String,
    pub request_hash: String,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    attachments: Json<Vec<Uuid>>,
}

impl EmailRow {
    pub fn into_email(self) -> Email {
        Email {
            id: self.id,
            owner_id: self.owner_id,
            recipients: self.recipients.0,
            subject: self.subject,
            text: self.text_body,
            html: self.html_body,
            status: EmailStatus::parse(&self.status).unwrap_or(EmailStatus::Queued),
            attempts: self.attempts,
            last_error: self.last_error,
            message_id: self.message_id,
            created_at: self.created_at,
            sent_at: self.sent_at,
            attachments: self.attachments.0,
            delivery_attempts: Vec::new(),
        }
    }
}

/// What `EmailRow` reads.
const EMAIL_COLUMNS: [E; 14] = [
    E::Id,
    E::OwnerId,
    E::Recipients,
    E::Subject,
    E::TextBody,
    E::HtmlBody,
    E::Status,
    E::Attempts,
    E::LastError,
    E::MessageId,
    E::RequestHash,
    E::CreatedAt,
    E::SentAt,
    E::Attachments,
];

fn select_email() -> SelectStatement {
    Query::select()
        .columns(EMAIL_COLUMNS)
        .from(E::Table)
        .to_owned()
}

pub struct NewEmail<'a> {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub recipients: &'a Recipients,
    pub subject: &'a str,
    pub text: Option<&'a str>,
    pub html: Option<&'a str>,
    pub message_id: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: &'a str,
    pub attachments: &'a [Uuid],
}

pub async fn insert_email(
    tx: &mut Tx,
    e: &NewEmail<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        Query::insert()
            .into_table(E::Table)
            .columns([
                E::Id,
                E::OwnerId,
                E::Recipients,
                E::Subject,
                E::TextBody,
                E::HtmlBody,
                E::Status,
                E::Attempts,
                E::MessageId,
                E::IdempotencyKey,
                E::RequestHash,
                E::CreatedAt,
                E::UpdatedAt,
                E::Attachments,
            ])
            .values_panic([
                e.id.into(),
                e.owner_id.into(),
                serde_json::to_value(e.recipients)
                    .unwrap_or_default()
                    .into(),
                e.subject.into(),
                e.text.map(str::to_string).into(),
                e.html.map(str::to_string).into(),
                EmailStatus::Queued.as_str().into(),
                0i32.into(),
                e.message_id.into(),
                e.idempotency_key.map(str::to_string).into(),
                e.request_hash.into(),
                now.into(),
                now.into(),
                serde_json::to_value(e.attachments)
                    .unwrap_or_default()
                    .into(),
            ]),
    )
    .await?;
    Ok(())
}

pub async fn email(db: &Db, id: Uuid) -> Result<Option<EmailRow>, DbError> {
    db.fetch_optional(select_email().and_where(Expr::col(E::Id).eq(id)))
        .await
}

/// Moves a pending email to `sending` with one more attempt, and returns it as it now is;
/// `None` if it is gone or no longer pending. One statement: the job's read and its first
/// write at once.
pub async fn start_attempt(
    db: &Db,
    id: Uuid,
    pending: &[EmailStatus],
    now: DateTime<Utc>,
) -> Result<Option<EmailRow>, DbError> {
    db.fetch_optional(
        Query::update()
            .table(E::Table)
            .value(E::Status, EmailStatus::Sending.as_str())
            .value(E::Attempts, Expr::col(E::Attempts).add(1))
            .value(E::UpdatedAt, now)
            .and_where(Expr::col(E::Id).eq(id))
            .and_where(Expr::col(E::Status).is_in(pending.iter().map(|s| s.as_str())))
            .returning(Query::returning().columns(EMAIL_COLUMNS)),
    )
    .await
}

pub async fn email_by_key(db: &Db, owner: Uuid, key: &str) -> Result<Option<EmailRow>, DbError> {
    db.fetch_optional(
        select_email()
            .and_where(Expr::col(E::OwnerId).eq(owner))
            .and_where(Expr::col(E::IdempotencyKey).eq(key)),
    )
    .await
}

pub struct EmailFilter {
    pub owner: Option<Uuid>,
    pub status: Option<EmailStatus>,
    pub q: Option<String>,
}

pub async fn emails(
    db: &Db,
    f: &EmailFilter,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Email>, u64), DbError> {
    let mut cond = Cond::all();
    if let Some(owner) = f.owner {
        cond = cond.add(Expr::col(E::OwnerId).eq(owner));
    }
    if let Some(status) = f.status {
        cond = cond.add(Expr::col(E::Status).eq(status.as_str()));
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        // Recipients are stored as JSON text; a substring match finds an address in them.
        cond = cond.add(
            Cond::any()
                .add(Expr::expr(Func::lower(Expr::col(E::Subject))).like(contains(q)))
                .add(
                    Expr::expr(Func::lower(
                        Expr::col(E::Recipients).cast_as(sea_query::Alias::new("TEXT")),
                    ))
                    .like(contains(q)),
                ),
        );
    }
    let (total,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(E::Id).count())
                .from(E::Table)
                .cond_where(cond.clone()),
        )
        .await?;
    let rows: Vec<EmailRow> = db
        .fetch_all(
            select_email()
                .cond_where(cond)
                .order_by(E::CreatedAt, Order::Desc)
                .order_by(E::Id, Order::Desc)
                .limit(limit)
                .offset(offset),
        )
        .await?;
    Ok((
        rows.into_iter().map(EmailRow::into_email).collect(),
        total as u64,
    ))
}

/// Sets the status (and what goes with it); `from` guards against moving a finished email.
pub async fn set_status(
    tx: &mut Tx,
    id: Uuid,
    from: &[EmailStatus],
    to: EmailStatus,
    error: Option<&str>,
    attempts: Option<i32>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    Ok(tx.execute(&status_update(id, from, to, error, attempts, now)).await? > 0)
}

fn status_update(
    id: Uuid,
    from: &[EmailStatus],
    to: EmailStatus,
    error: Option<&str>,
    attempts: Option<i32>,
    now: DateTime<Utc>,
) -> UpdateStatement {
    let mut update = Query::update();
    update
        .table(E::Table)
        .value(E::Status, to.as_str())
        .value(E::UpdatedAt, now)
        .and_where(Expr::col(E::Id).eq(id))
        .and_where(Expr::col(E::Status).is_in(from.iter().map(|s| s.as_str())));
    if let Some(error) = error {
        update.value(E::LastError, error);
    }
    if let Some(attempts) = attempts {
        update.value(E::Attempts, attempts);
    }
    if to == EmailStatus::Sent {
        update.value(E::SentAt, now);
    }
    update
}

/// An attempt's outcome: the email moves from one of `from` to `to`, the attempt is recorded
/// and `suppress` (address, reason) is added, all or nothing; false (and nothing written)
/// when the email was in no state of `from`. On PostgreSQL with nothing to suppress, one
/// statement (the status change in a `WITH`, the attempt inserted only for the row it
/// changed) with no transaction of its own.
#[allow(clippy::too_many_arguments)]
pub async fn record_outcome(
    db: &Db,
    id: Uuid,
    from: &[EmailStatus],
    to: EmailStatus,
    error: Option<&str>,
    a: &Attempt,
    suppress: Option<(&str, &str)>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    if db.backend() == Backend::Sqlite || suppress.is_some() {
        let mut tx = db.begin().await?;
        if !set_status(&mut tx, id, from, to, error, None, now).await? {
            return Ok(false);
        }
        record_attempt(&mut tx, id, a).await?;
        if let Some((address, reason)) = suppress {
            self::suppress(&mut tx, address, reason, now).await?;
        }
        tx.commit().await?;
        return Ok(true);
    }
    let changed = Alias::new("changed");
    let cte = CommonTableExpression::new()
        .query(
            status_update(id, from, to, error, None, now)
                .returning_col(E::Id)
                .to_owned(),
        )
        .table_name(changed.clone())
        .to_owned();
    let mut insert = Query::insert();
    insert
        .into_table(MailAttempts::Table)
        .columns(ATTEMPT_COLUMNS)
        .select_from(
            Query::select()
                .expr(Expr::val(Uuid::now_v7()))
                .column((changed.clone(), E::Id))
                .exprs(attempt_values(a))
                .from(changed)
                .to_owned(),
        )
        .expect("as many values as columns");
    Ok(db.execute(&insert.with(WithClause::new().cte(cte).to_owned())).await? > 0)
}

const ATTEMPT_COLUMNS: [MailAttempts; 7] = [
    MailAttempts::Id,
    MailAttempts::EmailId,
    MailAttempts::Attempt,
    MailAttempts::StartedAt,
    MailAttempts::DurationMs,
    MailAttempts::Outcome,
    MailAttempts::Response,
];

/// The attempt's own columns, after its id and email's.
fn attempt_values(a: &Attempt) -> [sea_query::SimpleExpr; 5] {
    [
        a.attempt.into(),
        a.started_at.into(),
        a.duration_ms.into(),
        a.outcome.clone().into(),
        a.response.clone().into(),
    ]
}

/// Back in line for a retry: queued, fresh attempts, inside the retry's transaction.
pub async fn requeue(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<bool, DbError> {
    let changed = tx
        .execute(
            Query::update()
                .table(E::Table)
                .value(E::Status, EmailStatus::Queued.as_str())
                .value(E::Attempts, 0i32)
                .value(E::UpdatedAt, now)
                .and_where(Expr::col(E::Id).eq(id))
                .and_where(Expr::col(E::Status).eq(EmailStatus::Failed.as_str())),
        )
        .await?;
    Ok(changed > 0)
}

pub async fn record_attempt(tx: &mut Tx, email: Uuid, a: &Attempt) -> Result<(), DbError> {
    let mut values = vec![Uuid::now_v7().into(), email.into()];
    values.extend(attempt_values(a));
    tx.execute(
        Query::insert()
            .into_table(MailAttempts::Table)
            .columns(ATTEMPT_COLUMNS)
            .values_panic(values),
    )
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    attempt: i32,
    started_at: DateTime<Utc>,
    duration_ms: i64,
    outcome: String,
    response: String,
}

pub async fn attempts(db: &Db, email: Uuid) -> Result<Vec<Attempt>, DbError> {
    let rows: Vec<AttemptRow> = db
        .fetch_all(
            Query::select()
                .columns([
                    MailAttempts::Attempt,
                    MailAttempts::StartedAt,
                    MailAttempts::DurationMs,
                    MailAttempts::Outcome,
                    MailAttempts::Response,
                ])
                .from(MailAttempts::Table)
                .and_where(Expr::col(MailAttempts::EmailId).eq(email))
                .order_by(MailAttempts::StartedAt, Order::Asc),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Attempt {
            attempt: r.attempt,
            started_at: r.started_at,
            duration_ms: r.duration_ms,
            outcome: r.outcome,
            response: r.response,
        })
        .collect())
}

/// (status, created_at, sent_at) of the emails created since `since`, for statistics.
pub async fn since(
    db: &Db,
    owner: Option<Uuid>,
    since: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)>, DbError> {
    let mut query = Query::select();
    query
        .columns([E::Status, E::CreatedAt, E::SentAt])
        .from(E::Table)
        .and_where(Expr::col(E::CreatedAt).gte(since));
    if let Some(owner) = owner {
        query.and_where(Expr::col(E::OwnerId).eq(owner));
    }
    db.fetch_all(&query).await
}

pub async fn suppress(
    tx: &mut Tx,
    address: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        Query::insert()
            .into_table(MailSuppressions::Table)
            .columns([
                MailSuppressions::Address,
                MailSuppressions::Reason,
                MailSuppressions::CreatedAt,
            ])
            .values_panic([address.into(), reason.into(), now.into()])
            .on_conflict(
                OnConflict::column(MailSuppressions::Address)
                    .do_nothing()
                    .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

pub async fn suppressed_among(db: &Db, addresses: &[String]) -> Result<Vec<String>, DbError> {
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String,)> = db
        .fetch_all(
            Query::select()
                .column(MailSuppressions::Address)
                .from(MailSuppressions::Table)
                .and_where(Expr::col(MailSuppressions::Address).is_in(addresses.iter().cloned())),
        )
        .await?;
    Ok(rows.into_iter().map(|(a,)| a).collect())
}

pub async fn suppressions(
    db: &Db,
    limit: u64,
    offset: u64,
) -> Result<(Vec<(String, String, DateTime<Utc>)>, u64), DbError> {
    let (total,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(MailSuppressions::Address).count())
                .from(MailSuppressions::Table),
        )
        .await?;
    let rows = db
        .fetch_all(
            Query::select()
                .columns([
                    MailSuppressions::Address,
                    MailSuppressions::Reason,
                    MailSuppressions::CreatedAt,
                ])
                .from(MailSuppressions::Table)
                .order_by(MailSuppressions::CreatedAt, Order::Desc)
                .limit(limit)
                .offset(offset),
        )
        .await?;
    Ok((rows, total as u64))
}

pub async fn unsuppress(db: &Db, address: &str) -> Result<bool, DbError> {
    Ok(db
        .execute(
            Query::delete()
                .from_table(MailSuppressions::Table)
                .and_where(Expr::col(MailSuppressions::Address).eq(address)),
        )
        .await?
        > 0)
}

pub async fn emails_with_status(db: &Db, status: EmailStatus) -> Result<Vec<EmailRow>, DbError> {
    db.fetch_all(select_email().and_where(Expr::col(E::Status).eq(status.as_str())))
        .await
}

pub async fn count_with_status(db: &Db, status: EmailStatus) -> Result<i64, DbError> {
    let (n,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(E::Id).count())
                .from(E::Table)
                .and_where(Expr::col(E::Status).eq(status.as_str())),
        )
        .await?;
    Ok(n)
}
