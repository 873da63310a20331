//! Emails per second end to end (accepted by `POST /emails/send` until the SMTP server took
//! them), against what the same SMTP server accepts from a direct lettre blast in the same run.
//! An aiosmtpd server (python3 with aiosmtpd) that accepts everything stands in for the relay.
//!
//!     cargo bench --bench mail
//!     BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     BENCH_KAFKA_BROKERS=127.0.0.1:9092 cargo bench --features kafka --bench mail

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agora::platform::config::{MailTransport, QueueBackend, SmtpTls};
use agora::{Application, Settings};
use futures::StreamExt;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sea_query::{Alias, Expr, Query};
use serde_json::json;

mod support;

const EMAILS: usize = 1_000;
const CONCURRENCY: usize = 16;

const SERVER: &str = r#"
import sys, time
from aiosmtpd.controller import Controller

class Accept:
    async def handle_DATA(self, server, session, envelope):
        return '250 2.0.0 accepted'

Controller(Accept(), hostname='127.0.0.1', port=int(sys.argv[1])).start()
while True:
    time.sleep(3600)
"#;

struct Smtp(Child, u16);

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_smtp(dir: &Path) -> Smtp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = dir.join("smtp.py");
    std::fs::write(&script, SERVER).unwrap();
    let child = Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    Smtp(child, port)
}

/// Emails/s the SMTP server takes from lettre directly, `connections` at a time.
async fn direct_blast(port: u16, connections: u32) -> f64 {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(connections))
        .build();
    let started = Instant::now();
    futures::stream::iter(0..EMAILS)
        .map(|i| {
            let transport = transport.clone();
            async move {
                let message = lettre::Message::builder()
                    .from("Bench <bench@example.com>".parse().unwrap())
                    .to(format!("rcpt{i}@example.com").parse().unwrap())
                    .subject(format!("Direct {i}"))
                    .body("Hello".to_string())
                    .unwrap();
                transport.send(message).await.unwrap();
            }
        })
        .buffer_unordered(connections as usize)
        .collect::<Vec<()>>()
        .await;
    EMAILS as f64 / started.elapsed().as_secs_f64()
}

async fn sent_count(app_db: &agora::platform::db::Db) -> i64 {
    let (n,): (i64,) = app_db
        .fetch_one(
            Query::select()
                .expr(Expr::col(Alias::new("id")).count())
                .from(Alias::new("mail_emails"))
                .and_where(Expr::col(Alias::new("status")).eq("sent")),
        )
        .await
        .unwrap();
    n
}

async fn run(label: &str, url: String, data_dir: &Path, smtp_port: u16, kafka: Option<String>) {
    let mut settings = Settings::load_from(Path::new("/nonexistent"), std::iter::empty()).unwrap();
    settings.data_dir = data_dir.to_path_buf();
    settings.database.url = url;
    settings.server.port = 0;
    settings.server.rate_limit.enabled = false;
    settings.set("auth.rate_limit.enabled", false);
    settings.set("mail.per_user_per_minute", 1_000_000);
    settings.set("mail.global_per_second", 1_000_000);
    settings.mailer.transport = MailTransport::Smtp;
    settings.mailer.smtp.host = "127.0.0.1".into();
    settings.mailer.smtp.port = smtp_port;
    settings.mailer.smtp.tls = SmtpTls::None;
    if let Some(brokers) = kafka {
        settings.queue.backend = QueueBackend::Kafka;
        settings.queue.kafka.brokers = brokers;
        settings.queue.kafka.namespace = format!("bench-{}", uuid::Uuid::new_v4().simple());
    }
    // As many at once as the queue hands the mailer (its batch).
    let connections = settings.queue.batch_size;
    let app = Application::builder(settings).build().await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let db = app.platform().db.clone();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let registered = support::post(
        &client,
        format!("{base}/api/v1/auth/register"),
        None,
        json!({"email": "bench@example.com", "password": "correct horse battery staple", "name": "Bench"}),
    )
    .await;
    let token = registered["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let direct = direct_blast(smtp_port, connections).await;
    let started = Instant::now();
    futures::stream::iter(0..EMAILS)
        .map(|i| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                let r = client
                    .post(format!("{base}/api/v1/emails/send"))
                    .bearer_auth(&token)
                    .json(&json!({"to": [format!("rcpt{i}@example.com")], "subject": format!("Bench {i}"), "text": "Hello"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let accepted = started.elapsed().as_secs_f64();
    while sent_count(&db).await < EMAILS as i64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let end_to_end = EMAILS as f64 / started.elapsed().as_secs_f64();
    println!(
        "{label}: {EMAILS} emails accepted at {:.0}/s, delivered end to end at {end_to_end:.0}/s; \
         the SMTP server takes {direct:.0}/s from lettre directly ({:.0} %)",
        EMAILS as f64 / accepted,
        100.0 * end_to_end / direct
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = start_smtp(dir.path());
    let kafka = std::env::var("BENCH_KAFKA_BROKERS").ok();
    let mut queues = vec![("database", None)];
    if cfg!(feature = "kafka") {
        if let Some(brokers) = kafka {
            queues.push(("kafka", Some(brokers)));
        }
    }
    for (queue, brokers) in queues {
        let sqlite = format!(
            "sqlite://{}",
            dir.path().join(format!("{queue}.db")).display()
        );
        let data = dir.path().join(format!("sqlite-{queue}"));
        run(
            &format!("sqlite + {queue} queue"),
            sqlite,
            &data,
            smtp.1,
            brokers.clone(),
        )
        .await;
        if let Some(db) = support::PostgresDatabase::from_env().await {
            let data = dir.path().join(format!("postgres-{queue}"));
            run(
                &format!("postgres + {queue} queue"),
                db.url.clone(),
                &data,
                smtp.1,
                brokers,
            )
            .await;
            db.drop().await;
        }
    }
}
