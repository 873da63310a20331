//! Per-client token bucket (governor), keyed by `ClientIp`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use super::client_ip::ClientIp;
use super::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimit {
    pub fn new(per_second: u32, burst: u32) -> Arc<Self> {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Arc::new(Self {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            ),
        })
    }

    /// Takes a token for `client`; when none is left, the seconds until one is.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets clients whose buckets are full again, so memory follows active clients only.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Answers 429 with `Retry-After` once the client's bucket is empty.
pub async fn rate_limit(State(limit): State<Arc<RateLimit>>, req: Request, next: Next) -> Response {
    let Some(ClientIp(client)) = req.extensions().get::<ClientIp>().copied() else {
        return next.run(req).await;
    };
    match limit.check(client) {
        Ok(()) => next.run(req).await,
        Err(retry_after) => ApiError::too_many_requests(retry_after.max(1)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bucket_allows_burst_then_says_when() {
        let rl = RateLimit::new(1, 3);
        let client = ip("192.0.2.1");
        for _ in 0..3 {
            assert!(rl.check(client).is_ok());
        }
        assert_eq!(rl.check(client), Err(1));
        // Another client has its own bucket.
        assert!(rl.check(ip("192.0.2.2")).is_ok());
    }
}
