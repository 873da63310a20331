//! SIGTERM: stop accepting, let the in-flight request finish, then stop.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use tokio::sync::Notify;

use crate::helpers::{client, eventually, spawn_app_with, TestApp, PATIENCE};

/// A route whose requests wait until the test lets them go, telling when one arrives.
#[derive(Default)]
struct Gate {
    entered: Notify,
    release: Notify,
}

impl Gate {
    fn route(self: &Arc<Self>) -> Router {
        let gate = self.clone();
        Router::new().route(
            "/held",
            get(move || async move {
                gate.entered.notify_one();
                gate.release.notified().await;
                "finished"
            }),
        )
    }
}

/// Waits until `app` no longer accepts connections.
async fn refused(app: &TestApp) {
    eventually("new connections to be refused", || async {
        client()
            .get(app.url("/health"))
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    let gate = Arc::new(Gate::default());
    // Grace enough for the test to look while the request is held.
    let app = spawn_app_with(
        |s| s.server.shutdown_grace_secs = PATIENCE.as_secs(),
        |b| b.routes(gate.route()).handle_os_signals(true),
    )
    .await;
    let in_flight = tokio::spawn(app.client.get(app.url("/held")).send());
    tokio::time::timeout(PATIENCE, gate.entered.notified())
        .await
        .expect("the request reaches its handler");

    // The real signal, to this process: only an application built with
    // `handle_os_signals` listens for it.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);

    // No longer accepting...
    refused(&app).await;

    // ...but the request that was running completes.
    gate.release.notify_one();
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "finished");

    let stopped = tokio::time::timeout(PATIENCE, app.handle).await;
    stopped
        .expect("the application stops after draining")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn requests_over_the_timeout_get_503() {
    let never = Router::new().route("/never", get(std::future::pending::<&'static str>));
    let app = spawn_app_with(|s| s.server.request_timeout_secs = 1, |b| b.routes(never)).await;
    let response = app.get("/never").await;
    let body = crate::helpers::assert_problem(response, 503).await;
    assert_eq!(body["type"], "urn:agora:problem:unavailable");
}

#[tokio::test]
async fn a_draining_replica_is_not_ready_but_serves_until_its_drain_ends() {
    const DRAIN: std::time::Duration = std::time::Duration::from_secs(3);
    let app = spawn_app_with(|s| s.server.drain_secs = DRAIN.as_secs(), |b| b).await;
    let before = app.get("/health").await;
    assert!(before.headers().get("connection").is_none(), "kept alive");
    assert_eq!(app.get("/readyz").await.status(), 200);

    let began = std::time::Instant::now();
    app.shutdown.cancel();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503, "a load balancer stops routing here");
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "draining");
    let served = app.get("/api/v1/info").await;
    assert_eq!(served.status(), 200, "requests are still served");
    assert_eq!(
        served.headers()["connection"],
        "close",
        "and their connections closed after them"
    );

    refused(&app).await;
    assert!(
        began.elapsed() >= DRAIN,
        "the listener closed after {:?}, before the drain ended",
        began.elapsed()
    );
    tokio::time::timeout(PATIENCE, app.handle)
        .await
        .expect("the application stops after draining")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn open_event_streams_end_when_the_listener_closes_rather_than_hold_the_grace() {
    let app = spawn_app_with(|s| s.server.shutdown_grace_secs = PATIENCE.as_secs(), |b| b).await;
    let (_, tokens) = app.register("grace@example.com").await;
    let mut stream = app
        .client
        .get(app.url("/api/v1/notifications/stream"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.unwrap().is_some(), "the stream opens");

    let began = std::time::Instant::now();
    app.shutdown.cancel();
    // The stream ends (rather than staying open until the grace runs out)...
    while tokio::time::timeout(PATIENCE, stream.chunk())
        .await
        .expect("the stream ends")
        .unwrap_or(None)
        .is_some()
    {}
    // ...and so the application stops long before its grace of a minute is over.
    tokio::time::timeout(PATIENCE, app.handle)
        .await
        .expect("the application stops")
        .unwrap()
        .unwrap();
    assert!(
        began.elapsed() < PATIENCE / 2,
        "stopped after {:?}",
        began.elapsed()
    );
}

#[tokio::test]
async fn a_request_on_a_connection_accepted_before_the_listener_closed_is_answered() {
    let app = spawn_app_with(|s| s.server.drain_secs = 0, |b| b).await;
    // Kept alive in the client's pool: accepted before the shutdown.
    let pooled = client();
    assert_eq!(
        pooled
            .get(app.url("/api/v1/info"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.shutdown.cancel();
    refused(&app).await;
    // A proxy sending over its open connection right then gets its answer, not a reset.
    let late = pooled.get(app.url("/api/v1/info")).send().await;
    assert_eq!(late.expect("answered").status(), 200);
}
