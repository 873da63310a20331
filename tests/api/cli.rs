//! The `agora` binary itself, as an operator runs it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::helpers::{client, eventually_blocking, TestDb, PATIENCE};

pub const AGORA: &str = env!("CARGO_BIN_EXE_agora");

/// `agora` with a clean environment (no AGORA_* from the caller) in `cwd`.
pub fn agora(cwd: &std::path::Path) -> Command {
    let mut cmd = Command::new(AGORA);
    cmd.current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

pub struct Running {
    pub child: Child,
    pub address: String,
    /// Every JSON log line the process printed so far.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `agora serve` on a free port and reads its address from the `listening` log line.
pub fn serve(mut cmd: Command) -> Running {
    let mut child = cmd
        .env("AGORA__SERVER__PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let collected = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let event = serde_json::from_str::<serde_json::Value>(&line)
                .unwrap_or_else(|_| panic!("log lines are JSON when not on a terminal: {line}"));
            if event["message"] == "listening" {
                let _ = tx.send(event["addr"].as_str().unwrap().to_string());
            }
            collected.lock().unwrap().push(event);
        }
    });
    let addr = rx
        .recv_timeout(PATIENCE)
        .expect("agora logs `listening` with its address");
    Running {
        child,
        address: format!("http://{addr}"),
        logs,
    }
}

/// `agora healthcheck --url URL`, as a container's HEALTHCHECK runs it.
fn healthcheck(cwd: &std::path::Path, url: &str) -> std::process::Output {
    agora(cwd)
        .args(["healthcheck", "--url", url])
        .output()
        .unwrap()
}

fn sigterm_and_wait(mut running: Running) -> std::process::ExitStatus {
    unsafe { libc::kill(running.child.id() as i32, libc::SIGTERM) };
    eventually_blocking("agora to stop on SIGTERM", || {
        running.child.try_wait().unwrap()
    })
}

#[tokio::test]
async fn starts_with_no_config_and_serves_on_the_database_under_test() {
    let db = TestDb::new().await;
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = agora(cwd.path());
    if db.is_postgres() {
        cmd.env("AGORA__DATABASE__URL", &db.url);
    }
    let running = serve(cmd);
    let http = client();
    for path in [
        "/health",
        "/readyz",
        "/metrics",
        "/swagger-ui/",
        "/api-docs/openapi.json",
    ] {
        let response = http
            .get(format!("{}{path}", running.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    if !db.is_postgres() {
        assert!(
            cwd.path().join("data/agora.db").exists(),
            "SQLite file created in ./data"
        );
    }
    assert!(
        cwd.path().join("data/outbox").is_dir(),
        "file mailer outbox created"
    );

    // What a container's HEALTHCHECK runs: 0 while ready, non-zero with the reason otherwise.
    let probe = healthcheck(cwd.path(), &format!("{}/readyz", running.address));
    assert!(probe.status.success(), "{probe:?}");
    assert!(
        String::from_utf8_lossy(&probe.stdout).ends_with(": 200\n"),
        "{probe:?}"
    );
    let missing = healthcheck(cwd.path(), &format!("{}/no-such-path", running.address));
    assert!(!missing.status.success(), "{missing:?}");
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("answered 404"),
        "{missing:?}"
    );

    // One access-log line per request, with request id, route, status and latency.
    let response = http
        .get(format!("{}/health", running.address))
        .header("x-request-id", "cli-log-check")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let logs = running.logs.clone();
    let address = running.address.clone();
    let status = sigterm_and_wait(running);
    assert!(status.success(), "{status}");
    let stopped = healthcheck(cwd.path(), &format!("{address}/readyz"));
    assert!(!stopped.status.success(), "{stopped:?}");
    // The reader thread may still be draining the pipe.
    eventually_blocking("the shutdown to be logged", || {
        let logs = logs.lock().unwrap();
        logs.iter().any(|l| l["message"] == "stopped").then_some(())
    });
    let logs = logs.lock().unwrap();
    let line = logs
        .iter()
        .find(|l| l["message"] == "request" && l["request_id"] == "cli-log-check")
        .unwrap_or_else(|| panic!("no access-log line in {logs:?}"));
    assert_eq!(line["route"], "/health");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
}

#[test]
fn config_check_names_a_wrong_key() {
    let cwd = tempfile::tempdir().unwrap();
    let output = agora(cwd.path())
        .args(["config", "check"])
        .env("AGORA__SERVER__PORT", "eighty")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.port"), "{stderr}");
}

#[test]
fn config_check_prints_effective_settings_with_secrets_masked() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("config")).unwrap();
    std::fs::write(
        cwd.path().join("config/production.toml"),
        "[server]\nport = 9443\n",
    )
    .unwrap();
    std::fs::write(cwd.path().join("smtp-password"), "s3cret-from-file\n").unwrap();
    let output = agora(cwd.path())
        .args(["config", "check"])
        .env("AGORA_ENV", "production")
        .env(
            "AGORA__MAILER__SMTP__PASSWORD_FILE",
            cwd.path().join("smtp-password"),
        )
        .env("AGORA__DATABASE__URL", "postgres://agora:dbsecret@db/agora")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("port = 9443"),
        "profile overlay applied: {stdout}"
    );
    assert!(stdout.contains("password = \"********\""), "{stdout}");
    assert!(
        !stdout.contains("s3cret") && !stdout.contains("dbsecret"),
        "{stdout}"
    );
}

