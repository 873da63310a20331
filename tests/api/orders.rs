//! Addresses, checkout without overselling, idempotency, the status machine, expiry, payments.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::catalog::{create, product, seller, Seller};
use crate::helpers::{assert_problem, eventually, spawn_app, spawn_app_with, TestApp};
use crate::users::admin;

pub struct Buyer {
    pub token: String,
    pub address: Value,
}

pub async fn buyer(app: &TestApp, email: &str) -> Buyer {
    let (_, tokens) = app.register(email).await;
    let token = tokens["access_token"].as_str().unwrap().to_string();
    let address = address_for(app, &token).await;
    Buyer { token, address }
}

/// A delivery address of the account behind `token`.
async fn address_for(app: &TestApp, token: &str) -> Value {
    let address = app
        .post_auth(
            "/api/v1/addresses",
            token,
            &json!({"label": "Home", "recipient": "Ada Lovelace", "street": "12 St James's Square",
                    "city": "London", "postal_code": "SW1Y 4LB", "country": "gb"}),
        )
        .await;
    assert_eq!(address.status(), 201);
    address.json().await.unwrap()
}

/// An order placed without an idempotency key, as the answer's body.
async fn place(app: &TestApp, buyer: &Buyer, items: Value) -> Value {
    let placed = order(app, buyer, None, items).await;
    assert_eq!(placed.status(), 201);
    placed.json().await.unwrap()
}

pub async fn order(
    app: &TestApp,
    buyer: &Buyer,
    key: Option<&str>,
    items: Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&buyer.token)
        .json(&json!({"address_id": buyer.address["id"], "items": items}));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

