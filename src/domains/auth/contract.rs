//! What other domains may know of auth: who is calling (`Principal`), roles and permissions,
//! the ports that check tokens and look accounts up, and the events auth publishes. The HTTP
//! extractors built on these live in `domains::authn`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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

/// Verifies access tokens. In one process the auth service itself; split out, a client that
/// checks signatures against `/.well-known/jwks.json` and asks auth for revocations.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticationError>;
}

/// A session as another process sees it, to finish checking a token it verified itself
/// against `/.well-known/jwks.json` (`GET /internal/v1/auth/sessions/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    pub user_id: Uuid,
    /// The account's role now, not the one in the token.
    pub role: Role,
    /// Not revoked or expired, and the account active and not locked, when asked.
    pub usable: bool,
    /// Tokens issued before this (Unix seconds) are refused: logout everywhere, a new
    /// password.
    pub valid_after: i64,
}

impl SessionStatus {
    /// The caller of a verified token for `user_id` in `session_id`, issued at `issued_at`,
    /// if the session still admits it; the role is the current one, not the token's.
    pub fn admit(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        issued_at: i64,
    ) -> Result<Principal, AuthenticationError> {
        if !(self.usable && self.user_id == user_id && issued_at >= self.valid_after) {
            return Err(AuthenticationError::Revoked);
        }
        Ok(Principal {
            user_id,
            session_id,
            role: self.role,
        })
    }
}

/// How to reach an account's owner, for other domains that write to them (notifications).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
