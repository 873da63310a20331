//! The relay: committed outbox rows to their Kafka topics, marked relayed once the broker
//! took them.

use super::*;

impl Shared {
    /// One round; returns how many messages reached the broker.
    async fn relay_once(&self) -> Result<usize, DbError> {
        let k = kafka(&self.settings);
        let lease = chrono::Duration::milliseconds((k.produce_timeout_ms * 2) as i64);
        let rows = outbox::claim_unrelayed(&self.db, k.relay_batch_size as u64, lease).await?;
        if rows.is_empty() {
            self.broker_ok();
            return Ok(0);
        }
        let topics: Vec<String> = rows
            .iter()
            .map(|r| self.name(&r.topic))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if let Err(e) = self.ensure_topics(&topics).await {
            self.broker_failed(&e);
            return Ok(0);
        }
        let sends = rows.iter().map(|r| {
            let payload = serde_json::to_vec(&r.payload.0).unwrap_or_default();
            let topic = self.name(&r.topic);
            let mut pairs = vec![
                (ID, r.id.to_string()),
                (PUBLISHED, millis(r.created_at)),
                (ATTEMPT, "1".into()),
            ];
            pairs.extend(r.trace_parent.clone().map(|t| (TRACEPARENT, t)));
            let h = headers(&pairs);
            async move { self.produce(&topic, &r.key, &payload, h).await }
        });
        let results = futures::future::join_all(sends).await;
        let mut relayed = Vec::new();
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(()) => relayed.push(row.id),
                // Left for the next round once the lease ends.
                Err(e) => self.broker_failed(&e),
            }
        }
        let n = relayed.len();
        if n == rows.len() {
            self.broker_ok();
        }
        outbox::mark_relayed(&self.db, relayed).await?;
        Ok(n)
    }

    pub(super) async fn run_relay(self: Arc<Self>, stop: CancellationToken) {
        let k = kafka(&self.settings);
        let idle = Duration::from_millis(k.relay_interval_ms);
        let published = self.db.signals().listen_all();
        loop {
            // Listening before the read, so a commit during it is not missed.
            let woken = published.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let pause = match self.relay_once().await {
                Ok(n) if n == k.relay_batch_size as usize => Duration::ZERO,
                Ok(_) if self.broker_error.lock().expect("lock").is_some() => {
                    Duration::from_secs(1)
                }
                Ok(_) => idle,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay could not read the outbox");
                    Duration::from_secs(1)
                }
            };
            // A commit here wakes the relay unless the broker is away (then: wait a second).
            let woken_matters = pause == idle;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
                _ = woken, if woken_matters => {}
            }
        }
    }
}
