//! The catalog's side of checkout. An orders domain in this process takes stock inside the
//! order's own transaction (`contract::JoinedInventory`); one in another process reserves it
//! in the catalog's database, then confirms, releases, or lets it lapse (`contract::Inventory`,
//! served by `internal.rs`). Both record the order's stock in `catalog_reservations`, so
//! giving it back happens once whichever path took it.

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::contract::{
    Inventory, JoinedInventory, ReserveError, Reserved, StockLow, STOCK_LOW,
};
use super::repo::{self, CONFIRMED, HELD, LAPSED, RELEASED};
use super::service::CatalogService;
use crate::platform::db::{DbError, Tx};
use crate::platform::queue::{publish, Outgoing};

fn unavailable(e: DbError) -> ReserveError {
    ReserveError::Unavailable(e.to_string())
}

impl CatalogService {
    /// Takes every item or none, inside `tx`.
    async fn take_all(
        &self,
        tx: &mut Tx,
        items: &[(Uuid, i64)],
    ) -> Result<Vec<Reserved>, ReserveError> {
        let mut reserved = Vec::with_capacity(items.len());
        for &(product_id, quantity) in items {
            let taken = repo::take_stock(tx, product_id, quantity, self.clock.now())
                .await
                .map_err(unavailable)?;
            let Some(taken) = taken else {
                return Err(
                    match repo::product_in_tx(tx, product_id)
                        .await
                        .map_err(unavailable)?
                    {
                        Some(p) if p.is_active => ReserveError::OutOfStock {
                            product_id,
                            name: p.name,
                        },
                        _ => ReserveError::NoSuchProduct(product_id),
                    },
                );
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
                publish(tx, Outgoing::new(STOCK_LOW, product_id.to_string(), &event))
                    .await
                    .map_err(unavailable)?;
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
        self.stock_changed(tx).await?;
        Ok(reserved)
    }

    /// Stock is part of every read: this replica drops its reads once `tx` commits
    /// (whichever domain commits it), and other replicas learn of it from the version that
    /// `announce_stock_moves` moves next.
    async fn stock_changed(&self, tx: &mut Tx) -> Result<(), ReserveError> {
        let (reads, moved) = (self.reads.clone(), self.stock_moved.clone());
        tx.on_commit(move || {
            reads.drop_all();
            moved.notify_one();
        });
        Ok(())
    }

    async fn return_stock(&self, tx: &mut Tx, items: &[Reserved]) -> Result<(), ReserveError> {
        for item in items {
            repo::give_back_stock(tx, item.product_id, item.quantity, self.clock.now())
                .await
                .map_err(unavailable)?;
        }
        self.stock_changed(tx).await
    }

    /// Moves a reservation and, when `give_back`, returns its stock, in one transaction.
    async fn settle(
        &self,
        order_id: Uuid,
        from: &[&str],
        to: &str,
        give_back: bool,
    ) -> Result<bool, ReserveError> {
        let mut tx = self.db.begin().await.map_err(unavailable)?;
        let moved = repo::move_reservation(&mut tx, order_id, from, to, self.clock.now())
            .await
            .map_err(unavailable)?;
        let Some(items) = moved else {
            return Ok(false);
        };
        if give_back {
            self.return_stock(&mut tx, &items).await?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    /// Gives back the stock of reservations held past their time; returns how many.
    pub async fn lapse_due(&self) -> Result<usize, ReserveError> {
        let due = repo::lapsed_reservations(&self.db, self.clock.now(), 100)
            .await
            .map_err(unavailable)?;
        let mut lapsed = 0;
        for order_id in due {
            if self.settle(order_id, &[HELD], LAPSED, true).await? {
                tracing::warn!(order = %order_id, "reservation lapsed unconfirmed; stock given back");
                lapsed += 1;
            }
        }
        Ok(lapsed)
    }

    /// Lapses due reservations every `every` until `stop`.
    pub async fn watch_reservations(
        self: std::sync::Arc<Self>,
        every: Duration,
        stop: CancellationToken,
    ) {
        loop {
            if let Err(e) = self.lapse_due().await {
                tracing::warn!(error = %e, "could not lapse reservations");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

#[async_trait]
impl Inventory for CatalogService {
    async fn reserve(
        &self,
        order_id: Uuid,
        items: &[(Uuid, i64)],
    ) -> Result<Vec<Reserved>, ReserveError> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await.map_err(unavailable)?;
        let expires = now + self.reservation_ttl;
        let claimed = repo::claim_reservation(&mut tx, order_id, HELD, &[], now, expires)
            .await
            .map_err(unavailable)?;
        if claimed {
            let reserved = self.take_all(&mut tx, items).await?;
            repo::set_reservation_items(&mut tx, order_id, &reserved)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            return Ok(reserved);
        }
        drop(tx);
        // Asked again (a retry): answer as the first time, if it asked for the same.
        let existing = repo::reservation(&self.db, order_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ReserveError::Unavailable("reservation vanished".into()))?;
        let same = existing.items.0.len() == items.len()
            && existing
                .items
                .0
                .iter()
                .zip(items)
                .all(|(r, (id, n))| r.product_id == *id && r.quantity == *n);
        match existing.state.as_str() {
            HELD | CONFIRMED if same => Ok(existing.items.0),
            HELD | CONFIRMED => Err(ReserveError::Conflict(format!(
                "order {order_id} already holds other items"
            ))),
            _ => Err(ReserveError::Conflict(format!(
                "order {order_id} was released; place it again"
            ))),
        }
    }

    async fn confirm(&self, order_id: Uuid) -> Result<(), ReserveError> {
        // Read first: a confirmation repeated (the direct call, then the order's event) then
        // takes no write lock.
        let Some(existing) = repo::reservation(&self.db, order_id)
            .await
            .map_err(unavailable)?
        else {
            return Err(ReserveError::Conflict(format!(
                "order {order_id} holds no reservation"
            )));
        };
        match existing.state.as_str() {
            HELD if self.settle(order_id, &[HELD], CONFIRMED, false).await? => return Ok(()),
            // Lapsed, maybe just now: taken again below.
            HELD | LAPSED => {}
            _ => return Ok(()),
        }
        // Held too long (this process was down): take the stock again if it is there.
        let mut tx = self.db.begin().await.map_err(unavailable)?;
        let Some(items) =
            repo::move_reservation(&mut tx, order_id, &[LAPSED], CONFIRMED, self.clock.now())
                .await
                .map_err(unavailable)?
        else {
            return Ok(());
        };
        let lines: Vec<(Uuid, i64)> = items.iter().map(|r| (r.product_id, r.quantity)).collect();
        self.take_all(&mut tx, &lines).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, order_id: Uuid) -> Result<(), ReserveError> {
        let state = repo::reservation(&self.db, order_id)
            .await
            .map_err(unavailable)?
            .map(|r| r.state);
        if state.as_deref() == Some(RELEASED) {
            return Ok(());
        }
        if self
            .settle(order_id, &[HELD, CONFIRMED], RELEASED, true)
            .await?
        {
            return Ok(());
        }
        // Lapsed: the stock is already back. Never reserved: mark it, so a reservation
        // arriving late for an order given up on is refused.
        let now = self.clock.now();
        let mut tx = self.db.begin().await.map_err(unavailable)?;
        repo::move_reservation(&mut tx, order_id, &[LAPSED], RELEASED, now)
            .await
            .map_err(unavailable)?;
        repo::claim_reservation(&mut tx, order_id, RELEASED, &[], now, now)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(())
    }

    async fn store_owner(&self, store_id: Uuid) -> Result<Option<Uuid>, ReserveError> {
        Ok(self
            .store_by_id(store_id)
            .await
            .map_err(|e| ReserveError::Unavailable(e.to_string()))?
            .map(|s| s.owner_id))
    }

    fn joined(&self) -> Option<&dyn JoinedInventory> {
        Some(self)
    }
}

#[async_trait]
impl JoinedInventory for CatalogService {
    async fn take(
        &self,
        tx: &mut Tx,
        order_id: Uuid,
        items: &[(Uuid, i64)],
    ) -> Result<Vec<Reserved>, ReserveError> {
        let reserved = self.take_all(tx, items).await?;
        let now = self.clock.now();
        let recorded = repo::claim_reservation(tx, order_id, CONFIRMED, &reserved, now, now)
            .await
            .map_err(unavailable)?;
        if !recorded {
            return Err(ReserveError::Conflict(format!(
                "order {order_id} already holds stock"
            )));
        }
        Ok(reserved)
    }

    async fn give_back(&self, tx: &mut Tx, order_id: Uuid) -> Result<(), ReserveError> {
        let now = self.clock.now();
        let moved = repo::move_reservation(tx, order_id, &[HELD, CONFIRMED], RELEASED, now)
            .await
            .map_err(unavailable)?;
        if let Some(items) = moved {
            self.return_stock(tx, &items).await?;
        }
        Ok(())
    }
}
