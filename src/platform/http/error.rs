//! `application/problem+json` errors (RFC 9457). Handlers return `ApiError`; the problem
//! middleware adds the request id, and turns any other error response (unknown route, wrong
//! method, oversized body, timeout) into a problem too.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::db::DbError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `items.0.quantity`.
    #[schema(example = "email")]
    pub field: String,
    #[schema(example = "must be a valid email address")]
    pub message: String,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Identifies the kind of problem, e.g. `urn:agora:problem:validation`.
    #[serde(rename = "type")]
    #[schema(example = "urn:agora:problem:validation")]
    pub kind: String,
    #[schema(example = "Invalid request")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "2 fields are invalid")]
    pub detail: String,
    /// Echo of the `x-request-id` header; quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The trace this request belongs to, while traces are exported (OTLP): find it in the
    /// tracing backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Per-field errors, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Short slug that names the problem type (`not-found`, `validation`...).
    pub slug: &'static str,
    pub title: String,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title: title.into(),
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The problem for a bare status code, as produced by a layer or the router.
    pub fn from_status(status: StatusCode) -> Self {
        let (slug, detail) = match status {
            StatusCode::NOT_FOUND => ("not-found", "No resource at this address"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method-not-allowed",
                "This method is not allowed here; see the Allow header",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload-too-large",
                "The request body is larger than the server accepts",
            ),
            StatusCode::REQUEST_TIMEOUT
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => (
                "unavailable",
                "The request could not be completed in time; try again",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported-media-type",
                "This content type is not accepted here",
            ),
            StatusCode::TOO_MANY_REQUESTS => ("rate-limited", "Too many requests; slow down"),
            StatusCode::UNAUTHORIZED => ("unauthorized", "Authentication is required"),
            StatusCode::FORBIDDEN => ("forbidden", "You may not do this"),
            s if s.is_server_error() => ("internal", "The server could not complete the request"),
            _ => ("bad-request", "The request was not understood"),
        };
        let title = status.canonical_reason().unwrap_or("Error");
        Self::new(status, slug, title, detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// 422 with one entry per invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => format!("`{}` {}", errors[0].field, errors[0].message),
            n => format!("{n} fields are invalid"),
        };
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
                detail,
            )
        }
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::from_status(StatusCode::TOO_MANY_REQUESTS)
            .with_detail(format!("Too many requests; retry in {retry_after_secs} s"))
            .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_secs))
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
    }

    /// A 500 whose cause goes to the log, never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::from_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn to_problem(&self, request_id: Option<String>) -> Problem {
        Problem {
            kind: format!("urn:agora:problem:{}", self.slug),
            title: self.title.clone(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            request_id,
            trace_id: crate::platform::telemetry::trace_id(&tracing::Span::current()),
            errors: self.errors.clone(),
        }
    }

    /// The full response; `request_id` is filled in by the problem middleware.
    pub fn render(&self, request_id: Option<String>) -> Response {
        let body = serde_json::to_vec(&self.to_problem(request_id)).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.render(None);
        // The problem middleware re-renders it with the request id.
        response.extensions_mut().insert(self);
        response
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::UniqueViolation { .. } => {
                ApiError::conflict("A resource with these values already exists")
            }
            DbError::ForeignKeyViolation { .. } => ApiError::conflict(
                "The request refers to a resource that does not exist or is still in use",
            ),
            DbError::CheckViolation { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
                "A value is out of its allowed range",
            ),
            DbError::Unavailable(e) => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::unavailable("The database is unavailable; try again")
            }
            DbError::Other(e) => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problem_lists_fields() {
        let err = ApiError::validation(vec![
            FieldError {
                field: "email".into(),
                message: "is invalid".into(),
            },
            FieldError {
                field: "name".into(),
                message: "is required".into(),
            },
        ]);
        let p = serde_json::to_value(err.to_problem(Some("rid".into()))).unwrap();
        assert_eq!(p["status"], 422);
        assert_eq!(p["type"], "urn:agora:problem:validation");
        assert_eq!(p["request_id"], "rid");
        assert_eq!(p["errors"][1]["field"], "name");
        assert_eq!(p["detail"], "2 fields are invalid");
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let err = ApiError::from(DbError::Other(sqlx::Error::Protocol(
            "secret table xyz".into(),
        )));
        assert_eq!(err.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!err.detail.contains("xyz"));
    }

    #[test]
    fn unique_violation_is_a_conflict() {
        let err = ApiError::from(DbError::UniqueViolation {
            constraint: "users_email_key".into(),
        });
        assert_eq!(err.status, StatusCode::CONFLICT);
    }
}
