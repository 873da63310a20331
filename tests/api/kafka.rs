//! The queue on a real Kafka-protocol broker (tansu, started by scripts/test.sh): the email
//! flows through Kafka, retries through the retry topic, a poison message on its DLQ topic and
//! replayed, a broker out of reach, and the application killed mid-batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora::platform::queue::{publish, Consumer, HandlerError, Message, Outgoing};
use async_trait::async_trait;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Headers;
use rdkafka::Message as _;
use serde_json::{json, Value};

use crate::helpers::{eventually, on_kafka, spawn_app_with, PATIENCE};
use crate::mail::{self, free_port};

#[tokio::test]
async fn an_email_arrives_through_kafka() {
    mail::arrives_with_its_headers_and_body(on_kafka).await;
}

#[tokio::test]
async fn temporary_failures_are_retried_through_the_retry_topic() {
    mail::temporary_failures_are_retried(on_kafka).await;
}

#[tokio::test]
async fn a_permanent_failure_through_kafka_fails_at_once_and_suppresses() {
    mail::a_permanent_failure_fails_at_once_and_suppresses(on_kafka).await;
}

#[tokio::test]
async fn a_server_down_through_kafka_means_retrying_then_sent() {
    mail::a_server_down_means_retrying_then_sent(on_kafka).await;
}

/// Fails `{"poison": true}` for good until healed, and `{"flaky": n}` n times before it
/// takes it; records what it took with the attempt it took it at.
#[derive(Default)]
struct Picky {
    healed: AtomicBool,
    failures: Mutex<HashMap<String, u64>>,
    taken: Mutex<Vec<(Value, u32)>>,
}

#[async_trait]
impl Consumer for Picky {
    fn group(&self) -> &str {
        "test-picky"
    }

    fn topics(&self) -> Vec<String> {
        vec!["test.parcels".into()]
    }

    async fn handle(&self, message: &Message) -> Result<(), HandlerError> {
        let p = &message.payload;
        if p["poison"] == true && !self.healed.load(Ordering::SeqCst) {
            return Err(HandlerError::Permanent("poisonous parcel".into()));
        }
        if let Some(n) = p["flaky"].as_u64() {
            let mut failures = self.failures.lock().unwrap();
            let seen = failures.entry(message.id.to_string()).or_default();
            if *seen < n {
                *seen += 1;
                return Err(HandlerError::Retry("not yet".into()));
            }
        }
        self.taken
            .lock()
            .unwrap()
            .push((p.clone(), message.attempt));
        Ok(())
    }
}

/// Every record of `topic` from the start, with its headers.
fn read_topic(brokers: &str, topic: &str) -> Vec<(HashMap<String, String>, Value)> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    reader.subscribe(&[topic]).unwrap();
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + PATIENCE;
    while records.is_empty() && std::time::Instant::now() < deadline {
        while let Some(Ok(m)) = reader.poll(Duration::from_millis(500)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                            (h.key.to_string(), value.into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let payload = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
            records.push((headers, payload));
        }
    }
    records
}

