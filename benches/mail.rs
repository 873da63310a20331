//! Emails per second end to end (accepted by `POST /emails/send` until the SMTP server took
//! them), against what the same SMTP server takes in the same run from a plain client that
//! keeps its connections and never stalls (Python's smtplib, one thread per connection, as
//! many connections as Agora's `mailer.smtp.pool_max`). An aiosmtpd server (python3 with
//! aiosmtpd) that accepts everything stands in for the relay.
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

/// `total` emails over `connections` connections, each kept for all its emails; prints the
/// rate. One `sendall` per message, dot included: no wait on a delayed acknowledgement.
const PLAIN_CLIENT: &str = r#"
import smtplib, sys, threading, time
from email.message import EmailMessage

port, total, connections = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def sender(first):
    with smtplib.SMTP('127.0.0.1', port) as smtp:
        for i in range(first, total, connections):
            m = EmailMessage()
            m['From'], m['To'], m['Subject'] = 'bench@example.com', f'rcpt{i}@example.com', f'Plain {i}'
            m.set_content('Hello')
            smtp.send_message(m)

started = time.monotonic()
threads = [threading.Thread(target=sender, args=(k,)) for k in range(connections)]
for t in threads: t.start()
for t in threads: t.join()
print(total / (time.monotonic() - started))
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

/// Emails/s the SMTP server takes from smtplib, `connections` at a time.
fn plain_client(dir: &Path, port: u16, connections: u32) -> f64 {
    let script = dir.join("plain_client.py");
    std::fs::write(&script, PLAIN_CLIENT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .args([port as usize, EMAILS, connections as usize].map(|n| n.to_string()))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
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
    let connections = settings.mailer.smtp.pool_max;
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

    let plain = plain_client(data_dir.parent().unwrap(), smtp_port, connections);
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
         the SMTP server takes {plain:.0}/s from smtplib over {connections} connections: ratio {:.2}",
        EMAILS as f64 / accepted,
        end_to_end / plain
    );
    support::figure(
        "mail end to end / smtplib into the same server",
        label,
        end_to_end / plain,
        ">= 0.85",
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
