//! The catalog's SQL, over sea-query.

use chrono::{DateTime, Utc};
use sea_query::{Cond, Expr, Func, Iden, OnConflict, Order, Query, SelectStatement, SimpleExpr};
use sqlx::types::Json;
use uuid::Uuid;

use super::contract::Reserved;
use super::model::{Category, Product, ProductInput, Store};
use crate::platform::db::{contains, Db, DbError, Tx};

#[derive(Iden)]
enum CatalogStores {
    Table,
    Id,
    OwnerId,
    Name,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum CatalogCategories {
    Table,
    Id,
    Name,
    ParentId,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum CatalogProducts {
    Table,
    Id,
    StoreId,
    Name,
    Description,
    Sku,
    Brand,
    Price,
    Currency,
    Stock,
    LowStockThreshold,
    CategoryId,
    Images,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum CatalogVersion {
    Table,
    Id,
    Version,
}

use CatalogCategories as C;
use CatalogProducts as P;
use CatalogStores as S;

// ---- stores

/// Inserts a store; with `if_absent`, an existing id is left alone (replayed events).
pub async fn insert_store(tx: &mut Tx, store: &Store, if_absent: bool) -> Result<bool, DbError> {
    let mut insert = Query::insert();
    insert
        .into_table(S::Table)
        .columns([
            S::Id,
            S::OwnerId,
            S::Name,
            S::Description,
            S::CreatedAt,
            S::UpdatedAt,
        ])
        .values_panic([
            store.id.into(),
            store.owner_id.into(),
            store.name.clone().into(),
            store.description.clone().into(),
            store.created_at.into(),
            store.updated_at.into(),
        ]);
    if if_absent {
        insert.on_conflict(OnConflict::column(S::Id).do_nothing().to_owned());
    }
    Ok(tx.execute(&insert).await? > 0)
}

fn select_store() -> SelectStatement {
    Query::select()
        .columns([
            S::Id,
            S::OwnerId,
            S::Name,
            S::Description,
            S::CreatedAt,
            S::UpdatedAt,
        ])
        .from(S::Table)
        .to_owned()
}

pub async fn store(db: &Db, id: Uuid) -> Result<Option<Store>, DbError> {
    db.fetch_optional(select_store().and_where(Expr::col(S::Id).eq(id)))
        .await
}

pub async fn stores(
    db: &Db,
    owner: Option<Uuid>,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Store>, u64), DbError> {
    let filter = match owner {
        Some(owner) => Cond::all().add(Expr::col(S::OwnerId).eq(owner)),
        None => Cond::all(),
    };
    let (total,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(S::Id).count())
                .from(S::Table)
                .cond_where(filter.clone()),
        )
        .await?;
    let rows = db
        .fetch_all(
            select_store()
                .cond_where(filter)
                .order_by(S::CreatedAt, Order::Asc)
                .limit(limit)
                .offset(offset),
        )
        .await?;
    Ok((rows, total as u64))
}

pub async fn update_store(
    tx: &mut Tx,
    id: Uuid,
    name: &str,
    description: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let changed = tx
        .execute(
            Query::update()
                .table(S::Table)
                .value(S::Name, name)
                .value(S::Description, description.map(str::to_string))
                .value(S::UpdatedAt, now)
                .and_where(Expr::col(S::Id).eq(id)),
        )
        .await?;
    Ok(changed > 0)
}

pub async fn delete_store(tx: &mut Tx, id: Uuid) -> Result<(), DbError> {
    tx.execute(
        Query::delete()
            .from_table(S::Table)
            .and_where(Expr::col(S::Id).eq(id)),
    )
    .await?;
    Ok(())
}

// ---- categories

fn select_category() -> SelectStatement {
    Query::select()
        .columns([C::Id, C::Name, C::ParentId, C::CreatedAt, C::UpdatedAt])
        .from(C::Table)
        .to_owned()
}

pub async fn insert_category(tx: &mut Tx, c: &Category) -> Result<(), DbError> {
    tx.execute(
        Query::insert()
            .into_table(C::Table)
            .columns([C::Id, C::Name, C::ParentId, C::CreatedAt, C::UpdatedAt])
            .values_panic([
                c.id.into(),
                c.name.clone().into(),
                c.parent_id.into(),
                c.created_at.into(),
                c.updated_at.into(),
            ]),
    )
    .await?;
    Ok(())
}

pub async fn category(db: &Db, id: Uuid) -> Result<Option<Category>, DbError> {
    db.fetch_optional(select_category().and_where(Expr::col(C::Id).eq(id)))
        .await
}

/// Every (id, parent) pair: the tree is small, walked in memory.
pub async fn category_tree(db: &Db) -> Result<Vec<(Uuid, Option<Uuid>)>, DbError> {
    db.fetch_all(Query::select().columns([C::Id, C::ParentId]).from(C::Table))
        .await
}

pub async fn categories(
    db: &Db,
    search: Option<&str>,
    parent: Option<Uuid>,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Category>, u64), DbError> {
    let mut filter = Cond::all();
    if let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) {
        filter = filter.add(Expr::expr(Func::lower(Expr::col(C::Name))).like(contains(term)));
    }
    if let Some(parent) = parent {
        filter = filter.add(Expr::col(C::ParentId).eq(parent));
    }
    let (total,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(C::Id).count())
                .from(C::Table)
                .cond_where(filter.clone()),
        )
        .await?;
    let rows = db
        .fetch_all(
            select_category()
                .cond_where(filter)
                .order_by(C::Name, Order::Asc)
                .limit(limit)
                .offset(offset),
        )
        .await?;
    Ok((rows, total as u64))
}

