//! Logins per second against raw argon2 hashes per second with the same parameters, and
//! `/health` latency while logins saturate the hashing pool.
//!
//!     cargo bench --bench auth

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora::{Application, Settings};
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

const RUN: Duration = Duration::from_secs(5);
const LOGIN_CONCURRENCY: usize = 16;

fn raw_hashes_per_second(settings: &Settings, threads: usize) -> f64 {
    let auth: agora::domains::auth::AuthSettings = settings.section("auth").unwrap();
    let p = &auth.password;
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (params, done) = (params.clone(), done.clone());
            std::thread::spawn(move || {
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                while started.elapsed() < RUN {
                    let salt = SaltString::generate(&mut OsRng);
                    argon2
                        .hash_password(b"correct horse battery staple", &salt)
                        .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// `/health` every 10 ms until `until`, sorted.
async fn health_latencies(client: &reqwest::Client, url: &str, until: Instant) -> Vec<Duration> {
    let mut latencies = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        assert_eq!(client.get(url).send().await.unwrap().status(), 200);
        latencies.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies.sort();
    latencies
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::load_from(Path::new("/nonexistent"), std::iter::empty()).unwrap();
    settings.data_dir = dir.path().to_path_buf();
    settings.server.port = 0;
    settings.server.rate_limit.enabled = false;
    settings.set("auth.rate_limit.enabled", false);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);

    let raw = raw_hashes_per_second(&settings, cores);
    let auth: agora::domains::auth::AuthSettings = settings.section("auth").unwrap();
    println!(
        "argon2id m={} KiB t={} p={}: {raw:.1} hashes/s on {cores} threads",
        auth.password.memory_kib, auth.password.iterations, auth.password.parallelism
    );

    let app = Application::builder(settings).build().await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = serde_json::json!({"email": "bench@example.com", "password": "correct horse battery staple", "name": "Bench"});
    assert_eq!(
        client
            .post(format!("{base}/api/v1/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );

    let idle = health_latencies(
        &client,
        &format!("{base}/health"),
        Instant::now() + Duration::from_secs(2),
    )
    .await;

    let logins = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut storm = Vec::new();
    for _ in 0..LOGIN_CONCURRENCY {
        let (client, base, body, logins) =
            (client.clone(), base.clone(), body.clone(), logins.clone());
        storm.push(tokio::spawn(async move {
            while started.elapsed() < RUN {
                let r = client
                    .post(format!("{base}/api/v1/auth/login"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                logins.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let busy = health_latencies(&client, &format!("{base}/health"), started + RUN).await;
    for s in storm {
        s.await.unwrap();
    }
    let rate = logins.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!(
        "logins: {rate:.1}/s at concurrency {LOGIN_CONCURRENCY} ({:.0} % of raw hashing)",
        rate / raw * 100.0
    );
    println!(
        "/health idle: p50 {:.2} ms, p99 {:.2} ms; during the login storm: p50 {:.2} ms, p99 {:.2} ms ({} samples)",
        percentile(&idle, 0.5),
        percentile(&idle, 0.99),
        percentile(&busy, 0.5),
        percentile(&busy, 0.99),
        busy.len()
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
