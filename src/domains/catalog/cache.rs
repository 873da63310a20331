//! Public catalog reads kept as the JSON bytes they are served as: product listings by filter
//! and page, and products by id. Any catalog or stock write drops both, in this process as soon
//! as it commits, on other replicas when they see the catalog version move.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::HeaderValue;
use moka::future::Cache;
use prometheus::{IntCounterVec, Opts, Registry};
use uuid::Uuid;

use super::repo::ProductFilter;
use super::settings::CatalogSettings;
use crate::platform::http::JsonBytes;

/// A listing's resolved filter, limit and offset.
pub type ListingKey = (ProductFilter, u64, u64);

/// A read as served: its bytes, and whether anyone may be given them (and caches keep them).
pub struct Representation {
    pub json: JsonBytes,
    pub shared: bool,
}

pub struct ReadCache {
    listings: Option<Cache<ListingKey, JsonBytes>>,
    products: Option<Cache<Uuid, JsonBytes>>,
    /// Counts drops, so a read begun before a write is not kept after it.
    generation: AtomicU64,
    lookups: IntCounterVec,
    shared: HeaderValue,
}

/// `Cache-Control` of reads that depend on who asks (a store owner's hidden products).
const PRIVATE: HeaderValue = HeaderValue::from_static("private, no-cache");

impl ReadCache {
    pub fn new(settings: &CatalogSettings, registry: &Registry) -> anyhow::Result<Self> {
        let lookups = IntCounterVec::new(
            Opts::new(
                "catalog_cache_total",
                "Catalog read cache lookups, by read (listing, product) and result (hit, miss)",
            ),
            &["read", "result"],
        )?;
        registry.register(Box::new(lookups.clone()))?;
        // Browsers and proxies revalidate every time unless told they may keep a page; a
        // revalidation is a `304` from this cache.
        let shared = match settings.client_max_age_secs {
            0 => HeaderValue::from_static("public, no-cache"),
            secs => HeaderValue::from_str(&format!("public, max-age={secs}"))?,
        };
        Ok(Self {
            listings: build(settings),
            products: build(settings),
            generation: AtomicU64::new(0),
            lookups,
            shared,
        })
    }

    pub fn drop_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(cache) = &self.listings {
            cache.invalidate_all();
        }
        if let Some(cache) = &self.products {
            cache.invalidate_all();
        }
    }

    /// Taken before reading the database; hand it back to `keep_*`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn cache_control(&self, shared: bool) -> HeaderValue {
        if shared {
            self.shared.clone()
        } else {
            PRIVATE
        }
    }

    fn count(&self, read: &str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.lookups.with_label_values(&[read, result]).inc();
    }

    pub async fn listing(&self, key: &ListingKey) -> Option<JsonBytes> {
        let hit = self.listings.as_ref()?.get(key).await;
        self.count("listing", hit.is_some());
        hit
    }

    pub async fn product(&self, id: Uuid) -> Option<JsonBytes> {
        let hit = self.products.as_ref()?.get(&id).await;
        self.count("product", hit.is_some());
        hit
    }

    /// Keeps a listing read at `generation`, unless a write dropped the cache since (checked
    /// again after the insert, which a drop may have raced).
    pub async fn keep_listing(&self, key: ListingKey, json: JsonBytes, generation: u64) {
        if let Some(cache) = &self.listings {
            keep(cache, key, json, generation, &self.generation).await;
        }
    }

    pub async fn keep_product(&self, id: Uuid, json: JsonBytes, generation: u64) {
        if let Some(cache) = &self.products {
            keep(cache, id, json, generation, &self.generation).await;
        }
    }
}

async fn keep<K>(
    cache: &Cache<K, JsonBytes>,
    key: K,
    json: JsonBytes,
    read_at: u64,
    now: &AtomicU64,
) where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    if now.load(Ordering::SeqCst) != read_at {
        return;
    }
    cache.insert(key.clone(), json).await;
    if now.load(Ordering::SeqCst) != read_at {
        cache.invalidate(&key).await;
    }
}

fn build<K>(settings: &CatalogSettings) -> Option<Cache<K, JsonBytes>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    (settings.cache_ttl_secs > 0).then(|| {
        Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(settings.cache_ttl_secs))
            .build()
    })
}
