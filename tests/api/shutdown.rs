//! SIGTERM: stop accepting, let the in-flight request finish, then stop.

use std::time::Duration;

use axum::routing::get;
use axum::Router;

use crate::helpers::{client, spawn_app_with};

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "finished"
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    let app = spawn_app_with(
        |_| {},
        |b| {
            b.routes(Router::new().route("/slow", get(slow)))
                .handle_os_signals(true)
        },
    )
    .await;
    let in_flight = tokio::spawn(app.client.get(app.url("/slow")).send());
    tokio::time::sleep(Duration::from_millis(400)).await;

    // The real signal, to this process: only an application built with
    // `handle_os_signals` listens for it.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // No longer accepting...
    let refused = client().get(app.url("/health")).send().await;
    assert!(
        refused.is_err(),
        "a new connection after SIGTERM was accepted"
    );

    // ...but the request that was running completes.
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "finished");

    let stopped = tokio::time::timeout(Duration::from_secs(10), app.handle).await;
    stopped
        .expect("the application stops after draining")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn requests_over_the_timeout_get_503() {
    let app = spawn_app_with(
        |s| s.server.request_timeout_secs = 1,
        |b| b.routes(Router::new().route("/slow", get(slow))),
    )
    .await;
    let response = app.get("/slow").await;
    let body = crate::helpers::assert_problem(response, 503).await;
    assert_eq!(body["type"], "urn:agora:problem:unavailable");
}
