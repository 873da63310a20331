//! Checkout throughput and latency: 16 clients placing orders over 10 hot products for 10 s,
//! in one process or against a split deployment (orders and catalog in two processes). On
//! PostgreSQL, `pgbench` then runs a checkout's core statements (the conditional stock
//! decrement, the order and item inserts, in one transaction) with as many clients, for as
//! long, on the same database and products: the ceiling the API is measured against.
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

/// What a run placed its orders on, for pgbench to use the same rows.
struct Placed {
    store: String,
    buyer: String,
    products: Vec<String>,
    orders_per_second: f64,
    p99_ms: f64,
}

async fn measure(label: &str, urls: &Urls) -> Placed {
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

    let orders = format!("{}/api/v1/orders", urls.orders);
    let (orders_per_second, p50_ms, p99_ms, how) =
        match wrk_orders(&orders, &token, &address["id"], &products) {
            Some(m) => (m.rps, m.p50_ms, m.p99_ms, "from wrk".to_string()),
            None => {
                let (rate, p50, p99, n) =
                    orders_in_process(&client, &orders, &token, &address["id"], &products).await;
                (
                    rate,
                    p50,
                    p99,
                    format!("{n} orders from a client in this process"),
                )
            }
        };
    println!(
        "{label}: {orders_per_second:.0} orders/s, p50 {p50_ms:.1} ms, p99 {p99_ms:.1} ms ({CONCURRENCY} clients, 10 hot products, {how})"
    );
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    Placed {
        store: store.clone(),
        buyer: text(&buyer["user"]["id"]),
        products: products.iter().map(text).collect(),
        orders_per_second,
        p99_ms,
    }
}

/// Orders from wrk, one hot product after another, with as many connections as clients.
fn wrk_orders(
    url: &str,
    token: &str,
    address: &serde_json::Value,
    products: &[serde_json::Value],
) -> Option<support::Measured> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("orders.lua");
    let bodies: Vec<String> = products
        .iter()
        .map(|p| {
            let body = json!({"address_id": address, "items": [{"product_id": p, "quantity": 1}]});
            format!("'{body}'")
        })
        .collect();
    std::fs::write(
        &script,
        format!(
            "local bodies = {{{}}}\n\
             local n = 0\n\
             wrk.method = 'POST'\n\
             wrk.headers['Content-Type'] = 'application/json'\n\
             wrk.headers['Authorization'] = 'Bearer {token}'\n\
             request = function()\n  n = n + 1\n  \
             return wrk.format(nil, nil, nil, bodies[n % #bodies + 1])\nend\n",
            bodies.join(", ")
        ),
    )
    .unwrap();
    support::wrk(url, CONCURRENCY, RUN.as_secs(), Some(&script))
}

/// Orders from `CONCURRENCY` clients in this process, which share its cores: (orders/s,
/// p50 ms, p99 ms, orders), when wrk is not installed.
async fn orders_in_process(
    client: &reqwest::Client,
    orders: &str,
    token: &str,
    address: &serde_json::Value,
    products: &[serde_json::Value],
) -> (f64, f64, f64, usize) {
    let started = Instant::now();
    let products = Arc::new(products.to_vec());
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|w| {
            let (client, token, products) = (client.clone(), token.to_string(), products.clone());
            let (orders, address) = (orders.to_string(), address.clone());
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
    (
        latencies.len() as f64 / elapsed,
        p(0.5),
        p(0.99),
        latencies.len(),
    )
}

/// The statements at the heart of a checkout, one script per hot product (pgbench picks one
/// at random for each transaction), run with `-M prepared` as the API's driver does.
fn pgbench_scripts(dir: &Path, placed: &Placed) -> Vec<String> {
    placed
        .products
        .iter()
        .enumerate()
        .map(|(i, product)| {
            let script = format!(
                "BEGIN;\n\
                 UPDATE catalog_products SET stock = stock - 1, updated_at = now() \
                 WHERE id = '{product}' AND is_active AND stock >= 1 \
                 RETURNING store_id, name, sku, price, currency, stock, low_stock_threshold;\n\
                 INSERT INTO orders (id, buyer_id, store_id, address, status, total, currency, \
                 request_hash, expires_at, created_at, updated_at) VALUES (gen_random_uuid(), \
                 '{buyer}', '{store}', '{{\"city\": \"Town\"}}', 'pending_payment', 1000, 'EUR', \
                 'pgbench', now() + interval '15 minutes', now(), now()) RETURNING id AS order_id \\gset\n\
                 INSERT INTO order_items (order_id, product_id, name, sku, unit_price, quantity) \
                 VALUES (:order_id, '{product}', 'Hot product', 'hot', 1000, 1);\n\
                 COMMIT;\n",
                buyer = placed.buyer,
                store = placed.store,
            );
            let path = dir.join(format!("checkout-{i}.sql"));
            std::fs::write(&path, script).unwrap();
            format!("{}@1", path.display())
        })
        .collect()
}

/// pgbench with the API's clients and duration on `url`: (transactions/s, p99 ms).
fn pgbench(url: &str, dir: &Path, placed: &Placed) -> (f64, f64) {
    let mut args = vec![
        "-n".to_string(),
        "-M".into(),
        "prepared".into(),
        "-c".into(),
        CONCURRENCY.to_string(),
        "-j".into(),
        "2".into(),
        "-T".into(),
        RUN.as_secs().to_string(),
        "-l".into(),
        "--log-prefix".into(),
        dir.join("pgbench").display().to_string(),
    ];
    for script in pgbench_scripts(dir, placed) {
        args.extend(["-f".into(), script]);
    }
    args.push(url.to_string());
    let out = std::process::Command::new("pgbench")
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("pgbench (postgresql-client)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tps = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("pgbench prints tps");
    // Per-transaction logs: the third field is the latency in microseconds.
    let mut latencies: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("pgbench.")
        })
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| l.split_whitespace().nth(2).and_then(|n| n.parse().ok()))
        .collect();
    latencies.sort_unstable();
    let p99 = latencies
        .get(latencies.len() * 99 / 100)
        .copied()
        .unwrap_or_default() as f64
        / 1000.0;
    (tps, p99)
}

async fn in_process(label: &str, url: String, data_dir: &Path) -> Placed {
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
    let placed = measure(label, &urls).await;
    shutdown.cancel();
    server.await.unwrap().unwrap();
    placed
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
        let placed = in_process(
            "one process, postgres",
            db.url.clone(),
            &dir.path().join("postgres"),
        )
        .await;
        let logs = dir.path().join("pgbench");
        std::fs::create_dir_all(&logs).unwrap();
        let (tps, p99) = pgbench(&db.url, &logs, &placed);
        println!(
            "pgbench, the same statements on the same database: {tps:.0} transactions/s, p99 {p99:.1} ms; \
             the API reaches {:.2} of its rate, p99 {:.1}x",
            placed.orders_per_second / tps,
            placed.p99_ms / p99
        );
        support::figure(
            "checkout orders/s / pgbench transactions/s",
            "postgres",
            placed.orders_per_second / tps,
            ">= 0.50",
        );
        db.drop().await;
    }
}
