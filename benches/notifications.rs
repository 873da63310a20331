//! How long a buyer waits, after `POST /orders` answers, for the in-app notification on a
//! live stream: on the replica that took the order, and on another replica over the same
//! database. Default settings; orders one after another.
//!
//!     cargo bench --bench notifications
//!     BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench notifications

use std::path::Path;
use std::time::{Duration, Instant};

use agora::{Application, Settings};
use serde_json::{json, Value};
use support::post;
use tokio_util::sync::CancellationToken;

mod support;

const ORDERS: usize = 50;

/// Reads the `orders.placed` notifications off a `GET /notifications/stream` response.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(client: &reqwest::Client, base: &str, token: &str) -> Self {
        let response = client
            .get(format!("{base}/api/v1/notifications/stream"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// Waits for the next notification of the order placed last; returns when it came.
    async fn placed(&mut self) -> Instant {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data = block.lines().find_map(|l| l.strip_prefix("data:"));
                let event: Value = data
                    .and_then(|d| serde_json::from_str(d.trim()).ok())
                    .unwrap_or(Value::Null);
                if block.contains("event: notification") && event["event_type"] == "orders.placed" {
                    return Instant::now();
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("a notification within 30 s")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn start(
    url: &str,
    data_dir: &Path,
) -> (String, CancellationToken, tokio::task::JoinHandle<()>) {
    let mut settings = Settings::load_from(Path::new("/nonexistent"), std::iter::empty()).unwrap();
    settings.data_dir = data_dir.to_path_buf();
    settings.database.url = url.to_string();
    settings.server.port = 0;
    settings.server.rate_limit.enabled = false;
    settings.set("auth.rate_limit.enabled", false);
    let app = Application::builder(settings).build().await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(async move { app.run().await.unwrap() });
    (base, shutdown, server)
}

fn summary(label: &str, mut waits: Vec<Duration>) {
    waits.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| ms(waits[((waits.len() as f64 * q) as usize).min(waits.len() - 1)]);
    println!(
        "{label}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} orders)",
        p(0.5),
        p(0.99),
        ms(*waits.last().unwrap()),
        waits.len()
    );
}

async fn run(label: &str, url: String, data_dir: &Path) {
    // Replicas share the data directory, as they would a volume: the signing keys are there.
    let (here, stop_here, server_here) = start(&url, data_dir).await;
    let (there, stop_there, server_there) = start(&url, data_dir).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let register = |email: &str| {
        post(
            &client,
            format!("{here}/api/v1/auth/register"),
            None,
            json!({"email": email, "password": "correct horse battery staple", "name": "Bench"}),
        )
    };
    let token = |v: &Value| v["tokens"]["access_token"].as_str().unwrap().to_string();
    let seller = token(&register("seller@example.com").await);
    let buyer = token(&register("buyer@example.com").await);
    let store = support::own_store(&client, &here, &seller).await;
    let product = post(&client, format!("{here}/api/v1/products"), Some(&seller),
        json!({"store_id": store, "name": "Mug", "sku": "mug", "price": 1299, "currency": "EUR", "stock": 1_000_000}))
        .await["id"]
        .clone();
    let address = post(&client, format!("{here}/api/v1/addresses"), Some(&buyer),
        json!({"label": "Home", "recipient": "B", "street": "1 Road", "city": "Town", "postal_code": "1000", "country": "NL"}))
        .await["id"]
        .clone();

    let mut on_this = Stream::open(&client, &here, &buyer).await;
    let mut on_other = Stream::open(&client, &there, &buyer).await;
    let (mut this_waits, mut other_waits) = (Vec::new(), Vec::new());
    for _ in 0..ORDERS {
        let body =
            json!({"address_id": address, "items": [{"product_id": product, "quantity": 1}]});
        post(&client, format!("{here}/api/v1/orders"), Some(&buyer), body).await;
        let answered = Instant::now();
        let (a, b) = tokio::join!(on_this.placed(), on_other.placed());
        this_waits.push(a.saturating_duration_since(answered));
        other_waits.push(b.saturating_duration_since(answered));
    }
    summary(&format!("{label}, same replica"), this_waits);
    summary(&format!("{label}, other replica"), other_waits);

    drop((on_this, on_other));
    stop_here.cancel();
    stop_there.cancel();
    server_here.await.unwrap();
    server_there.await.unwrap();
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    run("sqlite", sqlite, &dir.path().join("sqlite")).await;
    if let Some(db) = support::PostgresDatabase::from_env().await {
        run("postgres", db.url.clone(), &dir.path().join("postgres")).await;
        db.drop().await;
    }
}
