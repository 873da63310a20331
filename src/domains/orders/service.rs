//! Checkout without overselling, idempotent placement, the status machine, expiry, payments.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::contract::{OrderPlaced, StatusChanged, ORDER_PLACED, STATUS_CHANGED};
use super::model::{
    Actor, Address, AddressInput, HistoryEntry, Order, OrderItem, PlaceOrder, Status,
};
use super::repo::{self, AddressFilter, NewOrder, OrderRow, Scope};
use super::settings::OrdersSettings;
use crate::domains::auth::contract::{Permission, Principal};
use crate::domains::catalog::contract::{Inventory, ReserveError, Reserved};
use crate::platform::clock::Clock;
use crate::platform::db::{Db, DbError, Tx};
use crate::platform::http::FieldError;
use crate::platform::queue::{publish, Outgoing};
use crate::platform::signing;

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("not enough stock of {name}")]
    OutOfStock { product_id: Uuid, name: String },
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    #[error("cannot move from {} to {}", from.as_str(), to.as_str())]
    InvalidTransition {
        from: Status,
        to: Status,
        allowed: Vec<Status>,
    },
    #[error("invalid signature")]
    BadSignature,
    #[error("the payments webhook is not configured")]
    WebhookOff,
    /// The catalog (stock) cannot be reached: try again later.
    #[error("{0}")]
    StockUnavailable(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn invalid(field: &str, message: impl Into<String>) -> OrderError {
    OrderError::Validation(vec![FieldError {
        field: field.into(),
        message: message.into(),
    }])
}

impl From<ReserveError> for OrderError {
    fn from(e: ReserveError) -> Self {
        match e {
            ReserveError::NoSuchProduct(id) => invalid("items", format!("no such product {id}")),
            ReserveError::OutOfStock { product_id, name } => {
                OrderError::OutOfStock { product_id, name }
            }
            ReserveError::Conflict(m) => invalid("items", m),
            ReserveError::Unavailable(m) => OrderError::StockUnavailable(m),
        }
    }
}

/// What a placement writes besides its items, as the request gave it.
#[derive(Clone, Copy)]
struct NewOrderParts<'a> {
    principal: &'a Principal,
    key: Option<&'a str>,
    hash: &'a str,
    request: &'a PlaceOrder,
    address: &'a Address,
    id: Uuid,
}

/// A placement: the order, and whether it is a replay of an earlier request.
pub struct Placed {
    pub order: Order,
    pub replayed: bool,
}

#[derive(Debug, Deserialize)]
pub struct PaymentEvent {
    pub event_id: String,
    pub order_id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
}

pub struct OrdersService {
    db: Db,
    inventory: Arc<dyn Inventory>,
    settings: OrdersSettings,
    clock: Clock,
}

impl OrdersService {
    pub fn new(
        db: Db,
        inventory: Arc<dyn Inventory>,
        settings: OrdersSettings,
        clock: Clock,
    ) -> Self {
        Self {
            db,
            inventory,
            settings,
            clock,
        }
    }

    /// Now, by the platform clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    // ---- addresses

    async fn own_address(&self, principal: &Principal, id: Uuid) -> Result<Address, OrderError> {
        let address = repo::address(&self.db, id)
            .await?
            .ok_or(OrderError::NotFound("no such address"))?;
        if !principal.owns_or_can(address.owner_id, Permission::ManageAnyResource) {
            return Err(OrderError::NotFound("no such address"));
        }
        Ok(address)
    }

    pub async fn create_address(
        &self,
        principal: &Principal,
        input: AddressInput,
    ) -> Result<Address, OrderError> {
        let input = input.validate().map_err(OrderError::Validation)?;
        let id = Uuid::now_v7();
        repo::insert_address(&self.db, id, principal.user_id, &input, self.clock.now()).await?;
        self.own_address(principal, id).await
    }

    pub async fn address(&self, principal: &Principal, id: Uuid) -> Result<Address, OrderError> {
        self.own_address(principal, id).await
    }

    pub async fn update_address(
        &self,
        principal: &Principal,
        id: Uuid,
        input: AddressInput,
    ) -> Result<Address, OrderError> {
        self.own_address(principal, id).await?;
        let input = input.validate().map_err(OrderError::Validation)?;
        repo::update_address(&self.db, id, &input, self.clock.now()).await?;
        self.own_address(principal, id).await
    }

    pub async fn delete_address(&self, principal: &Principal, id: Uuid) -> Result<(), OrderError> {
        self.own_address(principal, id).await?;
        repo::delete_address(&self.db, id).await?;
        Ok(())
    }

