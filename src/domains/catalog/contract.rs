//! What other domains may know of the catalog: the low-stock event it publishes and the
//! stock it keeps for orders.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::platform::db::Tx;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The order id was already released, or its reservation holds other items.
    #[error("{0}")]
    Conflict(String),
    #[error("stock is unavailable: {0}")]
    Unavailable(String),
}

/// Stock for orders, decided by the catalog alone (`stock = stock - n WHERE stock >= n` in
/// its own database), by a reservation protocol that holds across processes:
/// `reserve` takes every item or none and holds it for the order; the order's writer then
/// `confirm`s (stock kept) or `release`s (stock back); a reservation neither confirmed nor
/// released lapses after `catalog.reservation_ttl_secs` and its stock comes back. Every step
/// is idempotent by order id, so any of them may be retried.
#[async_trait::async_trait]
pub trait Inventory: Send + Sync + 'static {
    /// Takes `items` for `order_id`; the same order again answers with the first reservation.
    async fn reserve(
        &self,
        order_id: Uuid,
        items: &[(Uuid, i64)],
    ) -> Result<Vec<Reserved>, ReserveError>;
    /// Keeps the order's stock for good. A reservation that lapsed meanwhile is taken again
    /// if the stock is still there (else `OutOfStock`); a released one stays released.
    async fn confirm(&self, order_id: Uuid) -> Result<(), ReserveError>;
    /// Gives the order's stock back (never written, cancelled, expired). Releasing an order
    /// never reserved marks it, so a late `reserve` for it is refused.
    async fn release(&self, order_id: Uuid) -> Result<(), ReserveError>;
    /// The owner of a store, who may fulfil its orders.
    async fn store_owner(&self, store_id: Uuid) -> Result<Option<Uuid>, ReserveError>;
    /// The same stock taken inside the caller's own transaction, when the catalog runs in
    /// this process on this database; `None` across processes (a transaction cannot cross).
    fn joined(&self) -> Option<&dyn JoinedInventory> {
        None
    }
}

/// The in-process path of [`Inventory`]: stock taken and given back in the transaction that
/// writes the order, so order and stock commit or roll back together with no hold, no
/// confirmation and nothing to lapse. Only a catalog in the same process provides it; this is
/// the one contract that names the transaction, because it never crosses a process.
#[async_trait::async_trait]
pub trait JoinedInventory: Send + Sync {
    /// Takes every item or none for `order_id` inside `tx`, kept for good when `tx` commits.
    async fn take(
        &self,
        tx: &mut Tx,
        order_id: Uuid,
        items: &[(Uuid, i64)],
    ) -> Result<Vec<Reserved>, ReserveError>;
    /// Gives the order's stock back inside `tx`; an order whose stock is back already
    /// changes nothing.
    async fn give_back(&self, tx: &mut Tx, order_id: Uuid) -> Result<(), ReserveError>;
}

/// `Inventory::reserve` between processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReserveRequest {
    pub order_id: Uuid,
    pub items: Vec<(Uuid, i64)>,
}

/// A refused reservation between processes (the problem's `code`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ReserveRefusal {
    NoSuchProduct { product_id: Uuid },
    OutOfStock { product_id: Uuid, name: String },
    Conflict { detail: String },
}
