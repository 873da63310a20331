//! Memory the process may hold at once for large things it handles whole: upload bodies and
//! the attachments of emails being delivered. Work that would take more than is left waits
//! its turn, so a burst costs time rather than memory (`server.large_body_memory_mib`).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Counted in KiB, so a budget of any realistic size fits the semaphore's `u32` permits.
const UNIT: usize = 1024;

#[derive(Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total: u32,
}

/// Memory taken from the budget, given back when dropped.
pub struct Held(#[allow(dead_code)] OwnedSemaphorePermit);

impl MemoryBudget {
    pub fn new(bytes: usize) -> Self {
        let total = (bytes / UNIT).clamp(1, u32::MAX as usize) as u32;
        Self {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Waits until `bytes` are free and holds them. More than the whole budget holds the whole
    /// budget: one such item at a time, never refused.
    pub async fn hold(&self, bytes: usize) -> Held {
        let units = bytes.div_ceil(UNIT).clamp(1, self.total as usize) as u32;
        let permit = self
            .permits
            .clone()
            .acquire_many_owned(units)
            .await
            .expect("the budget's semaphore is never closed");
        Held(permit)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn holders_wait_for_room_and_oversized_ones_take_it_all() {
        let budget = MemoryBudget::new(10 * UNIT);
        let first = budget.hold(6 * UNIT).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.hold(6 * UNIT));
        assert!(waiting.await.is_err(), "no room until the first is dropped");
        drop(first);
        let second = budget.hold(6 * UNIT).await;
        drop(second);
        let whole = tokio::time::timeout(Duration::from_secs(1), budget.hold(100 * UNIT)).await;
        assert!(whole.is_ok(), "more than the budget still runs, alone");
    }
}
