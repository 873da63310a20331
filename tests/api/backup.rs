//! `agora backup` while the server runs, and `agora restore` into an empty database and data
//! directory: every account, order, email and file is back, and old tokens still verify.

use std::process::Output;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::catalog::{create, product, seller};
use crate::cli::agora;
use crate::files::upload;
use crate::helpers::{spawn_app, spawn_app_on, TestApp, TestDb};
use crate::orders::{buyer, order};

fn run(cwd: &std::path::Path, db: &TestDb, data_dir: &std::path::Path, args: &[&str]) -> Output {
    agora(cwd)
        .args(args)
        .env("AGORA__DATABASE__URL", &db.url)
        .env("AGORA__DATA_DIR", data_dir)
        .output()
        .unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.get_auth(path, token).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_backup_restores_into_an_empty_place_with_everything_back() {
    let app = spawn_app().await;
    let seller = seller(&app, "seller@example.com").await;
    let buyer = buyer(&app, "buyer@example.com").await;
    let mut image = crate::files::PNG.to_vec();
    image.extend((0..=255u8).cycle().take(10_000));
    let uploaded = upload(&app, &seller.token, "mug.png", "image/png", image.clone()).await;
    assert_eq!(uploaded.status(), 201);
    let file: Value = uploaded.json().await.unwrap();
    let mug = create(&app, &seller.token, &product(&seller.store, "MUG", 1200, 5)).await;
    let placed = order(
        &app,
        &buyer,
        None,
        json!([{"product_id": mug["id"], "quantity": 2}]),
    )
    .await;
    assert_eq!(placed.status(), 201);
    let placed: Value = placed.json().await.unwrap();
    let sent = app
        .post_auth(
            "/api/v1/emails/send",
            &seller.token,
            &json!({"to": ["friend@example.com"], "subject": "Backed up", "text": "Still here."}),
        )
        .await;
    assert_eq!(sent.status(), 202);
    let email: Value = sent.json().await.unwrap();

    // The backup, from another process while the server runs.
    let cwd = tempfile::tempdir().unwrap();
    let backup = cwd.path().join("backup");
    let backup_arg = backup.to_str().unwrap();
    let made = run(
        cwd.path(),
        &app._test_db,
        &app.data_dir,
        &["backup", backup_arg],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let names: Vec<&String> = manifest["files"].as_object().unwrap().keys().collect();
    assert!(names.iter().any(|n| n.starts_with("jwt/")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("uploads/")), "{names:?}");

    // A backup is written only where nothing is.
    let over = run(
        cwd.path(),
        &app._test_db,
        &app.data_dir,
        &["backup", backup_arg],
    );
    assert!(!over.status.success());
    assert!(String::from_utf8_lossy(&over.stderr).contains("is not empty"));

    // Restored into a fresh database of the same kind and an empty data directory.
    let fresh = Arc::new(TestDb::new().await);
    let data_dir = fresh.dir.path().join("data");
    let restored = run(cwd.path(), &fresh, &data_dir, &["restore", backup_arg]);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let again = run(cwd.path(), &fresh, &data_dir, &["restore", backup_arg]);
    assert!(
        !again.status.success(),
        "a second restore over the first is refused"
    );

    // A damaged backup is refused before anything is written.
    let damaged_db = TestDb::new().await;
    let upload_name = names.iter().find(|n| n.starts_with("uploads/")).unwrap();
    std::fs::write(backup.join(upload_name.as_str()), b"tampered").unwrap();
    let damaged_dir = damaged_db.dir.path().join("data");
    let refused = run(
        cwd.path(),
        &damaged_db,
        &damaged_dir,
        &["restore", backup_arg],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("damaged"));
    assert!(
        !damaged_dir.exists(),
        "nothing written from a damaged backup"
    );

    app.stop().await.unwrap();
    let app = spawn_app_on(fresh, |_| {}, |b| b).await;
    // Tokens issued before the backup verify: the signing keys came back.
    let me = get(&app, &buyer.token, "/api/v1/auth/me").await;
    assert_eq!(me["email"], "buyer@example.com");
    app.login_ok("seller@example.com").await;
    let order = get(
        &app,
        &buyer.token,
        &format!("/api/v1/orders/{}", placed["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(order["items"][0]["quantity"], 2, "{order}");
    let email = get(
        &app,
        &seller.token,
        &format!("/api/v1/emails/{}", email["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(email["subject"], "Backed up");
    let bytes = app
        .client
        .get(app.url(file["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        bytes.as_ref(),
        image.as_slice(),
        "the file's bytes came back"
    );
}
