//! The service-to-service routes a split deployment uses (`/internal/v1`): only for callers
//! with the service key, never in the OpenAPI document, and the stock reservation protocol
//! they carry (idempotent by order id, confirmed, released, or lapsing).

use std::time::Duration;

use serde_json::{json, Value};

use crate::catalog::{create, product, seller};
use crate::helpers::{assert_problem, eventually, spawn_app, spawn_app_with, TestApp};

const KEY: &str = "0123456789abcdef0123456789abcdef-test";

async fn internal(
    app: &TestApp,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> reqwest::Response {
    let url = app.url(&format!("/internal/v1{path}"));
    let mut request = match &body {
        Some(body) => app.client.post(url).json(body),
        None => app.client.get(url),
    };
    if let Some(key) = key {
        request = request.header("x-agora-service-key", key);
    }
    request.send().await.unwrap()
}

/// Internal routes on, and stock held 10 s (lapse checked every second).
async fn with_key_and_short_holds() -> TestApp {
    spawn_app_with(
        |s| {
            s.server.service_key = Some(agora::platform::config::Secret::new(KEY));
            s.set("catalog.reservation_ttl_secs", 10);
        },
        |b| b,
    )
    .await
}

async fn stock(app: &TestApp, product: &Value) -> i64 {
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    app.get(&path).await.json::<Value>().await.unwrap()["stock"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn internal_routes_need_the_service_key_and_stay_out_of_the_document() {
    let plain = spawn_app().await;
    // No key configured: one process needs no internal routes, so there are none.
    assert_eq!(
        internal(&plain, "/auth/jwks", None, Some(KEY))
            .await
            .status(),
        404
    );

    let app = spawn_app_with(
        |s| s.server.service_key = Some(agora::platform::config::Secret::new(KEY)),
        |b| b,
    )
    .await;
    assert_problem(internal(&app, "/auth/jwks", None, None).await, 403).await;
    assert_problem(
        internal(
            &app,
            "/auth/jwks",
            None,
            Some("another-key-of-the-same-length-xxxx"),
        )
        .await,
        403,
    )
    .await;
    let keys: Value = internal(&app, "/auth/jwks", None, Some(KEY))
        .await
        .json()
        .await
        .unwrap();
    let public: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys, public);

    let document: Value = app
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| !p.contains("internal")),
        "{:?}",
        paths.keys()
    );

    // A session as another process sees it, gone after logout.
    let (user, tokens) = app.register("ida@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    let claims: Value = {
        let payload = token.split('.').nth(1).unwrap();
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    let session_path = format!("/auth/sessions/{}", claims["sid"].as_str().unwrap());
    let session: Value = internal(&app, &session_path, None, Some(KEY))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["user_id"], user["id"]);
    assert_eq!(session["usable"], true);
    let contact: Value = internal(
        &app,
        &format!("/auth/users/{}/contact", user["id"].as_str().unwrap()),
        None,
        Some(KEY),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(contact["email"], "ida@example.com");
    let logout = app
        .post_auth(
            "/api/v1/auth/logout",
            token,
            &json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert!(logout.status().is_success(), "{}", logout.status());
    let session: Value = internal(&app, &session_path, None, Some(KEY))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["usable"], false);
}

#[tokio::test]
async fn reservations_are_idempotent_and_given_back_once() {
    let app = with_key_and_short_holds().await;
    let ada = seller(&app, "ada@example.com").await;
    let mug = create(&app, &ada.token, &product(&ada.store, "MUG", 500, 10)).await;
    let reserve = |order: uuid::Uuid, quantity: i64| json!({"order_id": order, "items": [[mug["id"], quantity]]});
    let order = uuid::Uuid::now_v7();

    // Reserved once, however often asked; asked with other items, refused.
    let first: Value = internal(
        &app,
        "/inventory/reservations",
        Some(reserve(order, 3)),
        Some(KEY),
    )
    .await
    .json()
    .await
    .unwrap();
    let again: Value = internal(
        &app,
        "/inventory/reservations",
        Some(reserve(order, 3)),
        Some(KEY),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(first, again);
    assert_eq!(first[0]["unit_price"], 500);
    assert_eq!(stock(&app, &mug).await, 7);
    let other = internal(
        &app,
        "/inventory/reservations",
        Some(reserve(order, 4)),
        Some(KEY),
    )
    .await;
    assert_eq!(other.status(), 409);
    assert_eq!(other.json::<Value>().await.unwrap()["code"], "conflict");

    // Not enough: nothing taken, and the refusal says which product.
    let greedy = internal(
        &app,
        "/inventory/reservations",
        Some(reserve(uuid::Uuid::now_v7(), 8)),
        Some(KEY),
    )
    .await;
    assert_eq!(greedy.status(), 409);
    let refusal: Value = greedy.json().await.unwrap();
    assert_eq!(refusal["code"], "out_of_stock");
    assert_eq!(refusal["product_id"], mug["id"]);
    assert_eq!(stock(&app, &mug).await, 7);

    // Confirmed, then released twice: the stock comes back once.
    let path = |step: &str| format!("/inventory/reservations/{order}/{step}");
    assert_eq!(
        internal(&app, &path("confirm"), Some(json!({})), Some(KEY))
            .await
            .status(),
        200
    );
    assert_eq!(
        internal(&app, &path("release"), Some(json!({})), Some(KEY))
            .await
            .status(),
        200
    );
    assert_eq!(
        internal(&app, &path("release"), Some(json!({})), Some(KEY))
            .await
            .status(),
        200
    );
    assert_eq!(stock(&app, &mug).await, 10);
    // A released order cannot take stock again.
    let late = internal(
        &app,
        "/inventory/reservations",
        Some(reserve(order, 3)),
        Some(KEY),
    )
    .await;
    assert_eq!(late.status(), 409);

    // Released before it was ever reserved (the caller gave up): a late reservation is refused.
    let abandoned = uuid::Uuid::now_v7();
    let release = format!("/inventory/reservations/{abandoned}/release");
    assert_eq!(
        internal(&app, &release, Some(json!({})), Some(KEY))
            .await
            .status(),
        200
    );
    assert_eq!(
        internal(
            &app,
            "/inventory/reservations",
            Some(reserve(abandoned, 1)),
            Some(KEY)
        )
        .await
        .status(),
        409
    );
    assert_eq!(stock(&app, &mug).await, 10);

    // Held and never confirmed: it lapses and the stock comes back; a late confirmation takes
    // the stock again while it is there.
    let held = uuid::Uuid::now_v7();
    internal(
        &app,
        "/inventory/reservations",
        Some(reserve(held, 2)),
        Some(KEY),
    )
    .await;
    assert_eq!(stock(&app, &mug).await, 8);
    app.clock.advance(Duration::from_secs(11));
    eventually("the lapsed hold's stock back", || async {
        (stock(&app, &mug).await == 10).then_some(())
    })
    .await;
    let confirm = format!("/inventory/reservations/{held}/confirm");
    assert_eq!(
        internal(&app, &confirm, Some(json!({})), Some(KEY))
            .await
            .status(),
        200
    );
    assert_eq!(stock(&app, &mug).await, 8);
    assert_eq!(
        internal(&app, &confirm, Some(json!({})), Some(KEY))
            .await
            .status(),
        200
    );
    assert_eq!(stock(&app, &mug).await, 8);
}

#[tokio::test]
async fn a_lapsed_hold_that_sold_out_meanwhile_is_refused_on_confirmation() {
    let app = with_key_and_short_holds().await;
    let ada = seller(&app, "ada@example.com").await;
    let mug = create(&app, &ada.token, &product(&ada.store, "MUG", 500, 2)).await;
    let held = uuid::Uuid::now_v7();
    let body = |order: uuid::Uuid| json!({"order_id": order, "items": [[mug["id"], 2]]});
    internal(&app, "/inventory/reservations", Some(body(held)), Some(KEY)).await;
    app.clock.advance(Duration::from_secs(11));
    eventually("the lapsed hold's stock back", || async {
        (stock(&app, &mug).await == 2).then_some(())
    })
    .await;
    let other = internal(
        &app,
        "/inventory/reservations",
        Some(body(uuid::Uuid::now_v7())),
        Some(KEY),
    )
    .await;
    assert_eq!(other.status(), 200);
    let confirm = internal(
        &app,
        &format!("/inventory/reservations/{held}/confirm"),
        Some(json!({})),
        Some(KEY),
    )
    .await;
    assert_eq!(confirm.status(), 409);
    assert_eq!(
        confirm.json::<Value>().await.unwrap()["code"],
        "out_of_stock"
    );
    assert_eq!(stock(&app, &mug).await, 0, "never oversold");
}
