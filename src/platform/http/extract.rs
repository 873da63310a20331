//! Extractors whose rejections are problem+json: use these instead of axum's.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;

/// JSON body. Malformed JSON is 400, a wrong content type 415, a body over the limit 413,
/// and a body of the wrong shape (missing field, unknown enum value) 422 naming the field.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let (slug, title) = match &rejection {
            JsonRejection::JsonDataError(_) => ("validation", "Invalid request"),
            JsonRejection::JsonSyntaxError(_) => ("malformed-json", "Malformed JSON"),
            JsonRejection::MissingJsonContentType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload-too-large", "Payload too large")
            }
            _ => ("bad-request", "Bad request"),
        };
        ApiError::new(status, slug, title, rejection.body_text())
    }
}

/// Path parameters. A value that does not parse (a bad UUID) is 400 naming it.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection.status() {
            s if s.is_server_error() => ApiError::internal(rejection.body_text()),
            s => ApiError::new(
                s,
                "bad-path",
                "Invalid path parameter",
                rejection.body_text(),
            ),
        }
    }
}

/// Query string parameters. A value that does not parse is 400 naming it.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(
            rejection.status(),
            "bad-query",
            "Invalid query parameter",
            rejection.body_text(),
        )
    }
}
