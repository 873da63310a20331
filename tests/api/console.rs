//! The web console as the server hands it out: the page at `/` and at deep links, its
//! assets with hashed names and a year's caching, its Content-Security-Policy, and the
//! API's 404 left alone for everything that is not a browser loading a page.
//! (The console itself is tested in Chromium: console/tests, run by scripts/console.sh.)

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, TestApp};

async fn page(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_console_is_served_at_the_root_and_at_its_deep_links() {
    let app = spawn_app_with(
        |s| s.console.tile_url = "https://{s}.tiles.example.org/{z}/{x}/{y}.png".into(),
        |b| b,
    )
    .await;
    let root = page(&app, "/").await;
    assert_eq!(root.status(), 200);
    assert_eq!(root.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(root.headers()[CACHE_CONTROL], "no-cache");
    let csp = root.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(
        csp.contains("img-src 'self' data: blob: https://*.tiles.example.org;"),
        "{csp}"
    );
    let html = root.text().await.unwrap();
    assert!(html.contains(r#"<div id="app">"#));
    assert!(
        html.contains("tiles.example.org"),
        "the tile server is handed to the page"
    );

    // A link from a mail and a reload of any console page land on the console.
    for path in ["/reset-password?token=abc", "/emails/new", "/orders/123"] {
        assert_eq!(page(&app, path).await.status(), 200, "{path}");
    }

    // Each asset the page names: hashed, immutable for a year.
    let assets: Vec<&str> = html
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assert_eq!(assets.len(), 2, "{html}");
    for asset in assets {
        let response = app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(
            response.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let expected = if asset.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert_eq!(response.headers()[CONTENT_TYPE], expected, "{asset}");
        assert!(!response.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn what_is_not_a_page_load_keeps_the_apis_404() {
    let app = spawn_app().await;
    // An API client (no text/html), an API path, a file name, an unknown asset.
    assert_problem(app.get("/").await, 404).await;
    assert_problem(page(&app, "/api/v1/nothing").await, 404).await;
    assert_problem(page(&app, "/favicon.ico").await, 404).await;
    assert_problem(app.get("/assets/main-NOTTHERE.js").await, 404).await;
    let post = app.client.post(app.url("/")).send().await.unwrap();
    assert!(post.status().is_client_error(), "{}", post.status());
}

#[tokio::test]
async fn a_deployment_may_turn_the_console_off() {
    let app = spawn_app_with(|s| s.console.enabled = false, |b| b).await;
    assert_problem(page(&app, "/").await, 404).await;
    assert_problem(app.get("/assets/anything.js").await, 404).await;
}
