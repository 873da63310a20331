//! Per-client token bucket (governor). The client is the peer address, or the first
//! untrusted address in `X-Forwarded-For` when the peer is a configured trusted proxy.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;

use super::error::ApiError;

pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    trusted_proxies: Vec<IpNet>,
}

impl RateLimit {
    pub fn new(per_second: u32, burst: u32, trusted_proxies: Vec<IpNet>) -> Arc<Self> {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Arc::new(Self {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            trusted_proxies,
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

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The address to limit: walks `X-Forwarded-For` from the right past trusted proxies.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded_for
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse().ok())
            .collect();
        hops.iter()
            .rev()
            .find(|ip| !self.is_trusted(**ip))
            .or(hops.first())
            .copied()
            .unwrap_or(peer)
    }
}

pub async fn rate_limit(State(limit): State<Arc<RateLimit>>, req: Request, next: Next) -> Response {
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return next.run(req).await;
    };
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let client = limit.client_ip(peer.ip(), &forwarded);
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
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let rl = RateLimit::new(1, 1, vec!["10.0.0.0/8".parse().unwrap()]);
        // Untrusted peer: its header is ignored.
        assert_eq!(
            rl.client_ip(ip("203.0.113.9"), &["1.2.3.4"]),
            ip("203.0.113.9")
        );
        // Trusted peer: the rightmost untrusted hop is the client.
        assert_eq!(
            rl.client_ip(ip("10.0.0.2"), &["6.6.6.6, 1.2.3.4, 10.0.0.5"]),
            ip("1.2.3.4")
        );
        // Trusted peer without a header: the peer itself.
        assert_eq!(rl.client_ip(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
    }

    #[test]
    fn bucket_allows_burst_then_says_when() {
        let rl = RateLimit::new(1, 3, vec![]);
        let client = ip("192.0.2.1");
        for _ in 0..3 {
            assert!(rl.check(client).is_ok());
        }
        assert_eq!(rl.check(client), Err(1));
        // Another client has its own bucket.
        assert!(rl.check(ip("192.0.2.2")).is_ok());
    }
}