    pub async fn addresses(
        &self,
        principal: &Principal,
        mut filter: AddressFilter,
        page: u64,
        limit: u64,
    ) -> Result<(Vec<Address>, u64), OrderError> {
        filter.owner = (!principal.can(Permission::ManageAnyResource)).then_some(principal.user_id);
        Ok(repo::addresses(&self.db, &filter, limit, (page - 1) * limit).await?)
    }

    // ---- orders

    async fn load(&self, row: OrderRow) -> Result<Order, OrderError> {
        Ok(Order {
            items: repo::items(&self.db, row.id).await?,
            history: repo::history(&self.db, row.id).await?,
            id: row.id,
            buyer_id: row.buyer_id,
            store_id: row.store_id,
            status: Status::parse(&row.status).unwrap_or(Status::PendingPayment),
            total: row.total,
            currency: row.currency,
            address: row.address.0,
            note: row.note,
            expires_at: row.expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// Places an order: with the catalog in this process, stock, order, items and first
    /// history entry in one transaction; with the catalog in another, through its
    /// reservation protocol. With an idempotency key, the same request again returns the
    /// first order.
    pub async fn place(
        &self,
        principal: &Principal,
        key: Option<&str>,
        request: PlaceOrder,
    ) -> Result<Placed, OrderError> {
        let hash = {
            let body = serde_json::to_vec(&request).unwrap_or_default();
            Sha256::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        if let Some(key) = key {
            if let Some(existing) = repo::order_by_key(&self.db, principal.user_id, key).await? {
                return self.replay(existing, &hash).await;
            }
        }
        request.validate().map_err(OrderError::Validation)?;
        let address = repo::address(&self.db, request.address_id)
            .await?
            .filter(|a| a.owner_id == principal.user_id)
            .ok_or_else(|| invalid("address_id", "no such address of yours"))?;

        let lines: Vec<(Uuid, i64)> = request
            .items
            .iter()
            .map(|l| (l.product_id, l.quantity))
            .collect();
        let id = Uuid::now_v7();
        let order = NewOrderParts {
            principal,
            key,
            hash: &hash,
            request: &request,
            address: &address,
            id,
        };
        match self.inventory.joined() {
            // The catalog in this process: stock and order commit together or not at all.
            Some(joined) => {
                let mut tx = self.db.begin().await?;
                let reserved = joined.take(&mut tx, id, &lines).await?;
                self.write_order(tx, &order, reserved).await
            }
            None => self.place_with_reservation(&order, &lines).await,
        }
    }

    /// Places an order whose stock lives in another process: the catalog holds it for this
    /// order id first; from then on, any way the order does not get written gives it back.
    async fn place_with_reservation(
        &self,
        order: &NewOrderParts<'_>,
        lines: &[(Uuid, i64)],
    ) -> Result<Placed, OrderError> {
        let id = order.id;
        let reserved = self.inventory.reserve(id, lines).await?;
        let written = match self.db.begin().await {
            Ok(tx) => self.write_order(tx, order, reserved).await,
            Err(e) => Err(e.into()),
        };
        match written {
            Ok(placed) if placed.replayed => {
                // The same key raced in from another request: answered as that one was.
                self.give_back(id).await;
                Ok(placed)
            }
            Ok(placed) => {
                // Kept for good; if this call fails, the catalog confirms from `orders.order_placed`.
                if let Err(e) = self.inventory.confirm(id).await {
                    tracing::warn!(order = %id, error = %e, "stock not confirmed yet; the order event will");
                }
                Ok(placed)
            }
            Err(e) => {
                self.give_back(id).await;
                Err(e)
            }
        }
    }

    /// Gives an order's stock back now; if the catalog cannot be reached, the hold lapses.
    async fn give_back(&self, order_id: Uuid) {
        if let Err(e) = self.inventory.release(order_id).await {
            tracing::warn!(order = %order_id, error = %e, "stock not released; its hold will lapse");
        }
    }

    /// Writes the order, its items, first history entry and `orders.order_placed` in `tx`
    /// and commits; answers with the order as written, or, when another request with the
    /// same key won the race, with that one's order.
    async fn write_order(
        &self,
        mut tx: Tx,
        order: &NewOrderParts<'_>,
        reserved: Vec<Reserved>,
    ) -> Result<Placed, OrderError> {
        let NewOrderParts {
            principal,
            key,
            hash,
            request,
            address,
            id,
        } = *order;
        let now = self.clock.now();
        let store_id = reserved[0].store_id;
        if reserved.iter().any(|r| r.store_id != store_id) {
            return Err(invalid("items", "all items must come from one store"));
        }
        let currency = reserved[0].currency.clone();
        if reserved.iter().any(|r| r.currency != currency) {
            return Err(invalid("items", "all items must be priced in one currency"));
        }
        let items: Vec<OrderItem> = reserved
            .iter()
            .map(|r| OrderItem {
                product_id: r.product_id,
                name: r.name.clone(),
                sku: r.sku.clone(),
                unit_price: r.unit_price,
                quantity: r.quantity,
            })
            .collect();
        // Prices and quantities are bounded so this fits; checked all the same, since a
        // wrong total is worse than a refused order.
        let total = items
            .iter()
            .try_fold(0i64, |sum, i| {
                i.unit_price
                    .checked_mul(i.quantity)
                    .and_then(|line| sum.checked_add(line))
            })
            .ok_or_else(|| invalid("items", "the order total is too large"))?;
        let new = NewOrder {
            id,
            buyer_id: principal.user_id,
            store_id,
            address,
            total,
            currency: &currency,
            note: request
                .note
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty()),
            idempotency_key: key,
            request_hash: hash,
            expires_at: now + chrono::Duration::seconds(self.settings.payment_timeout_secs as i64),
        };
        if let Err(e) = repo::insert_order(&mut tx, &new, &items, now).await {
            drop(tx);
            if let (DbError::UniqueViolation { .. }, Some(key)) = (&e, key) {
                if let Some(existing) = repo::order_by_key(&self.db, principal.user_id, key).await?
                {
                    return self.replay(existing, hash).await;
                }
            }
            return Err(e.into());
        }
        let event = OrderPlaced {
            order_id: id,
            buyer_id: principal.user_id,
            store_id,
            total,
            currency: currency.clone(),
        };
        publish(&mut tx, Outgoing::new(ORDER_PLACED, id.to_string(), &event)).await?;
        tx.commit().await?;
        let (note, expires_at) = (new.note, new.expires_at);
        // What the transaction wrote, as a read would return it (the clock's times are as
        // precise as the database keeps them).
        Ok(Placed {
            order: Order {
                id,
                buyer_id: principal.user_id,
                store_id,
                status: Status::PendingPayment,
                items,
                total,
                currency: event.currency,
                address: address.clone(),
                note: note.map(str::to_string),
                expires_at,
                history: vec![HistoryEntry {
                    from: None,
                    to: Status::PendingPayment,
                    actor_id: Some(principal.user_id),
                    reason: None,
                    at: now,
                }],
                created_at: now,
                updated_at: now,
            },
            replayed: false,
        })
    }

    async fn replay(&self, existing: OrderRow, hash: &str) -> Result<Placed, OrderError> {
        if existing.request_hash != hash {
            return Err(OrderError::KeyReused);
        }
        Ok(Placed {
            order: self.load(existing).await?,
            replayed: true,
        })
    }

    /// Every part `principal` plays in the order: a store owner who bought from their own
    /// store is buyer and seller, and may do what either may.
    async fn actors(
        &self,
        principal: &Principal,
        row: &OrderRow,
    ) -> Result<Vec<Actor>, OrderError> {
        let mut actors = Vec::new();
        if principal.can(Permission::ManageAnyResource) {
            actors.push(Actor::Admin);
        }
        if self.inventory.store_owner(row.store_id).await? == Some(principal.user_id) {
            actors.push(Actor::StoreOwner);
        }
        if row.buyer_id == principal.user_id {
            actors.push(Actor::Buyer);
        }
        if actors.is_empty() {
            return Err(OrderError::NotFound("no such order"));
        }
        Ok(actors)
    }

    pub async fn order(&self, principal: &Principal, id: Uuid) -> Result<Order, OrderError> {
        let row = repo::order(&self.db, id)
            .await?
            .ok_or(OrderError::NotFound("no such order"))?;
        self.actors(principal, &row).await?;
        self.load(row).await
    }

    /// The caller's orders; a store's orders for its owner (`store_id`); all for admins.
    pub async fn orders(
        &self,
        principal: &Principal,
        store: Option<Uuid>,
        status: Option<Status>,
        page: u64,
        limit: u64,
    ) -> Result<(Vec<Order>, u64), OrderError> {
        let scope = match store {
            Some(store) => {
                let owner = self.inventory.store_owner(store).await?;
                if owner != Some(principal.user_id) && !principal.can(Permission::ManageAnyResource)
                {
                    return Err(OrderError::NotFound("no such store of yours"));
                }
                Scope::Store(store)
            }
            None if principal.can(Permission::ManageAnyResource) => Scope::All,
            None => Scope::Buyer(principal.user_id),
        };
        let (rows, total) =
            repo::orders(&self.db, scope, status, limit, (page - 1) * limit).await?;
        let mut orders = Vec::with_capacity(rows.len());
        for row in rows {
            orders.push(self.load(row).await?);
        }
        Ok((orders, total))
    }

    /// Moves an order one step; cancel and expire give the stock back (in the same
    /// transaction when the catalog is in this process).
    async fn transition(
        &self,
        id: Uuid,
        to: Status,
        actors: &[Actor],
        actor_id: Option<Uuid>,
        reason: Option<&str>,
    ) -> Result<Order, OrderError> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let row = repo::order_tx(&mut tx, id)
            .await?
            .ok_or(OrderError::NotFound("no such order"))?;
        let from = Status::parse(&row.status).unwrap_or(Status::PendingPayment);
        let allowed_for = |to: Status| actors.iter().any(|actor| from.allows(to, *actor));
        if !allowed_for(to) {
            let allowed = from
                .next()
                .iter()
                .copied()
                .filter(|s| allowed_for(*s))
                .collect();
            return Err(OrderError::InvalidTransition { from, to, allowed });
        }
        if !repo::set_status(&mut tx, id, from, to, now).await? {
            return Err(OrderError::InvalidTransition {
                from,
                to,
                allowed: Vec::new(),
            });
        }
        repo::record_history(&mut tx, id, Some(from), to, actor_id, reason, now).await?;
        let event = StatusChanged {
            order_id: id,
            buyer_id: row.buyer_id,
            store_id: row.store_id,
            from: from.as_str().into(),
            to: to.as_str().into(),
            actor_id,
        };
        publish(
            &mut tx,
            Outgoing::new(STATUS_CHANGED, id.to_string(), &event),
        )
        .await?;
        let joined = self.inventory.joined();
        if let (true, Some(joined)) = (to.returns_stock(), joined) {
            joined.give_back(&mut tx, id).await?;
        }
        tx.commit().await?;
        // Another process's catalog: told now rather than when it reads
        // `orders.status_changed`, which it also does.
        if to.returns_stock() && joined.is_none() {
            self.give_back(id).await;
        }
        let row = repo::order(&self.db, id)
            .await?
            .ok_or(OrderError::NotFound("no such order"))?;
        self.load(row).await
    }

    pub async fn change_status(
        &self,
        principal: &Principal,
        id: Uuid,
        to: Status,
        reason: Option<&str>,
    ) -> Result<Order, OrderError> {
        let row = repo::order(&self.db, id)
            .await?
            .ok_or(OrderError::NotFound("no such order"))?;
        let actors = self.actors(principal, &row).await?;
        self.transition(id, to, &actors, Some(principal.user_id), reason)
            .await
    }

    /// Expires unpaid orders past their time; returns how many.
    pub async fn expire_due(&self, now: DateTime<Utc>) -> Result<usize, OrderError> {
        let mut expired = 0;
        for id in repo::due_for_expiry(&self.db, now, 100).await? {
            match self
                .transition(
                    id,
                    Status::Expired,
                    &[Actor::System],
                    None,
                    Some("not paid in time"),
                )
                .await
            {
                Ok(_) => expired += 1,
                // Paid or cancelled meanwhile.
                Err(OrderError::InvalidTransition { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    /// Applies a signed payment event once; replays are acknowledged and ignored.
    pub async fn payment_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<bool, OrderError> {
        let secret = self.settings.webhook_secret.expose();
        if secret.is_empty() {
            return Err(OrderError::WebhookOff);
        }
        if !signature.is_some_and(|header| signing::verify(secret, body, header)) {
            return Err(OrderError::BadSignature);
        }

        let event: PaymentEvent = serde_json::from_slice(body)
            .map_err(|e| invalid("body", format!("not a payment event: {e}")))?;
        if event.kind != "payment.succeeded" {
            return Ok(false);
        }
        let mut tx = self.db.begin().await?;
        let first =
            repo::first_payment_event(&mut tx, &event.event_id, event.order_id, self.clock.now())
                .await?;
        tx.commit().await?;
        if !first {
            return Ok(false);
        }
        self.transition(
            event.order_id,
            Status::Paid,
            &[Actor::System],
            None,
            Some(&format!("payment {}", event.event_id)),
        )
        .await?;
        Ok(true)
    }
}
