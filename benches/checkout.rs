//! Checkout throughput and latency: 16 clients placing orders over 10 hot products for 10 s,
//! in one process or against a split deployment (orders and catalog in two processes).
//!
//!     cargo bench --bench checkout                       one process, SQLite
//!     BENCH_POSTGRES_URL=postgres://... cargo bench --bench checkout
//!     BENCH_AUTH_URL=http://.. BENCH_CATALOG_URL=http://.. BENCH_ORDERS_URL=http://.. \
//!         cargo bench --bench checkout                   any running deployment
//!
//! `scripts/split_checks.py BIN_DIR bench` runs the last form against the split processes
//! and against the one-process binary on the same PostgreSQL and broker.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora::{Application, Settings};
use serde_json::json;
use support::post;

mod support;

const RUN: Duration = Duration::from_secs(10);
const CONCURRENCY: usize = 16;

struct Urls {
    auth: String,
    catalog: String,
    orders: String,
}

async fn measure(label: &str, urls: &Urls) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let register = |who: &str| {
        post(
            &client,
            format!("{}/api/v1/auth/register", urls.auth),
            None,
            json!({"email": format!("{who}-{run}@example.com"),
                   "password": "correct horse battery staple", "name": "Bench"}),
        )
    };
    let seller = register("seller").await;
    let seller_token = seller["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let store = support::own_store(&client, &urls.catalog, &seller_token).await;
    let mut products = Vec::new();
    for i in 0..10 {
        let body = json!({"store_id": store, "name": format!("Hot product {i}"),
                          "sku": format!("hot-{run}-{i}"), "price": 1000 + i, "currency": "EUR",
                          "stock": 1_000_000});
        let url = format!("{}/api/v1/products", urls.catalog);
        products.push(post(&client, url, Some(&seller_token), body).await["id"].clone());
    }
    let buyer = register("buyer").await;
    let token = buyer["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let address = post(
        &client,
        format!("{}/api/v1/addresses", urls.orders),
        Some(&token),
        json!({"label": "Home", "recipient": "B", "street": "1 Road", "city": "Town",
               "postal_code": "1000", "country": "NL"}),
    )
    .await;

    let started = Instant::now();
    let products = Arc::new(products);
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|w| {
            let (client, token, products) = (client.clone(), token.clone(), products.clone());
            let (orders, address) = (
                format!("{}/api/v1/orders", urls.orders),
                address["id"].clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = w;
                while started.elapsed() < RUN {
                    let body = json!({"address_id": address,
                                      "items": [{"product_id": products[n % 10], "quantity": 1}]});
                    let t = Instant::now();
                    let r = client
                        .post(&orders)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
                    latencies.push(t.elapsed());
                    n += 1;
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
    println!(
        "{label}: {:.0} orders/s, p50 {:.1} ms, p99 {:.1} ms ({} orders, {CONCURRENCY} clients, 10 hot products)",
        latencies.len() as f64 / elapsed,
        p(0.5),
        p(0.99),
        latencies.len()
    );
}

async fn in_process(label: &str, url: String, data_dir: &Path) {
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
    let urls = Urls {
        auth: base.clone(),
        catalog: base.clone(),
        orders: base,
    };
    measure(label, &urls).await;
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::main]
async fn main() {
    if let (Ok(auth), Ok(catalog), Ok(orders)) = (
        std::env::var("BENCH_AUTH_URL"),
        std::env::var("BENCH_CATALOG_URL"),
        std::env::var("BENCH_ORDERS_URL"),
    ) {
        let label = std::env::var("BENCH_LABEL").unwrap_or_else(|_| "deployment".into());
        measure(
            &label,
            &Urls {
                auth,
                catalog,
                orders,
            },
        )
        .await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    in_process("one process, sqlite", sqlite, &dir.path().join("sqlite")).await;
    if let Some(db) = support::PostgresDatabase::from_env().await {
        in_process(
            "one process, postgres",
            db.url.clone(),
            &dir.path().join("postgres"),
        )
        .await;
        db.drop().await;
    }
}
