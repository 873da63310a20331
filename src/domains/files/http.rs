//! Files' routes: `POST /api/v1/files`, `DELETE /api/v1/files/{id}`, and `GET /uploads/{name}`.

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, FromRef, Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::contract::FileInfo;
use super::service::{FilesService, UploadError};
use crate::domains::auth::contract::Authenticator;
use crate::domains::authn::Authenticated;
use crate::platform::http::{ApiError, FieldError, Json, Path, Problem};

const TAG: &str = "files";
/// Room for the multipart framing around the file itself.
const MULTIPART_OVERHEAD: usize = 64 * 1024;

#[derive(Clone)]
pub struct FilesState {
    pub svc: Arc<FilesService>,
    pub authenticator: Arc<dyn Authenticator>,
}

impl FromRef<FilesState> for Arc<dyn Authenticator> {
    fn from_ref(state: &FilesState) -> Self {
        state.authenticator.clone()
    }
}

impl From<UploadError> for ApiError {
    fn from(err: UploadError) -> Self {
        let message = err.to_string();
        match err {
            UploadError::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                message,
            ),
            UploadError::UnknownType | UploadError::NotAllowed(_) | UploadError::Spoofed { .. } => {
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "Unsupported file type",
                    message,
                )
            }
            UploadError::Empty => ApiError::bad_request(message),
            UploadError::NotFound => ApiError::not_found("No such file"),
            UploadError::InUse(_) => ApiError::conflict(message),
            UploadError::Db(e) => e.into(),
            UploadError::Storage(e) => ApiError::internal(e),
        }
    }
}

/// `max_bytes` bounds the upload route; the rest of the API keeps the global body limit.
pub fn routes(max_bytes: usize) -> OpenApiRouter<FilesState> {
    let upload = OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::max(max_bytes + MULTIPART_OVERHEAD));
    upload.routes(routes!(delete))
}

pub fn root_routes() -> OpenApiRouter<FilesState> {
    OpenApiRouter::new().routes(routes!(serve))
}

/// A multipart upload with one part named `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Upload a file. Its type is decided from its content; a file whose name or declared type
/// says otherwise is refused, as is anything over `files.max_bytes`.
#[utoipa::path(post, path = "/files", operation_id = "uploadFile", tag = TAG, security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = FileInfo),
        (status = 400, description = "No `file` part, or an empty one", body = Problem),
        (status = 413, description = "Larger than files.max_bytes", body = Problem),
        (status = 415, description = "Type not accepted, or not what the upload claims", body = Problem),
    ))]
async fn upload(
    State(state): State<FilesState>,
    Authenticated(principal): Authenticated,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut multipart = multipart
        .map_err(|e| ApiError::new(e.status(), "bad-request", "Bad request", e.body_text()))?;
    let too_large = |max: usize| ApiError::from(UploadError::TooLarge { max });
    // Every part is read, so a second `file` is refused rather than silently dropped.
    let mut upload = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(state.svc.max_bytes()),
        status => ApiError::new(
            status,
            "bad-request",
            "Malformed multipart body",
            e.body_text(),
        ),
    })? {
        if field.name() != Some("file") {
            continue;
        }
        if upload.is_some() {
            return Err(ApiError::validation(vec![FieldError {
                field: "file".into(),
                message: "send one `file` part; this body has more".into(),
            }]));
        }
        let filename = field.file_name().map(str::to_string);
        let declared = field.content_type().map(str::to_string);
        let bytes = field.bytes().await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => too_large(state.svc.max_bytes()),
            status => ApiError::new(
                status,
                "bad-request",
                "Malformed multipart body",
                e.body_text(),
            ),
        })?;
        upload = Some((filename, declared, bytes));
    }
    let Some((filename, declared, bytes)) = upload else {
        return Err(ApiError::bad_request(
            "The multipart body has no part named `file`",
        ));
    };
    let info = state
        .svc
        .upload(
            principal.user_id,
            filename.as_deref(),
            declared.as_deref(),
            // Takes the buffer over rather than copying it when nothing else shares it.
            Vec::from(bytes),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// Delete a file (its owner or an administrator). A file in use (a product image) is kept: 409.
#[utoipa::path(delete, path = "/files/{id}", operation_id = "deleteFile", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete(
    State(state): State<FilesState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.delete(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A stored file, public, by the `url` its upload answered (`<id>.<ext>`) or by its id alone.
/// Names are random and content never changes under a name, so it is cacheable for a year;
/// `If-None-Match` gets 304.
#[utoipa::path(get, path = "/uploads/{name}", operation_id = "downloadFile", tag = TAG, params(("name" = String, Path)),
    responses((status = 200, description = "The file, with the type detected at upload"), (status = 304, description = "Not modified"), (status = 404, body = Problem)))]
async fn serve(
    State(state): State<FilesState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let served = state.svc.serve(&name).await?;
    let etag = HeaderValue::from_str(&served.etag).map_err(ApiError::internal)?;
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v == etag)
    {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    let disposition = format!(
        "inline; filename=\"{}\"",
        served.filename.replace(['"', '\\'], "_")
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_str(&served.content_type).map_err(ApiError::internal)?,
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("inline")),
            ),
        ],
        served.bytes,
    )
        .into_response())
}
