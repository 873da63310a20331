//! The durable queue on the backend under test, driven through real application instances.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agora::platform::db::Tx;
use agora::platform::queue::{publish, Consumer, HandlerError, Message, Outgoing, QueueBackend};
use async_trait::async_trait;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{
    eventually, metric_eventually, poll_until, queue_idle, spawn_app_on, spawn_app_with, TestApp,
    TestDb, PATIENCE,
};

pub const TOPIC: &str = "test.happened";

/// What a test consumer does with a message.
#[derive(Clone)]
enum Plan {
    Succeed,
    /// Fails this many attempts of each message, then succeeds.
    FailTimes(u32),
    /// Fails until the flag is set.
    FailUntil(Arc<AtomicBool>),
    /// Holds each message until this many consumer instances have taken one, so every
    /// replica is sure to get work while another holds its batch; overlaps are recorded.
    HoldUntilInstances(usize),
}

#[derive(Default)]
struct Log {
    /// (message key, attempt, when)
    calls: Vec<(String, u32, Instant)>,
    in_flight: HashSet<Uuid>,
    overlaps: Vec<Uuid>,
    /// Messages handled per consumer instance.
    handled_by: HashMap<&'static str, usize>,
}

struct TestConsumer {
    group: String,
    plan: Plan,
    log: Arc<Mutex<Log>>,
    max_attempts: Option<u32>,
    instance: &'static str,
}

impl TestConsumer {
    fn new(group: &str, plan: Plan) -> Self {
        Self {
            group: group.into(),
            plan,
            log: Arc::default(),
            max_attempts: None,
            instance: "only",
        }
    }

    fn calls(&self) -> Vec<(String, u32, Instant)> {
        self.log.lock().unwrap().calls.clone()
    }
}

#[async_trait]
impl Consumer for TestConsumer {
    fn group(&self) -> &str {
        &self.group
    }

    fn topics(&self) -> Vec<String> {
        vec![TOPIC.into()]
    }

    fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    async fn handle(&self, message: &Message) -> Result<(), HandlerError> {
        {
            let mut log = self.log.lock().unwrap();
            log.calls
                .push((message.key.clone(), message.attempt, Instant::now()));
            *log.handled_by.entry(self.instance).or_default() += 1;
            if !log.in_flight.insert(message.id) {
                log.overlaps.push(message.id);
            }
        }
        let result = match &self.plan {
            Plan::Succeed => Ok(()),
            Plan::FailTimes(n) if message.attempt <= *n => Err(HandlerError::Retry(format!(
                "planned failure {}",
                message.attempt
            ))),
            Plan::FailTimes(_) => Ok(()),
            Plan::FailUntil(flag) if !flag.load(Ordering::SeqCst) => {
                Err(HandlerError::Retry("still broken".into()))
            }
            Plan::FailUntil(_) => Ok(()),
            Plan::HoldUntilInstances(n) => {
                let all_busy =
                    || async { (self.log.lock().unwrap().handled_by.len() >= *n).then_some(()) };
                poll_until(PATIENCE, all_busy).await;
                Ok(())
            }
        };
        self.log.lock().unwrap().in_flight.remove(&message.id);
        result
    }
}

pub async fn publish_one(tx: &mut Tx, key: &str) -> Uuid {
    publish(tx, Outgoing::new(TOPIC, key, &json!({ "key": key })))
        .await
        .unwrap()
}

async fn publish_committed(app: &TestApp, key: &str) -> Uuid {
    let mut tx = app.db.begin().await.unwrap();
    let id = publish_one(&mut tx, key).await;
    tx.commit().await.unwrap();
    id
}

async fn app_with(
    consumer: Arc<TestConsumer>,
    settings: impl FnOnce(&mut agora::Settings),
) -> TestApp {
    spawn_app_with(settings, |b| b.consumer(consumer)).await
}

fn keys_handled(consumer: &TestConsumer) -> Vec<String> {
    consumer.calls().into_iter().map(|(k, _, _)| k).collect()
}

