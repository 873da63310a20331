//! The catalog domain's configuration section, `[catalog]` (documented in
//! `config/default.toml`): read and checked by the domain itself.

use serde::{Deserialize, Serialize};

use crate::platform::config::{invalid, ConfigError};

/// Stores, categories and products.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    pub cache_ttl_secs: u64,
    pub cache_check_ms: u64,
    /// How long browsers and proxies may keep a public read without asking again (0: they
    /// revalidate every time, answered `304` while unchanged).
    pub client_max_age_secs: u64,
    /// Stock held for an order that is neither confirmed nor released comes back after this.
    pub reservation_ttl_secs: u64,
}

impl CatalogSettings {
    /// Checks what serde cannot: ranges, URLs, combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cache_check_ms == 0 {
            return Err(invalid("catalog.cache_check_ms", "expected at least 1"));
        }
        if self.client_max_age_secs > self.cache_ttl_secs {
            return Err(invalid(
                "catalog.client_max_age_secs",
                "expected at most catalog.cache_ttl_secs (a client keeps a read no longer than this server)",
            ));
        }
        if self.reservation_ttl_secs < 10 {
            return Err(invalid(
                "catalog.reservation_ttl_secs",
                "expected at least 10 (an order must be written within it)",
            ));
        }
        Ok(())
    }
}
