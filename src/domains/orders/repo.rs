//! Orders' SQL, over sea-query.

use chrono::{DateTime, Utc};
use sea_query::{
    Alias, CommonTableExpression, Cond, Expr, Func, Iden, InsertStatement, OnConflict,
    Order as SqlOrder, Query, SelectStatement, WithClause,
};
use sqlx::types::Json;
use uuid::Uuid;

use super::model::{Address, AddressInput, HistoryEntry, OrderItem, Status};
use crate::platform::db::{contains, Backend, Db, DbError, Tx};

#[derive(Iden)]
enum OrderAddresses {
    Table,
    Id,
    OwnerId,
    Label,
    Recipient,
    Phone,
    Street,
    City,
    State,
    PostalCode,
    Country,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum Orders {
    Table,
    Id,
    BuyerId,
    StoreId,
    Address,
    Status,
    Total,
    Currency,
    Note,
    IdempotencyKey,
    RequestHash,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum OrderItems {
    Table,
    OrderId,
    ProductId,
    Name,
    Sku,
    UnitPrice,
    Quantity,
}

#[derive(Iden)]
enum OrderStatusHistory {
    Table,
    Id,
    OrderId,
    FromStatus,
    ToStatus,
    ActorId,
    Reason,
    CreatedAt,
}

#[derive(Iden)]
enum OrderPaymentEvents {
    Table,
    EventId,
    OrderId,
    ReceivedAt,
}

use OrderAddresses as A;
use OrderStatusHistory as H;
use Orders as O;

// ---- addresses

const ADDRESS_COLUMNS: [A; 12] = [
    A::Id,
    A::OwnerId,
    A::Label,
    A::Recipient,
    A::Phone,
    A::Street,
    A::City,
    A::State,
    A::PostalCode,
    A::Country,
    A::CreatedAt,
    A::UpdatedAt,
];

fn select_address() -> SelectStatement {
    Query::select()
        .columns(ADDRESS_COLUMNS)
        .from(A::Table)
        .to_owned()
}

fn address_values(a: &AddressInput) -> Vec<(A, sea_query::SimpleExpr)> {
    vec![
        (A::Label, a.label.clone().into()),
        (A::Recipient, a.recipient.clone().into()),
        (A::Phone, a.phone.clone().into()),
        (A::Street, a.street.clone().into()),
        (A::City, a.city.clone().into()),
        (A::State, a.state.clone().into()),
        (A::PostalCode, a.postal_code.clone().into()),
        (A::Country, a.country.clone().into()),
    ]
}

pub async fn insert_address(
    db: &Db,
    id: Uuid,
    owner: Uuid,
    a: &AddressInput,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let (columns, values): (Vec<A>, Vec<sea_query::SimpleExpr>) =
        address_values(a).into_iter().unzip();
    let mut all_columns = vec![A::Id, A::OwnerId];
    all_columns.extend(columns);
    all_columns.extend([A::CreatedAt, A::UpdatedAt]);
    let mut row: Vec<sea_query::SimpleExpr> = vec![id.into(), owner.into()];
    row.extend(values);
    row.extend([now.into(), now.into()]);
    db.execute(
        Query::insert()
            .into_table(A::Table)
            .columns(all_columns)
            .values_panic(row),
    )
    .await?;
    Ok(())
}

pub async fn address(db: &Db, id: Uuid) -> Result<Option<Address>, DbError> {
    db.fetch_optional(select_address().and_where(Expr::col(A::Id).eq(id)))
        .await
}

pub async fn update_address(
    db: &Db,
    id: Uuid,
    a: &AddressInput,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    db.execute(
        Query::update()
            .table(A::Table)
            .values(address_values(a))
            .value(A::UpdatedAt, now)
            .and_where(Expr::col(A::Id).eq(id)),
    )
    .await?;
    Ok(())
}

pub async fn delete_address(db: &Db, id: Uuid) -> Result<(), DbError> {
    db.execute(
        Query::delete()
            .from_table(A::Table)
            .and_where(Expr::col(A::Id).eq(id)),
    )
    .await?;
    Ok(())
}

pub struct AddressFilter {
    pub owner: Option<Uuid>,
    pub label: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
}

pub async fn addresses(
    db: &Db,
    f: &AddressFilter,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Address>, u64), DbError> {
    let mut cond = Cond::all();
    if let Some(owner) = f.owner {
        cond = cond.add(Expr::col(A::OwnerId).eq(owner));
    }
    if let Some(label) = f.label.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        cond = cond.add(Expr::expr(Func::lower(Expr::col(A::Label))).like(contains(label)));
    }
    if let Some(city) = f.city.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        cond = cond.add(Expr::expr(Func::lower(Expr::col(A::City))).eq(city.to_lowercase()));
    }
    if let Some(code) = f
        .postal_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        cond = cond.add(Expr::col(A::PostalCode).eq(code));
    }
    let (total,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(A::Id).count())
                .from(A::Table)
                .cond_where(cond.clone()),
        )
        .await?;
    let rows = db
        .fetch_all(
            select_address()
                .cond_where(cond)
                .order_by(A::CreatedAt, SqlOrder::Desc)
                .limit(limit)
                .offset(offset),
        )
        .await?;
    Ok((rows, total as u64))
}

