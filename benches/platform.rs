//! Throughput of the platform on each backend: queue publish and drain rates, and HTTP
//! requests per second through the whole middleware stack.
//!
//!     cargo bench --bench platform
//!     BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench platform
//!
//! Each backend gets a fresh database (a temp SQLite file, or `bench_<uuid>` on PostgreSQL).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora::platform::queue::{publish, Consumer, HandlerError, Message, Outgoing};
use agora::{Application, Settings};
use async_trait::async_trait;

mod support;

const MESSAGES: usize = 5_000;
const PER_TRANSACTION: usize = 100;
const HTTP_REQUESTS: usize = 5_000;
const HTTP_CONCURRENCY: usize = 32;

struct Counter(Arc<AtomicUsize>);

#[async_trait]
impl Consumer for Counter {
    fn group(&self) -> &str {
        "bench"
    }
    fn topics(&self) -> Vec<String> {
        vec!["bench.event".into()]
    }
    async fn handle(&self, _: &Message) -> Result<(), HandlerError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn run(label: &str, url: String, data_dir: &Path) {
    let mut settings = Settings::load_from(Path::new("/nonexistent"), std::iter::empty()).unwrap();
    settings.data_dir = data_dir.to_path_buf();
    settings.database.url = url;
    settings.server.port = 0;
    settings.server.rate_limit.enabled = false;
    settings.queue.batch_size = 64;
    settings.queue.poll_interval_ms = 50;

    let handled = Arc::new(AtomicUsize::new(0));
    let app = Application::builder(settings)
        .consumer(Arc::new(Counter(handled.clone())))
        .build()
        .await
        .unwrap();
    let db = app.platform().db.clone();
    let addr = app.local_addr();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run());

    let started = Instant::now();
    for batch in 0..MESSAGES / PER_TRANSACTION {
        let mut tx = db.begin().await.unwrap();
        for i in 0..PER_TRANSACTION {
            let payload = serde_json::json!({ "n": batch * PER_TRANSACTION + i });
            publish(
                &mut tx,
                Outgoing::new("bench.event", format!("k{i}"), &payload),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let published = started.elapsed();
    while handled.load(Ordering::Relaxed) < MESSAGES {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed();
    println!(
        "{label}: published {MESSAGES} messages in {:.2} s ({:.0}/s, {PER_TRANSACTION} per transaction); \
         all handled after {:.2} s ({:.0}/s end to end)",
        published.as_secs_f64(),
        MESSAGES as f64 / published.as_secs_f64(),
        drained.as_secs_f64(),
        MESSAGES as f64 / drained.as_secs_f64(),
    );

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{addr}/api/v1/info");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..HTTP_CONCURRENCY {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < HTTP_REQUESTS {
                let t = Instant::now();
                let r = client.get(&url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{label}: GET /api/v1/info x{HTTP_REQUESTS} at concurrency {HTTP_CONCURRENCY}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        HTTP_REQUESTS as f64 / elapsed.as_secs_f64(),
        p(0.50).as_secs_f64() * 1000.0,
        p(0.99).as_secs_f64() * 1000.0,
    );

    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    run("sqlite", sqlite, dir.path()).await;

    if let Some(db) = support::PostgresDatabase::from_env().await {
        run("postgres", db.url.clone(), dir.path()).await;
        db.drop().await;
    }
}
