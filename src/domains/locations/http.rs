//! Locations' routes under `/api/v1`.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{BBox, Location, LocationInput};
use super::service::{Breaker, LocationError, LocationsService, Nearby, ReverseGeocoded};
use crate::domains::auth::contract::Authenticator;
use crate::domains::authn::{permissions::ReadOperations, Authenticated, RequirePermission};
use crate::platform::http::{ApiError, Json, Page, PageParams, Path, Problem, Query};

const TAG: &str = "locations";

#[derive(Clone)]
pub struct LocationsState {
    pub svc: Arc<LocationsService>,
    pub authenticator: Arc<dyn Authenticator>,
}

impl FromRef<LocationsState> for Arc<dyn Authenticator> {
    fn from_ref(state: &LocationsState) -> Self {
        state.authenticator.clone()
    }
}

impl From<LocationError> for ApiError {
    fn from(err: LocationError) -> Self {
        match err {
            LocationError::Validation(errors) => ApiError::validation(errors),
            LocationError::NotFound => ApiError::not_found("No such location"),
            LocationError::NoAddress => ApiError::not_found("No address is known at this point"),
            LocationError::GeocoderUnavailable(e) => {
                tracing::warn!(error = %e, "geocoder unavailable");
                ApiError::unavailable("The geocoder is unavailable; try again later")
            }
            LocationError::Db(e) => e.into(),
        }
    }
}

pub fn routes() -> OpenApiRouter<LocationsState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, replace, delete))
        .routes(routes!(nearby))
        .routes(routes!(geojson))
        .routes(routes!(reverse_geocode))
        .routes(routes!(circuit_breakers))
}

/// Save a place. The address is looked up unless given; if the geocoder fails, the place is
/// saved all the same and a job fills the address in later.
#[utoipa::path(post, path = "/locations", operation_id = "createLocation", tag = TAG, security(("bearer" = [])), request_body = LocationInput,
    responses((status = 201, body = Location), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(state): State<LocationsState>,
    Authenticated(principal): Authenticated,
    Json(input): Json<LocationInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.svc.create(&principal, input).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoxFilter {
    /// Only places inside `minLon,minLat,maxLon,maxLat`.
    #[param(example = "-0.2,51.4,0.1,51.6")]
    pub bbox: Option<String>,
}

/// The caller's places (administrators: everyone's), newest first.
#[utoipa::path(get, path = "/locations", operation_id = "listLocations", tag = TAG, security(("bearer" = [])), params(PageParams, BoxFilter),
    responses((status = 200, body = Page<Location>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list(
    State(state): State<LocationsState>,
    Authenticated(principal): Authenticated,
    Query(paging): Query<PageParams>,
    Query(filter): Query<BoxFilter>,
) -> Result<Json<Page<Location>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let bbox = filter
        .bbox
        .as_deref()
        .map(BBox::parse)
        .transpose()
        .map_err(|e| ApiError::validation(vec![e]))?;
    let (items, total) = state.svc.list(&principal, bbox, page, limit).await?;
    Ok(Json(Page::new(items, page, limit, total)))
}

/// One place (its owner or an administrator; others get 404).
#[utoipa::path(get, path = "/locations/{id}", operation_id = "getLocation", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Location), (status = 404, body = Problem)))]
async fn get_one(
    State(state): State<LocationsState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<Location>, ApiError> {
    Ok(Json(state.svc.get(&principal, id).await?))
}

/// Replace a place.
#[utoipa::path(put, path = "/locations/{id}", operation_id = "replaceLocation", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = LocationInput,
    responses((status = 200, body = Location), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn replace(
    State(state): State<LocationsState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    Json(input): Json<LocationInput>,
) -> Result<Json<Location>, ApiError> {
    Ok(Json(state.svc.replace(&principal, id, input).await?))
}

/// Delete a place.
#[utoipa::path(delete, path = "/locations/{id}", operation_id = "deleteLocation", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
async fn delete(
    State(state): State<LocationsState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.delete(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NearbyQuery {
    #[param(example = 51.5)]
    pub lat: f64,
    #[param(example = -0.12)]
    pub lon: f64,
    #[param(example = 5.0)]
    pub radius_km: f64,
    /// At most this many, 1 to 100 (default 20).
    pub limit: Option<u64>,
}

/// The caller's places within `radius_km` of a point, nearest first, with their distance.
#[utoipa::path(get, path = "/locations/nearby", operation_id = "listNearbyLocations", tag = TAG, security(("bearer" = [])), params(NearbyQuery),
    responses((status = 200, body = Vec<Nearby>), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn nearby(
    State(state): State<LocationsState>,
    Authenticated(principal): Authenticated,
    Query(q): Query<NearbyQuery>,
) -> Result<Json<Vec<Nearby>>, ApiError> {
    let (_, limit) = PageParams {
        page: None,
        limit: q.limit,
    }
    .resolve()?;
    Ok(Json(
        state
            .svc
            .nearby(&principal, q.lat, q.lon, q.radius_km, limit)
            .await?,
    ))
}

/// The caller's places (administrators: all) as a GeoJSON FeatureCollection, for Leaflet,
/// Kibana or QGIS.
#[utoipa::path(get, path = "/locations.geojson", operation_id = "exportLocationsGeoJson", tag = TAG, security(("bearer" = [])),
    responses((status = 200, description = "GeoJSON FeatureCollection", body = Object, content_type = "application/geo+json")))]
async fn geojson(
    State(state): State<LocationsState>,
    Authenticated(principal): Authenticated,
) -> Result<impl IntoResponse, ApiError> {
    let features: Vec<Value> = state
        .svc
        .all(&principal)
        .await?
        .into_iter()
        .map(|l| {
            json!({
                "type": "Feature",
                "id": l.id,
                // GeoJSON positions are [longitude, latitude].
                "geometry": { "type": "Point", "coordinates": [l.lon, l.lat] },
                "properties": {
                    "name": l.name, "notes": l.notes, "tags": l.tags, "owner_id": l.owner_id,
                    "address": l.address.as_ref().map(|a| a.display_name.clone()),
                    "created_at": l.created_at,
                },
            })
        })
        .collect();
    let body = json!({ "type": "FeatureCollection", "features": features });
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        axum::Json(body),
    ))
}

/// The address at a point, and which provider answered.
#[utoipa::path(get, path = "/locations/reverse-geocode/{lat}/{lon}", operation_id = "reverseGeocode", tag = TAG, security(("bearer" = [])),
    params(("lat" = f64, Path, example = 48.8584), ("lon" = f64, Path, example = 2.2945)),
    responses(
        (status = 200, body = ReverseGeocoded),
        (status = 404, description = "No address known there", body = Problem),
        (status = 422, body = Problem),
        (status = 503, description = "No geocoder could answer", body = Problem),
    ))]
async fn reverse_geocode(
    State(state): State<LocationsState>,
    _caller: Authenticated,
    Path((lat, lon)): Path<(f64, f64)>,
) -> Result<Json<ReverseGeocoded>, ApiError> {
    Ok(Json(state.svc.reverse(lat, lon).await?))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Breakers {
    pub breakers: Vec<Breaker>,
}

/// State of the circuit breakers in front of external services (administrators).
#[utoipa::path(get, path = "/admin/circuit-breakers", operation_id = "listCircuitBreakers", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = Breakers), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn circuit_breakers(
    State(state): State<LocationsState>,
    _: RequirePermission<ReadOperations>,
) -> Json<Breakers> {
    Json(Breakers {
        breakers: state.svc.breakers(),
    })
}
