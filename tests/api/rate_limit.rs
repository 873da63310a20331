use std::sync::Arc;

use agora::Settings;

use crate::helpers::{
    assert_problem, limited_after_the_burst, spawn_app_on, spawn_app_with, TestDb,
};

#[tokio::test]
async fn answers_429_past_the_burst_with_retry_after() {
    let app = spawn_app_with(
        |s| {
            s.server.rate_limit.per_second = 1;
            s.server.rate_limit.burst = 5;
        },
        |b| b,
    )
    .await;
    let limited = limited_after_the_burst(5, 1, 100, || app.get("/api/v1/info")).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body = assert_problem(limited, 429).await;
    assert_eq!(body["type"], "urn:agora:problem:rate-limited");

    // Probes are not limited.
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    // A forged X-Forwarded-For from an untrusted peer does not buy a new bucket: a fresh
    // one per forged address would let all of these through.
    let mut n = 0;
    let forged = || {
        n += 1;
        let request = app
            .client
            .get(app.url("/api/v1/info"))
            .header("x-forwarded-for", format!("198.51.100.{n}"));
        async move { request.send().await.unwrap() }
    };
    limited_after_the_burst(0, 1, 50, forged).await;
}

#[tokio::test]
async fn trusted_proxy_forwarded_clients_have_their_own_buckets() {
    let app = spawn_app_with(
        |s| {
            s.server.rate_limit.per_second = 1;
            s.server.rate_limit.burst = 2;
            s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        },
        |b| b,
    )
    .await;
    let from = |client: &'static str| {
        let request = app
            .client
            .get(app.url("/api/v1/info"))
            .header("x-forwarded-for", client);
        async move { request.send().await.unwrap() }
    };
    limited_after_the_burst(2, 1, 50, || from("198.51.100.1")).await;
    assert_eq!(
        from("198.51.100.2").await.status(),
        200,
        "a bucket of its own"
    );
}

/// The Redis server of the shared-limit tests: the machine's, or `TEST_REDIS_URL`.
fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// One request per second and a burst of 5, kept in `store` under a prefix of this test's.
fn limited_through(store: &str, url: String, prefix: &str) -> impl Fn(&mut Settings) + Clone {
    let (store, prefix) = (store.to_string(), prefix.to_string());
    move |s: &mut Settings| {
        s.server.rate_limit.per_second = 1;
        s.server.rate_limit.burst = 5;
        s.server.limit_store.backend = store.clone();
        s.server.limit_store.redis_url = url.clone();
        s.server.limit_store.key_prefix = prefix.clone();
    }
}

#[tokio::test]
async fn replicas_sharing_redis_limit_a_client_as_one_replica_would() {
    let db = Arc::new(TestDb::new().await);
    let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
    let settings = limited_through("redis", redis_url(), &prefix);
    let first = spawn_app_on(db.clone(), settings.clone(), |b| b).await;
    let second = spawn_app_on(db.clone(), settings, |b| b).await;
    // Each replica alone would let 5 through; together they still let 5 through.
    let mut turn = 0;
    let alternating = || {
        turn += 1;
        let app = if turn % 2 == 0 { &first } else { &second };
        app.get("/api/v1/info")
    };
    limited_after_the_burst(5, 1, 100, alternating).await;
    assert!(first
        .metrics()
        .await
        .contains("rate_limit_store_failures_total 0"));
}

#[tokio::test]
async fn in_memory_each_replica_keeps_its_own_buckets() {
    let db = Arc::new(TestDb::new().await);
    let settings = limited_through("memory", redis_url(), "unused");
    let first = spawn_app_on(db.clone(), settings.clone(), |b| b).await;
    let second = spawn_app_on(db.clone(), settings, |b| b).await;
    for app in [&first, &second, &first, &second, &first, &second] {
        assert_eq!(app.get("/api/v1/info").await.status(), 200);
    }
}

#[tokio::test]
async fn without_its_shared_store_a_replica_serves_and_says_so() {
    // Nothing listens on port 1.
    let settings = limited_through("redis", "redis://127.0.0.1:1".into(), "down");
    let app = spawn_app_with(settings, |b| b).await;
    for _ in 0..8 {
        assert_eq!(app.get("/api/v1/info").await.status(), 200, "served");
    }
    let metrics = app.metrics().await;
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rate_limit_store_failures_total "))
        .and_then(|n| n.parse().ok())
        .expect("the failure counter");
    assert!(failures >= 8, "{failures} failures counted");
}
