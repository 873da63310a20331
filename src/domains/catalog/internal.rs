//! The catalog's service-to-service routes (`/internal/v1/inventory/...`): the `Inventory`
//! port for an orders domain in another process. Behind the service key; not in the OpenAPI
//! document. A refused reservation is a 409 whose body names why (`ReserveRefusal`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use uuid::Uuid;

use super::contract::{Inventory, ReserveError, ReserveRefusal, ReserveRequest, Reserved};
use crate::platform::http::ApiError;

type Stock = Arc<dyn Inventory>;

pub fn routes(inventory: Stock) -> Router {
    Router::new()
        .route("/inventory/reservations", post(reserve))
        .route("/inventory/reservations/{order_id}/confirm", post(confirm))
        .route("/inventory/reservations/{order_id}/release", post(release))
        .route("/inventory/stores/{id}/owner", get(store_owner))
        .with_state(inventory)
}

fn refusal(e: ReserveError) -> Response {
    let refusal = match e {
        ReserveError::NoSuchProduct(product_id) => ReserveRefusal::NoSuchProduct { product_id },
        ReserveError::OutOfStock { product_id, name } => {
            ReserveRefusal::OutOfStock { product_id, name }
        }
        ReserveError::Conflict(detail) => ReserveRefusal::Conflict { detail },
        ReserveError::Unavailable(e) => return ApiError::unavailable(e).into_response(),
    };
    (StatusCode::CONFLICT, Json(refusal)).into_response()
}

async fn reserve(State(stock): State<Stock>, Json(request): Json<ReserveRequest>) -> Response {
    match stock.reserve(request.order_id, &request.items).await {
        Ok(reserved) => Json::<Vec<Reserved>>(reserved).into_response(),
        Err(e) => refusal(e),
    }
}

async fn confirm(State(stock): State<Stock>, Path(order_id): Path<Uuid>) -> Response {
    match stock.confirm(order_id).await {
        Ok(()) => Json(serde_json::json!({})).into_response(),
        Err(e) => refusal(e),
    }
}

async fn release(State(stock): State<Stock>, Path(order_id): Path<Uuid>) -> Response {
    match stock.release(order_id).await {
        Ok(()) => Json(serde_json::json!({})).into_response(),
        Err(e) => refusal(e),
    }
}

async fn store_owner(State(stock): State<Stock>, Path(id): Path<Uuid>) -> Response {
    match stock.store_owner(id).await {
        Ok(Some(owner)) => Json(owner).into_response(),
        Ok(None) => ApiError::not_found("no such store").into_response(),
        Err(e) => refusal(e),
    }
}
