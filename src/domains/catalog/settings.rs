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
    /// Stock held for an order that is neither confirmed nor released comes back after this.
    pub reservation_ttl_secs: u64,
}

impl CatalogSettings {
    /// Checks what serde cannot: ranges, URLs, combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cache_check_ms == 0 {
            return Err(invalid("catalog.cache_check_ms", "expected at least 1"));
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
