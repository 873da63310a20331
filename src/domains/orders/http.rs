//! Orders' routes under `/api/v1`: addresses, orders, status changes, the payments webhook.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{Address, AddressInput, Order, PlaceOrder, Status};
use super::repo::AddressFilter;
use super::service::{OrderError, OrdersService};
use crate::domains::auth::contract::Authenticator;
use crate::domains::authn::Authenticated;
use crate::platform::http::{
    mark_replayed, ApiError, FieldError, IdempotencyKey, Json, Page, PageParams, Path, Problem,
    Query,
};

const TAG: &str = "orders";

#[derive(Clone)]
pub struct OrdersState {
    pub svc: Arc<OrdersService>,
    pub authenticator: Arc<dyn Authenticator>,
}

impl FromRef<OrdersState> for Arc<dyn Authenticator> {
    fn from_ref(state: &OrdersState) -> Self {
        state.authenticator.clone()
    }
}

impl From<OrderError> for ApiError {
    fn from(err: OrderError) -> Self {
        let message = err.to_string();
        match err {
            OrderError::Validation(errors) => ApiError::validation(errors),
            OrderError::NotFound(what) => ApiError::not_found(what),
            OrderError::OutOfStock { product_id, .. } => ApiError::new(
                StatusCode::CONFLICT,
                "out-of-stock",
                "Out of stock",
                message,
            )
            .with_errors(vec![FieldError {
                field: "items".into(),
                message: format!("product {product_id} has not enough stock"),
            }]),
            OrderError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                message,
            ),
            OrderError::InvalidTransition { allowed, .. } => {
                let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                ApiError::new(
                    StatusCode::CONFLICT,
                    "invalid-transition",
                    "Invalid status change",
                    format!("{message}; allowed next: [{}]", names.join(", ")),
                )
            }
            OrderError::BadSignature => ApiError::unauthorized(message),
            OrderError::WebhookOff => ApiError::unavailable(message),
            OrderError::StockUnavailable(_) => ApiError::unavailable(
                "Stock cannot be checked right now; nothing was ordered. Try again shortly.",
            ),
            OrderError::Db(e) => e.into(),
        }
    }
}

pub fn routes() -> OpenApiRouter<OrdersState> {
    OpenApiRouter::new()
        .routes(routes!(create_address, list_addresses))
        .routes(routes!(get_address, update_address, delete_address))
        .routes(routes!(place_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(change_status))
        .routes(routes!(payment_webhook))
}

/// Save a delivery address.
#[utoipa::path(post, path = "/addresses", operation_id = "createAddress", tag = TAG, security(("bearer" = [])), request_body = AddressInput,
    responses((status = 201, body = Address), (status = 422, body = Problem)))]
async fn create_address(
    State(state): State<OrdersState>,
    Authenticated(principal): Authenticated,
    Json(input): Json<AddressInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.svc.create_address(&principal, input).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AddressQuery {
    /// Part of the label, any case.
    pub label: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
}

/// The caller's addresses (administrators: all).
#[utoipa::path(get, path = "/addresses", operation_id = "listAddresses", tag = TAG, security(("bearer" = [])), params(PageParams, AddressQuery),
    responses((status = 200, body = Page<Address>)))]
async fn list_addresses(
    State(state): State<OrdersState>,
    Authenticated(principal): Authenticated,
    Query(paging): Query<PageParams>,
    Query(q): Query<AddressQuery>,
) -> Result<Json<Page<Address>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let filter = AddressFilter {
        owner: None,
        label: q.label,
        city: q.city,
        postal_code: q.postal_code,
    };
    let (items, total) = state.svc.addresses(&principal, filter, page, limit).await?;
    Ok(Json(Page::new(items, page, limit, total)))
}

