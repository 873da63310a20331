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

/// What wrk measured: requests/s, p50 and p99 in milliseconds.
#[allow(dead_code)]
pub struct Measured {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Load from wrk, a load generator in a process of its own (as a browser or proxy would
/// be), with `connections` for `seconds`, shaped by the Lua `script` when given; `None` when
/// wrk is not installed. Any answer other than 2xx fails the benchmark.
#[allow(dead_code)]
pub fn wrk(
    url: &str,
    connections: usize,
    seconds: u64,
    script: Option<&std::path::Path>,
) -> Option<Measured> {
    let mut args = vec![
        "-t2".to_string(),
        format!("-c{connections}"),
        format!("-d{seconds}s"),
        "--latency".into(),
    ];
    if let Some(script) = script {
        args.extend(["-s".into(), script.display().to_string()]);
    }
    args.push(url.to_string());
    let out = std::process::Command::new("wrk")
        .args(&args)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "{text}");
    let ms = |v: &str| {
        let (n, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
        let n: f64 = n.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1000.0,
            "s" => n * 1000.0,
            _ => n,
        }
    };
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("wrk printed no {prefix}: {text}"))
    };
    Some(Measured {
        rps: field("Requests/sec:").parse().unwrap(),
        p50_ms: ms(&field("50%")),
        p99_ms: ms(&field("99%")),
    })
}
