//! Auth's service-to-service routes (`/internal/v1/auth/...`), for processes that check
//! tokens or look accounts up without hosting auth. Behind the service key; not in the
//! OpenAPI document.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use uuid::Uuid;

use super::contract::{SessionStatus, UserContact, UserDirectory};
use super::service::AuthService;
use crate::platform::http::ApiError;

pub fn routes(svc: Arc<AuthService>) -> Router {
    Router::new()
        .route("/auth/jwks", get(jwks))
        .route("/auth/sessions/{id}", get(session))
        .route("/auth/users/{id}/contact", get(contact))
        .with_state(svc)
}

async fn jwks(State(svc): State<Arc<AuthService>>) -> Json<serde_json::Value> {
    Json(svc.jwks())
}

async fn session(
    State(svc): State<Arc<AuthService>>,
    Path(id): Path<Uuid>,
) -> Result<Json<SessionStatus>, ApiError> {
    let status = svc.session_status(id).await.map_err(ApiError::internal)?;
    status
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such session"))
}

async fn contact(
    State(svc): State<Arc<AuthService>>,
    Path(id): Path<Uuid>,
) -> Result<Json<UserContact>, ApiError> {
    let contact = svc.contact(id).await.map_err(ApiError::internal)?;
    contact
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such user"))
}
