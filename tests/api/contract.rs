//! Inputs that once broke the API contract: each now answers a clear 4xx problem (or the
//! documented success), and no request drops its connection.

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::catalog::{create, product, seller};
use crate::helpers::{assert_problem, spawn_app, TestApp};
use crate::orders::{buyer, order};
use crate::users::admin;

/// Every list of the API, with who may read it.
const LISTS: &[&str] = &[
    "/api/v1/products",
    "/api/v1/categories",
    "/api/v1/stores",
    "/api/v1/addresses",
    "/api/v1/orders",
    "/api/v1/contacts",
    "/api/v1/emails",
    "/api/v1/emails/dead-letters",
    "/api/v1/email-suppressions",
    "/api/v1/locations",
    "/api/v1/notifications",
    "/api/v1/users",
];

#[tokio::test]
async fn pages_past_the_last_offset_are_refused_not_dropped() {
    let app = spawn_app().await;
    let root = admin(&app, "root@example.com").await;
    for list in LISTS {
        for (query, field) in [
            ("page=9223372036854775807", "page"),
            ("page=92233720368547760&limit=100", "page"),
            ("page=0", "page"),
            ("limit=101", "limit"),
        ] {
            let response = app.get_auth(&format!("{list}?{query}"), &root).await;
            let body = assert_problem(response, 422).await;
            assert_eq!(body["errors"][0]["field"], field, "{list}?{query}: {body}");
        }
        // The last page a database can reach is a page like any other: empty.
        let last = app
            .get_auth(&format!("{list}?page=92233720368547759&limit=100"), &root)
            .await;
        assert_eq!(last.status(), 200, "{list}");
        let body: Value = last.json().await.unwrap();
        assert_eq!(body["data"], json!([]), "{list}");
    }
    // Public, with no token at all.
    let body = assert_problem(
        app.get("/api/v1/products?page=9223372036854775807").await,
        422,
    );
    assert_eq!(body.await["errors"][0]["field"], "page");
}

#[tokio::test]
async fn prices_are_bounded_and_currencies_real() {
    let app = spawn_app().await;
    let shop = seller(&app, "shop@example.com").await;
    for (price, currency, field) in [
        (i64::MAX, "EUR", "price"),
        (1_000_000_000_001, "EUR", "price"),
        (-1, "EUR", "price"),
        (100, "ZZZ", "currency"),
        (100, "XAU", "currency"),
    ] {
        let mut body = product(&shop.store, "sku-1", price, 5);
        body["currency"] = json!(currency);
        let response = app.post_auth("/api/v1/products", &shop.token, &body).await;
        let problem = assert_problem(response, 422).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }

    // The most a product may cost, bought twice: the exact total, not a wrapped one.
    let mut body = product(&shop.store, "dear", 1_000_000_000_000, 5);
    body["currency"] = json!("usd");
    let dear = create(&app, &shop.token, &body).await;
    assert_eq!(dear["currency"], "USD");
    let ada = buyer(&app, "ada@example.com").await;
    let placed = order(
        &app,
        &ada,
        None,
        json!([{"product_id": dear["id"], "quantity": 2}]),
    )
    .await;
    assert_eq!(placed.status(), 201);
    let placed: Value = placed.json().await.unwrap();
    assert_eq!(placed["total"], 2_000_000_000_000_i64);
}

#[tokio::test]
async fn the_last_administrator_stays_one() {
    let app = spawn_app().await;
    // `/users/{id}` of the account a token belongs to.
    let path_of = |token: String| {
        let app = &app;
        async move {
            let me: Value = app
                .get_auth("/api/v1/auth/me", &token)
                .await
                .json()
                .await
                .unwrap();
            format!("/api/v1/users/{}", me["id"].as_str().unwrap())
        }
    };
    let root = admin(&app, "root@example.com").await;
    let my_path = path_of(root.clone()).await;

    let demote = |token: &str, path: &str| {
        app.client
            .patch(app.url(path))
            .bearer_auth(token)
            .json(&json!({"role": "user"}))
            .send()
    };
    let refused = assert_problem(demote(&root, &my_path).await.unwrap(), 409).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("themselves"),
        "{refused}"
    );
    let deactivate = format!("{my_path}/deactivate");
    assert_problem(app.post_auth(&deactivate, &root, &json!({})).await, 409).await;
    // Renaming oneself is still fine, and so is keeping one's role.
    let renamed = app
        .client
        .patch(app.url(&my_path))
        .bearer_auth(&root)
        .json(&json!({"name": "Root", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);

    // With a second administrator, each may demote the other, but not both at once.
    let second = admin(&app, "second@example.com").await;
    let second_path = path_of(second.clone()).await;
    let (a, b) = tokio::join!(demote(&root, &second_path), demote(&second, &my_path));
    let statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    assert!(
        statuses.contains(&200) && !statuses.iter().all(|s| *s == 200),
        "exactly one demotion may pass: {statuses:?}"
    );
    let (admins,): (i64,) = app
        .db
        .fetch_one(
            sea_query::Query::select()
                .expr(sea_query::Expr::col(sea_query::Alias::new("id")).count())
                .from(sea_query::Alias::new("auth_users"))
                .and_where(sea_query::Expr::col(sea_query::Alias::new("role")).eq("admin")),
        )
        .await
        .unwrap();
    assert_eq!(admins, 1, "one administrator is left");
}

#[tokio::test]
async fn a_json_array_is_not_an_object() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    for (path, body) in [
        (
            "/api/v1/auth/login",
            json!(["ada@example.com", crate::auth::PASSWORD]),
        ),
        ("/api/v1/auth/forgot-password", json!([])),
        ("/api/v1/auth/forgot-password", json!("ada@example.com")),
        ("/api/v1/auth/register", Value::Null),
    ] {
        let problem = assert_problem(app.post_json(path, &body).await, 422).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("object"),
            "{path}: {problem}"
        );
    }
}

