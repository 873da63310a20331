//! Auth's ports in a process without auth: tokens verified here with the keys auth publishes
//! at `/.well-known/jwks.json` (fetched once, fetched again when a token names a key not yet
//! seen, so rotation needs no restart), then the session asked of auth and kept for
//! `auth.revocation_check_secs`, the same bound the auth process itself keeps for logout,
//! locks, deactivation and role changes.
//!
//! Revocation goes by a cached call rather than by auth's events on the queue: the call gives
//! the same bound with one source of truth, works on either queue backend and with a process
//! that starts late, and costs one call per session per period.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use moka::future::Cache;
use serde::Deserialize;
use uuid::Uuid;

use super::contract::{
    AuthenticationError, Authenticator, Principal, SessionStatus, UserContact, UserDirectory,
};
use crate::platform::clock::Clock;
use crate::platform::config::Settings;
use crate::platform::remote::{RemoteError, ServiceClient};

/// Tokens a few seconds past `exp` still pass, as in the auth process.
const EXPIRY_LEEWAY_SECS: i64 = 5;
/// An unknown `kid` fetches the key set again at most this often, so forged tokens cannot
/// make this process hammer auth.
const REFETCH_EVERY: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    x: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    exp: i64,
}

/// `auth.revocation_check_secs`: this process keeps the bound the auth process keeps.
pub fn revocation_check_secs(settings: &Settings) -> anyhow::Result<u64> {
    #[derive(Deserialize)]
    struct Revocation {
        revocation_check_secs: u64,
    }
    Ok(settings
        .section::<Revocation>("auth")?
        .revocation_check_secs)
}

pub struct RemoteAuth {
    client: Arc<ServiceClient>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    fetched: tokio::sync::Mutex<Option<std::time::Instant>>,
    sessions: Option<Cache<Uuid, SessionStatus>>,
    clock: Clock,
}

impl RemoteAuth {
    pub fn new(client: Arc<ServiceClient>, revocation_check_secs: u64, clock: Clock) -> Self {
        let sessions = (revocation_check_secs > 0).then(|| {
            Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(revocation_check_secs))
                .build()
        });
        Self {
            client,
            keys: RwLock::new(HashMap::new()),
            fetched: tokio::sync::Mutex::new(None),
            sessions,
            clock,
        }
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().expect("keys lock").get(kid).cloned()
    }

    /// The key named `kid`, fetching the key set again if it is new to this process.
    async fn key_for(&self, kid: &str) -> Result<Option<DecodingKey>, AuthenticationError> {
        if let Some(key) = self.key(kid) {
            return Ok(Some(key));
        }
        let mut fetched = self.fetched.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(key) = self.key(kid) {
            return Ok(Some(key));
        }
        if fetched.is_some_and(|at| at.elapsed() < REFETCH_EVERY) {
            return Ok(None);
        }
        let jwks: Jwks = self
            .client
            .get("/auth/jwks")
            .await
            .map_err(unavailable)?
            .ok_or_else(|| AuthenticationError::Unavailable("auth published no keys".into()))?;
        *fetched = Some(std::time::Instant::now());
        let mut keys = HashMap::new();
        for jwk in jwks.keys {
            if let Ok(key) = DecodingKey::from_ed_components(&jwk.x) {
                keys.insert(jwk.kid, key);
            }
        }
        let found = keys.get(kid).cloned();
        *self.keys.write().expect("keys lock") = keys;
        Ok(found)
    }

    async fn session(&self, sid: Uuid) -> Result<Option<SessionStatus>, AuthenticationError> {
        if let Some(hit) = match &self.sessions {
            Some(cache) => cache.get(&sid).await,
            None => None,
        } {
            return Ok(Some(hit));
        }
        let status: Option<SessionStatus> = self
            .client
            .get(&format!("/auth/sessions/{sid}"))
            .await
            .map_err(unavailable)?;
        if let (Some(cache), Some(status)) = (&self.sessions, &status) {
            cache.insert(sid, status.clone()).await;
        }
        Ok(status)
    }
}

fn unavailable(e: RemoteError) -> AuthenticationError {
    AuthenticationError::Unavailable(e.to_string())
}

#[async_trait]
impl Authenticator for RemoteAuth {
    async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticationError> {
        let header =
            jsonwebtoken::decode_header(access_token).map_err(|_| AuthenticationError::Invalid)?;
        let kid = header.kid.ok_or(AuthenticationError::Invalid)?;
        let key = self
            .key_for(&kid)
            .await?
            .ok_or(AuthenticationError::Invalid)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        // The issuer is checked by auth's own signature: only auth holds the private key.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(access_token, &key, &validation)
            .map_err(|_| AuthenticationError::Invalid)?
            .claims;
        if claims.exp + EXPIRY_LEEWAY_SECS < self.clock.timestamp() {
            return Err(AuthenticationError::Invalid);
        }
        let status = self
            .session(claims.sid)
            .await?
            .ok_or(AuthenticationError::Revoked)?;
        status.admit(claims.sub, claims.sid, claims.iat)
    }
}

#[async_trait]
impl UserDirectory for RemoteAuth {
    async fn contact(&self, user_id: Uuid) -> anyhow::Result<Option<UserContact>> {
        Ok(self
            .client
            .get(&format!("/auth/users/{user_id}/contact"))
            .await?)
    }
}
