//! Notifications: events from other domains, the inbox, the live stream (also across
//! replicas), preferences and quiet hours, templates, and SMS and push through signed
//! webhooks to a real HTTP server owned by the test.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::catalog::{create, product, seller};
use crate::helpers::{
    assert_problem, eventually, metric_eventually, spawn_app, spawn_app_on, spawn_app_with,
    TestApp, TestDb, PATIENCE,
};
use crate::orders::{buyer, move_to, order, sign};
use crate::users::admin;

const SECRET: &str = "provider-secret";

/// Reads Server-Sent Events off a streaming response.
struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

impl SseClient {
    async fn connect(app: &TestApp, token: &str) -> Self {
        let response = app
            .client
            .get(app.url("/api/v1/notifications/stream"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let mut client = Self {
            response,
            buffer: String::new(),
        };
        let (event, data) = client.next().await;
        assert_eq!(event, "unread", "the stream opens with the unread count");
        assert!(data["unread"].is_u64());
        client
    }

    /// The next event that is not a keep-alive: (event name, JSON data). How fast it comes
    /// is for the latency benchmark; here it only has to come.
    async fn next(&mut self) -> (String, Value) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                };
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    return (
                        event,
                        serde_json::from_str(&data).unwrap_or(Value::String(data)),
                    );
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .expect("an event within the time allowed")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn inbox(app: &TestApp, token: &str) -> Value {
    let response = app.get_auth("/api/v1/notifications", token).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The first inbox notification of `event_type`, waiting for it.
async fn notification_of(app: &TestApp, token: &str, event_type: &str) -> Value {
    eventually(event_type, || async {
        let list = inbox(app, token).await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["event_type"] == event_type)
            .cloned()
    })
    .await
}

fn delivery<'a>(n: &'a Value, channel: &str) -> &'a Value {
    n["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == channel)
        .unwrap_or_else(|| panic!("no {channel} delivery in {n}"))
}

/// Waits until the channel's delivery of notification `id` is `status`.
async fn delivery_when(app: &TestApp, token: &str, id: &str, channel: &str, status: &str) -> Value {
    let path = format!("/api/v1/notifications/{id}");
    eventually(&format!("{channel} {status}"), || async {
        let n: Value = app.get_auth(&path, token).await.json().await.unwrap();
        let d = delivery(&n, channel).clone();
        (d["status"] == status).then_some(d)
    })
    .await
}

async fn user(app: &TestApp, email: &str, phone: Option<&str>) -> (String, String) {
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": crate::auth::PASSWORD, "name": "Grace Hopper", "phone": phone}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    (
        body["user"]["id"].as_str().unwrap().to_string(),
        body["tokens"]["access_token"].as_str().unwrap().to_string(),
    )
}

