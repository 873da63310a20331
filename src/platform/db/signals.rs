//! Wakes whoever waits for queue messages of a topic when a transaction of this process that
//! published them commits, so they need not wait for their next poll. Other processes'
//! messages are still found by polling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Listens to every topic.
const ANY: &str = "*";

#[derive(Default)]
pub struct TopicSignals {
    listeners: Mutex<HashMap<String, Vec<Arc<Notify>>>>,
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

    pub(super) fn ring(&self, topics: &[String]) {
        let listeners = self.listeners.lock().expect("signals lock");
        for topic in topics.iter().map(String::as_str).chain([ANY]) {
            for notify in listeners.get(topic).into_iter().flatten() {
                notify.notify_waiters();
            }
        }
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
