//! The HTTP side of authentication for every domain's routes: extractors that establish the
//! caller through the `Authenticator` port, in-process or remote alike.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::domains::auth::contract::{AuthenticationError, Authenticator, Permission, Principal};
use crate::platform::http::ApiError;

impl From<AuthenticationError> for ApiError {
    fn from(err: AuthenticationError) -> Self {
        match err {
            AuthenticationError::Unavailable(e) => ApiError::unavailable(e),
            other => ApiError::unauthorized(other.to_string()),
        }
    }
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
    use super::PermissionName;
    use crate::domains::auth::contract::Permission;
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