#[tokio::test]
async fn rolled_back_messages_are_never_delivered() {
    let consumer = Arc::new(TestConsumer::new("recorder", Plan::Succeed));
    let app = app_with(consumer.clone(), |_| {}).await;

    let mut tx = app.db.begin().await.unwrap();
    publish_one(&mut tx, "rolled-back").await;
    tx.rollback().await.unwrap();
    {
        let mut tx = app.db.begin().await.unwrap();
        publish_one(&mut tx, "dropped").await;
    }
    publish_committed(&app, "committed").await;

    // Once the queue has nothing left to do, whatever it was given has been handled.
    eventually("the committed message", || async {
        keys_handled(&consumer)
            .contains(&"committed".to_string())
            .then_some(())
    })
    .await;
    queue_idle(&app).await;
    assert_eq!(keys_handled(&consumer), vec!["committed".to_string()]);
}

#[tokio::test]
async fn every_consumer_group_gets_its_own_delivery() {
    let a = Arc::new(TestConsumer::new("group-a", Plan::Succeed));
    let b = Arc::new(TestConsumer::new("group-b", Plan::FailTimes(1)));
    let app = spawn_app_with(
        |_| {},
        |builder| builder.consumer(a.clone()).consumer(b.clone()),
    )
    .await;
    publish_committed(&app, "fan-out").await;
    eventually("both groups", || async {
        (a.calls().len() == 1 && b.calls().len() == 2).then_some(())
    })
    .await;
    // The failure of group-b did not make group-a see the message again.
    queue_idle(&app).await;
    assert_eq!(a.calls().len(), 1);
    assert_eq!(b.calls().len(), 2);
}

#[tokio::test]
async fn failing_consumer_is_retried_with_growing_delays() {
    let consumer = Arc::new(TestConsumer::new("flaky", Plan::FailTimes(2)));
    let app = app_with(consumer.clone(), |s| {
        s.queue.backoff_base_ms = 200;
        s.queue.jitter = 0.25;
    })
    .await;
    publish_committed(&app, "retry-me").await;

    let calls = eventually("three attempts", || async {
        let calls = consumer.calls();
        (calls.len() >= 3).then_some(calls)
    })
    .await;
    let attempts: Vec<u32> = calls.iter().map(|c| c.1).collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    let first_gap = calls[1].2 - calls[0].2;
    let second_gap = calls[2].2 - calls[1].2;
    // 200 ms less up to 25 %, then 400 ms less up to 25 %. A busy machine only lengthens
    // gaps, so these lower bounds hold however slow it is; the second one, above the first
    // delay's most (250 ms), shows the delay grew.
    assert!(first_gap >= Duration::from_millis(145), "{first_gap:?}");
    assert!(second_gap >= Duration::from_millis(295), "{second_gap:?}");

    // Done: nothing left waiting, nothing dead, and no fourth delivery.
    queue_idle(&app).await;
    let stats = app_queue(&app).stats().await.unwrap();
    assert!(stats.iter().all(|s| s.dead == 0), "{stats:?}");
    assert_eq!(
        consumer.calls().len(),
        3,
        "a succeeded message is not delivered again"
    );
}

fn app_queue(app: &TestApp) -> Arc<dyn QueueBackend> {
    app.queue.clone()
}

