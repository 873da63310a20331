//! Every new account gets a store ("{name}'s Store"), from `auth.user_registered`. The store id
//! is derived from the user id, so a replayed event finds the store there and changes nothing.

use async_trait::async_trait;
use uuid::Uuid;

use super::contract::{Inventory, ReserveError};
use super::model::Store;
use super::repo;
use crate::domains::auth::contract::{UserRegistered, USER_REGISTERED};
use crate::domains::orders::contract::{
    returns_stock, OrderPlaced, StatusChanged, ORDER_PLACED, STATUS_CHANGED,
};
use crate::platform::clock::Clock;
use crate::platform::db::Db;
use crate::platform::queue::{Consumer, HandlerError, Message};

/// Namespace of the UUIDv5 ids of the stores created for new accounts.
const FIRST_STORE: Uuid = Uuid::from_u128(0x5f0c_2a1e_8b7d_4c3a_9e61_a4b2_c8d0_f317);

pub fn first_store_id(user_id: Uuid) -> Uuid {
    Uuid::new_v5(&FIRST_STORE, user_id.as_bytes())
}

pub struct StoreCreator {
    pub db: Db,
    pub clock: Clock,
}

#[async_trait]
impl Consumer for StoreCreator {
    fn group(&self) -> &str {
        "catalog-stores"
    }

    fn topics(&self) -> Vec<String> {
        vec![USER_REGISTERED.into()]
    }

    async fn handle(&self, message: &Message) -> Result<(), HandlerError> {
        let event: UserRegistered = message.payload_as()?;
        let now = self.clock.now();
        let store = Store {
            id: first_store_id(event.user_id),
            owner_id: event.user_id,
            name: format!("{}'s Store", event.name),
            description: None,
            created_at: now,
            updated_at: now,
        };
        let retry = |e: crate::platform::db::DbError| HandlerError::Retry(e.to_string());
        let mut tx = self.db.begin().await.map_err(retry)?;
        let created = repo::insert_store(&mut tx, &store, true)
            .await
            .map_err(retry)?;
        tx.commit().await.map_err(retry)?;
        if !created {
            tracing::debug!(user = %event.user_id, "store already exists; event replayed");
        }
        Ok(())
    }
}

/// Keeps reservations in step with orders, from their events (written with the order, so
/// none is lost even when the direct call after the order failed): a placed order's stock is
/// confirmed, a cancelled or expired order's given back. Both steps are idempotent, so
/// replays and the direct calls change nothing twice.
pub struct ReservationKeeper {
    pub inventory: std::sync::Arc<dyn Inventory>,
}

#[async_trait]
impl Consumer for ReservationKeeper {
    fn group(&self) -> &str {
        "catalog-reservations"
    }

    fn topics(&self) -> Vec<String> {
        vec![ORDER_PLACED.into(), STATUS_CHANGED.into()]
    }

    async fn handle(&self, message: &Message) -> Result<(), HandlerError> {
        let outcome = if message.topic == ORDER_PLACED {
            let event: OrderPlaced = message.payload_as()?;
            self.inventory.confirm(event.order_id).await
        } else {
            let event: StatusChanged = message.payload_as()?;
            if !returns_stock(&event.to) {
                return Ok(());
            }
            self.inventory.release(event.order_id).await
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(ReserveError::Unavailable(e)) => Err(HandlerError::Retry(e)),
            Err(e) => {
                // The order exists but its stock could not be kept: it lapsed and sold out.
                tracing::error!(error = %e, topic = %message.topic, "order without its stock");
                Err(HandlerError::Permanent(e.to_string()))
            }
        }
    }
}
