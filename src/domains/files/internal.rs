//! Files' service-to-service routes (`/internal/v1/files/...`): the `FilesApi` port for
//! processes without files. Behind the service key; not in the OpenAPI document.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use uuid::Uuid;

use super::contract::{FileContent, FileRecord, FilesApi, FilesError, UploadRequest, UsageRequest};
use crate::platform::http::ApiError;

type Files = Arc<dyn FilesApi>;

pub fn routes(files: Files, max_bytes: usize) -> Router {
    Router::new()
        .route("/files/{id}", get(info))
        .route("/files/{id}/content", get(content))
        // Base64 takes a third more room than the bytes.
        .route(
            "/files",
            post(upload).layer(DefaultBodyLimit::max(max_bytes / 3 * 4 + 64 * 1024)),
        )
        .route("/files/usage", post(usage))
        .with_state(files)
}

fn problem(e: FilesError) -> ApiError {
    match e {
        FilesError::NotFound(_) => ApiError::not_found(e.to_string()),
        FilesError::TooLarge(m) => {
            ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE).with_detail(m)
        }
        FilesError::Unsupported(m) => {
            ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE).with_detail(m)
        }
        FilesError::Invalid(m) => ApiError::bad_request(m),
        FilesError::Unavailable(m) => ApiError::unavailable(m),
    }
}

async fn info(
    State(files): State<Files>,
    Path(id): Path<Uuid>,
) -> Result<Json<FileRecord>, ApiError> {
    let file = files.get(id).await.map_err(problem)?;
    file.map(|f| Json(f.into()))
        .ok_or_else(|| ApiError::not_found("no such file"))
}

async fn content(
    State(files): State<Files>,
    Path(id): Path<Uuid>,
) -> Result<Json<FileContent>, ApiError> {
    let (file, bytes) = files
        .read(id)
        .await
        .map_err(problem)?
        .ok_or_else(|| ApiError::not_found("no such file"))?;
    Ok(Json(FileContent {
        file: file.into(),
        bytes: STANDARD.encode(bytes),
    }))
}

async fn upload(
    State(files): State<Files>,
    Json(request): Json<UploadRequest>,
) -> Result<Json<FileRecord>, ApiError> {
    let bytes = STANDARD
        .decode(&request.bytes)
        .map_err(|_| ApiError::bad_request("bytes: expected base64"))?;
    let file = files
        .upload(
            request.owner,
            request.filename.as_deref(),
            request.declared_type.as_deref(),
            bytes,
        )
        .await
        .map_err(problem)?;
    Ok(Json(file.into()))
}

async fn usage(
    State(files): State<Files>,
    Json(request): Json<UsageRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    files
        .set_usage(&request.holder, &request.files)
        .await
        .map_err(|e| match e {
            FilesError::NotFound(id) => ApiError::from_status(StatusCode::UNPROCESSABLE_ENTITY)
                .with_detail(format!("no such file: {id}")),
            other => problem(other),
        })?;
    Ok(Json(serde_json::json!({})))
}
