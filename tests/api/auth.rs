//! Accounts, tokens, sessions, lockout, verification and reset, through the HTTP API.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_problem, eventually, limited_after_the_burst, spawn_app, spawn_app_with, TestApp,
};

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn put_auth(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Registers `email` and returns (user, tokens).
    pub async fn register(&self, email: &str) -> (Value, Value) {
        let response = self
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": email, "password": PASSWORD, "name": "Test User"}),
            )
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let body: Value = response.json().await.unwrap();
        (body["user"].clone(), body["tokens"].clone())
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn login_ok(&self, email: &str) -> Value {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn refresh(&self, refresh_token: &Value) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// Every mail the file transport wrote to `to`, oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.data_dir.join("outbox")) else {
            return Vec::new();
        };
        let mut mails: Vec<(std::time::SystemTime, String)> = dir
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| {
                (
                    e.metadata().unwrap().modified().unwrap(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .filter(|(_, m)| m.contains(&format!("<{to}>")))
            .collect();
        mails.sort_by_key(|(t, _)| *t);
        mails.into_iter().map(|(_, m)| m).collect()
    }

    /// Waits for the `n`th mail to `to` whose subject contains `subject`.
    pub async fn mail(&self, to: &str, subject: &str, n: usize) -> String {
        eventually(&format!("mail `{subject}` #{n} to {to}"), || async {
            self.mails_to(to)
                .into_iter()
                .filter(|m| m.contains(subject))
                .nth(n - 1)
        })
        .await
    }
}

/// The code a mail carries on its `token:` line.
pub fn token_in(mail: &str) -> String {
    mail.lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no token in {mail}"))
        .trim()
        .to_string()
}

/// The lock's `Retry-After`: the whole period, less at most a few seconds the test took.
fn assert_retry_after(response: &reqwest::Response, period_secs: u64) {
    let left: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (period_secs - 5..=period_secs).contains(&left),
        "Retry-After {left}, expected about {period_secs}"
    );
}

async fn status_eventually(app: &TestApp, path: &str, token: &str, status: u16) {
    eventually(&format!("{path} to answer {status}"), || async {
        (app.get_auth(path, token).await.status() == status).then_some(())
    })
    .await;
}

#[tokio::test]
async fn register_login_me_refresh_logout() {
    let app = spawn_app().await;
    let (user, tokens) = app.register("  Ada@Example.com ").await;
    assert_eq!(user["email"], "ada@example.com", "normalised");
    assert_eq!(user["role"], "user");
    assert_eq!(user["email_verified"], false);
    assert!(user.get("password_hash").is_none());
    assert_eq!(tokens["token_type"], "Bearer");

    let me: Value = app
        .get_auth("/api/v1/auth/me", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], user["id"]);

    let login = app.login_ok("ADA@example.com").await;
    let access = login["access_token"].as_str().unwrap().to_string();
    let introspection: Value = app
        .get_auth("/api/v1/auth/verify", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(introspection["valid"], true);
    assert_eq!(introspection["user_id"], user["id"]);

    let refreshed: Value = app
        .refresh(&login["refresh_token"])
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(
        refreshed["refresh_token"], login["refresh_token"],
        "rotated"
    );
    let access = refreshed["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get_auth("/api/v1/auth/me", &access).await.status(), 200);

    assert_eq!(
        app.post_auth("/api/v1/auth/logout", &access, &json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.refresh(&refreshed["refresh_token"]).await.status(),
        401,
        "the session's refresh token is dead"
    );
    status_eventually(&app, "/api/v1/auth/me", &access, 401).await;
    // The other session (from registration) lives on.
    assert_eq!(
        app.get_auth("/api/v1/auth/me", tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    assert_problem(app.get("/api/v1/auth/me").await, 401).await;
    let garbage = app.get_auth("/api/v1/auth/verify", "not.a.jwt").await;
    assert_problem(garbage, 401).await;
}

#[tokio::test]
async fn registration_is_validated_field_by_field() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "not-an-email", "password": "short", "name": " "}),
        )
        .await;
    let body = assert_problem(response, 422).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["email", "name", "password"]);

    for (password, why) in [
        ("Password123", "too common"),
        ("bob@example.com", "must not be the email address"),
    ] {
        let response = app
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": "bob@example.com", "password": password, "name": "Bob"}),
            )
            .await;
        let body = assert_problem(response, 422).await;
        assert!(
            body["errors"][0]["message"].as_str().unwrap().contains(why),
            "{password}: {body}"
        );
    }

    app.register("carol@example.com").await;
    let again = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "CAROL@example.com", "password": PASSWORD, "name": "Carol"}),
        )
        .await;
    let body = assert_problem(again, 409).await;
    assert_eq!(body["errors"][0]["field"], "email");

    let with_phone = json!({"email": "dan@example.com", "password": PASSWORD, "name": "Dan", "phone": "+44 1234 567890"});
    assert_eq!(
        app.post_json("/api/v1/auth/register", &with_phone)
            .await
            .status(),
        201
    );
    let same_phone = json!({"email": "erin@example.com", "password": PASSWORD, "name": "Erin", "phone": "+441234567890"});
    let body = assert_problem(
        app.post_json("/api/v1/auth/register", &same_phone).await,
        409,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "phone");
}

