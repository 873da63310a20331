//! The queue on a real Kafka-protocol broker (tansu, started by scripts/test.sh): the email
//! flows through Kafka, retries through the retry topic, a poison message on its DLQ topic and
//! replayed, a broker out of reach, and the application killed mid-batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora::platform::queue::{publish, Consumer, HandlerError, Message, Outgoing};
use async_trait::async_trait;
use futures::StreamExt as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Headers;
use rdkafka::Message as _;
use serde_json::{json, Value};

use crate::cli::{agora, serve};
use crate::helpers::{client, eventually, on_kafka, poll_until, spawn_app_with, TestDb, PATIENCE};
use crate::mail::{self, free_port, start_smtp};

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

/// Batch emails by Message-ID as the SMTP server received them: how many times each. (The
/// sender's verification mail arrives there too, and is left out.)
fn received_counts(smtp: &mail::SmtpServer) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let batch = smtp
        .received()
        .into_iter()
        .filter(|m| m.contains("Subject: Batch "));
    for message in batch {
        if let Some(id) = message.lines().find_map(|l| l.strip_prefix("Message-ID: ")) {
            *counts.entry(id.trim().to_string()).or_default() += 1;
        }
    }
    counts
}

#[tokio::test]
async fn killed_mid_batch_and_restarted_it_delivers_every_email() {
    const EMAILS: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = free_port();
    let smtp = start_smtp(dir.path(), smtp_port);
    let db = TestDb::new().await;
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let command = || {
        let mut cmd = agora(dir.path());
        for (key, value) in [
            ("AGORA__DATABASE__URL", db.url.as_str()),
            ("AGORA__QUEUE__BACKEND", "kafka"),
            ("AGORA__QUEUE__KAFKA__NAMESPACE", &namespace),
            ("AGORA__QUEUE__KAFKA__SESSION_TIMEOUT_MS", "6000"),
            ("AGORA__QUEUE__KAFKA__RELAY_INTERVAL_MS", "20"),
            ("AGORA__QUEUE__METRICS_INTERVAL_SECS", "1"),
            ("AGORA__MAILER__TRANSPORT", "smtp"),
            ("AGORA__MAILER__SMTP__HOST", "127.0.0.1"),
            ("AGORA__MAILER__SMTP__TLS", "none"),
            ("AGORA__MAIL__PER_USER_PER_MINUTE", "100000"),
            ("AGORA__MAIL__GLOBAL_PER_SECOND", "250"),
            ("AGORA__SERVER__RATE_LIMIT__ENABLED", "false"),
            ("AGORA__AUTH__RATE_LIMIT__ENABLED", "false"),
            ("AGORA__AUTH__PASSWORD__MEMORY_KIB", "1024"),
            ("AGORA__AUTH__PASSWORD__ITERATIONS", "1"),
        ] {
            cmd.env(key, value);
        }
        cmd.env(
            "AGORA__QUEUE__KAFKA__BROKERS",
            std::env::var("TEST_KAFKA_BROKERS").unwrap(),
        )
        .env("AGORA__MAILER__SMTP__PORT", smtp_port.to_string())
        .env("AGORA__DATA_DIR", dir.path().join("data"));
        cmd
    };
    let started = std::time::Instant::now();
    let mut first = serve(command());
    let http = client();
    let base = first.address.clone();
    let registered: Value = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "sender@example.com", "password": crate::auth::PASSWORD, "name": "Sender"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // 1,000 emails, 16 requests at a time.
    let sends = (0..EMAILS).map(|i| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let response = http
                .post(format!("{base}/api/v1/emails/send"))
                .bearer_auth(&token)
                .json(&json!({"to": [format!("rcpt{i}@example.com")], "subject": format!("Batch {i}"), "text": "Hello"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
        }
    });
    futures::stream::iter(sends)
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    println!("{EMAILS} accepted at {:?}", started.elapsed());

    // Mid-batch: some delivered, most not.
    eventually("the first deliveries", || async {
        let received = received_counts(&smtp).len();
        (received >= 100).then_some(())
    })
    .await;
    first.child.kill().unwrap(); // SIGKILL: no draining, no final commit
    first.child.wait().unwrap();
    let at_kill = received_counts(&smtp).len();
    assert!(
        at_kill < EMAILS,
        "the kill came after the batch ({at_kill})"
    );
    println!("killed after {at_kill} emails at {:?}", started.elapsed());
    // Emails cut short in the middle of their SMTP exchange: the server may have taken them
    // before their status was written, so they may arrive twice (with the same Message-ID).
    let in_flight: Vec<String> = {
        let settings = crate::helpers::test_settings(&db);
        let store = agora::platform::db::Db::connect(&settings).await.unwrap();
        let sending = sea_query::Expr::col(sea_query::Alias::new("status")).eq("sending");
        let rows: Vec<(String,)> = store
            .fetch_all(
                sea_query::Query::select()
                    .column(sea_query::Alias::new("message_id"))
                    .from(sea_query::Alias::new("mail_emails"))
                    .and_where(sending),
            )
            .await
            .unwrap();
        store.close().await;
        rows.into_iter().map(|(id,)| id).collect()
    };
    // At most a batch (16) on each of the delivery group's two consumers.
    assert!(in_flight.len() <= 32, "{in_flight:?}");

    let second = serve(command());
    // A restart on a busy machine may take a while: twice the usual patience.
    let all_arrived = poll_until(2 * PATIENCE, || async {
        let counts = received_counts(&smtp);
        (counts.len() == EMAILS).then_some(counts)
    });
    let Some(counts) = all_arrived.await else {
        // What the restarted process had to say, to tell why.
        for line in second.logs.lock().unwrap().iter() {
            let partitions = line["partitions"].is_string();
            if line["level"] == "WARN" || line["level"] == "ERROR" || partitions {
                println!("{line}");
            }
        }
        panic!(
            "{} of {EMAILS} emails arrived",
            received_counts(&smtp).len()
        );
    };
    println!("all {EMAILS} arrived at {:?}", started.elapsed());
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice
            .iter()
            .all(|(id, n)| **n == 2 && in_flight.contains(id)),
        "only an email in flight at the kill may arrive twice: {twice:?}, in flight {in_flight:?}"
    );
    println!("{} arrived twice, in flight at the kill", twice.len());
}
