//! Stores, categories, products, listings and their cache.

use std::sync::Arc;

use agora::platform::queue::{publish, Outgoing};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, eventually, spawn_app, spawn_app_on, TestApp, TestDb};
use crate::users::admin;

pub struct Seller {
    pub token: String,
    pub store: String,
}

/// A registered user and the store made for them from `auth.user_registered`.
pub async fn seller(app: &TestApp, email: &str) -> Seller {
    let (user, tokens) = app.register(email).await;
    let token = tokens["access_token"].as_str().unwrap().to_string();
    let store = eventually("the user's store", || async {
        let stores: Value = app
            .get_auth("/api/v1/stores", &token)
            .await
            .json()
            .await
            .unwrap();
        stores["data"][0]["id"].as_str().map(str::to_string)
    })
    .await;
    let expected = agora::domains::catalog::first_store_id(
        uuid::Uuid::parse_str(user["id"].as_str().unwrap()).unwrap(),
    );
    assert_eq!(store, expected.to_string());
    Seller { token, store }
}

pub fn product(store: &str, sku: &str, price: i64, stock: i64) -> Value {
    json!({"store_id": store, "name": format!("Product {sku}"), "description": "A fine thing", "sku": sku,
           "price": price, "currency": "eur", "stock": stock, "low_stock_threshold": 3})
}