#[tokio::test]
async fn registration_publishes_user_registered() {
    let app = spawn_app().await;
    let (user, _) = app.register("frank@example.com").await;
    let rows: Vec<(String, sqlx::types::Json<Value>)> = app
        .db
        .fetch_all(
            sea_query::Query::select()
                .columns([
                    sea_query::Alias::new("key"),
                    sea_query::Alias::new("payload"),
                ])
                .from(sea_query::Alias::new("queue_messages"))
                .and_where(
                    sea_query::Expr::col(sea_query::Alias::new("topic")).eq("auth.user_registered"),
                ),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, user["id"].as_str().unwrap());
    assert_eq!(rows[0].1 .0["email"], "frank@example.com");
    assert_eq!(rows[0].1 .0["name"], "Test User");
}

#[tokio::test]
async fn login_failures_look_the_same_for_unknown_and_known_accounts() {
    let app = spawn_app().await;
    app.register("gina@example.com").await;
    let unknown = assert_problem(app.login("nobody@example.com", PASSWORD).await, 401).await;
    let wrong = assert_problem(
        app.login("gina@example.com", "wrong password here").await,
        401,
    )
    .await;
    assert_eq!(unknown["detail"], wrong["detail"]);
    assert_eq!(unknown["title"], wrong["title"]);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_retry_within_the_grace_window_gets_the_same_pair() {
    let app = spawn_app().await;
    let (_, tokens) = app.register("hal@example.com").await;
    let first: Value = app
        .refresh(&tokens["refresh_token"])
        .await
        .json()
        .await
        .unwrap();
    // The client lost the response and retries with the same token.
    let retry = app.refresh(&tokens["refresh_token"]).await;
    assert_eq!(retry.status(), 200);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(
        retry["refresh_token"], first["refresh_token"],
        "same new refresh token"
    );
    // And the family lives on.
    assert_eq!(app.refresh(&first["refresh_token"]).await.status(), 200);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"auth_refreshes_total{outcome="rotated"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"auth_refreshes_total{outcome="grace"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn reuse_after_the_grace_window_revokes_the_whole_family() {
    let app = spawn_app_with(|s| s.set("auth.refresh_grace_secs", 10), |b| b).await;
    let (_, tokens) = app.register("ivy@example.com").await;
    let other_session = app.login_ok("ivy@example.com").await;
    let first: Value = app
        .refresh(&tokens["refresh_token"])
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .refresh(&first["refresh_token"])
        .await
        .json()
        .await
        .unwrap();
    app.clock.advance(Duration::from_secs(11));

    // The stolen, already rotated first token comes back.
    let reuse = assert_problem(app.refresh(&tokens["refresh_token"]).await, 401).await;
    assert!(
        reuse["detail"].as_str().unwrap().contains("reuse"),
        "{reuse}"
    );
    // Every token of that family is dead, access tokens within the revocation bound.
    assert_eq!(app.refresh(&second["refresh_token"]).await.status(), 401);
    status_eventually(
        &app,
        "/api/v1/auth/me",
        second["access_token"].as_str().unwrap(),
        401,
    )
    .await;
    // Another session of the same user is not touched.
    assert_eq!(
        app.refresh(&other_session["refresh_token"]).await.status(),
        200
    );
}

#[tokio::test]
async fn logout_all_ends_every_refresh_and_access_token() {
    let app = spawn_app().await;
    let (_, first) = app.register("jay@example.com").await;
    let second = app.login_ok("jay@example.com").await;
    let access = second["access_token"].as_str().unwrap();
    let sessions: Value = app
        .get_auth("/api/v1/auth/sessions", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 2);

    let out: Value = app
        .post_auth("/api/v1/auth/logout-all", access, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(out["revoked"], 2);
    for tokens in [&first, &second] {
        assert_eq!(app.refresh(&tokens["refresh_token"]).await.status(), 401);
        status_eventually(
            &app,
            "/api/v1/auth/me",
            tokens["access_token"].as_str().unwrap(),
            401,
        )
        .await;
    }
}

#[tokio::test]
async fn sessions_list_and_revoke_one() {
    let app = spawn_app().await;
    let (_, first) = app.register("kim@example.com").await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .user_agent("agora-test-phone/1.0")
        .build()
        .unwrap();
    let second: Value = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "kim@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = first["access_token"].as_str().unwrap();
    let sessions: Value = app
        .get_auth("/api/v1/auth/sessions", access)
        .await
        .json()
        .await
        .unwrap();
    let sessions = sessions.as_array().unwrap();
    let phone = sessions
        .iter()
        .find(|s| s["device"] == "agora-test-phone/1.0")
        .expect("device recorded");
    assert_eq!(phone["current"], false);
    assert_eq!(phone["ip"], "127.0.0.1");
    assert!(sessions.iter().any(|s| s["current"] == true));

    let id = phone["id"].as_str().unwrap();
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/auth/sessions/{id}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(app.refresh(&second["refresh_token"]).await.status(), 401);
    assert_eq!(app.refresh(&first["refresh_token"]).await.status(), 200);

    // Someone else's session is not found.
    let (_, other) = app.register("lee@example.com").await;
    let not_mine = app
        .client
        .delete(app.url(&format!("/api/v1/auth/sessions/{id}")))
        .bearer_auth(other["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(not_mine, 404).await;
}

#[tokio::test]
async fn parallel_wrong_passwords_lock_after_exactly_n_and_the_lock_doubles() {
    let app = spawn_app_with(
        |s| {
            s.set("auth.max_failed_logins", 5);
            s.set("auth.lockout_secs", 60);
            s.set("auth.lockout_max_secs", 3600);
        },
        |b| b,
    )
    .await;
    app.register("max@example.com").await;

    let attempts = (0..20).map(|_| app.login("max@example.com", "wrong password, again"));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 423).count();
    assert_eq!((unauthorized, locked), (4, 16), "{statuses:?}");

    // Locked: even the right password is refused, with Retry-After.
    let response = app.login("max@example.com", PASSWORD).await;
    assert_retry_after(&response, 60);
    assert_problem(response, 423).await;
    let notice = app
        .mail("max@example.com", "Your account was locked", 1)
        .await;
    assert!(notice.contains("failed login attempts"));

    // The next lock lasts twice as long.
    app.clock.advance(Duration::from_secs(61));
    for _ in 0..4 {
        assert_eq!(
            app.login("max@example.com", "wrong password, again")
                .await
                .status(),
            401
        );
    }
    let second_lock = app.login("max@example.com", "wrong password, again").await;
    assert_eq!(second_lock.status(), 423);
    assert_retry_after(&second_lock, 120);

    // Once it expires, the right password works and the count starts over.
    app.clock.advance(Duration::from_secs(121));
    assert_eq!(app.login("max@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn email_verification_is_single_use_and_can_be_required() {
    let app = spawn_app_with(|s| s.set("auth.require_verified_email", true), |b| b).await;
    let (_, tokens) = app.register("nia@example.com").await;
    let refused = assert_problem(app.login("nia@example.com", PASSWORD).await, 403).await;
    assert_eq!(refused["type"], "urn:agora:problem:email-not-verified");

    // Asking again sends a second mail with a second, equally valid token.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        app.post_auth("/api/v1/auth/resend-verification", access, &json!({}))
            .await
            .status(),
        202
    );
    let first = app
        .mail("nia@example.com", "Confirm your email address", 1)
        .await;
    let second = app
        .mail("nia@example.com", "Confirm your email address", 2)
        .await;
    assert!(first.contains("/verify-email?token="), "{first}");
    let token = token_in(&second);

    let verified = app
        .post_json("/api/v1/auth/verify-email", &json!({ "token": token }))
        .await;
    assert_eq!(verified.status(), 200);
    assert_eq!(
        verified.json::<Value>().await.unwrap()["email_verified"],
        true
    );
    let reused = app
        .post_json("/api/v1/auth/verify-email", &json!({ "token": token }))
        .await;
    assert_problem(reused, 400).await;
    assert_eq!(app.login("nia@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn verification_tokens_expire() {
    let app = spawn_app_with(|s| s.set("auth.verification_ttl_secs", 3600), |b| b).await;
    app.register("oli@example.com").await;
    let token = token_in(
        &app.mail("oli@example.com", "Confirm your email address", 1)
            .await,
    );
    app.clock.advance(Duration::from_secs(3601));
    assert_problem(
        app.post_json("/api/v1/auth/verify-email", &json!({ "token": token }))
            .await,
        400,
    )
    .await;
}

#[tokio::test]
async fn password_reset_is_single_use_and_ends_every_session() {
    let app = spawn_app().await;
    let (_, tokens) = app.register("pat@example.com").await;

    let unknown = app
        .post_json(
            "/api/v1/auth/forgot-password",
            &json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(unknown.status(), 202, "no account probing");
    assert_eq!(
        app.post_json(
            "/api/v1/auth/forgot-password",
            &json!({"email": "PAT@example.com"})
        )
        .await
        .status(),
        202
    );
    let token = token_in(&app.mail("pat@example.com", "Reset your password", 1).await);
    assert!(app.mails_to("nobody@example.com").is_empty());

    // A refused password does not spend the token.
    let weak = app
        .post_json(
            "/api/v1/auth/reset-password",
            &json!({"token": token, "password": "qwertyuiop"}),
        )
        .await;
    assert_problem(weak, 422).await;
    let new_password = "a brand new passphrase";
    let reset = app
        .post_json(
            "/api/v1/auth/reset-password",
            &json!({"token": token, "password": new_password}),
        )
        .await;
    assert_eq!(reset.status(), 204);
    let again = app
        .post_json(
            "/api/v1/auth/reset-password",
            &json!({"token": token, "password": new_password}),
        )
        .await;
    assert_problem(again, 400).await;

    assert_eq!(app.refresh(&tokens["refresh_token"]).await.status(), 401);
    status_eventually(
        &app,
        "/api/v1/auth/me",
        tokens["access_token"].as_str().unwrap(),
        401,
    )
    .await;
    assert_eq!(app.login("pat@example.com", PASSWORD).await.status(), 401);
    assert_eq!(
        app.login("pat@example.com", new_password).await.status(),
        200
    );
}

#[tokio::test]
async fn reset_tokens_expire() {
    let app = spawn_app_with(|s| s.set("auth.reset_ttl_secs", 3600), |b| b).await;
    app.register("quin@example.com").await;
    app.post_json(
        "/api/v1/auth/forgot-password",
        &json!({"email": "quin@example.com"}),
    )
    .await;
    let token = token_in(&app.mail("quin@example.com", "Reset your password", 1).await);
    app.clock.advance(Duration::from_secs(3601));
    let late = app
        .post_json(
            "/api/v1/auth/reset-password",
            &json!({"token": token, "password": "a brand new passphrase"}),
        )
        .await;
    assert_problem(late, 400).await;
}

#[tokio::test]
async fn jwks_verifies_an_issued_token_with_a_standard_library() {
    let app = spawn_app().await;
    let (user, tokens) = app.register("rae@example.com").await;
    let response = app.get("/.well-known/jwks.json").await;
    assert!(response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let jwks: jsonwebtoken::jwk::JwkSet = response.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    let kid = jsonwebtoken::decode_header(token)
        .unwrap()
        .kid
        .expect("kid in the header");
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["agora"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], user["id"]);
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 900);
}

#[tokio::test]
async fn auth_routes_have_a_tighter_rate_limit() {
    let app = spawn_app_with(
        |s| {
            s.set("auth.rate_limit.enabled", true);
            s.set("auth.rate_limit.per_second", 1);
            s.set("auth.rate_limit.burst", 3);
        },
        |b| b,
    )
    .await;
    let limited =
        limited_after_the_burst(3, 1, 50, || app.login("sam@example.com", PASSWORD)).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, 429).await;
    assert_eq!(
        app.get("/api/v1/info").await.status(),
        200,
        "other routes keep the global limit"
    );
}

/// The `agora_refresh` cookie in a response, if it set one.
fn refresh_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("agora_refresh="))
        .map(str::to_string)
}

#[tokio::test]
async fn a_browser_may_keep_its_refresh_token_in_an_http_only_cookie() {
    let app = spawn_app().await;
    let registered = app
        .post_json(
            "/api/v1/auth/register?refresh_cookie=true",
            &json!({"email": "cookie@example.com", "password": PASSWORD, "name": "Cookie"}),
        )
        .await;
    assert_eq!(registered.status(), 201);
    let cookie = refresh_cookie(&registered).expect("a refresh cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/api/v1/auth/refresh",
        "Max-Age=604800",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let body: Value = registered.json().await.unwrap();
    assert_eq!(
        body["tokens"]["refresh_token"], "",
        "not readable by page scripts"
    );
    assert!(body["tokens"]["access_token"].as_str().unwrap().len() > 20);

    // The cookie alone refreshes, and is rotated.
    let pair = cookie.split(';').next().unwrap().to_string();
    let refreshed = app
        .client
        .post(app.url("/api/v1/auth/refresh?refresh_cookie=true"))
        .header(reqwest::header::COOKIE, &pair)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let rotated = refresh_cookie(&refreshed).expect("a new refresh cookie");
    assert_ne!(rotated.split(';').next().unwrap(), pair);
    let tokens: Value = refreshed.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get_auth("/api/v1/auth/me", &access).await.status(), 200);

    // Logging in the usual way still answers the token in the body, and sets no cookie.
    let plain = app.login("cookie@example.com", PASSWORD).await;
    assert!(refresh_cookie(&plain).is_none());
    let plain: Value = plain.json().await.unwrap();
    assert!(!plain["refresh_token"].as_str().unwrap().is_empty());

    // No cookie and no token: 401. Logout clears the cookie.
    assert_problem(app.post_json("/api/v1/auth/refresh", &json!({})).await, 401).await;
    let logout = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let cleared = refresh_cookie(&logout).expect("the cookie cleared");
    assert!(
        cleared.starts_with("agora_refresh=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}
