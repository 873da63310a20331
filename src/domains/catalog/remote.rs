//! The `Inventory` port in a process without the catalog: calls to the catalog process's
//! internal routes. Every call is idempotent by order id, so each may be retried.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::contract::{Inventory, ReserveError, ReserveRefusal, ReserveRequest, Reserved};
use crate::platform::remote::{RemoteError, Retry, ServiceClient};

pub struct RemoteInventory {
    client: Arc<ServiceClient>,
}

impl RemoteInventory {
    pub fn new(client: Arc<ServiceClient>) -> Self {
        Self { client }
    }

    async fn settle(&self, order_id: Uuid, step: &str) -> Result<(), ReserveError> {
        let path = format!("/inventory/reservations/{order_id}/{step}");
        let answer: Option<serde_json::Value> = self
            .client
            .post(&path, &serde_json::json!({}), Retry::Safe)
            .await
            .map_err(reserve_error)?;
        answer
            .map(|_| ())
            .ok_or_else(|| ReserveError::Unavailable("the catalog has no inventory routes".into()))
    }
}

fn reserve_error(e: RemoteError) -> ReserveError {
    if let RemoteError::Rejected {
        status: 409, body, ..
    } = &e
    {
        if let Ok(refusal) = serde_json::from_value::<ReserveRefusal>(body.clone()) {
            return match refusal {
                ReserveRefusal::NoSuchProduct { product_id } => {
                    ReserveError::NoSuchProduct(product_id)
                }
                ReserveRefusal::OutOfStock { product_id, name } => {
                    ReserveError::OutOfStock { product_id, name }
                }
                ReserveRefusal::Conflict { detail } => ReserveError::Conflict(detail),
            };
        }
    }
    ReserveError::Unavailable(e.to_string())
}

#[async_trait]
impl Inventory for RemoteInventory {
    async fn reserve(
        &self,
        order_id: Uuid,
        items: &[(Uuid, i64)],
    ) -> Result<Vec<Reserved>, ReserveError> {
        let request = ReserveRequest {
            order_id,
            items: items.to_vec(),
        };
        self.client
            .post("/inventory/reservations", &request, Retry::Safe)
            .await
            .map_err(reserve_error)?
            .ok_or_else(|| ReserveError::Unavailable("the catalog has no inventory routes".into()))
    }

    async fn confirm(&self, order_id: Uuid) -> Result<(), ReserveError> {
        self.settle(order_id, "confirm").await
    }

    async fn release(&self, order_id: Uuid) -> Result<(), ReserveError> {
        self.settle(order_id, "release").await
    }

    async fn store_owner(&self, store_id: Uuid) -> Result<Option<Uuid>, ReserveError> {
        self.client
            .get(&format!("/inventory/stores/{store_id}/owner"))
            .await
            .map_err(reserve_error)
    }
}