pub async fn create(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = app.post_auth("/api/v1/products", token, body).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn patch(app: &TestApp, token: &str, id: &Value, body: Value) -> reqwest::Response {
    let path = format!("/api/v1/products/{}", id.as_str().unwrap());
    app.client
        .patch(app.url(&path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn skus(app: &TestApp, query: &str) -> Vec<String> {
    let page: Value = app
        .get(&format!("/api/v1/products?{query}"))
        .await
        .json()
        .await
        .unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_store_is_created_once_even_from_a_replayed_event() {
    let app = spawn_app().await;
    let (user, tokens) = app.register("ada@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    let stores = eventually("the store", || async {
        let stores: Value = app
            .get_auth("/api/v1/stores", token)
            .await
            .json()
            .await
            .unwrap();
        (stores["pagination"]["total"] == 1).then_some(stores)
    })
    .await;
    assert_eq!(stores["data"][0]["name"], "Test User's Store");

    // The same event again, as a redelivery would bring it.
    let event = json!({"user_id": user["id"], "email": "ada@example.com", "name": "Test User"});
    let mut tx = app.db.begin().await.unwrap();
    publish(
        &mut tx,
        Outgoing::new("auth.user_registered", user["id"].as_str().unwrap(), &event),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    eventually("the replay to be handled", || async {
        let stats = app.queue.stats().await.unwrap();
        stats
            .iter()
            .filter(|s| s.consumer == "catalog-stores")
            .all(|s| s.pending == 0 && s.processing == 0)
            .then_some(())
    })
    .await;
    let stores: Value = app
        .get_auth("/api/v1/stores", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stores["pagination"]["total"], 1);
}

#[tokio::test]
async fn products_belong_to_their_store() {
    let app = spawn_app().await;
    let ada = seller(&app, "ada@example.com").await;
    let bob = seller(&app, "bob@example.com").await;
    let shoe = create(&app, &ada.token, &product(&ada.store, "shoe-1", 12999, 10)).await;
    assert_eq!(shoe["currency"], "EUR");
    assert_eq!(shoe["is_active"], true);

    let in_bobs_name = app
        .post_auth(
            "/api/v1/products",
            &bob.token,
            &product(&ada.store, "x", 1, 1),
        )
        .await;
    assert_problem(in_bobs_name, 422).await;
    assert_problem(
        patch(&app, &bob.token, &shoe["id"], json!({"price": 1})).await,
        403,
    )
    .await;
    let same_sku = app
        .post_auth(
            "/api/v1/products",
            &ada.token,
            &product(&ada.store, "shoe-1", 5, 5),
        )
        .await;
    assert_problem(same_sku, 409).await;
    // Another store may use the same SKU.
    create(&app, &bob.token, &product(&bob.store, "shoe-1", 5, 5)).await;
    let invalid = app
        .post_auth(
            "/api/v1/products",
            &ada.token,
            &json!({"store_id": ada.store, "sku": "", "price": -1, "currency": "euro", "stock": 1}),
        )
        .await;
    let body = assert_problem(invalid, 422).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 4, "{body}");

    // Hidden: gone for the public, still there for the owner.
    let path = format!("/api/v1/products/{}", shoe["id"].as_str().unwrap());
    assert_eq!(
        patch(&app, &ada.token, &shoe["id"], json!({"is_active": false}))
            .await
            .status(),
        200
    );
    assert_problem(app.get(&path).await, 404).await;
    assert_eq!(app.get_auth(&path, &ada.token).await.status(), 200);
    assert!(skus(&app, &format!("store_id={}", ada.store))
        .await
        .is_empty());
    let own: Value = app
        .get_auth(
            &format!("/api/v1/products?store_id={}", ada.store),
            &ada.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        own["pagination"]["total"], 1,
        "the owner sees hidden products of their store"
    );

    let delete = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert_problem(app.get_auth(&path, &ada.token).await, 404).await;
}

#[tokio::test]
async fn categories_form_a_tree_only_admins_change() {
    let app = spawn_app().await;
    let root = admin(&app, "root@example.com").await;
    let user = seller(&app, "ada@example.com").await;
    assert_problem(
        app.post_auth("/api/v1/categories", &user.token, &json!({"name": "Mine"}))
            .await,
        403,
    )
    .await;
    assert_problem(
        app.client
            .post(app.url("/api/v1/categories"))
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    let shoes: Value = app
        .post_auth("/api/v1/categories", &root, &json!({"name": "Shoes"}))
        .await
        .json()
        .await
        .unwrap();
    let running: Value = app
        .post_auth(
            "/api/v1/categories",
            &root,
            &json!({"name": "Running", "parent_id": shoes["id"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let put = |id: &Value, body: Value| {
        let request = app
            .client
            .put(app.url(&format!("/api/v1/categories/{}", id.as_str().unwrap())))
            .bearer_auth(&root)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let cycle = put(
        &shoes["id"],
        json!({"name": "Shoes", "parent_id": running["id"]}),
    )
    .await;
    let body = assert_problem(cycle, 422).await;
    assert!(body["detail"].as_str().unwrap().contains("cycle"));
    assert_problem(
        put(
            &shoes["id"],
            json!({"name": "Shoes", "parent_id": shoes["id"]}),
        )
        .await,
        422,
    )
    .await;

    let children: Value = app
        .get(&format!(
            "/api/v1/categories?parent_id={}",
            shoes["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(children["data"][0]["name"], "Running");
    let found: Value = app
        .get("/api/v1/categories?search=RUN")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["pagination"]["total"], 1);

    let delete = |id: &Value| {
        let request = app
            .client
            .delete(app.url(&format!("/api/v1/categories/{}", id.as_str().unwrap())))
            .bearer_auth(&root);
        async move { request.send().await.unwrap() }
    };
    assert_problem(delete(&shoes["id"]).await, 409).await;
    assert_eq!(delete(&running["id"]).await.status(), 204);
    assert_eq!(delete(&shoes["id"]).await.status(), 204);
}

#[tokio::test]
async fn browsing_filters_sorts_and_pages() {
    let app = spawn_app().await;
    let root = admin(&app, "root@example.com").await;
    let ada = seller(&app, "ada@example.com").await;
    let shoes: Value = app
        .post_auth("/api/v1/categories", &root, &json!({"name": "Shoes"}))
        .await
        .json()
        .await
        .unwrap();
    let running: Value = app
        .post_auth(
            "/api/v1/categories",
            &root,
            &json!({"name": "Running", "parent_id": shoes["id"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    for (sku, price, stock, category) in [
        ("boot", 9000, 5, &shoes["id"]),
        ("trail", 15000, 0, &running["id"]),
        ("sprint", 12000, 2, &running["id"]),
        ("hat", 2000, 9, &Value::Null),
    ] {
        let mut body = product(&ada.store, sku, price, stock);
        body["category_id"] = category.clone();
        create(&app, &ada.token, &body).await;
    }
    let shoes_id = shoes["id"].as_str().unwrap();
    assert_eq!(
        skus(&app, &format!("category_id={shoes_id}&sort=price")).await,
        vec!["boot", "sprint", "trail"],
        "sub-categories included"
    );
    assert_eq!(
        skus(
            &app,
            &format!("category_id={}", running["id"].as_str().unwrap())
        )
        .await
        .len(),
        2
    );
    assert_eq!(
        skus(&app, "min_price=10000&max_price=13000").await,
        vec!["sprint"]
    );
    assert_eq!(
        skus(&app, "in_stock=true&sort=price&order=desc").await,
        vec!["sprint", "boot", "hat"]
    );
    assert_eq!(skus(&app, "search=TRAI").await, vec!["trail"]);
    assert_eq!(
        skus(&app, "sort=name").await,
        vec!["boot", "hat", "sprint", "trail"]
    );
    let page: Value = app
        .get("/api/v1/products?limit=3&page=2&sort=price")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["pagination"],
        json!({"page": 2, "limit": 3, "total": 4})
    );
    assert_eq!(page["data"][0]["sku"], "trail");
    assert_problem(app.get("/api/v1/products?sort=popularity").await, 422).await;
    assert_problem(
        app.get("/api/v1/products?min_price=5&max_price=1").await,
        422,
    )
    .await;
    assert_problem(app.get("/api/v1/products?in_stock=maybe").await, 400).await;
}

#[tokio::test]
async fn the_listing_cache_is_invalidated_on_update_here_and_on_other_replicas() {
    let db = Arc::new(TestDb::new().await);
    // On PostgreSQL a write's commit is signalled to the other replica, whose own look at the
    // version, ten minutes apart, could not notice in time; on SQLite that look is the way.
    let check_ms = if db.is_postgres() { 600_000 } else { 100 };
    let app = spawn_app_on(db.clone(), |s| s.set("catalog.cache_check_ms", 100), |b| b).await;
    let replica = spawn_app_on(
        db.clone(),
        move |s| s.set("catalog.cache_check_ms", check_ms),
        |b| b,
    )
    .await;
    let ada = seller(&app, "ada@example.com").await;
    let item = create(&app, &ada.token, &product(&ada.store, "lamp", 4000, 10)).await;
    let price_on = |app: &TestApp| {
        let url = app.url("/api/v1/products?search=lamp");
        let client = app.client.clone();
        async move {
            let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            page["data"][0]["price"].as_i64().unwrap()
        }
    };
    assert_eq!(price_on(&app).await, 4000);
    assert_eq!(price_on(&app).await, 4000);
    assert!(app
        .metrics()
        .await
        .contains(r#"catalog_cache_total{read="listing",result="hit"} 1"#));
    // The other replica answers from its cache too (once it has read the catalog version).
    eventually("the other replica to cache", || async {
        assert_eq!(price_on(&replica).await, 4000);
        let metrics = replica.metrics().await;
        metrics
            .contains(r#"catalog_cache_total{read="listing",result="hit"}"#)
            .then_some(())
    })
    .await;

    assert_eq!(
        patch(&app, &ada.token, &item["id"], json!({"price": 3500}))
            .await
            .status(),
        200
    );
    assert_eq!(
        price_on(&app).await,
        3500,
        "the writing replica drops its cache at once"
    );
    // The bound is generous for a loaded machine (the listing TTL is minutes, so only the
    // signal or the version check can make this pass).
    eventually("the other replica to notice", || async {
        (price_on(&replica).await == 3500).then_some(())
    })
    .await;

    // Stock a checkout takes here reaches the other replica's cached listing as well.
    let stock_on = |app: &TestApp| {
        let url = app.url("/api/v1/products?search=lamp");
        let client = app.client.clone();
        async move {
            let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            page["data"][0]["stock"].as_i64().unwrap()
        }
    };
    assert_eq!(stock_on(&replica).await, 10);
    let bob = crate::orders::buyer(&app, "bob@example.com").await;
    let items = json!([{"product_id": item["id"], "quantity": 3}]);
    assert_eq!(
        crate::orders::order(&app, &bob, None, items).await.status(),
        201
    );
    assert_eq!(stock_on(&app).await, 7, "the ordering replica at once");
    eventually("the other replica to show the stock taken", || async {
        (stock_on(&replica).await == 7).then_some(())
    })
    .await;
}

#[tokio::test]
async fn images_are_checked_and_kept_while_a_product_shows_them() {
    let app = spawn_app().await;
    let ada = seller(&app, "ada@example.com").await;
    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];
    let upload = |bytes: &'static [u8], name: &'static str| {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name);
        let request = app
            .client
            .post(app.url("/api/v1/files"))
            .bearer_auth(&ada.token)
            .multipart(reqwest::multipart::Form::new().part("file", part));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let image = upload(PNG, "a.png").await;
    let text = upload(b"not a picture", "notes.txt").await;

    let mut body = product(&ada.store, "framed", 100, 1);
    body["images"] = json!([text["id"]]);
    assert_problem(
        app.post_auth("/api/v1/products", &ada.token, &body).await,
        422,
    )
    .await;
    body["images"] = json!([uuid::Uuid::now_v7()]);
    assert_problem(
        app.post_auth("/api/v1/products", &ada.token, &body).await,
        422,
    )
    .await;
    body["images"] = json!([image["id"]]);
    let framed = create(&app, &ada.token, &body).await;
    assert_eq!(framed["images"], json!([image["id"]]));

    let file_path = format!("/api/v1/files/{}", image["id"].as_str().unwrap());
    let delete_file = || {
        let request = app
            .client
            .delete(app.url(&file_path))
            .bearer_auth(&ada.token);
        async move { request.send().await.unwrap() }
    };
    assert_problem(delete_file().await, 409).await;
    let product_path = format!("/api/v1/products/{}", framed["id"].as_str().unwrap());
    app.client
        .delete(app.url(&product_path))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete_file().await.status(), 204);
}

#[tokio::test]
async fn low_stock_is_published_when_stock_falls_to_the_threshold() {
    let app = spawn_app().await;
    let ada = seller(&app, "ada@example.com").await;
    let item = create(&app, &ada.token, &product(&ada.store, "mug", 900, 10)).await;
    assert_eq!(
        patch(&app, &ada.token, &item["id"], json!({"stock": 5}))
            .await
            .status(),
        200
    );
    assert_eq!(
        patch(&app, &ada.token, &item["id"], json!({"stock": 3}))
            .await
            .status(),
        200
    );
    assert_eq!(
        patch(&app, &ada.token, &item["id"], json!({"stock": 2}))
            .await
            .status(),
        200
    );
    let rows: Vec<(sqlx::types::Json<Value>,)> = app
        .db
        .fetch_all(
            sea_query::Query::select()
                .column(sea_query::Alias::new("payload"))
                .from(sea_query::Alias::new("queue_messages"))
                .and_where(
                    sea_query::Expr::col(sea_query::Alias::new("topic")).eq("catalog.stock_low"),
                ),
        )
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "published once, when it fell to the threshold"
    );
    assert_eq!(rows[0].0 .0["stock"], 3);
    assert_eq!(rows[0].0 .0["sku"], "mug");
}

#[tokio::test]
async fn a_product_can_come_with_its_image_in_one_multipart_request() {
    use reqwest::multipart::{Form, Part};
    let app = spawn_app().await;
    let ada = seller(&app, "ada@example.com").await;
    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];
    let send = |product: Option<Value>, image: Option<(&'static [u8], &'static str)>| {
        let mut form = Form::new();
        if let Some(product) = product {
            form = form.text("product", product.to_string());
        }
        if let Some((bytes, name)) = image {
            form = form.part("image", Part::bytes(bytes).file_name(name));
        }
        let request = app
            .client
            .post(app.url("/api/v1/products"))
            .bearer_auth(&ada.token)
            .multipart(form);
        async move { request.send().await.unwrap() }
    };

    let created = send(
        Some(product(&ada.store, "photo", 500, 3)),
        Some((PNG, "front.png")),
    )
    .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["images"].as_array().unwrap().len(), 1);

    let spoofed = send(
        Some(product(&ada.store, "evil", 500, 3)),
        Some((b"#!/bin/sh\necho owned\n", "cat.png")),
    )
    .await;
    assert_problem(spoofed, 415).await;
    assert_problem(send(None, Some((PNG, "a.png"))).await, 422).await;
    let refused_product = send(Some(product(&ada.store, "", 500, 3)), Some((PNG, "b.png"))).await;
    assert_problem(refused_product, 422).await;
    assert_eq!(
        skus(&app, &format!("store_id={}", ada.store)).await,
        vec!["photo"]
    );
    let uploads = std::fs::read_dir(app.data_dir.join("uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 1, "refused products store no image");
}

/// A GET of `path` with `If-None-Match: etag` (none when empty): (status, ETag, Cache-Control, body).
async fn conditional(app: &TestApp, path: &str, etag: &str) -> (u16, String, String, String) {
    let mut request = app.client.get(app.url(path));
    if !etag.is_empty() {
        request = request.header("if-none-match", etag);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map_or(String::new(), |v| v.to_str().unwrap().to_string())
    };
    let (etag, control) = (header("etag"), header("cache-control"));
    (
        response.status().as_u16(),
        etag,
        control,
        response.text().await.unwrap(),
    )
}

#[tokio::test]
async fn cached_reads_answer_not_modified_until_a_write_changes_them() {
    let app = spawn_app().await;
    let ada = seller(&app, "ada@example.com").await;
    let item = create(&app, &ada.token, &product(&ada.store, "lamp", 4000, 10)).await;
    let listing = "/api/v1/products?search=lamp";
    let one = format!("/api/v1/products/{}", item["id"].as_str().unwrap());

    for path in [listing, one.as_str()] {
        let (status, etag, control, body) = conditional(&app, path, "").await;
        assert_eq!(status, 200, "{path}");
        assert!(
            etag.starts_with('"') && etag.len() > 2,
            "{path}: a strong tag, not {etag:?}"
        );
        assert_eq!(control, "public, no-cache", "{path}");
        assert!(body.contains("4000"), "{path}: {body}");
        let (status, again, control, body) = conditional(&app, path, &etag).await;
        assert_eq!(
            (status, again.as_str(), body.as_str()),
            (304, etag.as_str(), ""),
            "{path}"
        );
        assert_eq!(control, "public, no-cache", "{path}");
        assert_eq!(
            conditional(&app, path, "\"stale\"").await.0,
            200,
            "{path}: another tag"
        );
    }
    // Both reads were answered from the cache, not only tagged.
    eventually("cache hits for both reads", || async {
        conditional(&app, listing, "").await;
        conditional(&app, &one, "").await;
        let metrics = app.metrics().await;
        (metrics.contains(r#"catalog_cache_total{read="listing",result="hit"}"#)
            && metrics.contains(r#"catalog_cache_total{read="product",result="hit"}"#))
        .then_some(())
    })
    .await;

    let (_, listing_tag, _, _) = conditional(&app, listing, "").await;
    let (_, product_tag, _, _) = conditional(&app, &one, "").await;
    assert_eq!(
        patch(&app, &ada.token, &item["id"], json!({"price": 3500}))
            .await
            .status(),
        200
    );
    for (path, tag) in [(listing, &listing_tag), (one.as_str(), &product_tag)] {
        let (status, etag, _, body) = conditional(&app, path, tag).await;
        assert_eq!(status, 200, "{path}: changed right after the write");
        assert_ne!(&etag, tag, "{path}");
        assert!(body.contains("3500"), "{path}: {body}");
    }

    // A hidden product is its owner's alone: never cached, never shared.
    patch(&app, &ada.token, &item["id"], json!({"is_active": false})).await;
    assert_eq!(conditional(&app, &one, "").await.0, 404);
    let hidden = app
        .client
        .get(app.url(&one))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 200);
    assert_eq!(hidden.headers()["cache-control"], "private, no-cache");
}
