//! Calls to another Agora process of the same deployment, on its `/internal/v1` routes: the
//! service key on every call, a timeout, retries with backoff for calls that are safe to
//! repeat, and a circuit breaker so a process that is down costs callers no waiting.
//!
//! The serving side is [`require_service_key`], which guards every internal route.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::platform::breaker::CircuitBreaker;
use crate::platform::clock::Clock;
use crate::platform::config::ServiceSettings;
use crate::platform::http::ApiError;
use crate::platform::metrics::Metrics;
use crate::platform::queue::backoff::Backoff;

/// Where service-to-service routes live; never in the OpenAPI document.
pub const INTERNAL_PREFIX: &str = "/internal/v1";
/// The header carrying `server.service_key`.
pub const SERVICE_KEY_HEADER: &str = "x-agora-service-key";

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// Down, timed out, answered 5xx, or its breaker is open: try again later.
    #[error("the {service} service is unavailable: {reason}")]
    Unavailable {
        service: &'static str,
        reason: String,
    },
    /// The other process refused the call itself (4xx other than 404); `body` is what it
    /// said (a problem+json, or a refusal the contract defines).
    #[error("the {service} service refused the call ({status}): {detail}")]
    Rejected {
        service: &'static str,
        status: u16,
        detail: String,
        body: serde_json::Value,
    },
}

impl From<RemoteError> for ApiError {
    fn from(err: RemoteError) -> Self {
        match err {
            RemoteError::Unavailable { .. } => ApiError::unavailable(err.to_string()),
            RemoteError::Rejected { .. } => ApiError::internal(err),
        }
    }
}

/// Whether a call may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads, and writes the other side deduplicates (by order id, by idempotency key).
    Safe,
    Never,
}

pub struct ServiceClient {
    service: &'static str,
    base: String,
    key: String,
    http: reqwest::Client,
    retries: u32,
    backoff: Backoff,
    breaker: CircuitBreaker,
    metrics: Metrics,
}

impl ServiceClient {
    pub fn new(
        service: &'static str,
        settings: &ServiceSettings,
        key: Option<&str>,
        metrics: &Metrics,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let key = key
            .ok_or_else(|| anyhow::anyhow!("server.service_key is needed to call another process"))?
            .to_string();
        let timeout = Duration::from_millis(settings.timeout_ms);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .user_agent(concat!("agora/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            service,
            base: settings.url.trim_end_matches('/').to_string(),
            key,
            http,
            retries: settings.retries,
            backoff: Backoff {
                base: Duration::from_millis(50),
                max: Duration::from_secs(1),
                jitter: 0.5,
            },
            // Five failures in a row open it for five seconds; one trial call then decides.
            breaker: CircuitBreaker::new(5, Duration::from_secs(5), clock),
            metrics: metrics.clone(),
        })
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// GET a JSON body; `None` on 404.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, RemoteError> {
        self.call::<(), T>(Method::GET, path, None, Retry::Safe)
            .await
    }

    /// POST a JSON body and read a JSON answer; `None` on 404.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        retry: Retry,
    ) -> Result<Option<T>, RemoteError> {
        self.call(Method::POST, path, Some(body), retry).await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        retry: Retry,
    ) -> Result<Option<T>, RemoteError> {
        let started = Instant::now();
        let span = crate::platform::telemetry::client_span(&format!("{method} {}", self.service));
        let result = self
            .call_with_retries(method, path, body, retry)
            .instrument(span.clone())
            .await;
        if result.is_err() {
            crate::platform::telemetry::record_error(&span);
        }
        let outcome = match &result {
            Ok(_) => "ok",
            Err(RemoteError::Rejected { .. }) => "rejected",
            Err(RemoteError::Unavailable { reason, .. }) if reason == OPEN => "open",
            Err(_) => "failed",
        };
        self.metrics
            .service_calls
            .with_label_values(&[self.service, outcome])
            .inc();
        self.metrics
            .service_call_duration
            .with_label_values(&[self.service])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    async fn call_with_retries<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        retry: Retry,
    ) -> Result<Option<T>, RemoteError> {
        let attempts = if retry == Retry::Safe {
            self.retries + 1
        } else {
            1
        };
        let mut failed = 0;
        loop {
            if !self.breaker.allow() {
                return Err(self.unavailable(OPEN));
            }
            match self.once(method.clone(), path, body).await {
                Ok(answer) => {
                    self.breaker.record_success();
                    return answer;
                }
                Err(reason) => {
                    self.breaker.record_failure();
                    failed += 1;
                    if failed >= attempts {
                        tracing::warn!(service = self.service, path, %reason, "service call failed");
                        return Err(self.unavailable(&reason));
                    }
                    tokio::time::sleep(self.backoff.delay(failed)).await;
                }
            }
        }
    }

    /// One attempt. The outer `Err` is a failure worth retrying (transport, 5xx); the inner
    /// result is the other side's answer.
    async fn once<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Result<Option<T>, RemoteError>, String> {
        let mut request = self
            .http
            .request(method, format!("{}{INTERNAL_PREFIX}{path}", self.base))
            .header(SERVICE_KEY_HEADER, &self.key);
        // The other process's request span joins this trace.
        if let Some(traceparent) = crate::platform::telemetry::current_traceparent() {
            request = request.header("traceparent", traceparent);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| transport_reason(&e))?;
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(format!("answered {status}"));
        }
        if status == StatusCode::NOT_FOUND {
            return Ok(Ok(None));
        }
        if !status.is_success() {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let detail = body["detail"].as_str().unwrap_or_default().to_string();
            return Ok(Err(RemoteError::Rejected {
                service: self.service,
                status: status.as_u16(),
                detail,
                body,
            }));
        }
        let value = response
            .json::<T>()
            .await
            .map_err(|e| format!("unreadable answer: {e}"))?;
        Ok(Ok(Some(value)))
    }

    fn unavailable(&self, reason: &str) -> RemoteError {
        RemoteError::Unavailable {
            service: self.service,
            reason: reason.to_string(),
        }
    }
}

const OPEN: &str = "circuit breaker open after repeated failures";

fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        e.to_string()
    }
}

/// Guards the internal routes: only a caller presenting the deployment's service key gets
/// through; anyone else (an end user who found the path) gets 403.
pub async fn require_service_key(
    State(key): State<std::sync::Arc<str>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(SERVICE_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !same_secret(presented.as_bytes(), key.as_bytes()) {
        return ApiError::forbidden("internal routes are for the deployment's own processes")
            .into_response();
    }
    next.run(request).await
}

/// Compares in time independent of where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }
}