// ---- orders

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: Uuid,
    pub buyer_id: Uuid,
    pub store_id: Uuid,
    pub address: Json<Address>,
    pub status: String,
    pub total: i64,
    pub currency: String,
    pub note: Option<String>,
    pub request_hash: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn select_order() -> SelectStatement {
    Query::select()
        .columns([
            O::Id,
            O::BuyerId,
            O::StoreId,
            O::Address,
            O::Status,
            O::Total,
            O::Currency,
            O::Note,
            O::RequestHash,
            O::ExpiresAt,
            O::CreatedAt,
            O::UpdatedAt,
        ])
        .from(O::Table)
        .to_owned()
}

pub struct NewOrder<'a> {
    pub id: Uuid,
    pub buyer_id: Uuid,
    pub store_id: Uuid,
    pub address: &'a Address,
    pub total: i64,
    pub currency: &'a str,
    pub note: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// Writes a new order, its items and its first history entry (placed by its buyer). On
/// PostgreSQL that is one statement (order and history inserted in `WITH`s, whose foreign
/// keys are checked at the statement's end); SQLite runs in process and takes three.
pub async fn insert_order(
    tx: &mut Tx,
    o: &NewOrder<'_>,
    items: &[OrderItem],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let mut order = Query::insert();
    order
        .into_table(O::Table)
        .columns([
            O::Id,
            O::BuyerId,
            O::StoreId,
            O::Address,
            O::Status,
            O::Total,
            O::Currency,
            O::Note,
            O::IdempotencyKey,
            O::RequestHash,
            O::ExpiresAt,
            O::CreatedAt,
            O::UpdatedAt,
        ])
        .values_panic([
            o.id.into(),
            o.buyer_id.into(),
            o.store_id.into(),
            serde_json::to_value(o.address).unwrap_or_default().into(),
            Status::PendingPayment.as_str().into(),
            o.total.into(),
            o.currency.into(),
            o.note.map(str::to_string).into(),
            o.idempotency_key.map(str::to_string).into(),
            o.request_hash.into(),
            o.expires_at.into(),
            now.into(),
            now.into(),
        ]);
    let mut lines = Query::insert();
    lines.into_table(OrderItems::Table).columns([
        OrderItems::OrderId,
        OrderItems::ProductId,
        OrderItems::Name,
        OrderItems::Sku,
        OrderItems::UnitPrice,
        OrderItems::Quantity,
    ]);
    for item in items {
        lines.values_panic([
            o.id.into(),
            item.product_id.into(),
            item.name.clone().into(),
            item.sku.clone().into(),
            item.unit_price.into(),
            item.quantity.into(),
        ]);
    }
    let placed = history_entry(
        o.id,
        None,
        Status::PendingPayment,
        Some(o.buyer_id),
        None,
        now,
    );
    match tx.backend() {
        Backend::Postgres => {
            let with = WithClause::new()
                .cte(
                    CommonTableExpression::new()
                        .query(order)
                        .table_name(Alias::new("placed_order"))
                        .to_owned(),
                )
                .cte(
                    CommonTableExpression::new()
                        .query(placed)
                        .table_name(Alias::new("placed_history"))
                        .to_owned(),
                )
                .to_owned();
            tx.execute(&lines.with(with)).await?;
        }
        Backend::Sqlite => {
            tx.execute(&order).await?;
            tx.execute(&lines).await?;
            tx.execute(&placed).await?;
        }
    }
    Ok(())
}

pub async fn order(db: &Db, id: Uuid) -> Result<Option<OrderRow>, DbError> {
    db.fetch_optional(select_order().and_where(Expr::col(O::Id).eq(id)))
        .await
}

pub async fn order_tx(tx: &mut Tx, id: Uuid) -> Result<Option<OrderRow>, DbError> {
    tx.fetch_optional(
        select_order()
            .and_where(Expr::col(O::Id).eq(id))
            .lock(sea_query::LockType::Update),
    )
    .await
}

pub async fn order_by_key(db: &Db, buyer: Uuid, key: &str) -> Result<Option<OrderRow>, DbError> {
    db.fetch_optional(
        select_order()
            .and_where(Expr::col(O::BuyerId).eq(buyer))
            .and_where(Expr::col(O::IdempotencyKey).eq(key)),
    )
    .await
}