#[tokio::test]
async fn names_are_shown_as_they_are_stored() {
    let app = spawn_app().await;
    for name in [
        "\0\0\0",
        "Ada\0",
        "Ada\u{200B}",
        "evil\u{202E}gnp.exe",
        "\u{200D}",
    ] {
        let body =
            json!({"email": "eve@example.com", "password": crate::auth::PASSWORD, "name": name});
        let problem =
            assert_problem(app.post_json("/api/v1/auth/register", &body).await, 422).await;
        assert_eq!(problem["errors"][0]["field"], "name", "{name:?}");
    }
    let shop = seller(&app, "shop@example.com").await;
    let mut body = product(&shop.store, "sku-rlo", 100, 1);
    body["name"] = json!("Shoe\u{202E}kcab");
    let problem = assert_problem(
        app.post_auth("/api/v1/products", &shop.token, &body).await,
        422,
    );
    assert_eq!(problem.await["errors"][0]["field"], "name");
    let place = json!({"name": "\u{FEFF}", "lat": 51.5, "lon": -0.12});
    let problem = assert_problem(
        app.post_auth("/api/v1/locations", &shop.token, &place)
            .await,
        422,
    );
    assert_eq!(problem.await["errors"][0]["field"], "name");
    // Scripts that need a zero-width joiner keep it.
    let persian = json!({"name": "می\u{200C}خواهم", "lat": 35.7, "lon": 51.4});
    let saved = app
        .post_auth("/api/v1/locations", &shop.token, &persian)
        .await;
    assert_eq!(saved.status(), 201);
}

async fn upload_form(app: &TestApp, token: &str, form: Form) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/files"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_upload_with_two_files_is_refused_whole() {
    let app = spawn_app().await;
    let token = app.register("ada@example.com").await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let part = |name: &str| {
        Part::bytes(b"plain text".to_vec())
            .file_name(name.to_string())
            .mime_str("text/plain")
            .unwrap()
    };
    let two = Form::new()
        .part("file", part("a.txt"))
        .part("file", part("b.txt"));
    let problem = assert_problem(upload_form(&app, &token, two).await, 422).await;
    assert_eq!(problem["errors"][0]["field"], "file");
    let none_kept = std::fs::read_dir(app.data_dir.join("uploads"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(none_kept, 0, "nothing half-written");
    let one = Form::new().part("file", part("a.txt"));
    assert_eq!(upload_form(&app, &token, one).await.status(), 201);
}

#[tokio::test]
async fn an_unconfigured_payment_webhook_answers_its_documented_503() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/payments/webhook"))
        .header("content-type", "application/json")
        .header("x-signature", "sha256=00")
        .body(r#"{"event_id":"e1","order_id":"0192a0a0-0000-7000-8000-000000000000","type":"payment.succeeded"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(response, 503).await;
    let doc: Value = app
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let responses = &doc["paths"]["/api/v1/payments/webhook"]["post"]["responses"];
    assert!(responses.get("503").is_some(), "{responses}");
}

#[tokio::test]
async fn the_document_tells_generators_every_answer() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["servers"][0]["url"], "/");
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "{name}: operationId {id} twice");
            assert!(
                id.chars().next().unwrap().is_ascii_lowercase() && !id.contains('_'),
                "{name}: {id} is not verbNoun"
            );
            if let Some(params) = op.get("parameters") {
                assert!(params.is_array(), "{name}: parameters {params}");
            }
            let mut params = std::collections::HashSet::new();
            for param in op["parameters"].as_array().into_iter().flatten() {
                let key = format!("{} {}", param["in"], param["name"]);
                assert!(params.insert(key.clone()), "{name}: parameter {key} twice");
                if param["in"] == "path" {
                    assert_eq!(param["required"], true, "{name}: {key}");
                }
            }
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object().unwrap();
                    assert!(
                        content.contains_key("application/problem+json")
                            && !content.contains_key("application/json"),
                        "{name} {status}: {content:?}"
                    );
                }
            }
            let secured = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
            });
            if secured {
                assert!(responses.contains_key("401"), "{name}: no 401");
            }
            if !["/health", "/readyz", "/metrics"].contains(&path.as_str()) {
                assert!(
                    responses["429"]["headers"].get("Retry-After").is_some(),
                    "{name}"
                );
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    // One schema per concept: the geocoder's address is not the shipping address.
    assert!(schemas["Address"]["required"]
        .as_array()
        .unwrap()
        .contains(&json!("street")));
    assert!(schemas["GeocodedAddress"]["required"]
        .as_array()
        .unwrap()
        .contains(&json!("display_name")));
    assert_eq!(schemas["NotificationCategory"]["type"], "string");
    assert_eq!(
        schemas["QuietHours"]["properties"]["start"]["type"],
        "string"
    );
    assert_eq!(
        schemas["Page_Product"]["properties"]["data"]["items"]["$ref"],
        "#/components/schemas/Product"
    );
    let sort = doc["paths"]["/api/v1/products"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "sort")
        .unwrap();
    assert_eq!(
        sort["schema"]["enum"],
        json!(["price", "created_at", "name"])
    );
    assert_eq!(
        schemas["LoginRequest"]["required"],
        json!(["email", "password"])
    );
}
