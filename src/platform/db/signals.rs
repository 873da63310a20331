//! Wakes whoever waits on a topic when a transaction that signalled it commits: queue
//! workers (the topic of the messages published), in this process at once and in others;
//! and waiters on a name of their own (the catalog's version, new notifications) in other
//! processes only, since the writing process acts on its own write itself. On PostgreSQL,
//! other processes on the same database hear it through `LISTEN`/`NOTIFY` within
//! milliseconds (`relay`). Waiters still poll, which is the only path between processes on
//! SQLite and covers a signal lost with a connection or a crash.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Listens to every topic.
const ANY: &str = "*";
/// The PostgreSQL channel every replica listens on.
const CHANNEL: &str = "agora_signals";

#[derive(Default)]
pub struct TopicSignals {
    listeners: Mutex<HashMap<String, Vec<Arc<Notify>>>>,
    /// Topics committed here and not yet told to other processes.
    outgoing: Mutex<BTreeSet<String>>,
    outgoing_ready: Notify,
}

impl TopicSignals {
    /// One signal rung by commits that published to any of `topics`. Wait with
    /// `notified()` created before looking for work, so a commit meanwhile is not missed.
    pub fn listen(&self, topics: &[String]) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        let mut listeners = self.listeners.lock().expect("signals lock");
        for topic in topics {
            listeners
                .entry(topic.clone())
                .or_default()
                .push(notify.clone());
        }
        notify
    }

    /// One signal rung by every commit that published anything.
    pub fn listen_all(&self) -> Arc<Notify> {
        self.listen(&[ANY.to_string()])
    }

    /// A commit here signalled `topics` and `remote_only`: wakes this process's waiters of
    /// `topics` now, other processes' waiters of both through the relay.
    pub(super) fn committed(&self, topics: &[String], remote_only: &[String]) {
        if !topics.is_empty() {
            self.ring(topics);
        }
        self.outgoing
            .lock()
            .expect("signals lock")
            .extend(topics.iter().chain(remote_only).cloned());
        self.outgoing_ready.notify_one();
    }

    fn ring(&self, topics: &[String]) {
        let listeners = self.listeners.lock().expect("signals lock");
        for topic in topics.iter().map(String::as_str).chain([ANY]) {
            for notify in listeners.get(topic).into_iter().flatten() {
                notify.notify_waiters();
            }
        }
    }

    /// Wakes every waiter, as when signals may have been missed.
    fn ring_all(&self) {
        let listeners = self.listeners.lock().expect("signals lock");
        for notify in listeners.values().flatten() {
            notify.notify_waiters();
        }
    }

    /// Carries signals between the processes on one PostgreSQL database until `stop`: what
    /// commits here goes out as one `NOTIFY` per batch (after the commit, so a transaction
    /// holds no lock for it); what others send rings here.
    pub async fn relay(self: Arc<Self>, pool: PgPool, stop: CancellationToken) {
        let me = uuid::Uuid::now_v7().simple().to_string();
        let sending = tokio::spawn(self.clone().send(pool.clone(), me.clone(), stop.clone()));
        self.hear(pool, me, stop).await;
        let _ = sending.await;
    }

    async fn send(self: Arc<Self>, pool: PgPool, me: String, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.outgoing_ready.notified() => {}
            }
            let topics = std::mem::take(&mut *self.outgoing.lock().expect("signals lock"));
            if topics.is_empty() {
                continue;
            }
            let payload = format!("{me} {}", topics.into_iter().collect::<Vec<_>>().join(","));
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(&payload)
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "could not signal other replicas; they will poll");
            }
        }
    }

    async fn hear(&self, pool: PgPool, me: String, stop: CancellationToken) {
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(mut l) => match l.listen(CHANNEL).await {
                    Ok(()) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not listen for other replicas' signals");
                        if pause(&stop).await {
                            return;
                        }
                        continue;
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "could not listen for other replicas' signals");
                    if pause(&stop).await {
                        return;
                    }
                    continue;
                }
            };
            // Whatever was sent while nobody listened is found by the waiters' next look.
            self.ring_all();
            loop {
                let heard = tokio::select! {
                    _ = stop.cancelled() => return,
                    heard = listener.try_recv() => heard,
                };
                match heard {
                    Ok(Some(n)) => {
                        let (from, topics) = n.payload().split_once(' ').unwrap_or(("", ""));
                        if from != me {
                            let topics: Vec<String> =
                                topics.split(',').map(str::to_string).collect();
                            self.ring(&topics);
                        }
                    }
                    // The connection was lost; sqlx reconnects on the next call.
                    Ok(None) => self.ring_all(),
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the connection for other replicas' signals");
                        break;
                    }
                }
            }
        }
    }
}

/// Waits before trying again; true when stopped meanwhile.
async fn pause(stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(Duration::from_secs(1)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn only_listeners_of_the_topic_and_of_everything_are_woken() {
        let signals = TopicSignals::default();
        let mail = signals.listen(&["mail.send".into(), "mail.retry".into()]);
        let orders = signals.listen(&["orders.placed".into()]);
        let all = signals.listen_all();
        // Waiting before the ring, as a worker does before it looks for work.
        let waits = [mail.notified(), orders.notified(), all.notified()];
        let mut waits = waits.map(Box::pin);
        for wait in &mut waits {
            wait.as_mut().enable();
        }
        signals.ring(&["mail.retry".into()]);
        let [mail_rung, orders_rung, all_rung] = waits.map(|w| w.now_or_never().is_some());
        assert!(mail_rung && all_rung);
        assert!(!orders_rung);
    }
}