#[test]
fn the_shipped_production_overlay_is_valid() {
    let cwd = tempfile::tempdir().unwrap();
    let config_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let output = agora(cwd.path())
        .args(["config", "check", "--config-dir"])
        .arg(&config_dir)
        .env("AGORA_ENV", "production")
        .env(
            "AGORA__DATABASE__URL",
            "postgres://agora:dbsecret@postgres/agora",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "data_dir = \"/var/lib/agora\"",
        "host = \"0.0.0.0\"",
        "transport = \"smtp\"",
        "format = \"json\"",
        "require_verified_email = true",
    ] {
        assert!(stdout.contains(line), "{line} in {stdout}");
    }
    assert!(!stdout.contains("dbsecret"), "{stdout}");
}

#[test]
fn openapi_prints_the_document() {
    let cwd = tempfile::tempdir().unwrap();
    let output = agora(cwd.path()).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(doc["paths"]["/readyz"].is_object());
    assert!(
        !cwd.path().join("data").exists(),
        "printing the document touches no database"
    );
}

#[tokio::test]
async fn migrate_applies_migrations_and_exits() {
    let db = TestDb::new().await;
    let cwd = tempfile::tempdir().unwrap();
    let output = agora(cwd.path())
        .arg("migrate")
        .env("AGORA__DATABASE__URL", &db.url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut settings = crate::helpers::test_settings(&db);
    settings.database.migrate_on_start = false;
    let conn = agora::platform::db::Db::connect(&settings).await.unwrap();
    assert!(conn
        .pending_migrations(&["platform", "auth", "catalog", "orders", "mail"])
        .await
        .unwrap()
        .is_empty());
    assert!(conn
        .schema()
        .await
        .unwrap()
        .contains_key("queue_deliveries"));
    conn.close().await;
}

struct AlwaysFails;

#[async_trait::async_trait]
impl agora::platform::queue::Consumer for AlwaysFails {
    fn group(&self) -> &str {
        "always-fails"
    }
    fn topics(&self) -> Vec<String> {
        vec![crate::queue::TOPIC.into()]
    }
    async fn handle(
        &self,
        _: &agora::platform::queue::Message,
    ) -> Result<(), agora::platform::queue::HandlerError> {
        Err(agora::platform::queue::HandlerError::Permanent(
            "refused by test".into(),
        ))
    }
}

fn run_json(cmd: &mut Command) -> serde_json::Value {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn queue_commands_list_and_replay_dead_letters() {
    let db = std::sync::Arc::new(TestDb::new().await);
    let app = crate::helpers::spawn_app_on(
        db.clone(),
        |_| {},
        |b| b.consumer(std::sync::Arc::new(AlwaysFails)),
    )
    .await;
    let mut tx = app.db.begin().await.unwrap();
    crate::queue::publish_one(&mut tx, "cli").await;
    tx.commit().await.unwrap();
    let queue = app.queue.clone();
    crate::helpers::eventually("a dead letter", || async {
        let (_, total) = queue.dead_letters(None, 1, 0).await.unwrap();
        (total == 1).then_some(())
    })
    .await;
    app.stop().await.unwrap();

    let cwd = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = agora(cwd.path());
        cmd.args(args).env("AGORA__DATABASE__URL", &db.url);
        cmd
    };
    let dead = run_json(&mut cli(&[
        "queue",
        "dead-letters",
        "--consumer",
        "always-fails",
    ]));
    assert_eq!(dead["total"], 1, "{dead}");
    assert_eq!(dead["data"][0]["last_error"], "refused by test");
    let delivery = dead["data"][0]["delivery_id"].as_str().unwrap().to_string();

    let replay = cli(&["queue", "replay", &delivery]).output().unwrap();
    assert!(replay.status.success());
    let again = cli(&["queue", "replay", &delivery]).output().unwrap();
    assert!(!again.status.success(), "only a dead delivery replays");
    assert!(String::from_utf8_lossy(&again.stderr).contains("no dead delivery"));

    let stats = run_json(&mut cli(&["queue", "stats"]));
    assert_eq!(
        stats,
        serde_json::json!([{"consumer": "always-fails", "pending": 1, "processing": 0, "dead": 0}])
    );
}

#[tokio::test]
async fn admin_create_makes_an_administrator_who_can_log_in() {
    let db = std::sync::Arc::new(TestDb::new().await);
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("pw"), "the admin passphrase\n").unwrap();
    let create = |email: &str, password_file: &str| {
        agora(cwd.path())
            .args([
                "admin",
                "create",
                "--email",
                email,
                "--password-file",
                password_file,
            ])
            .env("AGORA__DATABASE__URL", &db.url)
            .output()
            .unwrap()
    };
    let output = create("Root@Example.com", "pw");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("root@example.com"));

    let again = create("root@example.com", "pw");
    assert!(!again.status.success(), "the email is taken");
    std::fs::write(cwd.path().join("weak"), "short\n").unwrap();
    let weak = create("other@example.com", "weak");
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password: must be at least 10"));

    let app = crate::helpers::spawn_app_on(db.clone(), |_| {}, |b| b).await;
    let login = app.login("root@example.com", "the admin passphrase").await;
    assert_eq!(login.status(), 200);
    let token: serde_json::Value = login.json().await.unwrap();
    let users = app
        .get_auth("/api/v1/users", token["access_token"].as_str().unwrap())
        .await;
    assert_eq!(users.status(), 200, "an administrator lists users");
}

#[tokio::test]
async fn rotate_key_adds_a_newer_signing_key_and_keeps_the_old() {
    let cwd = tempfile::tempdir().unwrap();
    let keys = cwd.path().join("keys");
    let rotate = || {
        agora(cwd.path())
            .args(["auth", "rotate-key"])
            .env("AGORA__AUTH__JWT__KEYS_DIR", &keys)
            .output()
            .unwrap()
    };
    assert!(rotate().status.success());
    assert!(rotate().status.success());
    let pems = std::fs::read_dir(&keys).unwrap().count();
    assert_eq!(pems, 2);
}
