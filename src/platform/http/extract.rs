//! Extractors whose rejections are problem+json: use these instead of axum's.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;

/// JSON body. Malformed JSON is 400, a wrong content type 415, a body over the limit 413,
/// and a body of the wrong shape (not an object, missing field, unknown enum value) 422
/// naming the field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// axum's `Json` with one check more, made on the bytes before the one parse.
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let (slug, title) = match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "Payload too large"),
                _ => ("bad-request", "Bad request"),
            };
            ApiError::new(e.status(), slug, title, e.body_text())
        })?;
        json_object(&bytes).map(Json)
    }
}

/// `application/json`, or any `+json` type.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(content_type) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return false;
    };
    let essence = content_type
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A JSON object as `T`: malformed JSON is 400, anything but an object (serde would take
/// `["a@b.c", "pw"]` for `{email, password}`) or the wrong shape is 422 naming the field.
pub fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let starts_an_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !starts_an_object {
        // Only on this error path is the body read a second time, to tell which error it is.
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
                "Failed to deserialize the JSON body into the target type: expected a JSON object",
            ),
            Err(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                format!("Failed to parse the request body as JSON: {e}"),
            ),
        });
    }
    axum::Json::<T>::from_bytes(bytes)
        .map(|axum::Json(value)| value)
        .map_err(ApiError::from)
}

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

/// `page` and `limit` of a list request: page from 1, limit 1..=100 (default 20).
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 92233720368547759_u64, example = 1)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<u64>,
}

impl PageParams {
    pub const DEFAULT_LIMIT: u64 = 20;
    pub const MAX_LIMIT: u64 = 100;
    /// The last page whose rows a database can skip to: `(page - 1) * limit` stays within a
    /// signed 64-bit offset for every allowed limit.
    pub const MAX_PAGE: u64 = i64::MAX as u64 / Self::MAX_LIMIT + 1;

    /// (page, limit), or a 422 naming the parameter out of range.
    pub fn resolve(&self) -> Result<(u64, u64), ApiError> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(Self::DEFAULT_LIMIT);
        let mut errors = Vec::new();
        if !(1..=Self::MAX_PAGE).contains(&page) {
            errors.push(super::FieldError {
                field: "page".into(),
                message: format!("must be between 1 and {}", Self::MAX_PAGE),
            });
        }
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            errors.push(super::FieldError {
                field: "limit".into(),
                message: format!("must be between 1 and {}", Self::MAX_LIMIT),
            });
        }
        if errors.is_empty() {
            Ok((page, limit))
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// One page of a list: `{ "data": [...], "pagination": { "page", "limit", "total" } }`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T: utoipa::ToSchema> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Pagination {
    #[schema(example = 1)]
    pub page: u64,
    #[schema(example = 20)]
    pub limit: u64,
    /// Items matching the filters, over all pages.
    #[schema(example = 42)]
    pub total: u64,
}

impl<T: utoipa::ToSchema> Page<T> {
    pub fn new(data: Vec<T>, page: u64, limit: u64, total: u64) -> Self {
        Self {
            data,
            pagination: Pagination { page, limit, total },
        }
    }
}

/// The `Idempotency-Key` header of a write a client may retry: absent, or 1 to 255 visible
/// characters (anything else is 400).
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        match parts.headers.get("idempotency-key") {
            None => Ok(IdempotencyKey(None)),
            Some(value) => value
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .map(|k| IdempotencyKey(Some(k.to_string())))
                .ok_or_else(|| {
                    ApiError::bad_request("Idempotency-Key must be 1 to 255 visible characters")
                }),
        }
    }
}

/// Marks a response as the replay of the first one with the same `Idempotency-Key`.
pub fn mark_replayed(response: &mut Response) {
    response.headers_mut().insert(
        "idempotent-replayed",
        axum::http::HeaderValue::from_static("true"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_page_still_has_an_offset_a_database_takes() {
        let last = PageParams {
            page: Some(PageParams::MAX_PAGE),
            limit: Some(PageParams::MAX_LIMIT),
        };
        let (page, limit) = last.resolve().unwrap();
        assert!((page - 1) * limit <= i64::MAX as u64);
        let past = PageParams {
            page: Some(PageParams::MAX_PAGE + 1),
            limit: Some(1),
        };
        assert!(past.resolve().is_err());
        assert_eq!(PageParams::MAX_PAGE, 92_233_720_368_547_759);
    }
}
