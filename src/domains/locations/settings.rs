//! The locations domain's configuration section, `[locations]` (documented in
//! `config/default.toml`): read and checked by the domain itself.

use serde::{Deserialize, Serialize};

use crate::platform::config::{invalid, ConfigError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GeocoderKind {
    Offline,
    Nominatim,
}

/// Saved places and reverse geocoding.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocationsSettings {
    pub geocoder: GeocoderKind,
    pub nominatim: NominatimSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NominatimSettings {
    pub url: String,
    pub user_agent: String,
    pub email: String,
    pub timeout_secs: u64,
    pub min_interval_ms: u64,
    pub cache_ttl_secs: u64,
    pub cache_decimals: u32,
    pub breaker_failures: u32,
    pub breaker_open_secs: u64,
}

impl LocationsSettings {
    /// Checks what serde cannot: ranges, URLs, combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let nominatim = &self.nominatim;
        if !(nominatim.url.starts_with("http://") || nominatim.url.starts_with("https://")) {
            return Err(invalid(
                "locations.nominatim.url",
                "expected an http:// or https:// URL",
            ));
        }
        if nominatim.user_agent.trim().is_empty() {
            return Err(invalid(
                "locations.nominatim.user_agent",
                "Nominatim's usage policy asks for a User-Agent that identifies the application",
            ));
        }
        if nominatim.timeout_secs == 0
            || nominatim.breaker_failures == 0
            || nominatim.breaker_open_secs == 0
        {
            return Err(invalid(
                "locations.nominatim",
                "expected timeout_secs, breaker_failures and breaker_open_secs of at least 1",
            ));
        }
        if nominatim.cache_decimals > 7 {
            return Err(invalid(
                "locations.nominatim.cache_decimals",
                "expected 0 to 7",
            ));
        }
        Ok(())
    }
}