async fn admin_send(app: &TestApp, token: &str, body: Value) -> Vec<String> {
    let response = app.post_auth("/api/v1/notifications", token, &body).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let sent: Value = response.json().await.unwrap();
    sent["notification_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Updates the caller's notification preferences and returns what was saved.
async fn set_preferences(app: &TestApp, token: &str, update: &Value) -> Value {
    let response = app
        .put_auth("/api/v1/notification-preferences", token, update)
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_buyer_hears_of_their_order_live_and_the_store_owner_too() {
    let app = spawn_app().await;
    let seller = seller(&app, "shop@example.com").await;
    let item = create(&app, &seller.token, &product(&seller.store, "mug", 1299, 5)).await;
    let buyer = buyer(&app, "buyer@example.com").await;
    // Announced already, so the stream starts with what comes next.
    notification_of(&app, &buyer.token, "account.welcome").await;
    let mut stream = SseClient::connect(&app, &buyer.token).await;

    let response = order(
        &app,
        &buyer,
        None,
        json!([{"product_id": item["id"], "quantity": 3}]),
    )
    .await;
    assert_eq!(response.status(), 201);
    let placed: Value = response.json().await.unwrap();
    let (event, live) = stream.next().await;
    assert_eq!(event, "notification");
    assert_eq!(live["event_type"], "orders.placed");
    let reference = placed["id"].as_str().unwrap()[..8].to_uppercase();
    assert_eq!(live["title"], format!("Order {reference} placed"));
    assert!(
        live["body"].as_str().unwrap().contains("38.97 EUR"),
        "{live}"
    );

    // The owner hears of the order and, with 2 left (threshold 3), of the low stock.
    let received = notification_of(&app, &seller.token, "orders.received").await;
    assert_eq!(received["category"], "orders");
    let low = notification_of(&app, &seller.token, "catalog.stock_low").await;
    assert_eq!(low["title"], "Low stock: mug");

    // The buyer's cancellation comes back to them as a status change.
    assert_eq!(
        move_to(&app, &buyer.token, &placed, "cancelled")
            .await
            .status(),
        200
    );
    let (_, changed) = stream.next().await;
    assert_eq!(changed["event_type"], "orders.status_changed");
    assert_eq!(changed["title"], format!("Order {reference} is cancelled"));
    // Email went through the mail domain to the buyer's address.
    let n = delivery_when(&app, &buyer.token, &id_of(&changed), "email", "sent").await;
    assert!(n["external_id"].is_string());
    let mails = eventually("the status mail", || async {
        let mails = app.mails_to("buyer@example.com");
        mails
            .iter()
            .any(|m| m.contains(&format!("Order {reference} is cancelled")))
            .then_some(mails)
    })
    .await;
    assert!(!mails.is_empty());
}

#[tokio::test]
async fn a_stream_on_another_replica_hears_of_a_notification() {
    let db = Arc::new(TestDb::new().await);
    // On PostgreSQL the first replica's commit is signalled, and the second's poll, ten minutes
    // apart, could not bring it in time; on SQLite the poll is the way.
    let poll_ms = if db.is_postgres() { 600_000 } else { 100 };
    let first = spawn_app_on(db.clone(), |_| {}, |b| b).await;
    let second = spawn_app_on(
        db,
        move |s| s.set("notifications.stream_poll_ms", poll_ms),
        |b| b,
    )
    .await;
    let root = admin(&first, "root@example.com").await;
    let (id, token) = user(&first, "grace@example.com", None).await;
    let mut stream = SseClient::connect(&second, &token).await;

    admin_send(
        &first,
        &root,
        json!({"user_ids": [id], "title": "Hello", "body": "From the other side."}),
    )
    .await;
    // A new stream may first repeat the last seconds' notifications (the welcome here).
    let n = loop {
        let (event, n) = stream.next().await;
        assert_eq!(event, "notification");
        if n["event_type"] == "admin.message" {
            break n;
        }
    };
    assert_eq!(n["title"], "Hello");
    assert_eq!(n["body"], "From the other side.");
    assert!(
        second
            .metrics()
            .await
            .contains("notification_stream_clients 1"),
        "the replica counts its stream"
    );
}

#[tokio::test]
async fn the_inbox_reads_counts_removes_and_stays_private() {
    let app = spawn_app().await;
    let root = admin(&app, "root@example.com").await;
    let (id, token) = user(&app, "grace@example.com", None).await;
    let (_, other) = user(&app, "other@example.com", None).await;
    // The welcome notification of registration, then three from the administrator.
    notification_of(&app, &token, "account.welcome").await;
    for i in 1..=3 {
        admin_send(
            &app,
            &root,
            json!({"user_ids": [id], "title": format!("Notice {i}"), "body": "Body"}),
        )
        .await;
    }
    let list = inbox(&app, &token).await;
    assert_eq!(list["pagination"]["total"], 4);
    assert_eq!(list["data"][0]["title"], "Notice 3", "newest first");
    let first = list["data"][0].clone();
    assert_eq!(delivery(&first, "in_app")["status"], "sent");
    let count = |app: &TestApp, token: String| {
        let app_url = app.url("/api/v1/notifications/unread-count");
        let client = app.client.clone();
        async move {
            let v: Value = client
                .get(app_url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["unread"].as_u64().unwrap()
        }
    };
    assert_eq!(count(&app, token.clone()).await, 4);

    let read = format!("/api/v1/notifications/{}/read", id_of(&first));
    assert_problem(app.post_auth(&read, &other, &json!({})).await, 404).await;
    assert_problem(
        app.get_auth(&format!("/api/v1/notifications/{}", id_of(&first)), &other)
            .await,
        404,
    )
    .await;
    assert_eq!(app.post_auth(&read, &token, &json!({})).await.status(), 204);
    assert_eq!(count(&app, token.clone()).await, 3);
    let unread = app
        .get_auth("/api/v1/notifications?unread=true", &token)
        .await;
    let unread: Value = unread.json().await.unwrap();
    assert_eq!(unread["pagination"]["total"], 3);

    let all: Value = app
        .post_auth("/api/v1/notifications/read-all", &token, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["marked"], 3);
    assert_eq!(count(&app, token.clone()).await, 0);

    let one = format!("/api/v1/notifications/{}", id_of(&first));
    let removed = app.delete_auth(&one, &other).await;
    assert_problem(removed, 404).await;
    let removed = app.delete_auth(&one, &token).await;
    assert_eq!(removed.status(), 204);
    assert_eq!(inbox(&app, &token).await["pagination"]["total"], 3);
    assert_problem(app.get_auth(&one, &token).await, 404).await;
    // History stays for administrators.
    let kept: Value = app.get_auth(&one, &root).await.json().await.unwrap();
    assert!(kept["removed_at"].is_string());
}

#[tokio::test]
async fn only_administrators_send_and_bad_requests_are_refused() {
    let app = spawn_app().await;
    let root = admin(&app, "root@example.com").await;
    let (id, token) = user(&app, "grace@example.com", None).await;
    let body = json!({"user_ids": [id], "title": "T", "body": "B"});
    assert_problem(
        app.post_auth("/api/v1/notifications", &token, &body).await,
        403,
    )
    .await;
    let anonymous = app.post_json("/api/v1/notifications", &body).await;
    assert_problem(anonymous, 401).await;

    let bad = json!({"user_ids": [], "title": " ", "body": "B"});
    let problem = assert_problem(
        app.post_auth("/api/v1/notifications", &root, &bad).await,
        422,
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["user_ids", "title"]);
    let stranger = uuid::Uuid::now_v7();
    let unknown = json!({"user_ids": [id, stranger], "title": "T", "body": "B"});
    let problem = assert_problem(
        app.post_auth("/api/v1/notifications", &root, &unknown)
            .await,
        422,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "user_ids.1");
    let category = json!({"user_ids": [id], "title": "T", "body": "B", "category": "gossip"});
    assert_problem(
        app.post_auth("/api/v1/notifications", &root, &category)
            .await,
        422,
    )
    .await;
    // Nothing of the refused requests was written.
    let list = inbox(&app, &token).await;
    assert!(list["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["event_type"] != "admin.message"));
}

/// A provider on 127.0.0.1: records every call; `/sms` answers 503 to a delivery's first two
/// attempts, `/push` takes everything, `/refuse` answers 400.
#[derive(Clone, Default)]
struct Provider {
    calls: Arc<Mutex<Vec<Call>>>,
}

/// Path, headers and body of one request.
type Call = (String, HeaderMap, Vec<u8>);

impl Provider {
    async fn start() -> (Provider, String) {
        async fn take(
            State(p): State<Provider>,
            uri: axum::http::Uri,
            headers: HeaderMap,
            body: axum::body::Bytes,
        ) -> (StatusCode, &'static str) {
            let path = uri.path().to_string();
            let key = headers["idempotency-key"].to_str().unwrap().to_string();
            let mut calls = p.calls.lock().unwrap();
            let earlier = calls
                .iter()
                .filter(|(p, h, _)| *p == path && h["idempotency-key"] == key.as_str())
                .count();
            calls.push((path.clone(), headers, body.to_vec()));
            match path.as_str() {
                "/sms" if earlier < 2 => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
                "/refuse" => (StatusCode::BAD_REQUEST, "unknown device"),
                _ => (StatusCode::OK, "queued"),
            }
        }
        let provider = Provider::default();
        let router = axum::Router::new()
            .route("/{channel}", axum::routing::post(take))
            .with_state(provider.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (provider, url)
    }

    fn calls_to(&self, path: &str) -> Vec<(HeaderMap, Value)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, h, b)| {
                // Every call is signed over its exact body.
                let expected = sign(SECRET, std::str::from_utf8(b).unwrap());
                assert_eq!(h["x-signature"], expected.as_str());
                (h.clone(), serde_json::from_slice(b).unwrap())
            })
            .collect()
    }
}

async fn app_with_provider(url: &str, push_path: &str) -> TestApp {
    let (sms, push) = (format!("{url}/sms"), format!("{url}{push_path}"));
    spawn_app_with(
        move |s| {
            s.set("notifications.sms_webhook_url", sms);
            s.set("notifications.push_webhook_url", push);
            s.set("notifications.webhook_secret", SECRET);
            s.set("notifications.release_check_secs", 1);
        },
        |b| b,
    )
    .await
}

#[tokio::test]
async fn sms_and_push_reach_a_signed_webhook_with_retries_and_failures() {
    let (provider, url) = Provider::start().await;
    let app = app_with_provider(&url, "/refuse").await;
    let root = admin(&app, "root@example.com").await;
    let (with_phone, token) = user(&app, "grace@example.com", Some("+15550100")).await;
    let (no_phone, other) = user(&app, "ada@example.com", None).await;
    for t in [&token, &other] {
        let on = json!({"channels": {"account": {"sms": true}}});
        set_preferences(&app, t, &on).await;
    }
    let ids = admin_send(
        &app,
        &root,
        json!({"user_ids": [with_phone, no_phone], "title": "Code", "body": "Your code is 1234"}),
    )
    .await;

    let sms = delivery_when(&app, &token, &ids[0], "sms", "sent").await;
    assert_eq!(sms["attempts"], 3, "two 503s, then taken: {sms}");
    let calls: Vec<_> = provider
        .calls_to("/sms")
        .into_iter()
        .filter(|(_, body)| body["title"] == "Code")
        .collect();
    assert_eq!(calls.len(), 3);
    let (headers, body) = &calls[2];
    assert_eq!(body["to"], "+15550100");
    assert_eq!(body["title"], "Code");
    assert_eq!(body["body"], "Your code is 1234");
    assert_eq!(body["channel"], "sms");
    assert_eq!(
        headers["idempotency-key"],
        body["delivery_id"].as_str().unwrap()
    );

    let push = delivery_when(&app, &token, &ids[0], "push", "failed").await;
    assert_eq!(push["attempts"], 1, "a 400 is not retried");
    assert!(push["detail"].as_str().unwrap().contains("400"), "{push}");

    let n: Value = app
        .get_auth(&format!("/api/v1/notifications/{}", ids[1]), &other)
        .await
        .json()
        .await
        .unwrap();
    let sms = delivery(&n, "sms");
    assert_eq!(sms["status"], "skipped");
    assert_eq!(sms["detail"], "the account has no phone number");
    metric_eventually(
        &app,
        r#"notification_deliveries_total{channel="sms",status="sent"} 1"#,
    )
    .await;
}

#[tokio::test]
async fn preferences_turn_channels_off_and_quiet_hours_hold_them() {
    let (provider, url) = Provider::start().await;
    let app = app_with_provider(&url, "/push").await;
    // Business time at the next 22:01 UTC, before any token is issued, so quiet hours of
    // 22:00-22:10 hold now and end when the clock is moved ten minutes on.
    let now = app.clock.now();
    let mut evening = now.date_naive().and_hms_opt(22, 1, 0).unwrap().and_utc();
    if evening <= now {
        evening += chrono::Duration::days(1);
    }
    app.clock.set_ahead_to(evening);
    let root = admin(&app, "root@example.com").await;
    let (id, token) = user(&app, "grace@example.com", None).await;

    let defaults: Value = app
        .get_auth("/api/v1/notification-preferences", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(defaults["channels"]["orders"]["email"], true);
    assert_eq!(defaults["channels"]["orders"]["sms"], false);
    assert_eq!(defaults["channels"]["marketing"]["email"], false);
    assert_eq!(defaults["quiet_hours"], Value::Null);

    for bad in [
        json!({"channels": {"gossip": {"email": true}}}),
        json!({"channels": {"orders": {"pigeon": true}}}),
        json!({"quiet_hours": {"start": "25:00", "end": "07:00"}}),
        json!({"quiet_hours": {"start": "07:00", "end": "07:00"}}),
        json!({"quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Mars/Olympus"}}),
    ] {
        let response = app
            .put_auth("/api/v1/notification-preferences", &token, &bad)
            .await;
        assert_problem(response, 422).await;
    }

    // Quiet hours in UTC that hold now, email for orders off.
    let quiet = json!({"start": "22:00", "end": "22:10", "utc_offset_minutes": 0});
    let update = json!({"channels": {"orders": {"email": false}}, "quiet_hours": quiet});
    let saved = set_preferences(&app, &token, &update).await;
    assert_eq!(saved["channels"]["orders"]["email"], false);
    assert_eq!(saved["channels"]["orders"]["push"], true, "untouched");
    assert_eq!(saved["quiet_hours"]["utc_offset_minutes"], 0);

    let ids = admin_send(
        &app,
        &root,
        json!({"user_ids": [id], "title": "Shipped", "body": "B", "category": "orders"}),
    )
    .await;
    let n: Value = app
        .get_auth(&format!("/api/v1/notifications/{}", ids[0]), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        delivery(&n, "in_app")["status"],
        "sent",
        "in-app arrives during quiet hours"
    );
    assert_eq!(delivery(&n, "email")["status"], "skipped");
    assert_eq!(delivery(&n, "email")["detail"], "turned off in preferences");
    let push = delivery(&n, "push");
    assert_eq!(push["status"], "held");
    assert!(push["deliver_after"].is_string());
    let pushed = |title: &'static str| {
        let calls = provider.calls_to("/push");
        calls
            .iter()
            .filter(|(_, body)| body["title"] == title)
            .count()
    };
    assert_eq!(pushed("Shipped"), 0);

    // A critical one goes everywhere at once.
    let critical = admin_send(&app, &root, json!({"user_ids": [id], "title": "Password changed", "body": "B", "category": "orders", "critical": true})).await;
    delivery_when(&app, &token, &critical[0], "email", "sent").await;
    delivery_when(&app, &token, &critical[0], "push", "sent").await;

    // When the hours end, the held push goes out.
    let held = delivery_when(&app, &token, &ids[0], "push", "held").await;
    let until = chrono::DateTime::parse_from_rfc3339(held["deliver_after"].as_str().unwrap());
    let end = evening
        .date_naive()
        .and_hms_opt(22, 10, 0)
        .unwrap()
        .and_utc();
    assert_eq!(until.unwrap(), end, "held until the quiet hours end");
    app.clock.advance(Duration::from_secs(10 * 60));
    delivery_when(&app, &token, &ids[0], "push", "sent").await;
    assert_eq!(pushed("Shipped"), 1);
    assert_eq!(pushed("Password changed"), 1);

    // Removing the quiet hours.
    let cleared = set_preferences(&app, &token, &json!({"quiet_hours": null})).await;
    assert_eq!(cleared["quiet_hours"], Value::Null);
    assert_eq!(cleared["channels"]["orders"]["email"], false, "kept");

    // Quiet hours in a time zone are kept with it.
    let zoned = json!({"start": "22:00", "end": "07:00", "time_zone": "Europe/Berlin"});
    let saved = set_preferences(&app, &token, &json!({"quiet_hours": zoned})).await;
    assert_eq!(saved["quiet_hours"]["time_zone"], "Europe/Berlin");
    assert_eq!(saved["quiet_hours"]["start"], "22:00");
}

#[tokio::test]
async fn templates_are_checked_previewed_and_used() {
    let app = spawn_app().await;
    let root = admin(&app, "root@example.com").await;
    let (id, token) = user(&app, "grace@example.com", None).await;
    let path = "/api/v1/notification-templates/admin.message/in_app";
    let good = json!({"title": "[Notice] {{ title }}", "body": "{{ body }}"});
    assert_problem(app.put_auth(path, &token, &good).await, 403).await;

    let broken = json!({"title": "{{ title", "body": "{{ nope }}"});
    let problem = assert_problem(app.put_auth(path, &root, &broken).await, 422).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "body"]);
    let unknown = "/api/v1/notification-templates/orders.teleported/pigeon";
    let problem = assert_problem(app.put_auth(unknown, &root, &good).await, 422).await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);

    let saved = app.put_auth(path, &root, &good).await;
    assert_eq!(saved.status(), 200);
    let preview: Value = app
        .post_auth(&format!("{path}/preview"), &root, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview["title"], "[Notice] Maintenance tonight");
    let list: Value = app
        .get_auth("/api/v1/notification-templates", &root)
        .await
        .json()
        .await
        .unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["event_type"] == "admin.message" && t["channel"] == "in_app"));
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["event_type"] == "orders.placed" && t["channel"] == "*"));

    let ids = admin_send(
        &app,
        &root,
        json!({"user_ids": [id], "title": "Downtime", "body": "Tonight"}),
    )
    .await;
    let n: Value = app
        .get_auth(&format!("/api/v1/notifications/{}", ids[0]), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(n["title"], "[Notice] Downtime");

    let star = app
        .delete_auth("/api/v1/notification-templates/admin.message/*", &root)
        .await;
    assert_problem(star, 409).await;
    let gone = app.delete_auth(path, &root).await;
    assert_eq!(gone.status(), 204);
    let again = app.delete_auth(path, &root).await;
    assert_problem(again, 404).await;
}

