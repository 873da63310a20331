//! Auth's business rules: accounts, logins, token rotation, sessions, lockout, verification
//! and reset, administration.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use moka::future::Cache;
use prometheus::{IntCounterVec, Opts, Registry};
use rand::RngCore;
use ring::{aead, hkdf};
use sea_query::SimpleExpr;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::contract::{
    AuthenticationError, Authenticator, Permission, Principal, Role, SessionStatus, UserContact,
    UserDirectory, UserRegistered, USER_REGISTERED,
};
use super::jobs::{AccountMail, ACCOUNT_MAIL};
use super::keys::{Claims, KeyRing};
use super::model::{self, AuthError, Email, User};
use super::password::PasswordHasher;
use super::repo::{self, AuthUsers, NewSession, NewUser, SessionState, UserRow};
use super::settings::AuthSettings;
use crate::platform::clock::Clock;
use crate::platform::db::{Db, DbError, Tx};
use crate::platform::http::FieldError;
use crate::platform::queue::{publish, Outgoing};

const VERIFY_EMAIL: &str = "verify_email";
const RESET_PASSWORD: &str = "reset_password";

/// What a login hands out.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    /// JWT (EdDSA) for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque; exchange it at `/auth/refresh` for a new pair. Single use. Empty when the
    /// request asked for it as a cookie (`?refresh_cookie=true`).
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// Seconds until the refresh token expires.
    #[schema(example = 604800)]
    pub refresh_expires_in: u64,
}

/// Where a request came from, recorded on the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Session {
    pub id: Uuid,
    /// The User-Agent of the login.
    pub device: Option<String>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session of the token making this request.
    pub current: bool,
}

pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: String,
    pub phone: Option<String>,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    /// `Some(None)` clears the phone number.
    pub phone: Option<Option<String>>,
    pub role: Option<Role>,
}

/// `auth_logins_total{outcome}` and `auth_refreshes_total{outcome}`.
struct AuthMetrics {
    logins: IntCounterVec,
    refreshes: IntCounterVec,
}

impl AuthMetrics {
    fn new(registry: &Registry) -> anyhow::Result<Self> {
        let counter = |name: &str, help: &str| -> anyhow::Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), &["outcome"])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        Ok(Self {
            logins: counter("auth_logins_total", "Login attempts by outcome")?,
            refreshes: counter("auth_refreshes_total", "Refresh-token uses by outcome")?,
        })
    }
}

fn login_outcome(result: &Result<TokenPair, AuthError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(AuthError::InvalidCredentials) => "invalid",
        Err(AuthError::Locked { .. }) => "locked",
        Err(AuthError::Unverified) => "unverified",
        Err(AuthError::Deactivated) => "deactivated",
        Err(_) => "error",
    }
}

pub struct AuthService {
    db: Db,
    metrics: AuthMetrics,
    settings: AuthSettings,
    hasher: PasswordHasher,
    keys: KeyRing,
    /// Session checks of `authenticate`, kept for `revocation_check_secs`.
    sessions: Option<Cache<Uuid, Arc<SessionState>>>,
    clock: Clock,
}

fn secs(n: u64) -> chrono::Duration {
    chrono::Duration::seconds(n as i64)
}

/// 32 random bytes, URL-safe.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens are stored only as their SHA-256.
fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key that seals a refresh token's successor, derived (HKDF-SHA256) from the used
/// token: only whoever holds that token, which is who the grace window serves, can open it.
fn successor_key(used: &str) -> aead::LessSafeKey {
    let prk =
        hkdf::Salt::new(hkdf::HKDF_SHA256, b"agora refresh successor").extract(used.as_bytes());
    let okm = prk
        .expand(&[], &aead::CHACHA20_POLY1305)
        .expect("one key's length of output");
    aead::LessSafeKey::new(aead::UnboundKey::from(okm))
}

/// `base64url(nonce || ChaCha20-Poly1305(successor))`.
fn seal_successor(used: &str, successor: &str) -> String {
    let mut nonce = [0u8; aead::NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let mut sealed = successor.as_bytes().to_vec();
    successor_key(used)
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            &mut sealed,
        )
        .expect("a short message seals");
    URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat())
}

