//! The notifications domain's configuration section, `[notifications]` (documented in
//! `config/default.toml`): read and checked by the domain itself.

use serde::{Deserialize, Serialize};

use crate::platform::config::{invalid, ConfigError, Secret};

/// Notifications.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsSettings {
    pub max_attempts: u32,
    pub release_check_secs: u64,
    pub stream_poll_ms: u64,
    pub sms_webhook_url: String,
    pub push_webhook_url: String,
    pub webhook_secret: Secret,
    pub webhook_timeout_secs: u64,
}

impl NotificationsSettings {
    /// Checks what serde cannot: ranges, URLs, combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let n = self;
        if n.max_attempts == 0
            || n.release_check_secs == 0
            || n.stream_poll_ms == 0
            || n.webhook_timeout_secs == 0
        {
            return Err(invalid(
                "notifications",
                "expected max_attempts, release_check_secs, stream_poll_ms and webhook_timeout_secs of at least 1",
            ));
        }
        for (key, url) in [
            ("notifications.sms_webhook_url", &n.sms_webhook_url),
            ("notifications.push_webhook_url", &n.push_webhook_url),
        ] {
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(key, "expected empty or an http:// or https:// URL"));
            }
        }
        Ok(())
    }
}