pub async fn items(db: &Db, order: Uuid) -> Result<Vec<OrderItem>, DbError> {
    let rows: Vec<(Uuid, String, String, i64, i64)> = db
        .fetch_all(
            Query::select()
                .columns([
                    OrderItems::ProductId,
                    OrderItems::Name,
                    OrderItems::Sku,
                    OrderItems::UnitPrice,
                    OrderItems::Quantity,
                ])
                .from(OrderItems::Table)
                .and_where(Expr::col(OrderItems::OrderId).eq(order))
                .order_by(OrderItems::Name, SqlOrder::Asc),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, name, sku, unit_price, quantity)| OrderItem {
            product_id,
            name,
            sku,
            unit_price,
            quantity,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    from_status: Option<String>,
    to_status: String,
    actor_id: Option<Uuid>,
    reason: Option<String>,
    created_at: DateTime<Utc>,
}

pub async fn history(db: &Db, order: Uuid) -> Result<Vec<HistoryEntry>, DbError> {
    let rows: Vec<HistoryRow> = db
        .fetch_all(
            Query::select()
                .columns([
                    H::FromStatus,
                    H::ToStatus,
                    H::ActorId,
                    H::Reason,
                    H::CreatedAt,
                ])
                .from(H::Table)
                .and_where(Expr::col(H::OrderId).eq(order))
                .order_by(H::CreatedAt, SqlOrder::Asc)
                .order_by(H::Id, SqlOrder::Asc),
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(HistoryEntry {
                from: r.from_status.as_deref().and_then(Status::parse),
                to: Status::parse(&r.to_status)?,
                actor_id: r.actor_id,
                reason: r.reason,
                at: r.created_at,
            })
        })
        .collect())
}

pub async fn record_history(
    tx: &mut Tx,
    order: Uuid,
    from: Option<Status>,
    to: Status,
    actor: Option<Uuid>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(&history_entry(order, from, to, actor, reason, now))
        .await?;
    Ok(())
}

fn history_entry(
    order: Uuid,
    from: Option<Status>,
    to: Status,
    actor: Option<Uuid>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> InsertStatement {
    Query::insert()
        .into_table(H::Table)
        .columns([
            H::Id,
            H::OrderId,
            H::FromStatus,
            H::ToStatus,
            H::ActorId,
            H::Reason,
            H::CreatedAt,
        ])
        .values_panic([
            Uuid::now_v7().into(),
            order.into(),
            from.map(|s| s.as_str().to_string()).into(),
            to.as_str().into(),
            actor.into(),
            reason.map(str::to_string).into(),
            now.into(),
        ])
        .to_owned()
}

/// Moves the order if it is still in `from`; false if someone moved it first.
pub async fn set_status(
    tx: &mut Tx,
    id: Uuid,
    from: Status,
    to: Status,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let changed = tx
        .execute(
            Query::update()
                .table(O::Table)
                .value(O::Status, to.as_str())
                .value(O::UpdatedAt, now)
                .and_where(Expr::col(O::Id).eq(id))
                .and_where(Expr::col(O::Status).eq(from.as_str())),
        )
        .await?;
    Ok(changed == 1)
}

pub enum Scope {
    Buyer(Uuid),
    Store(Uuid),
    All,
}

pub async fn orders(
    db: &Db,
    scope: Scope,
    status: Option<Status>,
    limit: u64,
    offset: u64,
) -> Result<(Vec<OrderRow>, u64), DbError> {
    let mut cond = Cond::all();
    match scope {
        Scope::Buyer(buyer) => cond = cond.add(Expr::col(O::BuyerId).eq(buyer)),
        Scope::Store(store) => cond = cond.add(Expr::col(O::StoreId).eq(store)),
        Scope::All => {}
    }
    if let Some(status) = status {
        cond = cond.add(Expr::col(O::Status).eq(status.as_str()));
    }
    let (total,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(O::Id).count())
                .from(O::Table)
                .cond_where(cond.clone()),
        )
        .await?;
    let rows = db
        .fetch_all(
            select_order()
                .cond_where(cond)
                .order_by(O::CreatedAt, SqlOrder::Desc)
                .limit(limit)
                .offset(offset),
        )
        .await?;
    Ok((rows, total as u64))
}

pub async fn due_for_expiry(db: &Db, now: DateTime<Utc>, limit: u64) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = db
        .fetch_all(
            Query::select()
                .column(O::Id)
                .from(O::Table)
                .and_where(Expr::col(O::Status).eq(Status::PendingPayment.as_str()))
                .and_where(Expr::col(O::ExpiresAt).lte(now))
                .limit(limit),
        )
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Records a payment event; false if it was seen before.
pub async fn first_payment_event(
    tx: &mut Tx,
    event_id: &str,
    order: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let inserted = tx
        .execute(
            Query::insert()
                .into_table(OrderPaymentEvents::Table)
                .columns([
                    OrderPaymentEvents::EventId,
                    OrderPaymentEvents::OrderId,
                    OrderPaymentEvents::ReceivedAt,
                ])
                .values_panic([event_id.into(), order.into(), now.into()])
                .on_conflict(
                    OnConflict::column(OrderPaymentEvents::EventId)
                        .do_nothing()
                        .to_owned(),
                ),
        )
        .await?;
    Ok(inserted == 1)
}
