//! Live in-app notifications for `GET /notifications/stream`. A notification written on this
//! replica is announced at once; one written on another replica is found by a look at recent
//! rows, only while someone listens here: at once when that replica's commit is signalled
//! (PostgreSQL), and every `notifications.stream_poll_ms` in any case. Both paths meet here
//! and each notification is announced once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::IntGauge;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::model::Notification;
use super::repo;
use crate::platform::clock::Clock;
use crate::platform::db::Db;

/// How far back each poll looks: longer than any transaction takes between stamping a row's
/// `created_at` and committing it.
const LOOKBACK: Duration = Duration::from_secs(10);

pub struct LiveFeed {
    sender: broadcast::Sender<Notification>,
    /// Cancelled as the server stops accepting: open streams end then, so they do not hold
    /// the shutdown for its whole grace, and their clients connect again elsewhere.
    pub closing: CancellationToken,
    /// Announced recently, with when; forgotten after twice the lookback.
    announced: Mutex<HashMap<Uuid, Instant>>,
    pub clients: IntGauge,
}

impl LiveFeed {
    pub fn new(clients: IntGauge, closing: CancellationToken) -> Self {
        Self {
            sender: broadcast::channel(1024).0,
            closing,
            announced: Mutex::new(HashMap::new()),
            clients,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.sender.subscribe()
    }

    /// Announces `n` unless it was already.
    pub fn announce(&self, mut n: Notification) {
        // The stream tells of the inbox item; deliveries are for GET /notifications/{id}.
        n.deliveries.clear();
        {
            let mut seen = self.announced.lock().expect("lock");
            if seen.insert(n.id, Instant::now()).is_some() {
                return;
            }
        }
        // No receiver is fine: nobody is listening.
        let _ = self.sender.send(n);
    }

    fn forget_old(&self) {
        let horizon = LOOKBACK * 2;
        self.announced
            .lock()
            .expect("lock")
            .retain(|_, at| at.elapsed() < horizon);
    }

    /// Finds what other replicas wrote, while anyone listens here.
    pub async fn poll(
        self: std::sync::Arc<Self>,
        db: Db,
        clock: Clock,
        every: Duration,
        stop: CancellationToken,
    ) {
        let created = db.signals().listen(&[repo::CREATED_SIGNAL.to_string()]);
        // Listening before each look, so a commit during it is not missed.
        let mut signalled = Box::pin(created.notified());
        loop {
            signalled.as_mut().enable();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
                _ = &mut signalled => {}
            }
            signalled.set(created.notified());
            signalled.as_mut().enable();
            self.forget_old();
            if self.sender.receiver_count() == 0 {
                continue;
            }
            let since = clock.now() - chrono::Duration::from_std(LOOKBACK).unwrap_or_default();
            match repo::created_since(&db, since).await {
                Ok(recent) => recent.into_iter().for_each(|n| self.announce(n)),
                Err(e) => tracing::debug!(error = %e, "could not look for new notifications"),
            }
        }
    }
}
