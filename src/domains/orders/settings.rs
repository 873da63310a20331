//! The orders domain's configuration section, `[orders]` (documented in
//! `config/default.toml`): read and checked by the domain itself.

use serde::{Deserialize, Serialize};

use crate::platform::config::{invalid, ConfigError, Secret};

/// Checkout and payments.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersSettings {
    pub payment_timeout_secs: u64,
    pub expiry_check_secs: u64,
    pub webhook_secret: Secret,
}

impl OrdersSettings {
    /// Checks what serde cannot: ranges, URLs, combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.payment_timeout_secs == 0 || self.expiry_check_secs == 0 {
            return Err(invalid(
                "orders",
                "expected payment_timeout_secs and expiry_check_secs of at least 1",
            ));
        }
        Ok(())
    }
}
