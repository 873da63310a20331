use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );

    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ok", "{ready}");
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["migrations"], "ok");
    assert_eq!(ready["checks"]["queue"], "ok");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db.close().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_ne!(body["checks"]["database"], "ok");
}

#[tokio::test]
async fn request_id_is_generated_or_echoed() {
    let app = spawn_app().await;
    let generated = app.get("/health").await;
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    let echoed = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn security_headers_on_success_and_error() {
    let app = spawn_app().await;
    for path in ["/health", "/no/such/route"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = spawn_app().await;
    app.get("/health").await;
    app.get("/health").await;
    app.get("/not/a/route/123").await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/health",status="200"} 2"#),
        "{metrics}"
    );
    // Unknown paths are one label value, not one per URL.
    assert!(
        metrics.contains(r#"route="unmatched",status="404"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains("/not/a/route/123"));
    assert!(
        metrics.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\"")
    );
    assert!(metrics.contains("db_pool_connections{pool="));
    // The pool's ceiling, for a saturation ratio: the SQLite writer is one connection.
    let ceiling = if app.db.backend() == agora::platform::db::Backend::Postgres {
        "db_pool_max_connections{pool=\"postgres\"}"
    } else {
        "db_pool_max_connections{pool=\"sqlite_writer\"} 1"
    };
    assert!(metrics.contains(ceiling), "{metrics}");
}

#[tokio::test]
async fn openapi_document_and_swagger_ui_are_served() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["info"]["title"], "Agora");
    assert!(doc["paths"]["/health"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/info"]["get"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // One tag per enabled domain, and no more.
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for domain in agora::domains::enabled() {
        assert!(tags.contains(&domain.name), "{tags:?}");
    }
    assert_eq!(tags.len(), agora::domains::enabled().len() + 1, "{tags:?}");
    // The served document is the one `agora openapi` prints.
    assert_eq!(doc, agora::app::openapi());

    let ui = app.get("/swagger-ui/").await;
    assert_eq!(ui.status(), 200);
    let html = ui.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let init = app
        .get("/swagger-ui/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(init.contains("/api-docs/openapi.json"), "{init}");
}

#[tokio::test]
async fn info_names_the_enabled_domains() {
    let app = spawn_app().await;
    let info: serde_json::Value = app.get("/api/v1/info").await.json().await.unwrap();
    assert_eq!(info["name"], "agora");
    let domains: Vec<&str> = info["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(
        domains,
        agora::domains::enabled()
            .iter()
            .map(|d| d.name)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn responses_are_compressed_when_asked() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = crate::helpers::spawn_app_with(
        |s| s.server.cors.allowed_origins = vec!["https://shop.example.com".into()],
        |b| b,
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/info"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let allowed = preflight("https://shop.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}
