//! Accounts, tokens, sessions, roles, lockout, verification and reset.

pub mod contract;

#[cfg(feature = "auth")]
mod http;
#[cfg(feature = "auth")]
mod jobs;
#[cfg(feature = "auth")]
mod keys;
#[cfg(feature = "auth")]
mod model;
#[cfg(feature = "auth")]
mod password;
#[cfg(feature = "auth")]
mod repo;
#[cfg(feature = "auth")]
mod service;

#[cfg(feature = "auth")]
pub use self::{
    http::AuthState,
    keys::{generate_key, Claims},
    model::{AuthError, User},
    service::{AuthService, TokenPair},
};
#[cfg(feature = "auth")]
pub use jobs::MailSlot;

#[cfg(feature = "auth")]
mod mounting {
    use std::sync::Arc;

    use utoipa_axum::router::OpenApiRouter;

    use super::contract::{Authenticator, UserDirectory};
    use super::http::{self, AuthState};
    use super::jobs::AccountMailer;
    use super::service::AuthService;
    use crate::app::Platform;
    use crate::platform::http::rate_limit::RateLimit;
    use crate::platform::http::API_PREFIX;
    use crate::platform::queue::Consumer;

    pub struct MountedAuth {
        pub api: OpenApiRouter,
        pub root: OpenApiRouter,
        pub consumers: Vec<Arc<dyn Consumer>>,
        pub authenticator: Arc<dyn Authenticator>,
        pub directory: Arc<dyn UserDirectory>,
    }

    /// `mail`: filled once the mail domain is mounted (it needs auth first), so account
    /// mails go through it.
    pub fn mount(platform: &Platform, mail: super::jobs::MailSlot) -> anyhow::Result<MountedAuth> {
        let svc = Arc::new(AuthService::new(
            platform.db.clone(),
            &platform.settings,
            &platform.metrics.registry,
            platform.clock.clone(),
        )?);
        let state = AuthState {
            svc: svc.clone(),
            authenticator: svc.clone(),
        };
        let rl = &platform.settings.auth.rate_limit;
        let limit = rl.enabled.then(|| RateLimit::new(rl.per_second, rl.burst));
        Ok(MountedAuth {
            api: http::routes(limit).with_state(state.clone()),
            root: http::root_routes().with_state(state),
            consumers: vec![Arc::new(AccountMailer::new(platform.mailer.clone(), mail))],
            authenticator: svc.clone(),
            directory: svc,
        })
    }

    /// The domain's part of the OpenAPI document, built without a database.
    pub fn openapi() -> utoipa::openapi::OpenApi {
        OpenApiRouter::<AuthState>::new()
            .nest(API_PREFIX, http::routes(None))
            .merge(http::root_routes())
            .into_openapi()
    }
}

#[cfg(feature = "auth")]
pub use mounting::{mount, openapi, MountedAuth};