#[tokio::test]
async fn retries_go_round_and_a_poison_message_lands_in_the_dlq_and_replays() {
    let picky = Arc::new(Picky::default());
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let ns = namespace.clone();
    let app = spawn_app_with(
        move |s| {
            on_kafka(s);
            s.queue.kafka.namespace = ns;
        },
        |b| b.consumer(picky.clone()),
    )
    .await;
    let mut tx = app.db.begin().await.unwrap();
    for payload in [
        json!({"poison": true}),
        json!({"flaky": 2}),
        json!({"plain": 1}),
    ] {
        publish(&mut tx, Outgoing::new("test.parcels", "parcel-1", &payload))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let taken = eventually("the good parcels", || async {
        let taken = picky.taken.lock().unwrap().clone();
        (taken.len() == 2).then_some(taken)
    })
    .await;
    assert!(taken.contains(&(json!({"plain": 1}), 1)), "{taken:?}");
    assert!(
        taken.contains(&(json!({"flaky": 2}), 3)),
        "taken at the third attempt, through the retry topic: {taken:?}"
    );

    let (dead, total) = eventually("the dead letter", || async {
        let listed = app
            .queue
            .dead_letters(Some("test-picky"), 10, 0)
            .await
            .unwrap();
        (listed.1 == 1).then_some(listed)
    })
    .await;
    assert_eq!(total, 1);
    assert_eq!(dead[0].payload, json!({"poison": true}));
    assert_eq!(dead[0].last_error.as_deref(), Some("poisonous parcel"));

    let brokers = std::env::var("TEST_KAFKA_BROKERS").unwrap();
    let dlq = format!("{namespace}.test.parcels.dlq");
    let records = tokio::task::spawn_blocking(move || read_topic(&brokers, &dlq))
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let (headers, payload) = &records[0];
    assert_eq!(payload, &json!({"poison": true}));
    assert_eq!(headers["agora-group"], "test-picky");
    assert_eq!(headers["agora-error"], "poisonous parcel");

    // Healed, the replayed parcel is taken and the dead letter is gone.
    picky.healed.store(true, Ordering::SeqCst);
    assert!(app.queue.replay(dead[0].delivery_id).await.unwrap());
    eventually("the replayed parcel", || async {
        let taken = picky.taken.lock().unwrap().clone();
        taken.iter().any(|(p, _)| p["poison"] == true).then_some(())
    })
    .await;
    assert_eq!(app.queue.dead_letters(None, 10, 0).await.unwrap().1, 0);
    assert!(!app.queue.replay(dead[0].delivery_id).await.unwrap());

    // Every group is in the backlog gauges, also with nothing dead: dashboards and alerts
    // read one series per group whichever backend runs.
    let metrics = eventually("the lag and backlog gauges", || async {
        let metrics = app.metrics().await;
        (metrics.contains(r#"queue_consumer_lag{consumer="test-picky",topic="test.parcels"} 0"#)
            && metrics.contains(r#"queue_dead_letters{consumer="test-picky"} 0"#)
            && metrics.contains(r#"queue_depth{consumer="test-picky"} 0"#))
        .then_some(metrics)
    })
    .await;
    assert!(
        metrics
            .contains(r#"queue_messages_processed_total{consumer="test-picky",outcome="dead"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn with_the_broker_away_the_api_accepts_and_readiness_says_degraded() {
    let nobody = free_port();
    let app = spawn_app_with(
        move |s| {
            on_kafka(s);
            s.queue.kafka.brokers = format!("127.0.0.1:{nobody}");
            s.queue.kafka.produce_timeout_ms = 1000;
        },
        |b| b,
    )
    .await;
    // Registration writes its events to the outbox: accepted all the same.
    let (user, _) = app.register("ada@example.com").await;
    assert!(user["id"].is_string());
    let ready = eventually("degraded readiness", || async {
        let response = app.get("/readyz").await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        (body["status"] == "degraded").then_some((status, body))
    })
    .await;
    assert_eq!(ready.0, 200, "still ready: work waits in the outbox");
    let queue = ready.1["checks"]["queue"].as_str().unwrap();
    assert!(queue.starts_with("degraded: broker unreachable"), "{queue}");
    assert!(queue.contains("wait in the outbox"), "{queue}");
    eventually("the outbox gauge", || async {
        let metrics = app.metrics().await;
        let waiting = metrics
            .lines()
            .find_map(|l| l.strip_prefix("queue_outbox_unrelayed "))
            .and_then(|n| n.parse::<i64>().ok())?;
        (waiting >= 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn killed_mid_batch_on_kafka_every_email_arrives_once() {
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    mail::killed_mid_batch_every_email_arrives_once(vec![
        ("AGORA__QUEUE__BACKEND", "kafka".into()),
        ("AGORA__QUEUE__KAFKA__NAMESPACE", namespace),
        ("AGORA__QUEUE__KAFKA__SESSION_TIMEOUT_MS", "6000".into()),
        ("AGORA__QUEUE__KAFKA__RELAY_INTERVAL_MS", "20".into()),
        (
            "AGORA__QUEUE__KAFKA__BROKERS",
            std::env::var("TEST_KAFKA_BROKERS").unwrap(),
        ),
    ])
    .await;
}
