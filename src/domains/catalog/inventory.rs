//! The catalog's side of checkout: stock taken and given back inside the order's transaction.

use async_trait::async_trait;
use uuid::Uuid;

use super::contract::{Inventory, ReserveError, Reserved, StockLow, STOCK_LOW};
use super::repo;
use super::service::CatalogService;
use crate::platform::db::Tx;
use crate::platform::queue::{publish, Outgoing};

#[async_trait]
impl Inventory for CatalogService {
    async fn reserve(
        &self,
        tx: &mut Tx,
        items: &[(Uuid, i64)],
    ) -> Result<Vec<Reserved>, ReserveError> {
        let mut reserved = Vec::with_capacity(items.len());
        for &(product_id, quantity) in items {
            let Some(taken) = repo::take_stock(tx, product_id, quantity, self.clock.now()).await?
            else {
                return Err(match repo::product_in_tx(tx, product_id).await? {
                    Some(p) if p.is_active => ReserveError::OutOfStock {
                        product_id,
                        name: p.name,
                    },
                    _ => ReserveError::NoSuchProduct(product_id),
                });
            };
            let threshold = taken.low_stock_threshold;
            if taken.stock <= threshold && taken.stock + quantity > threshold {
                let event = StockLow {
                    product_id,
                    store_id: taken.store_id,
                    sku: taken.sku.clone(),
                    stock: taken.stock,
                    threshold,
                };
                publish(tx, Outgoing::new(STOCK_LOW, product_id.to_string(), &event)).await?;
            }
            reserved.push(Reserved {
                product_id,
                store_id: taken.store_id,
                name: taken.name,
                sku: taken.sku,
                unit_price: taken.price,
                currency: taken.currency,
                quantity,
            });
        }
        repo::bump_version(tx).await?;
        Ok(reserved)
    }

    async fn release(&self, tx: &mut Tx, items: &[(Uuid, i64)]) -> Result<(), ReserveError> {
        for &(product_id, quantity) in items {
            repo::give_back_stock(tx, product_id, quantity, self.clock.now()).await?;
        }
        repo::bump_version(tx).await?;
        Ok(())
    }

    async fn store_owner(&self, store_id: Uuid) -> Result<Option<Uuid>, ReserveError> {
        Ok(self.store_by_id(store_id).await?.map(|s| s.owner_id))
    }
}
