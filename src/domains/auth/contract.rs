//! What other domains may know of auth: who is calling (`Principal`), the extractors that
//! establish it, roles and permissions, and the events auth publishes.

use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::http::ApiError;

/// Published when an account is created; the catalog creates the user's store from it.
pub const USER_REGISTERED: &str = "auth.user_registered";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// What the role may do beyond acting on its own resources.
    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Role::User => &[],
            Role::Admin => &[
                Permission::ReadUsers,
                Permission::ManageUsers,
                Permission::ChangeRoles,
                Permission::ManageAnyResource,
                Permission::ReadOperations,
            ],
        }
    }
}

/// Named permissions; handlers ask for these, never for a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// List and read any account.
    ReadUsers,
    /// Edit, deactivate, activate and unlock any account.
    ManageUsers,
    /// Give or take the admin role.
    ChangeRoles,
    /// Act on resources other users own (stores, products, locations...).
    ManageAnyResource,
    /// See operational state (circuit breakers, queues).
    ReadOperations,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.permissions().contains(&permission)
    }

    /// The caller owns the resource or may act on anyone's.
    pub fn owns_or_can(&self, owner: Uuid, permission: Permission) -> bool {
        self.user_id == owner || self.can(permission)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticationError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid or expired token")]
    Invalid,
    #[error("the session was revoked or the account is locked or deactivated")]
    Revoked,
    #[error("authentication is unavailable: {0}")]
    Unavailable(String),
}

impl From<AuthenticationError> for ApiError {
    fn from(err: AuthenticationError) -> Self {
        match err {
            AuthenticationError::Unavailable(e) => ApiError::internal(e),
            other => ApiError::unauthorized(other.to_string()),
        }
    }
}

/// Verifies access tokens. In one process the auth service itself; split out, a client that
/// checks signatures against `/.well-known/jwks.json` and asks auth for revocations.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticationError>;
}

/// How to reach an account's owner, for other domains that write to them (notifications).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserContact {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub is_active: bool,
}

/// Looks accounts up. In one process the auth service; split out, a client of `/users/{id}`.
#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    async fn contact(&self, user_id: Uuid) -> anyhow::Result<Option<UserContact>>;
}

/// Extracts the caller from `Authorization: Bearer ...`; 401 without a valid token.
/// Works in any router whose state yields an `Arc<dyn Authenticator>`.
pub struct Authenticated(pub Principal);

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

impl<S> FromRequestParts<S> for Authenticated
where
    Arc<dyn Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(AuthenticationError::Missing)?;
        let authenticator = Arc::<dyn Authenticator>::from_ref(state);
        Ok(Authenticated(authenticator.authenticate(token).await?))
    }
}

/// The caller if a bearer token came with the request (then it must be valid), else `None`.
pub struct MaybeAuthenticated(pub Option<Principal>);

impl<S> FromRequestParts<S> for MaybeAuthenticated
where
    Arc<dyn Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.headers.get(header::AUTHORIZATION).is_none() {
            return Ok(MaybeAuthenticated(None));
        }
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        Ok(MaybeAuthenticated(Some(principal)))
    }
}

/// A permission as a type, for `RequirePermission<P>`.
pub trait PermissionName: Send + Sync + 'static {
    const PERMISSION: Permission;
}

macro_rules! permission_names {
    ($($name:ident),* $(,)?) => {$(
        #[doc = concat!("`RequirePermission<", stringify!($name), ">`")]
        pub struct $name;
        impl PermissionName for $name {
            const PERMISSION: Permission = Permission::$name;
        }
    )*};
}

/// Marker types for `RequirePermission`.
pub mod permissions {
    use super::{Permission, PermissionName};
    permission_names!(
        ReadUsers,
        ManageUsers,
        ChangeRoles,
        ManageAnyResource,
        ReadOperations
    );
}

/// The caller, who must hold permission `P`: 401 when anonymous, 403 without it.
pub struct RequirePermission<P: PermissionName>(pub Principal, PhantomData<P>);

impl<S, P> FromRequestParts<S> for RequirePermission<P>
where
    Arc<dyn Authenticator>: FromRef<S>,
    S: Send + Sync,
    P: PermissionName,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        if !principal.can(P::PERMISSION) {
            return Err(ApiError::forbidden(
                "You do not have the permission this needs",
            ));
        }
        Ok(RequirePermission(principal, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_hold_every_permission_users_none() {
        let admin = Principal {
            user_id: Uuid::nil(),
            session_id: Uuid::nil(),
            role: Role::Admin,
        };
        let user = Principal {
            role: Role::User,
            ..admin.clone()
        };
        assert!(admin.can(Permission::ChangeRoles));
        assert!(!user.can(Permission::ReadUsers));
        let other = Uuid::now_v7();
        assert!(!user.owns_or_can(other, Permission::ManageAnyResource));
        assert!(user.owns_or_can(Uuid::nil(), Permission::ManageAnyResource));
    }
}
