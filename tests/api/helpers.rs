//! Test harness: every test gets the real application on port 0 with its own database, a
//! temp-file SQLite by default or a fresh PostgreSQL database when TEST_DATABASE_URL is set.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora::platform::clock::Clock;
use agora::platform::db::Db;
use agora::platform::queue::QueueBackend;
use agora::{Application, ApplicationBuilder, Settings};
use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// PostgreSQL server used when a test needs one whatever the backend under test.
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let settings = agora::platform::config::LogSettings {
            format: agora::platform::config::LogFormat::Pretty,
            level: "debug,sqlx=warn,hyper=info".into(),
        };
        let defaults = Settings::load_from(Path::new("/nonexistent"), std::iter::empty()).unwrap();
        agora::platform::telemetry::init(&settings, &defaults.telemetry);
    }
}

/// A database of its own: a SQLite file in a temp dir, or `test_<uuid>` on PostgreSQL.
pub struct TestDb {
    pub url: String,
    pub dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// The backend under test, chosen by TEST_DATABASE_URL.
    pub async fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => Self::postgres(&admin).await,
            _ => Self::sqlite(),
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("agora.db").display());
        Self {
            url,
            dir,
            postgres: None,
        }
    }

    pub async fn postgres(admin_url: &str) -> Self {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is needed: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let mut url = reqwest::Url::parse(admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        Self {
            url: url.to_string(),
            dir: tempfile::tempdir().unwrap(),
            postgres: Some((admin_url.to_string(), name)),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop is synchronous and may run inside a runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

/// Defaults with test-friendly timings: fast polling, short backoff, no rate limit in the way.
pub fn test_settings(db: &TestDb) -> Settings {
    let mut s = Settings::load_from(Path::new("/nonexistent"), std::iter::empty()).unwrap();
    s.data_dir = db.dir.path().join("data");
    s.database.url = db.url.clone();
    s.database.max_connections = 4;
    s.server.port = 0;
    s.server.shutdown_grace_secs = 5;
    s.server.rate_limit.per_second = 10_000;
    s.server.rate_limit.burst = 10_000;
    s.queue.poll_interval_ms = 20;
    s.queue.backoff_base_ms = 50;
    s.queue.backoff_max_ms = 2_000;
    s.queue.metrics_interval_secs = 1;
    // Cheap hashing and no auth rate limit; tests that measure these set them back.
    s.set("auth.password.memory_kib", 1024);
    s.set("auth.password.iterations", 1);
    s.set("auth.rate_limit.enabled", false);
    s.set("auth.revocation_check_secs", 1);
    s.set("mail.per_user_per_minute", 10_000);
    s.set("mail.global_per_second", 10_000);
    s
}

/// How a test sets up the queue: `on_database`, or `on_kafka` (feature `kafka`).
pub type QueueChoice = fn(&mut Settings);

/// The default: the queue in the database.
pub fn on_database(_: &mut Settings) {}

/// The queue on the Kafka broker named by TEST_KAFKA_BROKERS (scripts/test.sh runs tansu),
/// in a namespace of the test's own so tests sharing the broker never see each other.
#[cfg(feature = "kafka")]
pub fn on_kafka(s: &mut Settings) {
    let brokers = std::env::var("TEST_KAFKA_BROKERS")
        .expect("TEST_KAFKA_BROKERS: a Kafka-protocol broker (scripts/test.sh starts tansu)");
    s.queue.backend = agora::platform::config::QueueBackend::Kafka;
    s.queue.kafka.brokers = brokers;
    s.queue.kafka.namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    s.queue.kafka.partitions = 2;
    s.queue.kafka.session_timeout_ms = 6000;
    s.queue.kafka.relay_interval_ms = 20;
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub queue: Arc<dyn QueueBackend>,
    pub data_dir: std::path::PathBuf,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<anyhow::Result<()>>,
    /// The application's clock: `advance` it to let business time pass without waiting.
    pub clock: Clock,
    /// Keeps the database alive as long as the app (shared by apps on one database).
    pub _test_db: Arc<TestDb>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.handle.await.unwrap()
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The application on a fresh database with test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, |b| b).await
}

/// Like `spawn_app`, with settings and builder adjustments (extra routes, consumers).
pub async fn spawn_app_with(
    settings: impl FnOnce(&mut Settings),
    builder: impl FnOnce(ApplicationBuilder) -> ApplicationBuilder,
) -> TestApp {
    let db = Arc::new(TestDb::new().await);
    spawn_app_on(db, settings, builder).await
}

/// The application on an existing test database: several on one database act as replicas.
pub async fn spawn_app_on(
    test_db: Arc<TestDb>,
    settings: impl FnOnce(&mut Settings),
    builder: impl FnOnce(ApplicationBuilder) -> ApplicationBuilder,
) -> TestApp {
    init_logs();
    let mut s = test_settings(&test_db);
    settings(&mut s);
    let data_dir = s.data_dir.clone();
    let app = builder(Application::builder(s))
        .build()
        .await
        .expect("application builds");
    let address = format!("http://{}", app.local_addr());
    let db = app.platform().db.clone();
    let queue = app.platform().queue.clone();
    let clock = app.platform().clock.clone();
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(app.run());
    TestApp {
        address,
        client: client(),
        db,
        queue,
        data_dir,
        shutdown,
        handle,
        clock,
        _test_db: test_db,
    }
}

/// How long a test waits for an effect of background work before it fails. Generous on
/// purpose: a busy machine may be many times slower than an idle one, and a test that waits
/// for an effect passes the moment it appears, so patience costs nothing when all is well.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often the wait helpers look again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it returns Some, or panics after `PATIENCE` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match poll_until(PATIENCE, check).await {
        Some(value) => value,
        None => panic!("timed out after {PATIENCE:?} waiting for {what}"),
    }
}

