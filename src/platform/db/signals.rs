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
    use std::time::Duration;

    async fn rung(notify: &Notify) -> bool {
        tokio::time::timeout(Duration::from_millis(50), notify.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn only_listeners_of_the_topic_and_of_everything_are_woken() {
        let signals = TopicSignals::default();
        let mail = signals.listen(&["mail.send".into(), "mail.retry".into()]);
        let orders = signals.listen(&["orders.placed".into()]);
        let all = signals.listen_all();
        let (woke_mail, woke_orders, woke_all, ()) =
            tokio::join!(rung(&mail), rung(&orders), rung(&all), async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                signals.ring(&["mail.retry".into()]);
            });
        assert!(woke_mail && woke_all);
        assert!(!woke_orders);
    }
}
