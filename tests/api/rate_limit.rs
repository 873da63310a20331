use crate::helpers::{assert_problem, spawn_app_with};

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
    for i in 0..5 {
        let r = app.get("/api/v1/info").await;
        assert_eq!(r.status(), 200, "request {i} is within the burst");
    }
    let limited = app.get("/api/v1/info").await;
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
    // A forged X-Forwarded-For from an untrusted peer does not buy a new bucket.
    let forged = app
        .client
        .get(app.url("/api/v1/info"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 429);
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
        app.client
            .get(app.url("/api/v1/info"))
            .header("x-forwarded-for", client)
            .send()
    };
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 200);
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 200);
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 429);
    assert_eq!(from("198.51.100.2").await.unwrap().status(), 200);
}
