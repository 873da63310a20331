//! What the benchmarks share: a throwaway PostgreSQL database and a JSON POST.

use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};

/// A fresh database on the server named by `BENCH_POSTGRES_URL`, dropped by `drop`.
pub struct PostgresDatabase {
    admin: PgConnection,
    name: String,
    pub url: String,
}

impl PostgresDatabase {
    /// None when `BENCH_POSTGRES_URL` is not set: the benchmark runs on SQLite only.
    pub async fn from_env() -> Option<Self> {
        let admin_url = std::env::var("BENCH_POSTGRES_URL").ok()?;
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap();
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let mut url = reqwest::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        Some(Self {
            admin,
            name,
            url: url.to_string(),
        })
    }

    pub async fn drop(mut self) {
        self.admin
            .execute(format!("DROP DATABASE {} WITH (FORCE)", self.name).as_str())
            .await
            .unwrap();
    }
}

/// POSTs `body` (with a bearer token when given) and returns the JSON answer; a failure
/// stops the benchmark with the server's words.
#[allow(dead_code)] // not every benchmark posts
pub async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> Value {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    response.json().await.unwrap()
}

/// The id of the store Agora creates for a new account (from its registration event).
#[allow(dead_code)] // not every benchmark has a shop
pub async fn own_store(client: &reqwest::Client, base: &str, token: &str) -> String {
    loop {
        let stores = get(client, format!("{base}/api/v1/stores"), token).await;
        if let Some(id) = stores["data"][0]["id"].as_str() {
            return id.to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// GETs `url` with a bearer token and returns the JSON answer.
#[allow(dead_code)] // not every benchmark reads
pub async fn get(client: &reqwest::Client, url: String, token: &str) -> Value {
    let response = client.get(url).bearer_auth(token).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    response.json().await.unwrap()
}

/// One figure for `scripts/bench.sh`'s table: a tab-separated line it picks out of the
/// output. `goal` says what the figure should reach (e.g. `>= 0.80`).
#[allow(dead_code)] // each bench uses what it needs of this module
pub fn figure(what: &str, setup: &str, value: f64, goal: &str) {
    println!("FIGURE\t{what}\t{setup}\t{value:.2}\t{goal}");
}
