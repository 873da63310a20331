//! Locations' SQL, over sea-query.

use chrono::{DateTime, Utc};
use sea_query::{Cond, Expr, Iden, Order, Query, SelectStatement};
use sqlx::types::Json;
use uuid::Uuid;

use super::contract::Address;
use super::model::{BBox, Location, LocationInput};
use crate::platform::db::{Db, DbError, Tx};

#[derive(Iden)]
enum Locations {
    Table,
    Id,
    OwnerId,
    Name,
    Lat,
    Lon,
    Notes,
    Tags,
    Address,
    AddressProvider,
    CreatedAt,
    UpdatedAt,
}

use Locations as L;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    owner_id: Uuid,
    name: String,
    lat: f64,
    lon: f64,
    notes: Option<String>,
    tags: Json<Vec<String>>,
    address: Option<Json<Address>>,
    address_provider: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Location {
    fn from(r: Row) -> Self {
        Location {
            id: r.id,
            owner_id: r.owner_id,
            name: r.name,
            lat: r.lat,
            lon: r.lon,
            notes: r.notes,
            tags: r.tags.0,
            address: r.address.map(|a| a.0.normalized()),
            address_provider: r.address_provider,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn select() -> SelectStatement {
    Query::select()
        .columns([
            L::Id,
            L::OwnerId,
            L::Name,
            L::Lat,
            L::Lon,
            L::Notes,
            L::Tags,
            L::Address,
            L::AddressProvider,
            L::CreatedAt,
            L::UpdatedAt,
        ])
        .from(L::Table)
        .to_owned()
}

fn address_value(address: Option<&Address>) -> sea_query::SimpleExpr {
    address
        .map(|a| serde_json::to_value(a).unwrap_or_default())
        .into()
}

pub async fn insert(
    tx: &mut Tx,
    id: Uuid,
    owner: Uuid,
    input: &LocationInput,
    address: Option<(&Address, &str)>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        Query::insert()
            .into_table(L::Table)
            .columns([
                L::Id,
                L::OwnerId,
                L::Name,
                L::Lat,
                L::Lon,
                L::Notes,
                L::Tags,
                L::Address,
                L::AddressProvider,
                L::CreatedAt,
                L::UpdatedAt,
            ])
            .values_panic([
                id.into(),
                owner.into(),
                input.name.clone().into(),
                input.lat.into(),
                input.lon.into(),
                input.notes.clone().into(),
                serde_json::to_value(&input.tags).unwrap_or_default().into(),
                address_value(address.map(|(a, _)| a)),
                address.map(|(_, p)| p.to_string()).into(),
                now.into(),
                now.into(),
            ]),
    )
    .await?;
    Ok(())
}

pub async fn replace(
    tx: &mut Tx,
    id: Uuid,
    input: &LocationInput,
    address: Option<(&Address, &str)>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let changed = tx
        .execute(
            Query::update()
                .table(L::Table)
                .value(L::Name, input.name.clone())
                .value(L::Lat, input.lat)
                .value(L::Lon, input.lon)
                .value(L::Notes, input.notes.clone())
                .value(
                    L::Tags,
                    serde_json::to_value(&input.tags).unwrap_or_default(),
                )
                .value(L::Address, address_value(address.map(|(a, _)| a)))
                .value(L::AddressProvider, address.map(|(_, p)| p.to_string()))
                .value(L::UpdatedAt, now)
                .and_where(Expr::col(L::Id).eq(id)),
        )
        .await?;
    Ok(changed > 0)
}

/// Fills in a looked-up address, unless one was set meanwhile.
pub async fn fill_address(
    db: &Db,
    now: DateTime<Utc>,
    id: Uuid,
    address: &Address,
    provider: &str,
) -> Result<bool, DbError> {
    let changed = db
        .execute(
            Query::update()
                .table(L::Table)
                .value(L::Address, address_value(Some(address)))
                .value(L::AddressProvider, provider)
                .value(L::UpdatedAt, now)
                .and_where(Expr::col(L::Id).eq(id))
                .and_where(Expr::col(L::Address).is_null()),
        )
        .await?;
    Ok(changed > 0)
}

pub async fn get(db: &Db, id: Uuid) -> Result<Option<Location>, DbError> {
    let row: Option<Row> = db
        .fetch_optional(select().and_where(Expr::col(L::Id).eq(id)))
        .await?;
    Ok(row.map(Location::from))
}

pub async fn delete(db: &Db, id: Uuid) -> Result<bool, DbError> {
    Ok(db
        .execute(
            Query::delete()
                .from_table(L::Table)
                .and_where(Expr::col(L::Id).eq(id)),
        )
        .await?
        > 0)
}

fn filter(owner: Option<Uuid>, bbox: Option<BBox>) -> Cond {
    let mut cond = Cond::all();
    if let Some(owner) = owner {
        cond = cond.add(Expr::col(L::OwnerId).eq(owner));
    }
    if let Some(b) = bbox {
        cond = cond
            .add(Expr::col(L::Lat).between(b.min_lat, b.max_lat))
            .add(Expr::col(L::Lon).between(b.min_lon, b.max_lon));
    }
    cond
}

/// A page of places, newest first; `owner` None means everyone's.
pub async fn list(
    db: &Db,
    owner: Option<Uuid>,
    bbox: Option<BBox>,
    limit: Option<(u64, u64)>,
) -> Result<(Vec<Location>, u64), DbError> {
    let (total,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(L::Id).count())
                .from(L::Table)
                .cond_where(filter(owner, bbox)),
        )
        .await?;
    let mut query = select();
    query
        .cond_where(filter(owner, bbox))
        .order_by(L::CreatedAt, Order::Desc)
        .order_by(L::Id, Order::Desc);
    if let Some((limit, offset)) = limit {
        query.limit(limit).offset(offset);
    }
    let rows: Vec<Row> = db.fetch_all(&query).await?;
    Ok((rows.into_iter().map(Location::from).collect(), total as u64))
}
