//! What other domains may know of the catalog: the low-stock event it publishes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Published when a product's stock falls to or below its threshold.
pub const STOCK_LOW: &str = "catalog.stock_low";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StockLow {
    pub product_id: Uuid,
    pub store_id: Uuid,
    pub sku: String,
    pub stock: i64,
    pub threshold: i64,
}

/// What an order takes from the catalog, priced by the catalog at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    pub product_id: Uuid,
    pub store_id: Uuid,
    pub name: String,
    pub sku: String,
    pub unit_price: i64,
    pub currency: String,
    pub quantity: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("no such product: {0}")]
    NoSuchProduct(uuid::Uuid),
    #[error("not enough stock of {name} ({product_id})")]
    OutOfStock { product_id: Uuid, name: String },
    #[error(transparent)]
    Db(#[from] crate::platform::db::DbError),
}

/// Stock, inside the caller's transaction: taken only if every item has enough, given back on
/// cancellation. Enforced in SQL (`stock = stock - n WHERE stock >= n`), so no concurrency can
/// oversell.
#[async_trait::async_trait]
pub trait Inventory: Send + Sync + 'static {
    async fn reserve(
        &self,
        tx: &mut crate::platform::db::Tx,
        items: &[(Uuid, i64)],
    ) -> Result<Vec<Reserved>, ReserveError>;
    async fn release(
        &self,
        tx: &mut crate::platform::db::Tx,
        items: &[(Uuid, i64)],
    ) -> Result<(), ReserveError>;
    /// The owner of a store, who may fulfil its orders.
    async fn store_owner(&self, store_id: Uuid) -> Result<Option<Uuid>, ReserveError>;
}