pub async fn update_category(
    tx: &mut Tx,
    id: Uuid,
    name: &str,
    parent: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let changed = tx
        .execute(
            Query::update()
                .table(C::Table)
                .value(C::Name, name)
                .value(C::ParentId, parent)
                .value(C::UpdatedAt, now)
                .and_where(Expr::col(C::Id).eq(id)),
        )
        .await?;
    Ok(changed > 0)
}

pub async fn delete_category(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    Ok(tx
        .execute(
            Query::delete()
                .from_table(C::Table)
                .and_where(Expr::col(C::Id).eq(id)),
        )
        .await?
        > 0)
}

// ---- products

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    store_id: Uuid,
    name: String,
    description: String,
    sku: String,
    brand: Option<String>,
    price: i64,
    currency: String,
    stock: i64,
    low_stock_threshold: i64,
    category_id: Option<Uuid>,
    images: Json<Vec<Uuid>>,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Product {
            id: r.id,
            store_id: r.store_id,
            name: r.name,
            description: r.description,
            sku: r.sku,
            brand: r.brand,
            price: r.price,
            currency: r.currency,
            stock: r.stock,
            low_stock_threshold: r.low_stock_threshold,
            category_id: r.category_id,
            images: r.images.0,
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const PRODUCT_COLUMNS: [P; 15] = [
    P::Id,
    P::StoreId,
    P::Name,
    P::Description,
    P::Sku,
    P::Brand,
    P::Price,
    P::Currency,
    P::Stock,
    P::LowStockThreshold,
    P::CategoryId,
    P::Images,
    P::IsActive,
    P::CreatedAt,
    P::UpdatedAt,
];

fn product_values(p: &ProductInput) -> Vec<(P, SimpleExpr)> {
    vec![
        (P::Name, p.name.clone().into()),
        (P::Description, p.description.clone().into()),
        (P::Sku, p.sku.clone().into()),
        (P::Brand, p.brand.clone().into()),
        (P::Price, p.price.into()),
        (P::Currency, p.currency.clone().into()),
        (P::Stock, p.stock.into()),
        (P::LowStockThreshold, p.low_stock_threshold.into()),
        (P::CategoryId, p.category_id.into()),
        (
            P::Images,
            serde_json::to_value(&p.images).unwrap_or_default().into(),
        ),
        (P::IsActive, p.is_active.into()),
    ]
}

pub async fn insert_product(
    tx: &mut Tx,
    id: Uuid,
    p: &ProductInput,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let values = product_values(p);
    let mut columns = vec![P::Id, P::StoreId];
    let mut row: Vec<SimpleExpr> = vec![id.into(), p.store_id.into()];
    for (column, value) in values {
        columns.push(column);
        row.push(value);
    }
    columns.extend([P::CreatedAt, P::UpdatedAt]);
    row.extend([now.into(), now.into()]);
    tx.execute(
        Query::insert()
            .into_table(P::Table)
            .columns(columns)
            .values_panic(row),
    )
    .await?;
    Ok(())
}

pub async fn update_product(
    tx: &mut Tx,
    id: Uuid,
    p: &ProductInput,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let mut update = Query::update();
    update
        .table(P::Table)
        .values(product_values(p))
        .value(P::UpdatedAt, now)
        .and_where(Expr::col(P::Id).eq(id));
    Ok(tx.execute(&update).await? > 0)
}

pub async fn delete_product(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    Ok(tx
        .execute(
            Query::delete()
                .from_table(P::Table)
                .and_where(Expr::col(P::Id).eq(id)),
        )
        .await?
        > 0)
}

fn select_product() -> SelectStatement {
    Query::select()
        .columns(PRODUCT_COLUMNS)
        .from(P::Table)
        .to_owned()
}

pub async fn product(db: &Db, id: Uuid) -> Result<Option<Product>, DbError> {
    let row: Option<ProductRow> = db
        .fetch_optional(select_product().and_where(Expr::col(P::Id).eq(id)))
        .await?;
    Ok(row.map(Product::from))
}

pub async fn product_ids_of_store(tx: &mut Tx, store: Uuid) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = tx
        .fetch_all(
            Query::select()
                .column(P::Id)
                .from(P::Table)
                .and_where(Expr::col(P::StoreId).eq(store)),
        )
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortBy {
    Price,
    CreatedAt,
    Name,
}

/// Resolved filters of a product listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProductFilter {
    pub search: Option<String>,
    /// The category and all of its descendants.
    pub categories: Option<Vec<Uuid>>,
    pub store_id: Option<Uuid>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock: bool,
    pub include_hidden: bool,
    pub sort: Option<(SortBy, bool)>,
}

