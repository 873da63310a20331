//! Notifications' SQL, over sea-query.

use chrono::{DateTime, Utc};
use sea_query::{Cond, Expr, Iden, OnConflict, Order, Query, SelectStatement};
use sqlx::types::Json;
use uuid::Uuid;

use super::model::{Category, Channel, Delivery, DeliveryStatus, Notification, QuietHours};
use crate::platform::db::{Db, DbError, Tx};

#[derive(Iden)]
enum Notifications {
    Table,
    Id,
    UserId,
    EventType,
    Category,
    Critical,
    Title,
    Body,
    Data,
    SourceKey,
    InInbox,
    ReadAt,
    DeletedAt,
    CreatedAt,
}

#[derive(Iden)]
enum NotificationDeliveries {
    Table,
    Id,
    NotificationId,
    Channel,
    Status,
    Attempts,
    Detail,
    ExternalId,
    DeliverAfter,
    UpdatedAt,
}

#[derive(Iden)]
enum NotificationPreferences {
    Table,
    UserId,
    Category,
    Channel,
    Enabled,
}

#[derive(Iden)]
enum NotificationQuietHours {
    Table,
    UserId,
    StartMinute,
    EndMinute,
    UtcOffsetMinutes,
    TimeZone,
    UpdatedAt,
}

#[derive(Iden)]
enum NotificationTemplates {
    Table,
    EventType,
    Channel,
    Title,
    Body,
    UpdatedAt,
}

use NotificationDeliveries as D;
use NotificationTemplates as T;
use Notifications as N;

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: Uuid,
    user_id: Uuid,
    event_type: String,
    category: String,
    critical: bool,
    title: String,
    body: String,
    data: Json<serde_json::Value>,
    read_at: Option<DateTime<Utc>>,
    deleted_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            id: r.id,
            user_id: r.user_id,
            event_type: r.event_type,
            category: Category::parse(&r.category).unwrap_or(Category::Account),
            critical: r.critical,
            title: r.title,
            body: r.body,
            data: r.data.0,
            read: r.read_at.is_some(),
            read_at: r.read_at,
            removed_at: r.deleted_at,
            created_at: r.created_at,
            deliveries: Vec::new(),
        }
    }
}

fn select_notification() -> SelectStatement {
    Query::select()
        .columns([
            N::Id,
            N::UserId,
            N::EventType,
            N::Category,
            N::Critical,
            N::Title,
            N::Body,
            N::Data,
            N::ReadAt,
            N::DeletedAt,
            N::CreatedAt,
        ])
        .from(N::Table)
        .to_owned()
}

#[derive(sqlx::FromRow)]
pub struct DeliveryRow {
    pub notification_id: Uuid,
    channel: String,
    status: String,
    pub attempts: i32,
    detail: Option<String>,
    external_id: Option<String>,
    deliver_after: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl DeliveryRow {
    pub fn channel(&self) -> Channel {
        Channel::parse(&self.channel).unwrap_or(Channel::InApp)
    }

    pub fn status(&self) -> DeliveryStatus {
        DeliveryStatus::parse(&self.status).unwrap_or(DeliveryStatus::Failed)
    }

    pub fn to_delivery(&self) -> Delivery {
        Delivery {
            channel: self.channel(),
            status: self.status(),
            attempts: self.attempts,
            detail: self.detail.clone(),
            external_id: self.external_id.clone(),
            deliver_after: self.deliver_after,
            updated_at: self.updated_at,
        }
    }
}

fn select_delivery() -> SelectStatement {
    Query::select()
        .columns([
            D::NotificationId,
            D::Channel,
            D::Status,
            D::Attempts,
            D::Detail,
            D::ExternalId,
            D::DeliverAfter,
            D::UpdatedAt,
        ])
        .from(D::Table)
        .to_owned()
}

pub struct NewNotification<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub event_type: &'a str,
    pub category: Category,
    pub critical: bool,
    pub title: &'a str,
    pub body: &'a str,
    pub data: &'a serde_json::Value,
    pub source_key: &'a str,
    pub in_inbox: bool,
    pub now: DateTime<Utc>,
}

/// Signalled by every commit that wrote a notification: other replicas' live streams look.
pub const CREATED_SIGNAL: &str = "notifications.created";

