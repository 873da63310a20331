//! Resident memory of the release server (`agora serve`, a process of its own) through bursts:
//! a login storm, uploads at `files.max_bytes`, and email sends with such files attached. For
//! each: the peak while it runs and what is left 5 s after it ends.
//!
//!     cargo bench --bench memory
//!     BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench memory

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{get, post};

mod support;

const CLIENTS: usize = 16;
const STORM: Duration = Duration::from_secs(10);
const SETTLE: Duration = Duration::from_secs(5);
/// Uploads and emails per client.
const EACH: usize = 4;
const MAX_BYTES: usize = 5 * 1024 * 1024;
const PASSWORD: &str = "correct horse battery staple";

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(database_url: &str, data_dir: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_agora"))
            .arg("serve")
            .env("AGORA__DATA_DIR", data_dir)
            .env("AGORA__DATABASE__URL", database_url)
            .env("AGORA__SERVER__PORT", port.to_string())
            .env("AGORA__SERVER__RATE_LIMIT__ENABLED", "false")
            .env("AGORA__AUTH__RATE_LIMIT__ENABLED", "false")
            .env("AGORA__AUTH__REQUIRE_VERIFIED_EMAIL", "false")
            .env("AGORA__FILES__MAX_BYTES", MAX_BYTES.to_string())
            .env("AGORA__LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set of `pid` in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// Samples RSS every 20 ms while `work` runs; (peak during, 5 s after) in MiB.
async fn measure<F: std::future::Future<Output = ()>>(pid: u32, work: F) -> (f64, f64) {
    let peak = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, running) = (peak.clone(), running.clone());
        tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                peak.fetch_max(rss_mib(pid).to_bits(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    work.await;
    running.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let peak = f64::from_bits(peak.load(Ordering::Relaxed)).max(rss_mib(pid));
    tokio::time::sleep(SETTLE).await;
    (peak, rss_mib(pid))
}

async fn run(label: &str, database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(database_url, dir.path());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = server.base.clone();
    let started = Instant::now();
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut tokens = Vec::new();
    for i in 0..CLIENTS {
        let email = format!("user{i}@example.com");
        let user = post(
            &client,
            format!("{base}/api/v1/auth/register"),
            None,
            json!({"email": email, "password": PASSWORD, "name": "Bench"}),
        )
        .await;
        tokens.push(user["tokens"]["access_token"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(SETTLE).await;
    let idle = rss_mib(server.pid());

    let logins = Arc::new(AtomicU64::new(0));
    let storm = async {
        let until = Instant::now() + STORM;
        let workers: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (client, base, logins) = (client.clone(), base.clone(), logins.clone());
                tokio::spawn(async move {
                    while Instant::now() < until {
                        post(
                            &client,
                            format!("{base}/api/v1/auth/login"),
                            None,
                            json!({"email": format!("user{i}@example.com"), "password": PASSWORD}),
                        )
                        .await;
                        logins.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
    };
    let (storm_peak, storm_after) = measure(server.pid(), storm).await;

    let file_ids = Arc::new(std::sync::Mutex::new(vec![Vec::new(); CLIENTS]));
    let uploads = async {
        let body = vec![b'a'; MAX_BYTES - 1024];
        let workers: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let (client, base, token, body, ids) = (
                    client.clone(),
                    base.clone(),
                    token.clone(),
                    body.clone(),
                    file_ids.clone(),
                );
                tokio::spawn(async move {
                    for n in 0..EACH {
                        let part = reqwest::multipart::Part::bytes(body.clone())
                            .file_name(format!("notes-{n}.txt"));
                        let form = reqwest::multipart::Form::new().part("file", part);
                        let response = client
                            .post(format!("{base}/api/v1/files"))
                            .bearer_auth(&token)
                            .multipart(form)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(response.status(), 201);
                        let file: Value = response.json().await.unwrap();
                        ids.lock().unwrap()[i].push(file["id"].as_str().unwrap().to_string());
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
    };
    let (upload_peak, upload_after) = measure(server.pid(), uploads).await;

    let sends = async {
        let ids = file_ids.lock().unwrap().clone();
        let workers: Vec<_> = tokens
            .iter()
            .zip(ids)
            .map(|(token, ids)| {
                let (client, base, token) = (client.clone(), base.clone(), token.clone());
                tokio::spawn(async move {
                    for n in 0..EACH {
                        let attachments = [&ids[n], &ids[(n + 1) % ids.len()]];
                        post(
                            &client,
                            format!("{base}/api/v1/emails/send"),
                            Some(&token),
                            json!({"to": ["bench@example.com"], "subject": format!("Files {n}"),
                                   "text": "Attached.", "attachments": attachments}),
                        )
                        .await;
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        // Until every email is delivered (to files under the data directory).
        let wanted = (CLIENTS * EACH) as u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut sent = 0;
            for token in &tokens {
                let page = get(
                    &client,
                    format!("{base}/api/v1/emails?status=sent&limit=1"),
                    token,
                )
                .await;
                sent += page["pagination"]["total"].as_u64().unwrap_or(0);
            }
            if sent >= wanted {
                break;
            }
            assert!(Instant::now() < deadline, "{sent} of {wanted} emails sent");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (mail_peak, mail_after) = measure(server.pid(), sends).await;

    let logins = logins.load(Ordering::Relaxed) as f64 / STORM.as_secs_f64();
    println!("{label}: idle {idle:.0} MiB");
    println!(
        "{label}: login storm ({CLIENTS} clients, {logins:.0} logins/s): peak {storm_peak:.0} MiB, 5 s after {storm_after:.0} MiB"
    );
    println!(
        "{label}: {} uploads of {} MiB ({CLIENTS} at a time): peak {upload_peak:.0} MiB, 5 s after {upload_after:.0} MiB",
        CLIENTS * EACH,
        MAX_BYTES / (1024 * 1024)
    );
    println!(
        "{label}: {} emails with two such files each ({CLIENTS} at a time): peak {mail_peak:.0} MiB, 5 s after {mail_after:.0} MiB",
        CLIENTS * EACH
    );
    let bound = "<= 150";
    support::figure("peak RSS in a login storm, MiB", label, storm_peak, bound);
    support::figure(
        "peak RSS in an upload burst, MiB",
        label,
        upload_peak,
        bound,
    );
    support::figure(
        "peak RSS in a burst of emails with attachments, MiB",
        label,
        mail_peak,
        bound,
    );
}

#[tokio::main]
async fn main() {
    // Empty: SQLite in the data directory.
    run("sqlite", "").await;
    if let Some(pg) = support::PostgresDatabase::from_env().await {
        run("postgres", &pg.url).await;
        pg.drop().await;
    }
}
