//! Addresses, orders and the order status machine.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::http::FieldError;
use crate::platform::text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = OrderStatus)]
pub enum Status {
    PendingPayment,
    Paid,
    Fulfilled,
    Delivered,
    Cancelled,
    Expired,
}

/// Who asks for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Buyer,
    StoreOwner,
    Admin,
    /// Expiry job and payment webhook.
    System,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::PendingPayment => "pending_payment",
            Status::Paid => "paid",
            Status::Fulfilled => "fulfilled",
            Status::Delivered => "delivered",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::PendingPayment,
            Status::Paid,
            Status::Fulfilled,
            Status::Delivered,
            Status::Cancelled,
            Status::Expired,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// The states the machine allows next, whoever asks.
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::PendingPayment => &[Status::Paid, Status::Cancelled, Status::Expired],
            Status::Paid => &[Status::Fulfilled, Status::Cancelled],
            Status::Fulfilled => &[Status::Delivered],
            Status::Delivered | Status::Cancelled | Status::Expired => &[],
        }
    }

    /// Whether `actor` may move an order from `self` to `to` (a valid step for someone).
    pub fn allows(self, to: Status, actor: Actor) -> bool {
        if !self.next().contains(&to) {
            return false;
        }
        match actor {
            Actor::Admin | Actor::System => true,
            // The buyer may cancel before fulfilment.
            Actor::Buyer => to == Status::Cancelled,
            Actor::StoreOwner => matches!(to, Status::Fulfilled | Status::Delivered),
        }
    }

    /// Leaving for these returns the stock.
    pub fn returns_stock(self) -> bool {
        super::contract::returns_stock(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq, sqlx::FromRow)]
pub struct Address {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Uuid::is_nil", default)]
    pub owner_id: Uuid,
    #[schema(example = "Home")]
    pub label: String,
    #[schema(example = "Ada Lovelace")]
    pub recipient: String,
    pub phone: Option<String>,
    #[schema(example = "12 St James's Square")]
    pub street: String,
    #[schema(example = "London")]
    pub city: String,
    pub state: Option<String>,
    #[schema(example = "SW1Y 4LB")]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "GB")]
    pub country: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AddressInput {
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 50)]
    pub label: String,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 200)]
    pub recipient: String,
    pub phone: Option<String>,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 300)]
    pub street: String,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100)]
    pub city: String,
    pub state: Option<String>,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 20)]
    pub postal_code: String,
    #[serde(default)]
    #[schema(required = true, pattern = "^[A-Za-z]{2}$", example = "GB")]
    pub country: String,
}

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.into(),
        message: message.into(),
    }
}

impl AddressInput {
    pub fn validate(mut self) -> Result<AddressInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        for (name, value, max) in [
            ("label", &mut self.label, 50),
            ("recipient", &mut self.recipient, 200),
            ("street", &mut self.street, 300),
            ("city", &mut self.city, 100),
            ("postal_code", &mut self.postal_code, 20),
        ] {
            *value = text::single_line(&mut errors, name, value, max);
        }
        self.country = self.country.trim().to_ascii_uppercase();
        if !(self.country.len() == 2 && self.country.chars().all(|c| c.is_ascii_uppercase())) {
            errors.push(field("country", "must be a 2-letter ISO 3166-1 code"));
        }
        self.phone = self
            .phone
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        self.state = self
            .state
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        errors.is_empty().then_some(self).ok_or(errors)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct OrderItem {
    pub product_id: Uuid,
    /// Name, SKU and price as they were at purchase.
    pub name: String,
    pub sku: String,
    pub unit_price: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct HistoryEntry {
    pub from: Option<Status>,
    pub to: Status,
    /// Who moved it; absent for the system (expiry, payment).
    pub actor_id: Option<Uuid>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Order {
    pub id: Uuid,
    pub buyer_id: Uuid,
    pub store_id: Uuid,
    pub status: Status,
    pub items: Vec<OrderItem>,
    /// Minor units.
    pub total: i64,
    pub currency: String,
    pub address: Address,
    pub note: Option<String>,
    /// When an unpaid order expires.
    pub expires_at: DateTime<Utc>,
    pub history: Vec<HistoryEntry>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderLine {
    pub product_id: Uuid,
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlaceOrder {
    pub address_id: Uuid,
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<OrderLine>,
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

impl PlaceOrder {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.items.is_empty() {
            errors.push(field("items", "must name at least one product"));
        }
        if self.items.len() > 100 {
            errors.push(field("items", "at most 100 lines"));
        }
        for (i, line) in self.items.iter().enumerate() {
            if !(1..=10_000).contains(&line.quantity) {
                errors.push(field(
                    &format!("items.{i}.quantity"),
                    "must be between 1 and 10000",
                ));
            }
            if self.items[..i]
                .iter()
                .any(|l| l.product_id == line.product_id)
            {
                errors.push(field(
                    &format!("items.{i}.product_id"),
                    "appears twice; add up the quantities",
                ));
            }
        }
        if self.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
            errors.push(field("note", "must be at most 1000 characters"));
        }
        errors.is_empty().then_some(()).ok_or(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_and_who_may_move_it() {
        use Status::*;
        assert!(PendingPayment.allows(Cancelled, Actor::Buyer));
        assert!(Paid.allows(Cancelled, Actor::Buyer));
        assert!(!Fulfilled.allows(Cancelled, Actor::Buyer), "too late");
        assert!(!Paid.allows(Fulfilled, Actor::Buyer));
        assert!(Paid.allows(Fulfilled, Actor::StoreOwner));
        assert!(Fulfilled.allows(Delivered, Actor::StoreOwner));
        assert!(!PendingPayment.allows(Paid, Actor::StoreOwner));
        assert!(
            !PendingPayment.allows(Delivered, Actor::Admin),
            "not a valid step"
        );
        assert!(PendingPayment.allows(Expired, Actor::System));
        assert!(Delivered.next().is_empty());
    }
}