#[tokio::test]
async fn exhausted_messages_are_dead_lettered_and_can_be_replayed() {
    let fixed = Arc::new(AtomicBool::new(false));
    let mut consumer = TestConsumer::new("broken", Plan::FailUntil(fixed.clone()));
    consumer.max_attempts = Some(3);
    let consumer = Arc::new(consumer);
    let app = app_with(consumer.clone(), |_| {}).await;
    let message_id = publish_committed(&app, "doomed").await;
    let queue = app_queue(&app);

    let dead = eventually("a dead letter", || async {
        let (dead, total) = queue.dead_letters(Some("broken"), 10, 0).await.unwrap();
        (total == 1).then_some(dead)
    })
    .await;
    assert_eq!(dead[0].message_id, message_id);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].topic, TOPIC);
    assert_eq!(dead[0].payload["key"], "doomed");
    assert_eq!(dead[0].last_error.as_deref(), Some("still broken"));
    assert_eq!(consumer.calls().len(), 3, "no attempt after the last one");

    eventually("the dead-letter gauge", || async {
        app.metrics()
            .await
            .contains(r#"queue_dead_letters{consumer="broken"} 1"#)
            .then_some(())
    })
    .await;
    metric_eventually(
        &app,
        r#"queue_messages_processed_total{consumer="broken",outcome="dead"} 1"#,
    )
    .await;

    // Fixed: replay, and it goes through.
    fixed.store(true, Ordering::SeqCst);
    assert!(queue.replay(dead[0].delivery_id).await.unwrap());
    eventually("the replayed delivery", || async {
        (consumer.calls().len() == 4).then_some(())
    })
    .await;
    assert_eq!(
        consumer.calls()[3].1,
        1,
        "a replay starts a fresh count of attempts"
    );
    eventually("an empty dead-letter list", || async {
        let (_, total) = queue.dead_letters(None, 10, 0).await.unwrap();
        (total == 0).then_some(())
    })
    .await;
    assert!(
        !queue.replay(dead[0].delivery_id).await.unwrap(),
        "only dead deliveries replay"
    );
}

#[tokio::test]
async fn permanent_failures_skip_the_retries() {
    struct Refuses;
    #[async_trait]
    impl Consumer for Refuses {
        fn group(&self) -> &str {
            "refuses"
        }
        fn topics(&self) -> Vec<String> {
            vec![TOPIC.into()]
        }
        async fn handle(&self, message: &Message) -> Result<(), HandlerError> {
            message.payload_as::<Vec<u32>>().map(|_| ())
        }
    }
    let app = spawn_app_with(|_| {}, |b| b.consumer(Arc::new(Refuses))).await;
    publish_committed(&app, "not-a-list").await;
    let queue = app_queue(&app);
    let dead = eventually("a dead letter", || async {
        let (dead, total) = queue.dead_letters(None, 10, 0).await.unwrap();
        (total == 1).then_some(dead)
    })
    .await;
    assert_eq!(dead[0].attempts, 1);
    assert!(dead[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("payload of test.happened"));
}

#[tokio::test]
async fn two_workers_never_run_the_same_message_at_once() {
    // Two application instances on one database: replicas sharing a consumer group.
    let db = Arc::new(TestDb::new().await);
    let log: Arc<Mutex<Log>> = Arc::default();
    let consumer = |instance| {
        Arc::new(TestConsumer {
            group: "shared-group".into(),
            plan: Plan::HoldUntilInstances(2),
            log: log.clone(),
            max_attempts: None,
            instance,
        })
    };
    let settings = |s: &mut agora::Settings| s.queue.batch_size = 4;
    let first = spawn_app_on(db.clone(), settings, |b| b.consumer(consumer("first"))).await;
    let second = spawn_app_on(db.clone(), settings, |b| b.consumer(consumer("second"))).await;

    const MESSAGES: usize = 40;
    let mut tx = first.db.begin().await.unwrap();
    for i in 0..MESSAGES {
        publish_one(&mut tx, &format!("job-{i}")).await;
    }
    tx.commit().await.unwrap();

    eventually("every message handled", || async {
        (log.lock().unwrap().calls.len() >= MESSAGES).then_some(())
    })
    .await;
    queue_idle(&first).await;
    {
        let log = log.lock().unwrap();
        assert!(
            log.overlaps.is_empty(),
            "handled concurrently: {:?}",
            log.overlaps
        );
        let mut per_key: HashMap<&str, usize> = HashMap::new();
        for (key, _, _) in &log.calls {
            *per_key.entry(key.as_str()).or_default() += 1;
        }
        assert_eq!(per_key.len(), MESSAGES);
        assert!(
            per_key.values().all(|n| *n == 1),
            "each message exactly once: {per_key:?}"
        );
        assert_eq!(
            log.handled_by.len(),
            2,
            "both replicas took work: {:?}",
            log.handled_by
        );
    }
    first.stop().await.unwrap();
    second.stop().await.unwrap();
}