/// A unique violation means the same source already notified this user.
pub async fn insert_notification(tx: &mut Tx, n: &NewNotification<'_>) -> Result<(), DbError> {
    tx.tell_other_processes(CREATED_SIGNAL);
    tx.execute(
        Query::insert()
            .into_table(N::Table)
            .columns([
                N::Id,
                N::UserId,
                N::EventType,
                N::Category,
                N::Critical,
                N::Title,
                N::Body,
                N::Data,
                N::SourceKey,
                N::InInbox,
                N::CreatedAt,
            ])
            .values_panic([
                n.id.into(),
                n.user_id.into(),
                n.event_type.into(),
                n.category.as_str().into(),
                n.critical.into(),
                n.title.into(),
                n.body.into(),
                n.data.clone().into(),
                n.source_key.into(),
                n.in_inbox.into(),
                n.now.into(),
            ]),
    )
    .await?;
    Ok(())
}

pub async fn by_source(db: &Db, user: Uuid, source_key: &str) -> Result<Option<Uuid>, DbError> {
    let row: Option<(Uuid,)> = db
        .fetch_optional(
            Query::select()
                .column(N::Id)
                .from(N::Table)
                .and_where(Expr::col(N::UserId).eq(user))
                .and_where(Expr::col(N::SourceKey).eq(source_key)),
        )
        .await?;
    Ok(row.map(|(id,)| id))
}

pub struct NewDelivery<'a> {
    pub id: Uuid,
    pub notification_id: Uuid,
    pub channel: Channel,
    pub status: DeliveryStatus,
    pub detail: Option<&'a str>,
    pub deliver_after: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

/// Every channel's delivery of one notification, in one statement.
pub async fn insert_deliveries(tx: &mut Tx, deliveries: &[NewDelivery<'_>]) -> Result<(), DbError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert();
    insert.into_table(D::Table).columns([
        D::Id,
        D::NotificationId,
        D::Channel,
        D::Status,
        D::Attempts,
        D::Detail,
        D::DeliverAfter,
        D::UpdatedAt,
    ]);
    for d in deliveries {
        insert.values_panic([
            d.id.into(),
            d.notification_id.into(),
            d.channel.as_str().into(),
            d.status.as_str().into(),
            0i32.into(),
            d.detail.map(str::to_string).into(),
            d.deliver_after.into(),
            d.now.into(),
        ]);
    }
    tx.execute(&insert).await?;
    Ok(())
}

/// What the inbox shows: in-app notifications not deleted.
fn inbox(user: Uuid, unread_only: bool) -> Cond {
    let mut cond = Cond::all()
        .add(Expr::col(N::UserId).eq(user))
        .add(Expr::col(N::InInbox).eq(true))
        .add(Expr::col(N::DeletedAt).is_null());
    if unread_only {
        cond = cond.add(Expr::col(N::ReadAt).is_null());
    }
    cond
}

async fn count(db: &Db, cond: Cond) -> Result<u64, DbError> {
    let (n,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(N::Id).count())
                .from(N::Table)
                .cond_where(cond),
        )
        .await?;
    Ok(n as u64)
}

/// A page of the inbox, newest first, with every notification's deliveries.
pub async fn list(
    db: &Db,
    user: Uuid,
    unread_only: bool,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Notification>, u64), DbError> {
    let total = count(db, inbox(user, unread_only)).await?;
    let rows: Vec<NotificationRow> = db
        .fetch_all(
            select_notification()
                .cond_where(inbox(user, unread_only))
                .order_by(N::CreatedAt, Order::Desc)
                .order_by(N::Id, Order::Desc)
                .limit(limit)
                .offset(offset),
        )
        .await?;
    let mut items: Vec<Notification> = rows.into_iter().map(Notification::from).collect();
    attach_deliveries(db, &mut items).await?;
    Ok((items, total))
}

pub async fn unread_count(db: &Db, user: Uuid) -> Result<u64, DbError> {
    count(db, inbox(user, true)).await
}

async fn attach_deliveries(db: &Db, items: &mut [Notification]) -> Result<(), DbError> {
    if items.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = items.iter().map(|n| n.id).collect();
    let rows: Vec<DeliveryRow> = db
        .fetch_all(
            select_delivery()
                .and_where(Expr::col(D::NotificationId).is_in(ids))
                .order_by(D::Channel, Order::Asc),
        )
        .await?;
    for row in rows {
        if let Some(n) = items.iter_mut().find(|n| n.id == row.notification_id) {
            n.deliveries.push(row.to_delivery());
        }
    }
    Ok(())
}

/// One notification, deleted or not, with its deliveries.
pub async fn notification(db: &Db, id: Uuid) -> Result<Option<Notification>, DbError> {
    let row: Option<NotificationRow> = db
        .fetch_optional(select_notification().and_where(Expr::col(N::Id).eq(id)))
        .await?;
    let mut items: Vec<Notification> = row.into_iter().map(Notification::from).collect();
    attach_deliveries(db, &mut items).await?;
    Ok(items.pop())
}

