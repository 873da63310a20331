//! The cached product listing against `/health` on the same run, and checkout throughput with
//! 10 hot products.
//!
//!     cargo bench --bench commerce
//!     BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench commerce

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora::{Application, Settings};
use serde_json::json;
use support::post;

mod support;

const REQUESTS: usize = 5_000;
/// Connections at once for the read comparison.
const CONCURRENCY: usize = 64;
const ORDER_RUN: Duration = Duration::from_secs(5);
const ORDER_CONCURRENCY: usize = 16;

/// (requests/s, p50 ms, p99 ms) for GETs of `url` at `CONCURRENCY`: from wrk, a load
/// generator in a process of its own (as a browser or proxy would be), when installed;
/// otherwise `REQUESTS` from a client inside this process, which then shares its cores and
/// pays for every body byte read on the server's threads.
async fn load(client: &reqwest::Client, url: &str) -> (f64, f64, f64) {
    match support::wrk(url, CONCURRENCY, 5, None) {
        Some(m) => (m.rps, m.p50_ms, m.p99_ms),
        None => load_in_process(client, url).await,
    }
}

async fn load_in_process(client: &reqwest::Client, url: &str) -> (f64, f64, f64) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.to_string(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < REQUESTS {
                    let t = Instant::now();
                    let r = client.get(&url).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let p = |q: f64| {
        latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    (REQUESTS as f64 / elapsed, p(0.5), p(0.99))
}

async fn run(label: &str, url: String, data_dir: &Path) {
    let mut settings = Settings::load_from(Path::new("/nonexistent"), std::iter::empty()).unwrap();
    settings.data_dir = data_dir.to_path_buf();
    settings.database.url = url;
    settings.server.port = 0;
    settings.server.rate_limit.enabled = false;
    settings.set("auth.rate_limit.enabled", false);
    let app = Application::builder(settings).build().await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let register = |email: &str| {
        post(
            &client,
            format!("{base}/api/v1/auth/register"),
            None,
            json!({"email": email, "password": "correct horse battery staple", "name": "Bench"}),
        )
    };
    let seller = register("seller@example.com").await;
    let seller_token = seller["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let store = support::own_store(&client, &base, &seller_token).await;
    let mut products = Vec::new();
    for i in 0..10 {
        let body = json!({"store_id": store, "name": format!("Hot product {i}"), "sku": format!("hot-{i}"),
                          "price": 1000 + i, "currency": "EUR", "stock": 1_000_000});
        products.push(
            post(
                &client,
                format!("{base}/api/v1/products"),
                Some(&seller_token),
                body,
            )
            .await["id"]
                .clone(),
        );
    }

    let (health_rps, health_p50, health_p99) = load(&client, &format!("{base}/health")).await;
    let (list_rps, list_p50, list_p99) = load(
        &client,
        &format!("{base}/api/v1/products?limit=20&sort=price"),
    )
    .await;
    println!("{label}: GET /health {health_rps:.0} req/s (p50 {health_p50:.2} ms, p99 {health_p99:.2} ms); \
              GET /products (cached page of 10) {list_rps:.0} req/s (p50 {list_p50:.2} ms, p99 {list_p99:.2} ms) \
              at {CONCURRENCY} connections: rate ratio {:.2}, p99 ratio {:.2}",
              list_rps / health_rps, list_p99 / health_p99);
    support::figure(
        "cached listing rate / /health rate, 64 connections",
        label,
        list_rps / health_rps,
        ">= 0.80",
    );
    support::figure(
        "cached listing p99 / /health p99, 64 connections",
        label,
        list_p99 / health_p99,
        "<= 2",
    );

    let buyer = register("buyer@example.com").await;
    let buyer_token = buyer["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let address = post(&client, format!("{base}/api/v1/addresses"), Some(&buyer_token),
        json!({"label": "Home", "recipient": "B", "street": "1 Road", "city": "Town", "postal_code": "1000", "country": "NL"})).await;
    let placed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..ORDER_CONCURRENCY)
        .map(|w| {
            let (client, base, token, placed) = (client.clone(), base.clone(), buyer_token.clone(), placed.clone());
            let (address, products) = (address["id"].clone(), products.clone());
            tokio::spawn(async move {
                let mut n = w;
                while started.elapsed() < ORDER_RUN {
                    let body = json!({"address_id": address, "items": [{"product_id": products[n % 10], "quantity": 1}]});
                    let r = client.post(format!("{base}/api/v1/orders")).bearer_auth(&token).json(&body).send().await.unwrap();
                    assert_eq!(r.status(), 201);
                    placed.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let orders = placed.load(Ordering::Relaxed);
    println!("{label}: {:.0} orders/s over 10 hot products at concurrency {ORDER_CONCURRENCY} ({orders} orders)",
        orders as f64 / started.elapsed().as_secs_f64());

    shutdown.cancel();
    server.await.unwrap().unwrap();
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
