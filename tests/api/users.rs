//! Roles, permissions and account administration.

use serde_json::{json, Value};

use crate::auth::PASSWORD;
use crate::helpers::{assert_problem, eventually, spawn_app, TestApp};

/// Registers an account and makes it an administrator directly in the database.
pub async fn admin(app: &TestApp, email: &str) -> String {
    let (user, _) = app.register(email).await;
    let id = uuid::Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
    app.db
        .execute(
            sea_query::Query::update()
                .table(sea_query::Alias::new("auth_users"))
                .value(sea_query::Alias::new("role"), "admin")
                .and_where(sea_query::Expr::col(sea_query::Alias::new("id")).eq(id)),
        )
        .await
        .unwrap();
    app.login_ok(email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn patch(app: &TestApp, token: &str, id: &Value, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/api/v1/users/{}", id.as_str().unwrap())))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn admin_routes_refuse_anonymous_and_plain_users() {
    let app = spawn_app().await;
    let (user, tokens) = app.register("user@example.com").await;
    let user_token = tokens["access_token"].as_str().unwrap();
    assert_problem(app.get("/api/v1/users").await, 401).await;
    assert_problem(app.get_auth("/api/v1/users", user_token).await, 403).await;
    let id = user["id"].as_str().unwrap();
    for action in ["deactivate", "activate", "unlock"] {
        let path = format!("/api/v1/users/{id}/{action}");
        assert_problem(app.post_auth(&path, user_token, &json!({})).await, 403).await;
        let anonymous = app.client.post(app.url(&path)).send().await.unwrap();
        assert_problem(anonymous, 401).await;
    }
}

#[tokio::test]
async fn admins_list_and_search_users_page_by_page() {
    let app = spawn_app().await;
    let token = admin(&app, "root@example.com").await;
    for name in ["alice", "bob", "carla"] {
        app.register(&format!("{name}@shop.example.com")).await;
    }
    let page: Value = app
        .get_auth("/api/v1/users?limit=2&page=1", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["pagination"],
        json!({"page": 1, "limit": 2, "total": 4})
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let last: Value = app
        .get_auth("/api/v1/users?limit=2&page=2", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["data"].as_array().unwrap().len(), 2);
    assert_ne!(page["data"][0]["id"], last["data"][0]["id"]);

    let found: Value = app
        .get_auth("/api/v1/users?search=BOB", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["pagination"]["total"], 1);
    assert_eq!(found["data"][0]["email"], "bob@shop.example.com");
    let none: Value = app
        .get_auth("/api/v1/users?search=%25", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["pagination"]["total"], 0, "`%` is matched literally");

    assert_problem(app.get_auth("/api/v1/users?limit=101", &token).await, 422).await;
    assert_problem(app.get_auth("/api/v1/users?page=0", &token).await, 422).await;
}

#[tokio::test]
async fn users_edit_themselves_but_not_their_role_or_others() {
    let app = spawn_app().await;
    let (me, tokens) = app.register("me@example.com").await;
    let (other, _) = app.register("other@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();

    let renamed = patch(
        &app,
        token,
        &me["id"],
        json!({"name": "New Name", "phone": "+15551234567"}),
    )
    .await;
    assert_eq!(renamed.status(), 200);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(
        (renamed["name"].as_str(), renamed["phone"].as_str()),
        (Some("New Name"), Some("+15551234567"))
    );
    let cleared: Value = patch(&app, token, &me["id"], json!({"phone": null}))
        .await
        .json()
        .await
        .unwrap();
    assert!(cleared["phone"].is_null());

    assert_problem(
        patch(&app, token, &me["id"], json!({"role": "admin"})).await,
        403,
    )
    .await;
    assert_problem(
        patch(&app, token, &other["id"], json!({"name": "Hacked"})).await,
        403,
    )
    .await;
    assert_problem(
        patch(&app, token, &me["id"], json!({"role": "superuser"})).await,
        422,
    )
    .await;
    assert_problem(
        patch(&app, token, &me["id"], json!({"name": ""})).await,
        422,
    )
    .await;
    let other_id = other["id"].as_str().unwrap();
    assert_problem(
        app.get_auth(&format!("/api/v1/users/{other_id}"), token)
            .await,
        403,
    )
    .await;
    assert_problem(app.get_auth("/api/v1/users/not-a-uuid", token).await, 400).await;
}

#[tokio::test]
async fn admins_change_roles_deactivate_activate_and_unlock() {
    let app = spawn_app().await;
    let root = admin(&app, "boss@example.com").await;
    let (user, tokens) = app.register("worker@example.com").await;
    let id = user["id"].as_str().unwrap();

    let promoted: Value = patch(&app, &root, &user["id"], json!({"role": "admin"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(promoted["role"], "admin");
    // The role takes effect on existing tokens within the revocation bound.
    let worker_token = tokens["access_token"].as_str().unwrap();
    eventually("the new role to apply", || async {
        (app.get_auth("/api/v1/users", worker_token).await.status() == 200).then_some(())
    })
    .await;
    patch(&app, &root, &user["id"], json!({"role": "user"})).await;

    let deactivated: Value = app
        .post_auth(&format!("/api/v1/users/{id}/deactivate"), &root, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deactivated["is_active"], false);
    let refused = assert_problem(app.login("worker@example.com", PASSWORD).await, 403).await;
    assert_eq!(refused["type"], "urn:agora:problem:account-deactivated");
    assert_eq!(app.refresh(&tokens["refresh_token"]).await.status(), 401);
    eventually("the access token to die", || async {
        (app.get_auth("/api/v1/auth/me", worker_token).await.status() == 401).then_some(())
    })
    .await;

    app.post_auth(&format!("/api/v1/users/{id}/activate"), &root, &json!({}))
        .await;
    assert_eq!(
        app.login("worker@example.com", PASSWORD).await.status(),
        200
    );

    // Lock the account, then unlock it.
    for _ in 0..5 {
        app.login("worker@example.com", "not the password!").await;
    }
    assert_eq!(
        app.login("worker@example.com", PASSWORD).await.status(),
        423
    );
    let unlocked: Value = app
        .post_auth(&format!("/api/v1/users/{id}/unlock"), &root, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert!(unlocked["locked_until"].is_null());
    assert_eq!(
        app.login("worker@example.com", PASSWORD).await.status(),
        200
    );

    let missing = uuid::Uuid::now_v7();
    assert_problem(
        app.post_auth(
            &format!("/api/v1/users/{missing}/deactivate"),
            &root,
            &json!({}),
        )
        .await,
        404,
    )
    .await;
}