pub async fn products(
    db: &Db,
    f: &ProductFilter,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Product>, u64), DbError> {
    let mut cond = Cond::all();
    if !f.include_hidden {
        cond = cond.add(Expr::col(P::IsActive).eq(true));
    }
    if let Some(term) = f.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        cond = cond.add(
            Cond::any()
                .add(Expr::expr(Func::lower(Expr::col(P::Name))).like(contains(term)))
                .add(Expr::expr(Func::lower(Expr::col(P::Description))).like(contains(term)))
                .add(Expr::expr(Func::lower(Expr::col(P::Sku))).like(contains(term))),
        );
    }
    if let Some(categories) = &f.categories {
        cond = cond.add(Expr::col(P::CategoryId).is_in(categories.clone()));
    }
    if let Some(store) = f.store_id {
        cond = cond.add(Expr::col(P::StoreId).eq(store));
    }
    if let Some(min) = f.min_price {
        cond = cond.add(Expr::col(P::Price).gte(min));
    }
    if let Some(max) = f.max_price {
        cond = cond.add(Expr::col(P::Price).lte(max));
    }
    if f.in_stock {
        cond = cond.add(Expr::col(P::Stock).gt(0));
    }
    let (total,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(P::Id).count())
                .from(P::Table)
                .cond_where(cond.clone()),
        )
        .await?;
    let mut query = select_product();
    query.cond_where(cond);
    let (by, descending) = f.sort.unwrap_or((SortBy::CreatedAt, true));
    let order = if descending { Order::Desc } else { Order::Asc };
    let column = match by {
        SortBy::Price => P::Price,
        SortBy::CreatedAt => P::CreatedAt,
        SortBy::Name => P::Name,
    };
    query
        .order_by(column, order.clone())
        .order_by(P::Id, order)
        .limit(limit)
        .offset(offset);
    let rows: Vec<ProductRow> = db.fetch_all(&query).await?;
    Ok((rows.into_iter().map(Product::from).collect(), total as u64))
}

// ---- cache version

fn bump_statement() -> sea_query::UpdateStatement {
    Query::update()
        .table(CatalogVersion::Table)
        .value(
            CatalogVersion::Version,
            Expr::col(CatalogVersion::Version).add(1),
        )
        .and_where(Expr::col(CatalogVersion::Id).eq(1))
        .returning(Query::returning().column(CatalogVersion::Version))
        .to_owned()
}

/// Signalled by every commit that moved the version: other replicas read it at once.
pub const VERSION_SIGNAL: &str = "catalog.version";

/// The catalog's new version, moved inside `tx`.
pub async fn bump_version(tx: &mut Tx) -> Result<i64, DbError> {
    tx.tell_other_processes(VERSION_SIGNAL);
    let (version,): (i64,) = tx.fetch_one(&bump_statement()).await?;
    Ok(version)
}

pub async fn version(db: &Db) -> Result<i64, DbError> {
    let (v,): (i64,) = db
        .fetch_one(
            Query::select()
                .column(CatalogVersion::Version)
                .from(CatalogVersion::Table)
                .and_where(Expr::col(CatalogVersion::Id).eq(1)),
        )
        .await?;
    Ok(v)
}

// ---- stock

#[derive(sqlx::FromRow)]
pub struct Taken {
    pub store_id: Uuid,
    pub name: String,
    pub sku: String,
    pub price: i64,
    pub currency: String,
    /// After the decrement.
    pub stock: i64,
    pub low_stock_threshold: i64,
}

