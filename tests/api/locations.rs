//! Saved places, nearby and box queries, GeoJSON, and reverse geocoding offline and through a
//! Nominatim stand-in served here on 127.0.0.1.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, eventually, spawn_app, spawn_app_with, TestApp};
use crate::users::admin;

const LONDON: (f64, f64) = (51.5074, -0.1278);
const GREENWICH: (f64, f64) = (51.4826, -0.0077);
const OXFORD: (f64, f64) = (51.7520, -1.2577);
const PARIS: (f64, f64) = (48.8566, 2.3522);

async fn token(app: &TestApp, email: &str) -> String {
    let (_, tokens) = app.register(email).await;
    tokens["access_token"].as_str().unwrap().to_string()
}

async fn save(app: &TestApp, token: &str, name: &str, (lat, lon): (f64, f64)) -> Value {
    let response = app
        .post_auth(
            "/api/v1/locations",
            token,
            &json!({"name": name, "lat": lat, "lon": lon}),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test]
async fn places_belong_to_their_owner() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    let bob = token(&app, "bob@example.com").await;
    let created = app
        .post_auth(
            "/api/v1/locations",
            &ada,
            &json!({"name": "  Office ", "lat": LONDON.0, "lon": LONDON.1, "notes": "3rd floor", "tags": ["Work", "work"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let place: Value = created.json().await.unwrap();
    assert_eq!(place["name"], "Office");
    assert_eq!(place["tags"], json!(["work"]));
    assert_eq!(place["address_provider"], "offline");
    assert_eq!(place["address"]["country_code"], "gb");
    let path = format!("/api/v1/locations/{}", place["id"].as_str().unwrap());

    assert_eq!(app.get_auth(&path, &ada).await.status(), 200);
    assert_problem(app.get_auth(&path, &bob).await, 404).await;
    let put = |token: &str, body: Value| {
        let request = app
            .client
            .put(app.url(&path))
            .bearer_auth(token)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    assert_problem(
        put(&bob, json!({"name": "Mine now", "lat": 1.0, "lon": 1.0})).await,
        404,
    )
    .await;
    let moved = put(&ada, json!({"name": "Paris office", "lat": PARIS.0, "lon": PARIS.1, "address": {"display_name": "Given by hand"}})).await;
    assert_eq!(moved.status(), 200);
    let moved: Value = moved.json().await.unwrap();
    assert_eq!(moved["address"]["display_name"], "Given by hand");
    assert_eq!(moved["address_provider"], "user");

    let root = admin(&app, "root@example.com").await;
    assert_eq!(
        app.get_auth(&path, &root).await.status(),
        200,
        "administrators see every place"
    );
    let everyone: Value = app
        .get_auth("/api/v1/locations", &root)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(everyone["pagination"]["total"], 1);
    let own: Value = app
        .get_auth("/api/v1/locations", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["pagination"]["total"], 0);

    let delete = |token: &str| {
        let request = app.client.delete(app.url(&path)).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    assert_problem(delete(&bob).await, 404).await;
    assert_eq!(delete(&ada).await.status(), 204);
    assert_problem(app.get_auth(&path, &ada).await, 404).await;
    assert_problem(app.get("/api/v1/locations").await, 401).await;
}

#[tokio::test]
async fn invalid_places_are_refused_field_by_field() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    let response = app
        .post_auth(
            "/api/v1/locations",
            &ada,
            &json!({"name": "", "lat": 90.5, "lon": -180.5}),
        )
        .await;
    let body = assert_problem(response, 422).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["name", "lat", "lon"]);
    let not_a_number = app
        .post_auth(
            "/api/v1/locations",
            &ada,
            &json!({"name": "x", "lat": "north", "lon": 0}),
        )
        .await;
    assert_problem(not_a_number, 422).await;
    assert_problem(
        app.get_auth("/api/v1/locations/reverse-geocode/91/0", &ada)
            .await,
        422,
    )
    .await;
    assert_problem(
        app.get_auth("/api/v1/locations/reverse-geocode/abc/0", &ada)
            .await,
        400,
    )
    .await;
    assert_problem(
        app.get_auth("/api/v1/locations/nearby?lat=0&lon=0&radius_km=-1", &ada)
            .await,
        422,
    )
    .await;
    assert_problem(
        app.get_auth("/api/v1/locations?bbox=1,2,3", &ada).await,
        422,
    )
    .await;
}

#[tokio::test]
async fn nearby_and_box_queries_return_the_right_places_in_order() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    let bob = token(&app, "bob@example.com").await;
    for (name, point) in [
        ("oxford", OXFORD),
        ("greenwich", GREENWICH),
        ("paris", PARIS),
        ("london", LONDON),
    ] {
        save(&app, &ada, name, point).await;
    }
    save(&app, &bob, "bob's london", LONDON).await;

    let near = |radius: f64| {
        let path = format!(
            "/api/v1/locations/nearby?lat={}&lon={}&radius_km={radius}",
            LONDON.0, LONDON.1
        );
        let (app, ada) = (&app, &ada);
        async move {
            let found: Value = app.get_auth(&path, ada).await.json().await.unwrap();
            found
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_string(),
                        p["distance_km"].as_f64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let within_10 = near(10.0).await;
    let names: Vec<&str> = within_10.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["london", "greenwich"]);
    assert!(
        within_10[0].1 < 0.01 && (8.0..9.5).contains(&within_10[1].1),
        "{within_10:?}"
    );
    let within_100: Vec<String> = near(100.0).await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(within_100, vec!["london", "greenwich", "oxford"]);
    assert_eq!(near(1000.0).await.len(), 4);

    let boxed: Value = app
        .get_auth("/api/v1/locations?bbox=-0.2,51.4,0.1,51.6", &ada)
        .await
        .json()
        .await
        .unwrap();
    let mut names: Vec<&str> = boxed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["greenwich", "london"]);
    assert_eq!(boxed["pagination"]["total"], 2);
}

#[tokio::test]
async fn geojson_feature_collection() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    save(&app, &ada, "louvre", PARIS).await;
    let response = app.get_auth("/api/v1/locations.geojson", &ada).await;
    assert_eq!(response.headers()["content-type"], "application/geo+json");
    let geo: Value = response.json().await.unwrap();
    assert_eq!(geo["type"], "FeatureCollection");
    let feature = &geo["features"][0];
    assert_eq!(feature["type"], "Feature");
    assert_eq!(
        feature["geometry"],
        json!({"type": "Point", "coordinates": [PARIS.1, PARIS.0]})
    );
    assert_eq!(feature["properties"]["name"], "louvre");
}

#[tokio::test]
async fn the_offline_geocoder_names_the_city_its_district_region_and_country() {
    let app = spawn_app().await;
    let ada = token(&app, "ada@example.com").await;
    // The Eiffel Tower: Neuilly-sur-Seine's centre is nearer than Paris's.
    let eiffel = reverse(&app, &ada, (48.8584, 2.2945)).await;
    assert_eq!(eiffel["provider"], "offline");
    assert_eq!(
        eiffel["address"],
        json!({"display_name": "Paris, Île-de-France, France", "city": "Paris",
               "region": "Île-de-France", "state": "Île-de-France", "country": "France",
               "country_code": "fr"})
    );
    let castle = reverse(&app, &ada, (50.0911, 14.4016)).await;
    assert_eq!(castle["address"]["district"], "Malá Strana", "{castle}");
    assert_eq!(castle["address"]["city"], "Prague");
    assert_eq!(castle["address"]["country_code"], "cz");

    // Out in the Pacific there is no address.
    let sea = assert_problem(
        app.get_auth("/api/v1/locations/reverse-geocode/0/-140", &ada)
            .await,
        404,
    )
    .await;
    assert_eq!(sea["detail"], "No address is known at this point");
    let boat = save(&app, &ada, "boat", (0.0, -140.0)).await;
    assert_eq!(boat["address"], Value::Null, "{boat}");
    assert_problem(
        app.get("/api/v1/locations/reverse-geocode/48.85/2.35")
            .await,
        401,
    )
    .await;
}

/// A stand-in for Nominatim's `/reverse`, recording when and how it was called.
#[derive(Clone, Default)]
struct FakeNominatim {
    calls: Arc<Mutex<Vec<Instant>>>,
    user_agents: Arc<Mutex<Vec<String>>>,
    failing: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
}

impl FakeNominatim {
    async fn start(&self) -> String {
        async fn reverse(
            State(fake): State<FakeNominatim>,
            headers: HeaderMap,
            Query(q): Query<std::collections::HashMap<String, String>>,
        ) -> impl IntoResponse {
            fake.count.fetch_add(1, Ordering::SeqCst);
            fake.calls.lock().unwrap().push(Instant::now());
            let ua = headers
                .get("user-agent")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            fake.user_agents.lock().unwrap().push(ua);
            if fake.failing.load(Ordering::SeqCst) {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"error": "down"})),
                );
            }
            let (lat, lon) = (&q["lat"], &q["lon"]);
            (
                StatusCode::OK,
                axum::Json(json!({
                    "display_name": format!("1 Fake Road, Fakeville ({lat}, {lon})"),
                    "address": {"road": "Fake Road", "suburb": "Old Town", "town": "Fakeville", "state": "Fakeshire",
                                "postcode": "FK1 1AA", "country": "Fakeland", "country_code": "FK"}
                })),
            )
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/reverse", get(reverse))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

async fn app_with_nominatim(
    fake: &FakeNominatim,
    tune: impl FnOnce(&mut agora::Settings),
) -> TestApp {
    let url = fake.start().await;
    spawn_app_with(
        move |s| {
            s.set("locations.geocoder", "nominatim");
            s.set("locations.nominatim.url", url);
            s.set(
                "locations.nominatim.user_agent",
                "AgoraTest/1.0 (tests@example.com)",
            );
            s.set("locations.nominatim.min_interval_ms", 100);
            s.set("locations.nominatim.timeout_secs", 2);
            s.set("locations.nominatim.breaker_failures", 3);
            s.set("locations.nominatim.breaker_open_secs", 1);
            tune(s);
        },
        |b| b,
    )
    .await
}

async fn reverse(app: &TestApp, token: &str, (lat, lon): (f64, f64)) -> Value {
    let response = app
        .get_auth(
            &format!("/api/v1/locations/reverse-geocode/{lat}/{lon}"),
            token,
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn nominatim_is_asked_at_most_once_per_interval_under_parallel_lookups() {
    let fake = FakeNominatim::default();
    let app =
        app_with_nominatim(&fake, |s| s.set("locations.nominatim.min_interval_ms", 200)).await;
    let ada = token(&app, "ada@example.com").await;
    let points: Vec<(f64, f64)> = (0..20)
        .map(|i| (10.0 + i as f64 * 0.5, 20.0 + i as f64 * 0.5))
        .collect();
    let answers = futures::future::join_all(points.iter().map(|p| reverse(&app, &ada, *p))).await;
    assert!(
        answers.iter().all(|a| a["provider"] == "nominatim"),
        "{answers:?}"
    );
    assert_eq!(
        answers[0]["address"]["city"], "Fakeville",
        "town is the city when there is no city"
    );
    assert_eq!(answers[0]["address"]["country_code"], "fk");
    // The same fields, and the same display name, as the offline geocoder gives.
    assert_eq!(answers[0]["address"]["district"], "Old Town");
    assert_eq!(answers[0]["address"]["region"], "Fakeshire");
    assert_eq!(
        answers[0]["address"]["display_name"],
        "Fake Road, Old Town, Fakeville, FK1 1AA, Fakeshire, Fakeland"
    );

    let mut calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 20);
    calls.sort();
    // Sends are 200 ms apart. Arrival at the server adds the jitter of a loaded machine,
    // which can bunch two arrivals, so look at the typical gap and the whole span (parallel
    // lookups without spacing would all arrive within milliseconds).
    let mut gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    assert!(
        gaps[gaps.len() / 2] >= Duration::from_millis(150),
        "{gaps:?}"
    );
    let span = calls[19] - calls[0];
    assert!(
        span >= Duration::from_millis(19 * 200 - 1000),
        "20 requests over {span:?}"
    );
    assert!(fake
        .user_agents
        .lock()
        .unwrap()
        .iter()
        .all(|ua| ua == "AgoraTest/1.0 (tests@example.com)"));
}

#[tokio::test]
async fn cached_answers_make_no_request() {
    let fake = FakeNominatim::default();
    let app = app_with_nominatim(&fake, |_| {}).await;
    let ada = token(&app, "ada@example.com").await;
    let first = reverse(&app, &ada, (51.50741, -0.12781)).await;
    // The same point, and one within the cache's rounding (4 decimals).
    let again = reverse(&app, &ada, (51.50741, -0.12781)).await;
    let near = reverse(&app, &ada, (51.507412, -0.127808)).await;
    assert_eq!(fake.count(), 1);
    assert_eq!(first, again);
    assert_eq!(near["provider"], "nominatim");
    assert!(app
        .metrics()
        .await
        .contains(r#"geocoder_cache_total{result="hit"} 2"#));
}

#[tokio::test]
async fn the_breaker_opens_falls_back_offline_and_closes_on_recovery() {
    let fake = FakeNominatim::default();
    let app = app_with_nominatim(&fake, |s| {
        s.set("locations.nominatim.breaker_open_secs", 30)
    })
    .await;
    let ada = token(&app, "ada@example.com").await;
    let root = admin(&app, "root@example.com").await;
    let breaker_state = || async {
        let body: Value = app
            .get_auth("/api/v1/admin/circuit-breakers", &root)
            .await
            .json()
            .await
            .unwrap();
        body["breakers"][0]["state"].as_str().unwrap().to_string()
    };
    assert_eq!(breaker_state().await, "closed");
    assert_problem(
        app.get_auth("/api/v1/admin/circuit-breakers", &ada).await,
        403,
    )
    .await;

    fake.failing.store(true, Ordering::SeqCst);
    for i in 0..3 {
        let answer = reverse(&app, &ada, (48.8566 + i as f64, 2.3522)).await;
        assert_eq!(answer["provider"], "offline", "each failure falls back");
    }
    assert_eq!(fake.count(), 3);
    assert_eq!(breaker_state().await, "open");
    assert!(app
        .metrics()
        .await
        .contains(r#"circuit_breaker_state{name="nominatim"} 1"#));
    // Open: Nominatim is not asked at all.
    let answer = reverse(&app, &ada, PARIS).await;
    assert_eq!(answer["provider"], "offline");
    assert_eq!(answer["address"]["city"], "Paris");
    assert_eq!(fake.count(), 3);

    // Recovered: after the open period one trial goes through and closes the breaker.
    fake.failing.store(false, Ordering::SeqCst);
    app.clock.advance(Duration::from_secs(31));
    assert_eq!(breaker_state().await, "half_open");
    let answer = reverse(&app, &ada, (40.0, -3.7)).await;
    assert_eq!(answer["provider"], "nominatim");
    assert_eq!(breaker_state().await, "closed");
    assert!(app
        .metrics()
        .await
        .contains(r#"circuit_breaker_state{name="nominatim"} 0"#));
}

#[tokio::test]
async fn a_slow_geocoder_never_fails_the_save_and_a_job_fills_the_address() {
    let fake = FakeNominatim::default();
    // One request per 10 s and saves that wait at most 2 s: the second save must go on
    // without, and a job fills its address once the next slot comes.
    let app = app_with_nominatim(&fake, |s| {
        s.set("locations.nominatim.min_interval_ms", 10_000);
        s.set("locations.nominatim.timeout_secs", 1);
    })
    .await;
    let ada = token(&app, "ada@example.com").await;
    let first = save(&app, &ada, "first", LONDON).await;
    assert_eq!(first["address_provider"], "nominatim");
    let second = save(&app, &ada, "second", OXFORD).await;
    assert!(second["address"].is_null(), "{second}");

    let path = format!("/api/v1/locations/{}", second["id"].as_str().unwrap());
    let filled = eventually("the address to be filled", || async {
        let place: Value = app.get_auth(&path, &ada).await.json().await.unwrap();
        (!place["address"].is_null()).then_some(place)
    })
    .await;
    assert_eq!(filled["address_provider"], "nominatim");
    assert_eq!(filled["address"]["road"], "Fake Road");
}
