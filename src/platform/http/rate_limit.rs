//! Per-client rate limits, keyed by `ClientIp`: a token bucket that refills `per_second` up to
//! `burst`. Where the buckets live is `server.limit_store`: in this process (governor; each
//! replica counts alone), or in Redis, where every replica takes from the same bucket, so the
//! configured rate holds however many replicas there are. The Redis bucket is GCRA (one key per
//! client holding when its bucket is next full, timed by Redis's own clock), taken in one
//! script call. If Redis does not answer within `timeout_ms`, the request is served (fail
//! open) and `rate_limit_store_failures_total` counts it.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use prometheus::{IntCounter, Registry};
use redis::aio::ConnectionManager;
use redis::Script;
use serde::{Deserialize, Serialize};

use super::client_ip::ClientIp;
use super::error::ApiError;

/// `[server.limit_store]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitStoreSettings {
    /// `memory` (each process its own buckets) or `redis` (shared by every replica).
    pub backend: String,
    pub redis_url: String,
    /// Prefix of the Redis keys, so deployments can share a server.
    pub key_prefix: String,
    /// A Redis answer slower than this lets the request through.
    pub timeout_ms: u64,
}

impl LimitStoreSettings {
    /// The offending key and what is wrong with it.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        match self.backend.as_str() {
            "memory" => Ok(()),
            "redis" => redis::Client::open(self.redis_url.as_str())
                .map(|_| ())
                .map_err(|e| ("server.limit_store.redis_url", e.to_string())),
            other => Err((
                "server.limit_store.backend",
                format!("expected memory or redis, got {other:?}"),
            )),
        }
    }
}

/// Where every limit of this process keeps its buckets.
#[derive(Clone)]
pub enum LimitStore {
    Memory,
    Redis(Arc<SharedBuckets>),
}

impl LimitStore {
    /// The configured store. Redis is connected now if it answers within a second, else in
    /// the background (and until then, requests are served and counted as failures).
    pub async fn from_settings(
        settings: &LimitStoreSettings,
        registry: &Registry,
    ) -> anyhow::Result<Self> {
        if settings.backend != "redis" {
            return Ok(Self::Memory);
        }
        let failures = IntCounter::new(
            "rate_limit_store_failures_total",
            "Requests served without a rate-limit check because the shared store did not answer",
        )?;
        registry.register(Box::new(failures.clone()))?;
        let shared = Arc::new(SharedBuckets {
            connection: OnceLock::new(),
            script: Script::new(GCRA),
            prefix: settings.key_prefix.clone(),
            timeout: Duration::from_millis(settings.timeout_ms.max(1)),
            failures,
            last_warned: Mutex::new(None),
        });
        let client = redis::Client::open(settings.redis_url.as_str())?;
        let connecting = tokio::spawn(shared.clone().connect(client));
        if tokio::time::timeout(Duration::from_secs(1), connecting)
            .await
            .is_err()
        {
            tracing::warn!("Redis for rate limits not reachable yet; requests are served unchecked until it is");
        }
        Ok(Self::Redis(shared))
    }
}

/// Takes a token from `KEYS[1]`'s bucket: `ARGV[1]` milliseconds between tokens, `ARGV[2]`
/// the burst. Returns 0 when taken, else the milliseconds until one is.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local full_at = tonumber(redis.call('GET', KEYS[1]) or now)
if full_at < now then full_at = now end
local next_full_at = full_at + interval
local wait = next_full_at - capacity - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], next_full_at, 'PX', math.ceil(next_full_at - now) + 1000)
return 0
";

pub struct SharedBuckets {
    connection: OnceLock<ConnectionManager>,
    script: Script,
    prefix: String,
    timeout: Duration,
    failures: IntCounter,
    last_warned: Mutex<Option<Instant>>,
}