/// Takes `quantity` of an active product if that much is in stock; `None` otherwise.
pub async fn take_stock(
    tx: &mut Tx,
    id: Uuid,
    quantity: i64,
    now: DateTime<Utc>,
) -> Result<Option<Taken>, DbError> {
    tx.fetch_optional(
        Query::update()
            .table(P::Table)
            .value(P::Stock, Expr::col(P::Stock).sub(quantity))
            .value(P::UpdatedAt, now)
            .and_where(Expr::col(P::Id).eq(id))
            .and_where(Expr::col(P::IsActive).eq(true))
            .and_where(Expr::col(P::Stock).gte(quantity))
            .returning(Query::returning().columns([
                P::StoreId,
                P::Name,
                P::Sku,
                P::Price,
                P::Currency,
                P::Stock,
                P::LowStockThreshold,
            ])),
    )
    .await
}

pub async fn give_back_stock(
    tx: &mut Tx,
    id: Uuid,
    quantity: i64,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        Query::update()
            .table(P::Table)
            .value(P::Stock, Expr::col(P::Stock).add(quantity))
            .value(P::UpdatedAt, now)
            .and_where(Expr::col(P::Id).eq(id)),
    )
    .await?;
    Ok(())
}

pub async fn product_in_tx(tx: &mut Tx, id: Uuid) -> Result<Option<Product>, DbError> {
    let row: Option<ProductRow> = tx
        .fetch_optional(select_product().and_where(Expr::col(P::Id).eq(id)))
        .await?;
    Ok(row.map(Product::from))
}

// ---- reservations (stock held for orders)

#[derive(Iden)]
enum CatalogReservations {
    Table,
    OrderId,
    State,
    Items,
    CreatedAt,
    ExpiresAt,
    UpdatedAt,
}

use CatalogReservations as R;

pub const HELD: &str = "held";
pub const CONFIRMED: &str = "confirmed";
pub const RELEASED: &str = "released";
pub const LAPSED: &str = "lapsed";

#[derive(sqlx::FromRow)]
pub struct ReservationRow {
    pub state: String,
    pub items: Json<Vec<Reserved>>,
}

/// Claims `order_id` for a new reservation; `false` if the order already has one (or a
/// release mark).
pub async fn claim_reservation(
    tx: &mut Tx,
    order_id: Uuid,
    state: &str,
    items: &[Reserved],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let rows = tx
        .execute(
            Query::insert()
                .into_table(R::Table)
                .columns([
                    R::OrderId,
                    R::State,
                    R::Items,
                    R::CreatedAt,
                    R::ExpiresAt,
                    R::UpdatedAt,
                ])
                .values_panic([
                    order_id.into(),
                    state.into(),
                    serde_json::to_value(items).unwrap_or_default().into(),
                    now.into(),
                    expires_at.into(),
                    now.into(),
                ])
                .on_conflict(OnConflict::column(R::OrderId).do_nothing().to_owned()),
        )
        .await?;
    Ok(rows == 1)
}

pub async fn set_reservation_items(
    tx: &mut Tx,
    order_id: Uuid,
    items: &[Reserved],
) -> Result<(), DbError> {
    tx.execute(
        Query::update()
            .table(R::Table)
            .value(R::Items, serde_json::to_value(items).unwrap_or_default())
            .and_where(Expr::col(R::OrderId).eq(order_id)),
    )
    .await?;
    Ok(())
}

pub async fn reservation(db: &Db, order_id: Uuid) -> Result<Option<ReservationRow>, DbError> {
    db.fetch_optional(
        Query::select()
            .columns([R::State, R::Items])
            .from(R::Table)
            .and_where(Expr::col(R::OrderId).eq(order_id)),
    )
    .await
}

/// Moves the reservation from one of `from` to `to`, answering its items if it moved. The
/// condition on the state makes each move happen once however many callers race.
pub async fn move_reservation(
    tx: &mut Tx,
    order_id: Uuid,
    from: &[&str],
    to: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Reserved>>, DbError> {
    let row: Option<(Json<Vec<Reserved>>,)> = tx
        .fetch_optional(
            Query::update()
                .table(R::Table)
                .value(R::State, to)
                .value(R::UpdatedAt, now)
                .and_where(Expr::col(R::OrderId).eq(order_id))
                .and_where(Expr::col(R::State).is_in(from.iter().copied()))
                .returning(Query::returning().column(R::Items)),
        )
        .await?;
    Ok(row.map(|(items,)| items.0))
}

/// Held reservations past their time, oldest first.
pub async fn lapsed_reservations(
    db: &Db,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = db
        .fetch_all(
            Query::select()
                .column(R::OrderId)
                .from(R::Table)
                .and_where(Expr::col(R::State).eq(HELD))
                .and_where(Expr::col(R::ExpiresAt).lte(now))
                .order_by(R::ExpiresAt, Order::Asc)
                .limit(limit),
        )
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
