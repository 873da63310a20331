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