/// Polls `check` until it returns Some, or gives up with None after `within`.
pub async fn poll_until<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Blocks until `check` returns Some, or panics after `PATIENCE` naming `what`: for child
/// processes and threads outside the runtime.
pub fn eventually_blocking<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// Blocks until the child process accepts connections on the port of 127.0.0.1; panics at
/// once, with what it wrote to stderr when piped, if it exits first.
pub fn wait_for_child_port(what: &str, child: &mut std::process::Child, port: u16) {
    eventually_blocking(&format!("{what} on port {port}"), || {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                use std::io::Read;
                let _ = stderr.read_to_string(&mut err);
            }
            panic!(
                "{what} exited ({status}) (is aiosmtpd installed? `pip install aiosmtpd`): {err}"
            );
        }
        None
    });
}

/// Waits until the queue has nothing waiting or running for any consumer group: the
/// positive sign that background work is over, so a count read after it is final.
pub async fn queue_idle(app: &TestApp) {
    eventually("the queue to be idle", || async {
        let stats = app.queue.stats().await.unwrap();
        stats
            .iter()
            .all(|s| s.pending == 0 && s.processing == 0)
            .then_some(())
    })
    .await;
}

/// Waits until `/metrics` has a line that starts with `needle` (a metric with its labels
/// and value): a counter is bumped right after the change it counts is committed.
pub async fn metric_eventually(app: &TestApp, needle: &str) -> String {
    eventually(&format!("the metric `{needle}`"), || async {
        let metrics = app.metrics().await;
        metrics
            .lines()
            .any(|l| l.starts_with(needle))
            .then_some(metrics)
    })
    .await
}

/// Sends until the first 429 (at most `max` requests) and checks that a token bucket of
/// `burst` refilled at `per_second` let through what it should: at least the burst, and no
/// more than the refills the elapsed time allows (a busy machine only adds refills). Returns
/// the 429.
pub async fn limited_after_the_burst<F, Fut>(
    burst: u32,
    per_second: u32,
    max: u32,
    mut send: F,
) -> reqwest::Response
where
    F: FnMut() -> Fut,
    Fut: Future<Output = reqwest::Response>,
{
    let started = Instant::now();
    for passed in 0..max {
        let response = send().await;
        if response.status() == 429 {
            let refills = (started.elapsed().as_secs_f64() * per_second as f64).ceil() as u32;
            assert!(
                passed >= burst && passed <= burst + refills,
                "{passed} passed before the 429: burst {burst}, at most {refills} refills"
            );
            return response;
        }
    }
    panic!("no 429 in {max} requests");
}

/// Asserts a problem+json response and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response.headers().get("x-request-id").cloned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:agora:problem:"),
        "{body}"
    );
    assert!(!body["title"].as_str().unwrap().is_empty());
    assert!(!body["detail"].as_str().unwrap().is_empty());
    let request_id = request_id.expect("x-request-id header");
    assert_eq!(body["request_id"], request_id.to_str().unwrap());
    body
}
