//! The web console: a single-page app built from `console/` by build.rs and compiled into
//! the binary, so it works offline and needs no other file. It uses only the public API.
//!
//! - `/assets/*`: the bundle, hashed names, cached for a year (`immutable`).
//! - Any other GET that asks for HTML (`/`, `/emails`, `/reset-password?token=..` from a
//!   mail) gets the page, which routes in the browser; everything else keeps its 404.

use axum::extract::{Path, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::Embed;

use crate::platform::config::ConsoleSettings;
use crate::platform::http::{middleware, ApiError};

#[derive(Embed)]
#[folder = "$AGORA_CONSOLE_DIR"]
struct Assets;

/// Where the server's own routes live; a path under one of these is never the console.
const SERVER_PREFIXES: &[&str] = &[
    "/api/",
    "/internal/",
    "/api-docs/",
    "/swagger-ui",
    "/uploads/",
    "/.well-known/",
    "/assets/",
];

#[derive(Clone)]
struct Page {
    html: axum::body::Bytes,
    csp: HeaderValue,
}

/// The console's routes, with a fallback that serves the page for browser navigations and
/// the usual problem+json 404 for the rest.
pub fn routes(settings: &ConsoleSettings) -> Router {
    let page = Page {
        html: render_index(settings).into(),
        csp: HeaderValue::from_str(&content_security_policy(&settings.tile_url))
            .expect("the tile origin was validated as a URL"),
    };
    Router::new()
        .route("/assets/{*file}", get(asset))
        .fallback(move |req: Request| page_or_not_found(page.clone(), req))
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some(content) = Assets::get(&format!("assets/{file}")) else {
        return ApiError::not_found(format!("No asset {file} in this build")).into_response();
    };
    (
        [
            // Guessed from the name when the bundle is embedded (rust-embed's `mime-guess`).
            (header::CONTENT_TYPE, content.metadata.mimetype()),
            // Names carry a hash of the content, so a name never changes meaning.
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        content.data,
    )
        .into_response()
}

async fn page_or_not_found(page: Page, req: Request) -> Response {
    if !is_navigation(req.method(), req.uri().path(), req.headers()) {
        return middleware::not_found(req).await.into_response();
    }
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Always revalidated, so a new release's assets are picked up at once.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        page.html,
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, page.csp);
    response
}

/// A browser loading a page: GET or HEAD, asks for HTML, not a server route, not a file.
fn is_navigation(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    (method == Method::GET || method == Method::HEAD)
        && wants_html
        && !SERVER_PREFIXES.iter().any(|p| path.starts_with(p))
        && !path.rsplit('/').next().unwrap_or_default().contains('.')
}

fn render_index(settings: &ConsoleSettings) -> String {
    let index = Assets::get("index.html").expect("build.rs always writes index.html");
    let config = serde_json::json!({
        "tileUrl": settings.tile_url,
        "tileAttribution": settings.tile_attribution,
    });
    String::from_utf8_lossy(&index.data).replace("%CONFIG%", &escape_attribute(&config.to_string()))
}

fn escape_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Only the console's own scripts and styles; images also from the tile server.
fn content_security_policy(tile_url: &str) -> String {
    let tiles = tile_origin(tile_url)
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{tiles}; \
         connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// `https://{s}.tile.example.org/{z}/{x}/{y}.png` -> `https://*.tile.example.org`.
fn tile_origin(tile_url: &str) -> Option<String> {
    let (scheme, rest) = tile_url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{}", host.replace("{s}", "*")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_the_tile_servers_origin_only() {
        let csp = content_security_policy("https://{s}.tile.example.org/{z}/{x}/{y}.png");
        assert!(csp.contains("img-src 'self' data: blob: https://*.tile.example.org;"));
        assert!(csp.contains("script-src 'self';"));
        assert!(!content_security_policy("").contains("http"));
    }

    #[test]
    fn only_browser_page_loads_get_the_console() {
        let mut html = HeaderMap::new();
        html.insert(header::ACCEPT, HeaderValue::from_static("text/html,*/*"));
        assert!(is_navigation(&Method::GET, "/", &html));
        assert!(is_navigation(&Method::GET, "/reset-password", &html));
        assert!(!is_navigation(&Method::GET, "/api/v1/nothing", &html));
        assert!(!is_navigation(&Method::GET, "/favicon.ico", &html));
        assert!(!is_navigation(&Method::POST, "/", &html));
        assert!(!is_navigation(&Method::GET, "/", &HeaderMap::new()));
    }
}