async fn stock(app: &TestApp, product: &Value) -> i64 {
    let p: Value = app
        .get(&format!(
            "/api/v1/products/{}",
            product["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    p["stock"].as_i64().unwrap()
}

pub async fn move_to(app: &TestApp, token: &str, order: &Value, status: &str) -> reqwest::Response {
    let path = format!("/api/v1/orders/{}/status", order["id"].as_str().unwrap());
    app.post_auth(&path, token, &json!({ "status": status }))
        .await
}

async fn shop(app: &TestApp, stock: i64) -> (Seller, Value) {
    let seller = seller(app, "shop@example.com").await;
    let item = create(
        app,
        &seller.token,
        &product(&seller.store, "widget", 2500, stock),
    )
    .await;
    (seller, item)
}

#[tokio::test]
async fn fifty_concurrent_orders_for_ten_in_stock_sell_exactly_ten() {
    let app = spawn_app().await;
    let (_, item) = shop(&app, 10).await;
    let ada = buyer(&app, "ada@example.com").await;
    let line = json!([{"product_id": item["id"], "quantity": 1}]);
    let attempts = (0..50).map(|_| order(&app, &ada, None, line.clone()));
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        40,
        "{statuses:?}"
    );
    assert_eq!(stock(&app, &item).await, 0);
    let orders: Value = app
        .get_auth("/api/v1/orders", &ada.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orders["pagination"]["total"], 10);

    let sold_out = assert_problem(order(&app, &ada, None, line).await, 409).await;
    assert!(
        sold_out["detail"]
            .as_str()
            .unwrap()
            .contains("Product widget"),
        "{sold_out}"
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_order_and_refuses_another_body() {
    let app = spawn_app().await;
    let (_, item) = shop(&app, 10).await;
    let ada = buyer(&app, "ada@example.com").await;
    let items = json!([{"product_id": item["id"], "quantity": 2}]);
    let first = order(&app, &ada, Some("checkout-1"), items.clone()).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["total"], 5000, "priced by the catalog");
    assert_eq!(first["status"], "pending_payment");
    assert_eq!(first["items"][0]["unit_price"], 2500);
    assert_eq!(first["address"]["city"], "London");

    let again = order(&app, &ada, Some("checkout-1"), items).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(stock(&app, &item).await, 8, "taken once");

    let other = order(
        &app,
        &ada,
        Some("checkout-1"),
        json!([{"product_id": item["id"], "quantity": 3}]),
    )
    .await;
    let body = assert_problem(other, 422).await;
    assert_eq!(body["type"], "urn:agora:problem:idempotency-key-reused");
    assert_eq!(stock(&app, &item).await, 8);
}

#[tokio::test]
async fn bad_orders_are_refused_with_nothing_written() {
    let app = spawn_app().await;
    let (_, item) = shop(&app, 10).await;
    let other_shop = seller(&app, "other@example.com").await;
    let elsewhere = create(
        &app,
        &other_shop.token,
        &product(&other_shop.store, "gadget", 100, 10),
    )
    .await;
    let ada = buyer(&app, "ada@example.com").await;
    let bob = buyer(&app, "bob@example.com").await;

    let cross_store = order(&app, &ada, None, json!([{"product_id": item["id"], "quantity": 1}, {"product_id": elsewhere["id"], "quantity": 1}])).await;
    let body = assert_problem(cross_store, 422).await;
    assert!(
        body["detail"].as_str().unwrap().contains("one store"),
        "{body}"
    );
    let bobs_address = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&ada.token)
        .json(&json!({"address_id": bob.address["id"], "items": [{"product_id": item["id"], "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(bobs_address, 422).await;
    assert_eq!(body["errors"][0]["field"], "address_id");
    let zero = assert_problem(
        order(
            &app,
            &ada,
            None,
            json!([{"product_id": item["id"], "quantity": 0}]),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(zero["errors"][0]["field"], "items.0.quantity");
    assert_problem(order(&app, &ada, None, json!([])).await, 422).await;
    assert_problem(
        order(
            &app,
            &ada,
            None,
            json!([{"product_id": uuid::Uuid::now_v7(), "quantity": 1}]),
        )
        .await,
        422,
    )
    .await;

    assert_eq!(stock(&app, &item).await, 10);
    assert_eq!(stock(&app, &elsewhere).await, 10);
    let orders: Value = app
        .get_auth("/api/v1/orders", &ada.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orders["pagination"]["total"], 0);
    // In one process the stock was taken in the refused order's own transaction, so
    // nothing of it remains: not even a released reservation.
    let (reservations,): (i64,) = app
        .db
        .fetch_one(
            sea_query::Query::select()
                .expr(sea_query::Expr::col(sea_query::Alias::new("order_id")).count())
                .from(sea_query::Alias::new("catalog_reservations")),
        )
        .await
        .unwrap();
    assert_eq!(reservations, 0);
}

#[tokio::test]
async fn the_status_machine_and_who_may_move_it() {
    let app = spawn_app().await;
    let (shop_owner, item) = shop(&app, 10).await;
    let ada = buyer(&app, "ada@example.com").await;
    let root = admin(&app, "root@example.com").await;
    let placed = place(
        &app,
        &ada,
        json!([{"product_id": item["id"], "quantity": 1}]),
    )
    .await;

    let refused = assert_problem(move_to(&app, &ada.token, &placed, "fulfilled").await, 409).await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("allowed next: [cancelled]"),
        "{refused}"
    );
    assert_problem(move_to(&app, &shop_owner.token, &placed, "paid").await, 409).await;
    let stranger = app.register("eve@example.com").await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_problem(move_to(&app, &stranger, &placed, "cancelled").await, 404).await;

    assert_eq!(move_to(&app, &root, &placed, "paid").await.status(), 200);
    assert_problem(move_to(&app, &root, &placed, "delivered").await, 409).await;
    assert_eq!(
        move_to(&app, &shop_owner.token, &placed, "fulfilled")
            .await
            .status(),
        200
    );
    assert_problem(move_to(&app, &ada.token, &placed, "cancelled").await, 409).await;
    let delivered: Value = move_to(&app, &shop_owner.token, &placed, "delivered")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(delivered["status"], "delivered");
    let steps: Vec<&str> = delivered["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        vec!["pending_payment", "paid", "fulfilled", "delivered"]
    );
    assert!(delivered["history"][2]["actor_id"].is_string());

    // The store's owner sees the store's orders.
    let store_orders: Value = app
        .get_auth(
            &format!("/api/v1/orders?store_id={}", shop_owner.store),
            &shop_owner.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(store_orders["pagination"]["total"], 1);

    // Cancelling gives the stock back.
    let second = place(
        &app,
        &ada,
        json!([{"product_id": item["id"], "quantity": 4}]),
    )
    .await;
    assert_eq!(stock(&app, &item).await, 5);
    assert_eq!(
        move_to(&app, &ada.token, &second, "cancelled")
            .await
            .status(),
        200
    );
    assert_eq!(stock(&app, &item).await, 9);
}

#[tokio::test]
async fn an_owner_buying_from_their_own_store_may_cancel_as_the_buyer() {
    let app = spawn_app().await;
    let (owner, item) = shop(&app, 3).await;
    let both = Buyer {
        address: address_for(&app, &owner.token).await,
        token: owner.token.clone(),
    };
    let placed = place(
        &app,
        &both,
        json!([{"product_id": item["id"], "quantity": 2}]),
    )
    .await;
    // Buyer and seller at once: the buyer's cancel is allowed, the seller's steps are listed.
    let refused =
        assert_problem(move_to(&app, &owner.token, &placed, "delivered").await, 409).await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("allowed next: [cancelled]"),
        "{refused}"
    );
    let cancelled = move_to(&app, &owner.token, &placed, "cancelled").await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(stock(&app, &item).await, 3);
}

#[tokio::test]
async fn unpaid_orders_expire_and_return_their_stock() {
    let app = spawn_app_with(
        |s| {
            s.set("orders.payment_timeout_secs", 600);
            s.set("orders.expiry_check_secs", 1);
        },
        |b| b,
    )
    .await;
    let (_, item) = shop(&app, 5).await;
    let ada = buyer(&app, "ada@example.com").await;
    let placed: Value = order(
        &app,
        &ada,
        None,
        json!([{"product_id": item["id"], "quantity": 3}]),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(stock(&app, &item).await, 2);
    let path = format!("/api/v1/orders/{}", placed["id"].as_str().unwrap());
    let o: Value = app.get_auth(&path, &ada.token).await.json().await.unwrap();
    assert_eq!(o["status"], "pending_payment", "not before its time");

    app.clock.advance(Duration::from_secs(601));
    let expired = eventually("the order to expire", || async {
        let o: Value = app.get_auth(&path, &ada.token).await.json().await.unwrap();
        (o["status"] == "expired").then_some(o)
    })
    .await;
    assert!(
        expired["history"][1]["actor_id"].is_null(),
        "the system expired it"
    );
    assert_eq!(stock(&app, &item).await, 5);
}

/// `sha256=<hex HMAC-SHA256>` of `body`, as webhooks sign.
pub fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[tokio::test]
async fn a_signed_payment_marks_the_order_paid_once() {
    const SECRET: &str = "whsec_test_secret";
    let app = spawn_app_with(|s| s.set("orders.webhook_secret", SECRET), |b| b).await;
    let (_, item) = shop(&app, 5).await;
    let ada = buyer(&app, "ada@example.com").await;
    let placed = place(
        &app,
        &ada,
        json!([{"product_id": item["id"], "quantity": 1}]),
    )
    .await;
    let body = json!({"event_id": "evt_1", "order_id": placed["id"], "type": "payment.succeeded"})
        .to_string();
    let deliver = |signature: String| {
        let request = app
            .client
            .post(app.url("/api/v1/payments/webhook"))
            .header("content-type", "application/json")
            .header("x-signature", signature)
            .body(body.clone());
        async move { request.send().await.unwrap() }
    };

    assert_problem(deliver(sign("wrong secret", &body)).await, 401).await;
    assert_problem(deliver("sha256=zz".into()).await, 401).await;
    let applied: Value = deliver(sign(SECRET, &body)).await.json().await.unwrap();
    assert_eq!(applied["status"], "applied");
    let replay: Value = deliver(sign(SECRET, &body)).await.json().await.unwrap();
    assert_eq!(replay["status"], "ignored");

    let path = format!("/api/v1/orders/{}", placed["id"].as_str().unwrap());
    let paid: Value = app.get_auth(&path, &ada.token).await.json().await.unwrap();
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["history"].as_array().unwrap().len(), 2, "applied once");
    assert_eq!(paid["history"][1]["reason"], "payment evt_1");
}

#[tokio::test]
async fn addresses_belong_to_their_owner_and_filter() {
    let app = spawn_app().await;
    let ada = buyer(&app, "ada@example.com").await;
    let bob = buyer(&app, "bob@example.com").await;
    let path = format!("/api/v1/addresses/{}", ada.address["id"].as_str().unwrap());
    assert_eq!(ada.address["country"], "GB");
    assert_problem(app.get_auth(&path, &bob.token).await, 404).await;
    let work = json!({"label": "Work office", "recipient": "Ada", "street": "1 Main St", "city": "Paris", "postal_code": "75001", "country": "FR"});
    assert_eq!(
        app.post_auth("/api/v1/addresses", &ada.token, &work)
            .await
            .status(),
        201
    );
    let found: Value = app
        .get_auth("/api/v1/addresses?label=work", &ada.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["pagination"]["total"], 1);
    let found: Value = app
        .get_auth(
            "/api/v1/addresses?city=london&postal_code=SW1Y%204LB",
            &ada.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["pagination"]["total"], 1);
    let bad = app
        .post_auth(
            "/api/v1/addresses",
            &ada.token,
            &json!({"label": "x", "country": "France"}),
        )
        .await;
    let body = assert_problem(bad, 422).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 5, "{body}");
    let delete = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
}
