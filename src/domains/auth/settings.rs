//! The auth domain's configuration section, `[auth]` (documented in
//! `config/default.toml`): read and checked by the domain itself.

use serde::{Deserialize, Serialize};

use crate::platform::config::{invalid, ConfigError, RateLimitSettings, Secret};

/// Accounts and tokens. Kept here with the rest of the configuration schema so one file
/// documents every key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub public_url: String,
    pub issuer: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub refresh_grace_secs: u64,
    pub refresh_cookie_secure: bool,
    pub revocation_check_secs: u64,
    pub require_verified_email: bool,
    pub verification_ttl_secs: u64,
    pub reset_ttl_secs: u64,
    pub max_failed_logins: u32,
    pub lockout_secs: u64,
    pub lockout_max_secs: u64,
    pub password: PasswordSettings,
    pub jwt: JwtSettings,
    pub rate_limit: RateLimitSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub max_concurrent: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    pub keys_dir: String,
    pub signing_key: Secret,
}

impl AuthSettings {
    /// Checks what serde cannot: ranges, URLs, combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let auth = self;
        if !(auth.public_url.starts_with("http://") || auth.public_url.starts_with("https://")) {
            return Err(invalid(
                "auth.public_url",
                "expected an http:// or https:// URL",
            ));
        }
        if auth.access_token_ttl_secs == 0
            || auth.refresh_token_ttl_secs <= auth.access_token_ttl_secs
        {
            return Err(invalid(
                "auth.refresh_token_ttl_secs",
                "expected access_token_ttl_secs >= 1 and refresh_token_ttl_secs > access_token_ttl_secs",
            ));
        }
        if auth.max_failed_logins == 0 {
            return Err(invalid("auth.max_failed_logins", "expected at least 1"));
        }
        if auth.lockout_secs == 0 || auth.lockout_max_secs < auth.lockout_secs {
            return Err(invalid(
                "auth.lockout_max_secs",
                "expected lockout_secs >= 1 and lockout_max_secs >= lockout_secs",
            ));
        }
        let pw = &auth.password;
        if pw.iterations == 0 || pw.parallelism == 0 || pw.memory_kib < 8 * pw.parallelism {
            return Err(invalid(
                "auth.password",
                "expected iterations >= 1, parallelism >= 1 and memory_kib >= 8 * parallelism",
            ));
        }
        if auth.rate_limit.per_second == 0 || auth.rate_limit.burst == 0 {
            return Err(invalid(
                "auth.rate_limit",
                "expected per_second and burst of at least 1",
            ));
        }
        Ok(())
    }

    /// Where JWT signing keys live: `auth.jwt.keys_dir`, or `jwt` inside `data_dir`.
    pub fn jwt_keys_dir(&self, data_dir: &std::path::Path) -> std::path::PathBuf {
        if self.jwt.keys_dir.is_empty() {
            data_dir.join("jwt")
        } else {
            std::path::PathBuf::from(&self.jwt.keys_dir)
        }
    }
}
