//! The outbox as a broker adapter sees it: committed messages waiting to be relayed, and the
//! dead letters it records so operators list and replay them as with the database backend.

use chrono::{DateTime, Utc};
use sea_query::{Expr, LockBehavior, LockType, OnConflict, Order, Query};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::database::{
    QueueDeliveries as D, QueueMessages as M, QueueSubscriptions, DEAD, MESSAGE_COLUMNS,
};
use super::Message;
use crate::platform::db::{Db, DbError};

#[derive(sqlx::FromRow)]
pub struct Unrelayed {
    pub id: Uuid,
    pub topic: String,
    pub key: String,
    pub payload: Json<Value>,
    pub created_at: DateTime<Utc>,
    pub trace_parent: Option<String>,
}

/// With a broker, groups are the broker's: messages get no delivery rows.
pub async fn clear_subscriptions(db: &Db) -> Result<u64, DbError> {
    db.execute(
        &Query::delete()
            .from_table(QueueSubscriptions::Table)
            .to_owned(),
    )
    .await
}

/// Takes up to `limit` committed messages no relay holds, oldest first, for `lease`.
pub async fn claim_unrelayed(
    db: &Db,
    limit: u64,
    lease: chrono::Duration,
) -> Result<Vec<Unrelayed>, DbError> {
    let now = Utc::now();
    let due = Query::select()
        .column(M::Id)
        .from(M::Table)
        .and_where(Expr::col(M::RelayedAt).is_null())
        .cond_where(
            sea_query::Cond::any()
                .add(Expr::col(M::RelayLockedUntil).is_null())
                .add(Expr::col(M::RelayLockedUntil).lt(now)),
        )
        .order_by(M::CreatedAt, Order::Asc)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let mut rows: Vec<Unrelayed> = db
        .fetch_all(
            Query::update()
                .table(M::Table)
                .value(M::RelayLockedUntil, now + lease)
                .and_where(Expr::col(M::Id).in_subquery(due))
                .returning(Query::returning().columns(MESSAGE_COLUMNS)),
        )
        .await?;
    rows.sort_by_key(|r| r.created_at);
    Ok(rows)
}

pub async fn mark_relayed(db: &Db, ids: Vec<Uuid>) -> Result<u64, DbError> {
    if ids.is_empty() {
        return Ok(0);
    }
    db.execute(
        Query::update()
            .table(M::Table)
            .value(M::RelayedAt, Utc::now())
            .value(M::RelayLockedUntil, Option::<DateTime<Utc>>::None)
            .and_where(Expr::col(M::Id).is_in(ids)),
    )
    .await
}

/// Messages committed but not yet on the broker.
pub async fn count_unrelayed(db: &Db) -> Result<u64, DbError> {
    let (n,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(M::Id).count())
                .from(M::Table)
                .and_where(Expr::col(M::RelayedAt).is_null()),
        )
        .await?;
    Ok(n as u64)
}

/// Relayed messages older than the cutoff with no dead letter pointing at them.
pub async fn purge_relayed(db: &Db, cutoff: DateTime<Utc>) -> Result<u64, DbError> {
    let dead = Query::select()
        .expr(Expr::val(1))
        .from(D::Table)
        .and_where(Expr::col((D::Table, D::MessageId)).equals((M::Table, M::Id)))
        .to_owned();
    db.execute(
        Query::delete()
            .from_table(M::Table)
            .and_where(Expr::col((M::Table, M::RelayedAt)).lt(cutoff))
            .and_where(Expr::exists(dead).not()),
    )
    .await
}

/// Records a dead letter of `group` (again: the latest failure wins).
pub async fn record_dead(
    db: &Db,
    message: &Message,
    group: &str,
    error: &str,
) -> Result<(), DbError> {
    let now = Utc::now();
    db.execute(
        Query::insert()
            .into_table(D::Table)
            .columns([
                D::Id,
                D::MessageId,
                D::Consumer,
                D::Status,
                D::Attempts,
                D::AvailableAt,
                D::LastError,
                D::CreatedAt,
                D::UpdatedAt,
            ])
            .values_panic([
                Uuid::now_v7().into(),
                message.id.into(),
                group.into(),
                DEAD.into(),
                (message.attempt as i32).into(),
                now.into(),
                error.into(),
                now.into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::columns([D::MessageId, D::Consumer])
                    .update_columns([D::Status, D::Attempts, D::LastError, D::UpdatedAt])
                    .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

/// Drops a dead letter once it is back on the broker.
pub async fn forget_dead(db: &Db, delivery_id: Uuid) -> Result<u64, DbError> {
    db.execute(
        Query::delete()
            .from_table(D::Table)
            .and_where(Expr::col(D::Id).eq(delivery_id))
            .and_where(Expr::col(D::Status).eq(DEAD)),
    )
    .await
}
