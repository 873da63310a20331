//! What other domains may know of orders: the events they publish.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Published when an order is placed.
pub const ORDER_PLACED: &str = "orders.order_placed";
/// Published on every status change.
pub const STATUS_CHANGED: &str = "orders.status_changed";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: Uuid,
    pub buyer_id: Uuid,
    pub store_id: Uuid,
    pub total: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusChanged {
    pub order_id: Uuid,
    pub buyer_id: Uuid,
    pub store_id: Uuid,
    pub from: String,
    pub to: String,
    pub actor_id: Option<Uuid>,
}

/// Whether an order entering `status` gives its stock back (`StatusChanged::to`).
pub fn returns_stock(status: &str) -> bool {
    matches!(status, "cancelled" | "expired")
}