#[tokio::test]
async fn an_event_seen_twice_notifies_once() {
    let app = spawn_app().await;
    let (_, token) = user(&app, "grace@example.com", None).await;
    let welcome = notification_of(&app, &token, "account.welcome").await;
    assert_eq!(welcome["title"], "Welcome to Agora, Grace Hopper");
    // In the inbox and on devices; the verification mail already greets by email.
    let channels: Vec<&str> = welcome["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["in_app", "push"]);
    assert_eq!(
        delivery(&welcome, "push")["detail"],
        "no push provider is configured"
    );
    // Hand the registration to the notifications consumer again, as a crash would.
    let consumer = sea_query::Alias::new("consumer");
    app.db
        .execute(
            sea_query::Query::update()
                .table(sea_query::Alias::new("queue_deliveries"))
                .value(sea_query::Alias::new("status"), "pending")
                .value(sea_query::Alias::new("available_at"), chrono::Utc::now())
                .and_where(sea_query::Expr::col(consumer.clone()).eq("notifications-events")),
        )
        .await
        .unwrap();
    eventually("the redelivery handled", || async {
        let (pending,): (i64,) = app
            .db
            .fetch_one(
                sea_query::Query::select()
                    .expr(sea_query::Expr::col(consumer.clone()).count())
                    .from(sea_query::Alias::new("queue_deliveries"))
                    .and_where(sea_query::Expr::col(consumer.clone()).eq("notifications-events"))
                    .and_where(sea_query::Expr::col(sea_query::Alias::new("status")).ne("done")),
            )
            .await
            .unwrap();
        (pending == 0).then_some(())
    })
    .await;
    let list = inbox(&app, &token).await;
    let welcomes = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["event_type"] == "account.welcome")
        .count();
    assert_eq!(welcomes, 1);
}