/// The successor, or None for another token's seal or one that was tampered with.
fn open_successor(used: &str, sealed: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < aead::NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(aead::NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = sealed.to_vec();
    let opened = successor_key(used)
        .open_in_place(nonce, aead::Aad::empty(), &mut in_out)
        .ok()?;
    String::from_utf8(opened.to_vec()).ok()
}

fn to_user(row: &UserRow, now: DateTime<Utc>) -> User {
    User {
        id: row.id,
        email: row.email.clone(),
        name: row.name.clone(),
        phone: row.phone.clone(),
        role: Role::parse(&row.role).unwrap_or(Role::User),
        is_active: row.is_active,
        email_verified: row.email_verified_at.is_some(),
        locked_until: row.locked_until.filter(|t| *t > now),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn taken(err: DbError) -> AuthError {
    match &err {
        DbError::UniqueViolation { constraint } if constraint.contains("phone") => {
            AuthError::Taken("phone")
        }
        DbError::UniqueViolation { .. } => AuthError::Taken("email"),
        _ => AuthError::Db(err),
    }
}

fn internal(e: impl std::fmt::Display) -> AuthError {
    AuthError::Internal(e.to_string())
}

impl AuthService {
    /// Registers the auth metrics in `registry`.
    pub fn new(
        db: Db,
        auth: AuthSettings,
        data_dir: &std::path::Path,
        registry: &Registry,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let signing = Some(auth.jwt.signing_key.expose()).filter(|k| !k.is_empty());
        let keys = KeyRing::load(&auth.jwt_keys_dir(data_dir), signing, &auth.issuer)?;
        let sessions = (auth.revocation_check_secs > 0).then(|| {
            Cache::builder()
                .max_capacity(100_000)
                .support_invalidation_closures()
                .time_to_live(Duration::from_secs(auth.revocation_check_secs))
                .build()
        });
        Ok(Self {
            db,
            metrics: AuthMetrics::new(registry)?,
            hasher: PasswordHasher::new(&auth.password)?,
            keys,
            sessions,
            settings: auth,
            clock,
        })
    }

    pub fn jwks(&self) -> serde_json::Value {
        self.keys.jwks()
    }

    async fn issue(
        &self,
        tx: &mut Tx,
        user: &UserRow,
        client: &ClientInfo,
    ) -> Result<(Uuid, String), AuthError> {
        let t = self.clock.now();
        let session = Uuid::now_v7();
        repo::insert_session(
            tx,
            NewSession {
                id: session,
                user_id: user.id,
                user_agent: client.user_agent.as_deref(),
                ip: client.ip.clone(),
                expires_at: t + secs(self.settings.refresh_token_ttl_secs),
            },
            t,
        )
        .await?;
        let refresh = random_token();
        repo::insert_refresh_token(
            tx,
            &token_hash(&refresh),
            session,
            t + secs(self.settings.refresh_token_ttl_secs),
            t,
        )
        .await?;
        Ok((session, refresh))
    }

    fn pair(
        &self,
        user_id: Uuid,
        role: &str,
        session: Uuid,
        refresh_token: String,
    ) -> Result<TokenPair, AuthError> {
        let issued = self.clock.now().timestamp();
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            sub: user_id,
            sid: session,
            role: role.to_string(),
            iat: issued,
            exp: issued + self.settings.access_token_ttl_secs as i64,
            jti: Uuid::now_v7(),
        };
        Ok(TokenPair {
            access_token: self.keys.sign(&claims).map_err(internal)?,
            refresh_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl_secs,
            refresh_expires_in: self.settings.refresh_token_ttl_secs,
        })
    }

    async fn queue_mail(&self, tx: &mut Tx, mail: AccountMail) -> Result<(), AuthError> {
        publish(tx, Outgoing::new(ACCOUNT_MAIL, mail.to.clone(), &mail)).await?;
        Ok(())
    }

    async fn queue_link_mail(
        &self,
        tx: &mut Tx,
        user: &UserRow,
        purpose: &'static str,
    ) -> Result<(), AuthError> {
        let token = random_token();
        let ttl = match purpose {
            VERIFY_EMAIL => self.settings.verification_ttl_secs,
            _ => self.settings.reset_ttl_secs,
        };
        let t = self.clock.now();
        repo::insert_one_time_token(tx, &token_hash(&token), user.id, purpose, t + secs(ttl), t)
            .await?;
        let path = match purpose {
            VERIFY_EMAIL => "verify-email",
            _ => "reset-password",
        };
        let link = format!(
            "{}/{path}?token={token}",
            self.settings.public_url.trim_end_matches('/')
        );
        self.queue_mail(
            tx,
            AccountMail {
                kind: purpose.to_string(),
                user_id: Some(user.id),
                to: user.email.clone(),
                name: user.name.clone(),
                token: Some(token),
                link: Some(link),
                valid_for_minutes: Some(ttl / 60),
                locked_until: None,
            },
        )
        .await
    }

    pub async fn register(
        &self,
        input: Registration,
        client: &ClientInfo,
    ) -> Result<(User, TokenPair), AuthError> {
        let mut errors: Vec<FieldError> = Vec::new();
        let email = Email::parse(&input.email).map_err(|e| errors.push(e)).ok();
        let name = model::parse_name(&input.name)
            .map_err(|e| errors.push(e))
            .ok();
        let phone = match input
            .phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            Some(p) => model::parse_phone(p).map_err(|e| errors.push(e)).ok(),
            None => None,
        };
        if let Err(e) = model::check_password(
            &input.password,
            email.as_ref().map(Email::as_str),
            "password",
        ) {
            errors.push(e);
        }
        let (Some(email), Some(name), true) = (email, name, errors.is_empty()) else {
            return Err(AuthError::Validation(errors));
        };
        let hash = self.hasher.hash(input.password).await.map_err(internal)?;
        let (user, pair) = self
            .create_user(email, name, phone, hash, Role::User, false, Some(client))
            .await?;
        Ok((
            user,
            pair.ok_or_else(|| internal("registration issued no tokens"))?,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_user(
        &self,
        email: Email,
        name: String,
        phone: Option<String>,
        password_hash: String,
        role: Role,
        verified: bool,
        client: Option<&ClientInfo>,
    ) -> Result<(User, Option<TokenPair>), AuthError> {
        let id = Uuid::now_v7();
        let mut tx = self.db.begin().await?;
        let new = NewUser {
            id,
            email: email.as_str(),
            name: &name,
            phone: phone.as_deref(),
            password_hash: &password_hash,
            role: role.as_str(),
            verified,
        };
        repo::insert_user(&mut tx, new, self.clock.now())
            .await
            .map_err(taken)?;
        let user = repo::user_by_id_tx(&mut tx, id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let event = UserRegistered {
            user_id: id,
            email: user.email.clone(),
            name: user.name.clone(),
        };
        publish(
            &mut tx,
            Outgoing::new(USER_REGISTERED, id.to_string(), &event),
        )
        .await?;
        if !verified {
            self.queue_link_mail(&mut tx, &user, VERIFY_EMAIL).await?;
        }
        // Logged in at once, unless created from the command line.
        let issued = match client {
            Some(client) => Some(self.issue(&mut tx, &user, client).await?),
            None => None,
        };
        tx.commit().await?;
        let pair = match issued {
            Some((session, refresh)) => Some(self.pair(id, &user.role, session, refresh)?),
            None => None,
        };
        Ok((to_user(&user, self.clock.now()), pair))
    }

    /// The first administrator, from the command line: verified, no mail, no session.
    pub async fn create_admin(
        &self,
        email: &str,
        password: String,
        name: &str,
    ) -> Result<User, AuthError> {
        let email = Email::parse(email)?;
        model::check_password(&password, Some(email.as_str()), "password")?;
        let name = model::parse_name(name)?;
        let hash = self.hasher.hash(password).await.map_err(internal)?;
        let (user, _) = self
            .create_user(email, name, None, hash, Role::Admin, true, None)
            .await?;
        Ok(user)
    }

    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let result = self.try_login(email, password, client).await;
        self.metrics
            .logins
            .with_label_values(&[login_outcome(&result)])
            .inc();
        result
    }

    async fn try_login(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let user = match Email::parse(email) {
            Ok(email) => repo::user_by_email(&self.db, email.as_str()).await?,
            Err(_) => None,
        };
        if let Some(until) = user
            .as_ref()
            .and_then(|u| u.locked_until)
            .filter(|t| *t > self.clock.now())
        {
            return Err(locked(until, self.clock.now()));
        }
        // Unknown accounts verify against a dummy hash: same time, same answer.
        let matches = self
            .hasher
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await
            .map_err(internal)?;
        let Some(user) = user else {
            return Err(AuthError::InvalidCredentials);
        };
        if !matches {
            return Err(self.record_failed_login(user.id).await?);
        }
        if !user.is_active {
            return Err(AuthError::Deactivated);
        }
        if self.settings.require_verified_email && user.email_verified_at.is_none() {
            return Err(AuthError::Unverified);
        }
        let mut tx = self.db.begin().await?;
        if user.failed_logins > 0 || user.lockouts > 0 {
            repo::update_user(
                &mut tx,
                user.id,
                vec![
                    (AuthUsers::FailedLogins, 0.into()),
                    (AuthUsers::Lockouts, 0.into()),
                ],
                self.clock.now(),
            )
            .await?;
        }
        let (session, refresh) = self.issue(&mut tx, &user, client).await?;
        tx.commit().await?;
        self.pair(user.id, &user.role, session, refresh)
    }

    /// Counts a failure under the user's row lock, so parallel attempts on any number of
    /// replicas lock the account after exactly `max_failed_logins`.
    async fn record_failed_login(&self, user_id: Uuid) -> Result<AuthError, AuthError> {
        let mut tx = self.db.begin().await?;
        let user = repo::lock_user(&mut tx, user_id)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        let t = self.clock.now();
        if let Some(until) = user.locked_until.filter(|u| *u > t) {
            return Ok(locked(until, self.clock.now()));
        }
        let failed = user.failed_logins + 1;
        if (failed as u32) < self.settings.max_failed_logins {
            repo::update_user(
                &mut tx,
                user_id,
                vec![(AuthUsers::FailedLogins, failed.into())],
                t,
            )
            .await?;
            tx.commit().await?;
            return Ok(AuthError::InvalidCredentials);
        }
        let period = lock_period(
            self.settings.lockout_secs,
            self.settings.lockout_max_secs,
            user.lockouts,
        );
        let until = t + secs(period);
        repo::update_user(
            &mut tx,
            user_id,
            vec![
                (AuthUsers::FailedLogins, 0.into()),
                (AuthUsers::Lockouts, (user.lockouts + 1).into()),
                (AuthUsers::LockedUntil, until.into()),
            ],
            t,
        )
        .await?;
        self.queue_mail(
            &mut tx,
            AccountMail {
                kind: "account_locked".into(),
                user_id: Some(user.id),
                to: user.email.clone(),
                name: user.name.clone(),
                token: None,
                link: None,
                valid_for_minutes: None,
                locked_until: Some(until),
            },
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(user = %user_id, lock_secs = period, "account locked after failed logins");
        Ok(locked(until, self.clock.now()))
    }

    /// Rotates a refresh token. Reuse after the grace window revokes the whole session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let result = self.rotate(refresh_token).await;
        let outcome = match &result {
            Ok((_, outcome)) => *outcome,
            Err(AuthError::RefreshTokenReused) => "reused",
            Err(_) => "refused",
        };
        self.metrics.refreshes.with_label_values(&[outcome]).inc();
        result.map(|(pair, _)| pair)
    }

    async fn rotate(&self, refresh_token: &str) -> Result<(TokenPair, &'static str), AuthError> {
        let hash = token_hash(refresh_token);
        let t = self.clock.now();
        let mut tx = self.db.begin().await?;
        let token = repo::refresh_token(&mut tx, &hash)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        let session = repo::session_tx(&mut tx, token.session_id)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if session.revoked_at.is_some() || session.expires_at <= t || token.expires_at <= t {
            return Err(AuthError::InvalidRefreshToken);
        }
        let user = repo::user_by_id_tx(&mut tx, session.user_id)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if !user.is_active {
            return Err(AuthError::Deactivated);
        }
        if let Some(until) = user.locked_until.filter(|u| *u > t) {
            return Err(locked(until, self.clock.now()));
        }

        let mut token = token;
        if token.used_at.is_none() {
            let successor = random_token();
            if repo::use_refresh_token(
                &mut tx,
                &hash,
                &seal_successor(refresh_token, &successor),
                t,
            )
            .await?
            {
                let expires = t + secs(self.settings.refresh_token_ttl_secs);
                repo::insert_refresh_token(
                    &mut tx,
                    &token_hash(&successor),
                    session.id,
                    expires,
                    t,
                )
                .await?;
                repo::touch_session(&mut tx, session.id, expires, t).await?;
                tx.commit().await?;
                return Ok((
                    self.pair(user.id, &user.role, session.id, successor)?,
                    "rotated",
                ));
            }
            // Used concurrently: read what the other request did.
            token = repo::refresh_token(&mut tx, &hash)
                .await?
                .ok_or(AuthError::InvalidRefreshToken)?;
        }

        let grace = secs(self.settings.refresh_grace_secs);
        let within_grace = token.used_at.is_some_and(|used| t - used <= grace);
        if let (true, Some(sealed)) = (within_grace, token.successor.as_deref()) {
            let successor =
                open_successor(refresh_token, sealed).ok_or(AuthError::InvalidRefreshToken)?;
            tx.commit().await?;
            return Ok((
                self.pair(user.id, &user.role, session.id, successor)?,
                "grace",
            ));
        }
        // A rotated token came back: someone else may hold the family. End it.
        repo::revoke_sessions(&mut tx, user.id, Some(session.id), "refresh token reuse", t).await?;
        tx.commit().await?;
        self.forget_sessions(&[session.id]).await;
        tracing::warn!(user = %user.id, session = %session.id, "refresh token reuse; session revoked");
        Err(AuthError::RefreshTokenReused)
    }

    async fn forget_sessions(&self, ids: &[Uuid]) {
        if let Some(cache) = &self.sessions {
            for id in ids {
                cache.invalidate(id).await;
            }
        }
    }

    async fn forget_user(&self, user_id: Uuid) -> Result<(), AuthError> {
        let live = repo::live_sessions(&self.db, user_id, self.clock.now()).await?;
        self.forget_sessions(&live.iter().map(|s| s.id).collect::<Vec<_>>())
            .await;
        if let Some(cache) = &self.sessions {
            // Revoked sessions of this user may be cached too.
            let _ = cache.invalidate_entries_if(move |_, state| state.user_id == user_id);
        }
        Ok(())
    }

    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        let mut tx = self.db.begin().await?;
        repo::revoke_sessions(
            &mut tx,
            principal.user_id,
            Some(principal.session_id),
            "logout",
            self.clock.now(),
        )
        .await?;
        tx.commit().await?;
        self.forget_sessions(&[principal.session_id]).await;
        Ok(())
    }

    /// Revokes every session and, through `valid_after`, every access token of the user.
    pub async fn logout_all(&self, user_id: Uuid, why: &str) -> Result<usize, AuthError> {
        let t = self.clock.now();
        let mut tx = self.db.begin().await?;
        let revoked = repo::revoke_sessions(&mut tx, user_id, None, why, t).await?;
        repo::update_user(&mut tx, user_id, vec![(AuthUsers::ValidAfter, t.into())], t).await?;
        tx.commit().await?;
        self.forget_sessions(&revoked).await;
        self.forget_user(user_id).await?;
        Ok(revoked.len())
    }

    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<Session>, AuthError> {
        let rows = repo::live_sessions(&self.db, principal.user_id, self.clock.now()).await?;
        Ok(rows
            .into_iter()
            .map(|s| Session {
                current: s.id == principal.session_id,
                id: s.id,
                device: s.user_agent,
                ip: s.ip,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
            })
            .collect())
    }

    pub async fn revoke_session(
        &self,
        principal: &Principal,
        session_id: Uuid,
    ) -> Result<(), AuthError> {
        let session = repo::session(&self.db, session_id).await?;
        let owner = session.map(|s| s.user_id).ok_or(AuthError::NotFound)?;
        if !principal.owns_or_can(owner, Permission::ManageUsers) {
            return Err(AuthError::NotFound);
        }
        let mut tx = self.db.begin().await?;
        repo::revoke_sessions(
            &mut tx,
            owner,
            Some(session_id),
            "revoked",
            self.clock.now(),
        )
        .await?;
        tx.commit().await?;
        self.forget_sessions(&[session_id]).await;
        Ok(())
    }

    pub async fn user(&self, principal: &Principal, id: Uuid) -> Result<User, AuthError> {
        if !principal.owns_or_can(id, Permission::ReadUsers) {
            return Err(AuthError::Forbidden("you may only read your own account"));
        }
        let row = repo::user_by_id(&self.db, id)
            .await?
            .ok_or(AuthError::NotFound)?;
        Ok(to_user(&row, self.clock.now()))
    }

    pub async fn list_users(
        &self,
        search: Option<&str>,
        page: u64,
        limit: u64,
    ) -> Result<(Vec<User>, u64), AuthError> {
        let (rows, total) = repo::list_users(&self.db, search, limit, (page - 1) * limit).await?;
        let now = self.clock.now();
        Ok((rows.iter().map(|r| to_user(r, now)).collect(), total))
    }

    pub async fn update_user(
        &self,
        principal: &Principal,
        id: Uuid,
        patch: UserPatch,
    ) -> Result<User, AuthError> {
        if !principal.owns_or_can(id, Permission::ManageUsers) {
            return Err(AuthError::Forbidden("you may only change your own account"));
        }
        if patch.role.is_some() && !principal.can(Permission::ChangeRoles) {
            return Err(AuthError::Forbidden(
                "only an administrator may change a role",
            ));
        }
        let mut errors = Vec::new();
        let mut values: Vec<(AuthUsers, SimpleExpr)> = Vec::new();
        if let Some(name) = &patch.name {
            match model::parse_name(name) {
                Ok(name) => values.push((AuthUsers::Name, name.into())),
                Err(e) => errors.push(e),
            }
        }
        match &patch.phone {
            Some(Some(phone)) => match model::parse_phone(phone) {
                Ok(phone) => values.push((AuthUsers::Phone, phone.into())),
                Err(e) => errors.push(e),
            },
            Some(None) => values.push((AuthUsers::Phone, Option::<String>::None.into())),
            None => {}
        }
        if let Some(role) = patch.role {
            values.push((AuthUsers::Role, role.as_str().into()));
        }
        if !errors.is_empty() {
            return Err(AuthError::Validation(errors));
        }
        let mut tx = self.db.begin().await?;
        if patch.role.is_some_and(|r| r != Role::Admin) {
            keep_an_administrator(&mut tx, principal, id).await?;
        }
        if !repo::update_user(&mut tx, id, values, self.clock.now())
            .await
            .map_err(taken)?
        {
            return Err(AuthError::NotFound);
        }
        let row = repo::user_by_id_tx(&mut tx, id)
            .await?
            .ok_or(AuthError::NotFound)?;
        tx.commit().await?;
        if patch.role.is_some() {
            self.forget_user(id).await?;
        }
        Ok(to_user(&row, self.clock.now()))
    }

    /// Deactivation also ends every session; activation lets the user log in again.
    pub async fn set_active(
        &self,
        principal: &Principal,
        id: Uuid,
        active: bool,
    ) -> Result<User, AuthError> {
        let mut tx = self.db.begin().await?;
        if !active {
            keep_an_administrator(&mut tx, principal, id).await?;
        }
        if !repo::update_user(
            &mut tx,
            id,
            vec![(AuthUsers::IsActive, active.into())],
            self.clock.now(),
        )
        .await?
        {
            return Err(AuthError::NotFound);
        }
        tx.commit().await?;
        if !active {
            self.logout_all(id, "deactivated").await?;
        }
        let row = repo::user_by_id(&self.db, id)
            .await?
            .ok_or(AuthError::NotFound)?;
        Ok(to_user(&row, self.clock.now()))
    }

    pub async fn unlock(&self, id: Uuid) -> Result<User, AuthError> {
        let mut tx = self.db.begin().await?;
        let values = vec![
            (AuthUsers::LockedUntil, Option::<DateTime<Utc>>::None.into()),
            (AuthUsers::FailedLogins, 0.into()),
            (AuthUsers::Lockouts, 0.into()),
        ];
        if !repo::update_user(&mut tx, id, values, self.clock.now()).await? {
            return Err(AuthError::NotFound);
        }
        tx.commit().await?;
        self.forget_user(id).await?;
        let row = repo::user_by_id(&self.db, id)
            .await?
            .ok_or(AuthError::NotFound)?;
        Ok(to_user(&row, self.clock.now()))
    }

    pub async fn resend_verification(&self, principal: &Principal) -> Result<bool, AuthError> {
        let user = repo::user_by_id(&self.db, principal.user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        if user.email_verified_at.is_some() {
            return Ok(false);
        }
        let mut tx = self.db.begin().await?;
        self.queue_link_mail(&mut tx, &user, VERIFY_EMAIL).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn verify_email(&self, token: &str) -> Result<User, AuthError> {
        let t = self.clock.now();
        let mut tx = self.db.begin().await?;
        let user_id = repo::consume_one_time_token(&mut tx, &token_hash(token), VERIFY_EMAIL, t)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        repo::update_user(
            &mut tx,
            user_id,
            vec![(AuthUsers::EmailVerifiedAt, t.into())],
            t,
        )
        .await?;
        let row = repo::user_by_id_tx(&mut tx, user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        tx.commit().await?;
        Ok(to_user(&row, self.clock.now()))
    }

    /// Queues a reset mail if the account exists; says nothing either way.
    pub async fn forgot_password(&self, email: &str) -> Result<(), AuthError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let Some(user) = repo::user_by_email(&self.db, email.as_str()).await? else {
            return Ok(());
        };
        if !user.is_active {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        self.queue_link_mail(&mut tx, &user, RESET_PASSWORD).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a new password from a reset link and ends every session of the user.
    pub async fn reset_password(&self, token: &str, password: String) -> Result<(), AuthError> {
        let hash = token_hash(token);
        // Token and policy are checked in a transaction that is rolled back, so a refused
        // password does not spend the token; hashing happens outside any transaction.
        let t = self.clock.now();
        let mut tx = self.db.begin().await?;
        let user_id = repo::consume_one_time_token(&mut tx, &hash, RESET_PASSWORD, t)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let user = repo::user_by_id_tx(&mut tx, user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if let Err(e) = model::check_password(&password, Some(&user.email), "password") {
            tx.rollback().await?;
            return Err(e.into());
        }
        tx.rollback().await?;

        let password_hash = self.hasher.hash(password).await.map_err(internal)?;
        let mut tx = self.db.begin().await?;
        // Consumed for real now; a parallel reset with the same token loses here.
        repo::consume_one_time_token(&mut tx, &hash, RESET_PASSWORD, self.clock.now())
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let t = self.clock.now();
        repo::update_user(
            &mut tx,
            user_id,
            vec![
                (AuthUsers::PasswordHash, password_hash.into()),
                (AuthUsers::FailedLogins, 0.into()),
                (AuthUsers::LockedUntil, Option::<DateTime<Utc>>::None.into()),
                // Reading the link proves the address.
                (
                    AuthUsers::EmailVerifiedAt,
                    user.email_verified_at.unwrap_or(t).into(),
                ),
            ],
            t,
        )
        .await?;
        tx.commit().await?;
        self.logout_all(user_id, "password reset").await?;
        Ok(())
    }

    async fn session_state(&self, session: Uuid) -> Result<Option<Arc<SessionState>>, DbError> {
        let load = || async {
            repo::session_state(&self.db, session)
                .await
                .map(|s| s.map(Arc::new))
        };
        match &self.sessions {
            None => load().await,
            Some(cache) => {
                if let Some(hit) = cache.get(&session).await {
                    return Ok(Some(hit));
                }
                let state = load().await?;
                if let Some(state) = &state {
                    cache.insert(session, state.clone()).await;
                }
                Ok(state)
            }
        }
    }
}

/// Refuses to take `id` out of the active administrators when it is the caller (ask another
/// administrator) or the last one, which would leave nobody to administer.
async fn keep_an_administrator(
    tx: &mut Tx,
    principal: &Principal,
    id: Uuid,
) -> Result<(), AuthError> {
    let admins = repo::lock_active_admins(tx).await?;
    if !admins.contains(&id) {
        return Ok(());
    }
    if id == principal.user_id {
        return Err(AuthError::Conflict(
            "administrators cannot demote or deactivate themselves; another administrator can",
        ));
    }
    if admins.len() <= 1 {
        return Err(AuthError::Conflict(
            "the last active administrator cannot be demoted or deactivated",
        ));
    }
    Ok(())
}

/// `base` seconds for a first lock, doubling with each earlier lock, at most `max`.
fn lock_period(base: u64, max: u64, earlier_locks: i32) -> u64 {
    let doubling = 1u64 << earlier_locks.clamp(0, 30);
    base.saturating_mul(doubling).min(max)
}

fn locked(until: DateTime<Utc>, now: DateTime<Utc>) -> AuthError {
    let left = (until - now).num_milliseconds().max(0) as u64;
    AuthError::Locked {
        retry_after_secs: left.div_ceil(1000).max(1),
    }
}

#[async_trait]
impl UserDirectory for AuthService {
    async fn contact(&self, user_id: Uuid) -> anyhow::Result<Option<UserContact>> {
        Ok(repo::user_by_id(&self.db, user_id)
            .await?
            .map(|row| UserContact {
                user_id: row.id,
                email: row.email,
                name: row.name,
                phone: row.phone,
                is_active: row.is_active,
            }))
    }
}

#[async_trait]
impl Authenticator for AuthService {
    /// Signature and expiry, then the session's state (cached for `revocation_check_secs`):
    /// revoked or expired session, deactivated or locked user, or a token older than the
    /// user's `valid_after` are refused. The role is the current one, not the token's.
    async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticationError> {
        let claims = self
            .keys
            .verify(access_token, self.clock.timestamp())
            .ok_or(AuthenticationError::Invalid)?;
        let status = self
            .session_status(claims.sid)
            .await
            .map_err(|e| AuthenticationError::Unavailable(e.to_string()))?
            .ok_or(AuthenticationError::Revoked)?;
        status.admit(claims.sub, claims.sid, claims.iat)
    }
}

impl AuthService {
    /// The session's state now (cached for `revocation_check_secs`), for this process's
    /// token checks and for other processes' (`/internal/v1/auth/sessions/{id}`).
    pub async fn session_status(&self, session: Uuid) -> Result<Option<SessionStatus>, DbError> {
        let Some(state) = self.session_state(session).await? else {
            return Ok(None);
        };
        let t = self.clock.now();
        Ok(Some(SessionStatus {
            user_id: state.user_id,
            role: Role::parse(&state.role).unwrap_or(Role::User),
            usable: state.revoked_at.is_none()
                && state.expires_at > t
                && state.is_active
                && state.locked_until.is_none_or(|u| u <= t),
            valid_after: state.valid_after.timestamp(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_opens_only_with_the_used_token() {
        let used = random_token();
        let successor = random_token();
        let sealed = seal_successor(&used, &successor);
        assert_ne!(sealed, successor);
        assert_eq!(
            open_successor(&used, &sealed).as_deref(),
            Some(successor.as_str())
        );
        assert_eq!(open_successor(&random_token(), &sealed), None);
        // Authenticated: a flipped bit opens to nothing, not to another token.
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(open_successor(&used, &URL_SAFE_NO_PAD.encode(bytes)), None);
        assert_eq!(open_successor(&used, "short"), None);
        // A fresh nonce each time: the same successor seals differently.
        assert_ne!(seal_successor(&used, &successor), sealed);
    }

    #[test]
    fn lock_period_doubles_up_to_the_cap() {
        let periods: Vec<u64> = (0..6).map(|n| lock_period(60, 600, n)).collect();
        assert_eq!(periods, vec![60, 120, 240, 480, 600, 600]);
        assert_eq!(lock_period(60, 3600, 1000), 3600);
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
