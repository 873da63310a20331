//! Bad input gets a clear problem+json, through the platform's own extractors and layers.

use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app_with, TestApp};
use agora::platform::http::{ApiError, Json, Path, Query};

#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Colour {
    Red,
    Green,
}

#[derive(Deserialize, serde::Serialize)]
struct Paint {
    name: String,
    colour: Colour,
}

#[derive(Deserialize)]
struct Paging {
    #[allow(dead_code)]
    page: u32,
}

async fn paint(Json(p): Json<Paint>) -> Json<Paint> {
    Json(p)
}

async fn item(Path(id): Path<uuid::Uuid>) -> String {
    id.to_string()
}

async fn list(Query(_): Query<Paging>) -> &'static str {
    "ok"
}

async fn boom() -> Result<(), ApiError> {
    Err(ApiError::internal(
        "connection string postgres://secret@db leaked?",
    ))
}

async fn panics() -> &'static str {
    panic!("postgres://secret@db is not set")
}

async fn app() -> TestApp {
    let routes = Router::new()
        .route("/echo/paint", post(paint))
        .route("/echo/items/{id}", get(item))
        .route("/echo/list", get(list))
        .route("/echo/boom", get(boom))
        .route("/echo/panic", get(panics));
    spawn_app_with(|s| s.server.body_limit_bytes = 1024, |b| b.routes(routes)).await
}

#[tokio::test]
async fn valid_json_passes_through() {
    let app = app().await;
    let response = app
        .client
        .post(app.url("/echo/paint"))
        .json(&json!({"name": "sky", "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["colour"],
        "red"
    );
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = app().await;
    let response = app
        .client
        .post(app.url("/echo/paint"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 400).await;
    assert_eq!(body["type"], "urn:agora:problem:malformed-json");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = app().await;
    let response = app
        .client
        .post(app.url("/echo/paint"))
        .header("content-type", "text/plain")
        .body("name=sky")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415).await;
}

#[tokio::test]
async fn unknown_enum_value_is_422_naming_the_field() {
    let app = app().await;
    let response = app
        .client
        .post(app.url("/echo/paint"))
        .json(&json!({"name": "sky", "colour": "purple"}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 422).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("colour") && detail.contains("purple"),
        "{detail}"
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = app().await;
    let big = "x".repeat(4096);
    let response = app
        .client
        .post(app.url("/echo/paint"))
        .json(&json!({"name": big, "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 413).await;
}

#[tokio::test]
async fn bad_uuid_in_path_is_400() {
    let app = app().await;
    let ok = app
        .get(&format!("/echo/items/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(ok.status(), 200);
    let body = assert_problem(app.get("/echo/items/not-a-uuid").await, 400).await;
    assert!(body["detail"].as_str().unwrap().contains("UUID"), "{body}");
}

#[tokio::test]
async fn bad_query_parameter_is_400() {
    let app = app().await;
    assert_problem(app.get("/echo/list?page=minus-one").await, 400).await;
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_problems() {
    let app = app().await;
    let body = assert_problem(app.get("/api/v1/nothing-here").await, 404).await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("/api/v1/nothing-here"));

    let response = app
        .client
        .delete(app.url("/echo/paint"))
        .send()
        .await
        .unwrap();
    let allow = response.headers().get("allow").cloned();
    assert_problem(response, 405).await;
    assert!(allow.is_some(), "405 keeps its Allow header");
}

#[tokio::test]
async fn internal_errors_hide_their_cause() {
    let app = app().await;
    let response = app.get("/echo/boom").await;
    let body = assert_problem(response, 500).await;
    assert!(!body.to_string().contains("secret"), "{body}");
}

#[tokio::test]
async fn a_panic_is_a_500_problem_and_the_connection_lives_on() {
    let app = app().await;
    let response = app
        .client
        .get(app.url("/echo/panic"))
        .header("x-request-id", "panic-check")
        .send()
        .await
        .expect("an answer, not a dropped connection");
    let body = assert_problem(response, 500).await;
    assert_eq!(body["request_id"], "panic-check");
    assert!(!body.to_string().contains("secret"), "{body}");
    // The same client (and its pooled connection) goes on being served.
    assert_eq!(app.get("/health").await.status(), 200);
}