/// An address (its owner or an administrator).
#[utoipa::path(get, path = "/addresses/{id}", operation_id = "getAddress", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Address), (status = 404, body = Problem)))]
async fn get_address(
    State(state): State<OrdersState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<Address>, ApiError> {
    Ok(Json(state.svc.address(&principal, id).await?))
}

/// Replace an address (orders keep the copy they were placed with).
#[utoipa::path(put, path = "/addresses/{id}", operation_id = "updateAddress", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = AddressInput,
    responses((status = 200, body = Address), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_address(
    State(state): State<OrdersState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    Json(input): Json<AddressInput>,
) -> Result<Json<Address>, ApiError> {
    Ok(Json(state.svc.update_address(&principal, id, input).await?))
}

/// Delete an address.
#[utoipa::path(delete, path = "/addresses/{id}", operation_id = "deleteAddress", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
async fn delete_address(
    State(state): State<OrdersState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.delete_address(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Place an order. Send an `Idempotency-Key` header to retry safely: the same key with the
/// same body returns the first order; with another body, 422. Prices come from the catalog.
#[utoipa::path(post, path = "/orders", operation_id = "placeOrder", tag = TAG, security(("bearer" = [])), request_body = PlaceOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Up to 255 characters")),
    responses(
        (status = 201, body = Order),
        (status = 409, description = "Not enough stock of a product (named); nothing changed", body = Problem),
        (status = 422, description = "Invalid lines, someone else's address, several stores, key reused", body = Problem),
    ))]
async fn place_order(
    State(state): State<OrdersState>,
    Authenticated(principal): Authenticated,
    IdempotencyKey(key): IdempotencyKey,
    Json(request): Json<PlaceOrder>,
) -> Result<Response, ApiError> {
    let placed = state.svc.place(&principal, key.as_deref(), request).await?;
    let mut response = (StatusCode::CREATED, Json(placed.order)).into_response();
    if placed.replayed {
        mark_replayed(&mut response);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// A store of the caller's: its orders.
    pub store_id: Option<Uuid>,
    pub status: Option<Status>,
}

/// The caller's orders; a store's orders with `store_id` (its owner); all for administrators.
#[utoipa::path(get, path = "/orders", operation_id = "listOrders", tag = TAG, security(("bearer" = [])), params(PageParams, OrderQuery),
    responses((status = 200, body = Page<Order>), (status = 404, description = "`store_id` names no store of the caller's", body = Problem)))]
async fn list_orders(
    State(state): State<OrdersState>,
    Authenticated(principal): Authenticated,
    Query(paging): Query<PageParams>,
    Query(q): Query<OrderQuery>,
) -> Result<Json<Page<Order>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let (items, total) = state
        .svc
        .orders(&principal, q.store_id, q.status, page, limit)
        .await?;
    Ok(Json(Page::new(items, page, limit, total)))
}

/// An order with its items and status history (buyer, store owner or administrator).
#[utoipa::path(get, path = "/orders/{id}", operation_id = "getOrder", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Order), (status = 404, body = Problem)))]
async fn get_order(
    State(state): State<OrdersState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(state.svc.order(&principal, id).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct StatusChange {
    pub status: Status,
    pub reason: Option<String>,
}

/// Move an order: the buyer cancels before fulfilment; the store owner fulfils and delivers;
/// administrators make any valid move. Cancelling returns the stock.
#[utoipa::path(post, path = "/orders/{id}/status", operation_id = "changeOrderStatus", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = StatusChange,
    responses((status = 200, body = Order), (status = 404, body = Problem), (status = 409, description = "Not allowed from here; lists the allowed next states", body = Problem)))]
async fn change_status(
    State(state): State<OrdersState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    Json(change): Json<StatusChange>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(
        state
            .svc
            .change_status(&principal, id, change.status, change.reason.as_deref())
            .await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    /// `applied`, or `ignored` for a replayed or irrelevant event.
    pub status: &'static str,
}

/// Payment provider callback: `{event_id, order_id, type: "payment.succeeded"}` signed with
/// `X-Signature: sha256=<hex HMAC-SHA256 of the body>`. Replays are acknowledged, not applied.
#[utoipa::path(post, path = "/payments/webhook", operation_id = "receivePaymentWebhook", tag = TAG,
    request_body(content = String, content_type = "application/json", description = "The signed event, byte for byte"),
    responses((status = 200, body = WebhookAck), (status = 401, description = "Bad signature", body = Problem), (status = 409, body = Problem),
        (status = 503, description = "No `orders.webhook_secret` is configured: the webhook is off", body = Problem)))]
async fn payment_webhook(
    State(state): State<OrdersState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAck>, ApiError> {
    let signature = headers.get("x-signature").and_then(|v| v.to_str().ok());
    let applied = state.svc.payment_webhook(signature, &body).await?;
    Ok(Json(WebhookAck {
        status: if applied { "applied" } else { "ignored" },
    }))
}
