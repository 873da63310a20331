use crate::helpers::{assert_problem, limited_after_the_burst, spawn_app_with};

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
