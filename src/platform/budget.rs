//! Memory the process may hold at once for large things it handles whole: upload bodies and
//! the attachments of emails being delivered. Work that would take more than is left waits
//! its turn, so a burst costs time rather than memory (`server.large_body_memory_mib`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Counted in KiB, so a budget of any realistic size fits the semaphore's `u32` permits.
const UNIT: usize = 1024;

#[derive(Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total: u32,
}

/// Memory taken from the budget, given back when dropped.
pub struct Held(#[allow(dead_code)] OwnedSemaphorePermit);

impl MemoryBudget {
    pub fn new(bytes: usize) -> Self {
        let total = (bytes / UNIT).clamp(1, u32::MAX as usize) as u32;
        Self {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Waits until `bytes` are free and holds them. More than the whole budget holds the whole
    /// budget: one such item at a time, never refused.
    pub async fn hold(&self, bytes: usize) -> Held {
        let units = bytes.div_ceil(UNIT).clamp(1, self.total as usize) as u32;
        let permit = self
            .permits
            .clone()
            .acquire_many_owned(units)
            .await
            .expect("the budget's semaphore is never closed");
        Held(permit)
    }
}

/// The state of [`hold_request_body`]: a budget, and how many copies of its body a route keeps
/// while it handles a request (a multipart upload: the body and the file; base64 in JSON: the
/// body, the decoded string and the bytes).
#[derive(Clone)]
pub struct BodyCopies {
    pub budget: MemoryBudget,
    pub copies: usize,
}

/// Middleware for routes that read their bodies whole: a request holds room for its body
/// before the handler reads it (until then the body waits in the connection), and gives it
/// back once the answer is made. The room is the declared `Content-Length`, or the whole
/// budget for a body of unknown length; a request without a body holds nothing.
pub async fn hold_request_body(
    State(hold): State<BodyCopies>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let size = match declared {
        Some(length) => length,
        None if headers.contains_key(header::TRANSFER_ENCODING) => usize::MAX,
        None => 0,
    };
    if size == 0 {
        return next.run(request).await;
    }
    let _held = hold.budget.hold(size.saturating_mul(hold.copies)).await;
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn holders_wait_for_room_and_oversized_ones_take_it_all() {
        let budget = MemoryBudget::new(10 * UNIT);
        let first = budget.hold(6 * UNIT).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.hold(6 * UNIT));
        assert!(waiting.await.is_err(), "no room until the first is dropped");
        drop(first);
        let second = budget.hold(6 * UNIT).await;
        drop(second);
        let whole = tokio::time::timeout(Duration::from_secs(1), budget.hold(100 * UNIT)).await;
        assert!(whole.is_ok(), "more than the budget still runs, alone");
    }

    #[tokio::test]
    async fn a_body_waits_for_room_and_a_request_without_one_does_not() {
        use axum::body::Body;
        use axum::middleware::from_fn_with_state;
        use axum::routing::post;
        use axum::Router;
        use tower::ServiceExt;

        let budget = MemoryBudget::new(10 * UNIT);
        let copies = BodyCopies {
            budget: budget.clone(),
            copies: 2,
        };
        let app = Router::new()
            .route("/", post(|| async { "ok" }))
            .layer(from_fn_with_state(copies, hold_request_body));
        let with_body = || {
            Request::post("/")
                .header(header::CONTENT_LENGTH, 3 * UNIT)
                .body(Body::from(vec![b'a'; 3 * UNIT]))
                .unwrap()
        };
        let taken = budget.hold(5 * UNIT).await;
        let waiting =
            tokio::time::timeout(Duration::from_millis(50), app.clone().oneshot(with_body()));
        assert!(waiting.await.is_err(), "6 KiB do not fit in the 5 left");
        let bodiless = Request::post("/").body(Body::empty()).unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(1), app.clone().oneshot(bodiless));
        assert!(answered.await.is_ok(), "nothing to hold");
        drop(taken);
        let answered = tokio::time::timeout(Duration::from_secs(1), app.oneshot(with_body()));
        assert_eq!(answered.await.unwrap().unwrap().status(), 200);
    }
}
