//! Every new account gets a store ("{name}'s Store"), from `auth.user_registered`. The store id
//! is derived from the user id, so a replayed event finds the store there and changes nothing.

use async_trait::async_trait;
use uuid::Uuid;

use super::model::Store;
use super::repo;
use crate::domains::auth::contract::{UserRegistered, USER_REGISTERED};
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