impl SharedBuckets {
    /// Connects, trying again every second; once connected the manager reconnects by itself.
    async fn connect(self: Arc<Self>, client: redis::Client) {
        loop {
            match client.get_connection_manager().await {
                Ok(connection) => {
                    let _ = self.connection.set(connection);
                    tracing::info!("rate limits shared through Redis");
                    return;
                }
                Err(e) => self.warn(&e.to_string()),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Ok(Ok) taken, Ok(Err(ms)) empty for that long, Err when Redis did not answer.
    async fn take(
        &self,
        key: &str,
        interval_ms: u64,
        burst: u32,
    ) -> Result<Result<(), u64>, String> {
        let Some(connection) = self.connection.get() else {
            return Err("not connected to Redis yet".into());
        };
        let mut connection = connection.clone();
        let mut call = self.script.key(format!("{}:rl:{key}", self.prefix));
        call.arg(interval_ms).arg(burst);
        match tokio::time::timeout(self.timeout, call.invoke_async::<u64>(&mut connection)).await {
            Ok(Ok(0)) => Ok(Ok(())),
            Ok(Ok(wait_ms)) => Ok(Err(wait_ms)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    /// Counts a request served unchecked, and says so.
    fn failed(&self, why: &str) {
        self.failures.inc();
        self.warn(why);
    }

    /// Says the store is unavailable, at most every 10 s.
    fn warn(&self, why: &str) {
        let mut last = self.last_warned.lock().expect("lock");
        if last.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(
                error = why,
                "rate-limit store unavailable: requests are served unchecked"
            );
        }
    }
}

const PRUNE_EVERY_SECS: u64 = 60;

pub struct RateLimit {
    /// Tells this limit's buckets from other limits' in a shared store.
    name: &'static str,
    buckets: Buckets,
}

enum Buckets {
    Memory {
        limiter: DefaultKeyedRateLimiter<IpAddr>,
        /// When idle clients were last forgotten, in seconds since `started`.
        pruned_at: std::sync::atomic::AtomicU64,
        started: Instant,
        prune_every_secs: u64,
    },
    Shared {
        store: Arc<SharedBuckets>,
        interval_ms: u64,
        burst: u32,
    },
}

impl RateLimit {
    pub fn new(store: &LimitStore, name: &'static str, per_second: u32, burst: u32) -> Arc<Self> {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let buckets = match store {
            LimitStore::Memory => Buckets::Memory {
                limiter: DefaultKeyedRateLimiter::keyed(
                    Quota::per_second(per_second).allow_burst(burst),
                ),
                pruned_at: Default::default(),
                started: Instant::now(),
                prune_every_secs: PRUNE_EVERY_SECS,
            },
            LimitStore::Redis(store) => Buckets::Shared {
                store: store.clone(),
                interval_ms: (1000 / u64::from(per_second.get())).max(1),
                burst: burst.get(),
            },
        };
        Arc::new(Self { name, buckets })
    }

    /// Takes a token for `client`; when none is left, the seconds until one is.
    pub async fn check(&self, client: IpAddr) -> Result<(), u64> {
        match &self.buckets {
            Buckets::Memory {
                limiter,
                pruned_at,
                started,
                prune_every_secs,
            } => {
                // Clients whose buckets are full again are forgotten once a minute, so memory
                // follows the clients active lately, however many came in a burst.
                let now = started.elapsed().as_secs();
                let last = pruned_at.load(std::sync::atomic::Ordering::Relaxed);
                if now >= last + prune_every_secs
                    && pruned_at
                        .compare_exchange(
                            last,
                            now,
                            std::sync::atomic::Ordering::Relaxed,
                            std::sync::atomic::Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
                limiter.check_key(&client).map_err(|not_until| {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
                })
            }
            Buckets::Shared {
                store,
                interval_ms,
                burst,
            } => match store
                .take(&format!("{}:{client}", self.name), *interval_ms, *burst)
                .await
            {
                Ok(taken) => taken.map_err(|wait_ms| wait_ms.div_ceil(1000)),
                Err(why) => {
                    store.failed(&why);
                    Ok(())
                }
            },
        }
    }
}

/// Answers 429 with `Retry-After` once the client's bucket is empty.
pub async fn rate_limit(State(limit): State<Arc<RateLimit>>, req: Request, next: Next) -> Response {
    let Some(ClientIp(client)) = req.extensions().get::<ClientIp>().copied() else {
        return next.run(req).await;
    };
    match limit.check(client).await {
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

    #[tokio::test]
    async fn bucket_allows_burst_then_says_when() {
        let rl = RateLimit::new(&LimitStore::Memory, "api", 1, 3);
        let client = ip("192.0.2.1");
        for _ in 0..3 {
            assert!(rl.check(client).await.is_ok());
        }
        assert_eq!(rl.check(client).await, Err(1));
        // Another client has its own bucket.
        assert!(rl.check(ip("192.0.2.2")).await.is_ok());
    }

    #[tokio::test]
    async fn idle_clients_are_forgotten() {
        let mut rl = RateLimit::new(&LimitStore::Memory, "api", 1000, 1);
        let Some(Buckets::Memory {
            prune_every_secs, ..
        }) = Arc::get_mut(&mut rl).map(|rl| &mut rl.buckets)
        else {
            unreachable!("a memory limit")
        };
        *prune_every_secs = 0;
        for n in 0..=255u8 {
            assert!(rl.check(IpAddr::from([192, 0, 2, n])).await.is_ok());
        }
        // Their buckets refill within milliseconds; the next check forgets them.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(rl.check(ip("198.51.100.1")).await.is_ok());
        let Buckets::Memory { limiter, .. } = &rl.buckets else {
            unreachable!()
        };
        assert!(limiter.len() <= 1, "{} clients kept", limiter.len());
    }

    #[test]
    fn a_store_is_memory_or_redis_with_a_url() {
        let settings = |backend: &str, url: &str| LimitStoreSettings {
            backend: backend.into(),
            redis_url: url.into(),
            key_prefix: "agora".into(),
            timeout_ms: 50,
        };
        assert!(settings("memory", "").validate().is_ok());
        assert!(settings("redis", "redis://127.0.0.1:6379")
            .validate()
            .is_ok());
        assert!(settings("redis", "not a url").validate().is_err());
        assert!(settings("memcached", "").validate().is_err());
    }
}