/// Marks one of the user's inbox notifications read (again is fine). False if not theirs.
pub async fn mark_read(db: &Db, user: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<bool, DbError> {
    let cond = inbox(user, false).add(Expr::col(N::Id).eq(id));
    if count(db, cond.clone()).await? == 0 {
        return Ok(false);
    }
    db.execute(
        Query::update()
            .table(N::Table)
            .value(N::ReadAt, now)
            .cond_where(cond.add(Expr::col(N::ReadAt).is_null())),
    )
    .await?;
    Ok(true)
}

pub async fn mark_all_read(db: &Db, user: Uuid, now: DateTime<Utc>) -> Result<u64, DbError> {
    db.execute(
        Query::update()
            .table(N::Table)
            .value(N::ReadAt, now)
            .cond_where(inbox(user, true)),
    )
    .await
}

/// Takes it out of the inbox; the history (and its deliveries) stays.
pub async fn remove(db: &Db, user: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<bool, DbError> {
    Ok(db
        .execute(
            Query::update()
                .table(N::Table)
                .value(N::DeletedAt, now)
                .cond_where(inbox(user, false).add(Expr::col(N::Id).eq(id))),
        )
        .await?
        > 0)
}

/// Inbox notifications of every user created since `since`, oldest first (live streams).
pub async fn created_since(db: &Db, since: DateTime<Utc>) -> Result<Vec<Notification>, DbError> {
    let rows: Vec<NotificationRow> = db
        .fetch_all(
            select_notification()
                .and_where(Expr::col(N::CreatedAt).gte(since))
                .and_where(Expr::col(N::InInbox).eq(true))
                .order_by(N::CreatedAt, Order::Asc)
                .limit(1000),
        )
        .await?;
    Ok(rows.into_iter().map(Notification::from).collect())
}

pub async fn delivery(db: &Db, id: Uuid) -> Result<Option<DeliveryRow>, DbError> {
    db.fetch_optional(select_delivery().and_where(Expr::col(D::Id).eq(id)))
        .await
}

/// Moves a pending delivery on (or keeps it pending with news); counts an attempt when asked.
/// False if it was no longer pending.
pub async fn update_pending(
    db: &Db,
    id: Uuid,
    to: DeliveryStatus,
    detail: Option<&str>,
    external_id: Option<&str>,
    attempted: bool,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let mut update = Query::update();
    update
        .table(D::Table)
        .value(D::Status, to.as_str())
        .value(D::Detail, detail.map(str::to_string))
        .value(D::UpdatedAt, now)
        .and_where(Expr::col(D::Id).eq(id))
        .and_where(Expr::col(D::Status).eq(DeliveryStatus::Pending.as_str()));
    if let Some(external) = external_id {
        update.value(D::ExternalId, external);
    }
    if attempted {
        update.value(D::Attempts, Expr::col(D::Attempts).add(1));
    }
    Ok(db.execute(&update).await? > 0)
}

/// Held deliveries whose quiet hours are over.
pub async fn due_held(db: &Db, now: DateTime<Utc>, limit: u64) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = db
        .fetch_all(
            Query::select()
                .column(D::Id)
                .from(D::Table)
                .and_where(Expr::col(D::Status).eq(DeliveryStatus::Held.as_str()))
                .and_where(Expr::col(D::DeliverAfter).lte(now))
                .order_by(D::DeliverAfter, Order::Asc)
                .limit(limit),
        )
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Held -> pending, once: false if another replica released it first.
pub async fn release(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<bool, DbError> {
    Ok(tx
        .execute(
            Query::update()
                .table(D::Table)
                .value(D::Status, DeliveryStatus::Pending.as_str())
                .value(D::UpdatedAt, now)
                .and_where(Expr::col(D::Id).eq(id))
                .and_where(Expr::col(D::Status).eq(DeliveryStatus::Held.as_str())),
        )
        .await?
        > 0)
}

/// The switches the user changed from the defaults.
pub async fn preferences(db: &Db, user: Uuid) -> Result<Vec<(Category, Channel, bool)>, DbError> {
    use NotificationPreferences as P;
    let rows: Vec<(String, String, bool)> = db
        .fetch_all(
            Query::select()
                .columns([P::Category, P::Channel, P::Enabled])
                .from(P::Table)
                .and_where(Expr::col(P::UserId).eq(user)),
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(cat, ch, on)| Some((Category::parse(&cat)?, Channel::parse(&ch)?, on)))
        .collect())
}

pub async fn set_preference(
    tx: &mut Tx,
    user: Uuid,
    category: Category,
    channel: Channel,
    enabled: bool,
) -> Result<(), DbError> {
    use NotificationPreferences as P;
    tx.execute(
        Query::insert()
            .into_table(P::Table)
            .columns([P::UserId, P::Category, P::Channel, P::Enabled])
            .values_panic([
                user.into(),
                category.as_str().into(),
                channel.as_str().into(),
                enabled.into(),
            ])
            .on_conflict(
                OnConflict::columns([P::UserId, P::Category, P::Channel])
                    .update_column(P::Enabled)
                    .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

pub async fn quiet_hours(db: &Db, user: Uuid) -> Result<Option<QuietHours>, DbError> {
    use NotificationQuietHours as Q;
    let row: Option<(i32, i32, i32, Option<String>)> = db
        .fetch_optional(
            Query::select()
                .columns([
                    Q::StartMinute,
                    Q::EndMinute,
                    Q::UtcOffsetMinutes,
                    Q::TimeZone,
                ])
                .from(Q::Table)
                .and_where(Expr::col(Q::UserId).eq(user)),
        )
        .await?;
    Ok(row.map(|(start, end, offset, time_zone)| QuietHours {
        start: start as u16,
        end: end as u16,
        utc_offset_minutes: offset as i16,
        time_zone,
    }))
}

pub async fn set_quiet_hours(
    tx: &mut Tx,
    user: Uuid,
    hours: Option<QuietHours>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    use NotificationQuietHours as Q;
    let Some(q) = hours else {
        tx.execute(
            Query::delete()
                .from_table(Q::Table)
                .and_where(Expr::col(Q::UserId).eq(user)),
        )
        .await?;
        return Ok(());
    };
    tx.execute(
        Query::insert()
            .into_table(Q::Table)
            .columns([
                Q::UserId,
                Q::StartMinute,
                Q::EndMinute,
                Q::UtcOffsetMinutes,
                Q::TimeZone,
                Q::UpdatedAt,
            ])
            .values_panic([
                user.into(),
                i32::from(q.start).into(),
                i32::from(q.end).into(),
                i32::from(q.utc_offset_minutes).into(),
                q.time_zone.into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::column(Q::UserId)
                    .update_columns([
                        Q::StartMinute,
                        Q::EndMinute,
                        Q::UtcOffsetMinutes,
                        Q::TimeZone,
                        Q::UpdatedAt,
                    ])
                    .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
#[schema(as = NotificationTemplate)]
pub struct TemplateRow {
    #[schema(example = "orders.status_changed")]
    pub event_type: String,
    /// `email`, `in_app`, `sms`, `push`, or `*` for every channel without its own.
    #[schema(example = "*")]
    pub channel: String,
    #[schema(example = "Order {{ order_ref }} is {{ to }}")]
    pub title: String,
    pub body: String,
    pub updated_at: DateTime<Utc>,
}

fn select_template() -> SelectStatement {
    Query::select()
        .columns([T::EventType, T::Channel, T::Title, T::Body, T::UpdatedAt])
        .from(T::Table)
        .to_owned()
}

pub async fn templates(db: &Db) -> Result<Vec<TemplateRow>, DbError> {
    db.fetch_all(
        select_template()
            .order_by(T::EventType, Order::Asc)
            .order_by(T::Channel, Order::Asc),
    )
    .await
}

/// The channel's own template, else the event's `*` one.
pub async fn template_for(
    db: &Db,
    event_type: &str,
    channel: Channel,
) -> Result<Option<TemplateRow>, DbError> {
    let mut rows: Vec<TemplateRow> = db
        .fetch_all(
            select_template()
                .and_where(Expr::col(T::EventType).eq(event_type))
                .and_where(Expr::col(T::Channel).is_in([channel.as_str(), "*"])),
        )
        .await?;
    rows.sort_by_key(|t| t.channel == "*");
    Ok(rows.into_iter().next())
}

pub async fn upsert_template(db: &Db, t: &TemplateRow) -> Result<(), DbError> {
    db.execute(
        Query::insert()
            .into_table(T::Table)
            .columns([T::EventType, T::Channel, T::Title, T::Body, T::UpdatedAt])
            .values_panic([
                t.event_type.clone().into(),
                t.channel.clone().into(),
                t.title.clone().into(),
                t.body.clone().into(),
                t.updated_at.into(),
            ])
            .on_conflict(
                OnConflict::columns([T::EventType, T::Channel])
                    .update_columns([T::Title, T::Body, T::UpdatedAt])
                    .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

/// Removes a channel's own template (the event's `*` one cannot go). False if none.
pub async fn delete_template(db: &Db, event_type: &str, channel: &str) -> Result<bool, DbError> {
    Ok(db
        .execute(
            Query::delete()
                .from_table(T::Table)
                .and_where(Expr::col(T::EventType).eq(event_type))
                .and_where(Expr::col(T::Channel).eq(channel)),
        )
        .await?
        > 0)
}
