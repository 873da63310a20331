//! The mail domain's configuration section, `[mail]` (documented in
//! `config/default.toml`): read and checked by the domain itself.

use serde::{Deserialize, Serialize};

use crate::platform::config::{invalid, ConfigError};

/// The email system.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub max_attempts: u32,
    pub per_user_per_minute: u32,
    pub global_per_second: u32,
}

impl MailSettings {
    /// Checks what serde cannot: ranges, URLs, combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(invalid("mail.max_attempts", "expected at least 1"));
        }
        if self.per_user_per_minute == 0 || self.global_per_second == 0 {
            return Err(invalid(
                "mail",
                "expected per_user_per_minute and global_per_second of at least 1",
            ));
        }
        Ok(())
    }
}
