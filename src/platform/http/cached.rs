//! JSON serialised once and served many times: a strong `ETag` taken from the bytes, `304 Not
//! Modified` to a matching `If-None-Match`, and the `Cache-Control` the caller chooses. Kept in
//! a cache, a hit costs a clone of the bytes (a reference count), not a serialisation.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A JSON body and its entity tag.
#[derive(Clone, Debug)]
pub struct JsonBytes {
    body: Bytes,
    etag: HeaderValue,
}

impl JsonBytes {
    pub fn new<T: Serialize>(value: &T) -> Self {
        // Serialising plain data structures into memory cannot fail.
        let body = serde_json::to_vec(value).expect("a JSON value serialises");
        // Derived from the bytes alone, so every replica gives the same body the same tag.
        let digest = Sha256::digest(&body);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a header value");
        Self {
            body: Bytes::from(body),
            etag,
        }
    }

    pub fn etag(&self) -> &HeaderValue {
        &self.etag
    }

    /// `304` when the request's `If-None-Match` names this body, else the body; both with
    /// the tag and `cache_control`.
    pub fn respond(&self, request: &HeaderMap, cache_control: HeaderValue) -> Response {
        let headers = [
            (header::ETAG, self.etag.clone()),
            (header::CACHE_CONTROL, cache_control),
        ];
        let unchanged = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .any(|value| names(value, &self.etag));
        if unchanged {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        (
            headers,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body.clone(),
        )
            .into_response()
    }
}

/// Whether an `If-None-Match` value names `etag`: `*`, or a list of tags compared weakly
/// (a `W/` prefix ignored), as RFC 9110 asks for this header.
fn names(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    let ours = etag.to_str().unwrap_or_default();
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_for(if_none_match: Option<&str>, json: &JsonBytes) -> StatusCode {
        let mut request = HeaderMap::new();
        if let Some(v) = if_none_match {
            request.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
        }
        json.respond(&request, HeaderValue::from_static("no-cache"))
            .status()
    }

    #[test]
    fn a_matching_tag_answers_not_modified() {
        let json = JsonBytes::new(&serde_json::json!({"a": 1}));
        let tag = json.etag().to_str().unwrap().to_string();
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34,
            "{tag}"
        );
        assert_eq!(status_for(None, &json), StatusCode::OK);
        assert_eq!(status_for(Some(&tag), &json), StatusCode::NOT_MODIFIED);
        assert_eq!(
            status_for(Some(&format!("\"other\", W/{tag}")), &json),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(status_for(Some("*"), &json), StatusCode::NOT_MODIFIED);
        assert_eq!(status_for(Some("\"other\""), &json), StatusCode::OK);
        let changed = JsonBytes::new(&serde_json::json!({"a": 2}));
        assert_ne!(changed.etag(), json.etag());
        assert_eq!(status_for(Some(&tag), &changed), StatusCode::OK);
    }
}
