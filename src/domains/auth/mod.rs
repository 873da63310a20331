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
mod settings;

#[cfg(feature = "auth")]
pub use self::{
    http::AuthState,
    keys::{generate_key, Claims},
    model::{AuthError, User},
    service::{AuthService, TokenPair},
    settings::AuthSettings,
};

#[cfg(feature = "auth")]
mod internal;
#[cfg(feature = "auth")]
mod mounting {
    use std::sync::Arc;

    use utoipa_axum::router::OpenApiRouter;

    use super::http::{self, AuthState};
    use super::jobs::AccountMailer;
    use super::service::AuthService;
    use super::settings::AuthSettings;
    use crate::domains::{check, Domain, Mounted, Need, PortKind, Ports};
    use crate::platform::config::Settings;
    use crate::platform::http::rate_limit::RateLimit;
    use crate::platform::http::API_PREFIX;
    use crate::platform::{DomainInfo, Platform};

    pub struct Auth;

    impl Domain for Auth {
        fn info(&self) -> DomainInfo {
            DomainInfo {
                name: "auth",
                description: "Accounts, tokens, sessions, roles",
            }
        }

        /// Account mails go through mail when it is reachable (stored, retried, from
        /// editable templates), else straight to the Mailer port.
        fn needs(&self) -> &'static [(PortKind, Need)] {
            &[(PortKind::Mail, Need::Optional)]
        }

        fn check(&self, settings: &Settings) -> Vec<String> {
            check::<AuthSettings>(settings, "auth", AuthSettings::validate)
        }

        fn openapi(&self) -> utoipa::openapi::OpenApi {
            OpenApiRouter::<AuthState>::new()
                .nest(API_PREFIX, http::routes(None))
                .merge(http::root_routes())
                .into_openapi()
        }

        fn mount(&self, platform: &Platform, ports: &Ports) -> anyhow::Result<Mounted> {
            let settings: AuthSettings = platform.settings.section("auth")?;
            let rl = settings.rate_limit.clone();
            let refresh_cookie = http::RefreshCookie {
                secure: settings.refresh_cookie_secure,
                max_age_secs: settings.refresh_token_ttl_secs,
            };
            let svc = Arc::new(AuthService::new(
                platform.db.clone(),
                settings,
                &platform.settings.data_dir,
                &platform.metrics.registry,
                platform.clock.clone(),
            )?);
            let _ = ports.authenticator.set(svc.clone());
            let _ = ports.directory.set(svc.clone());
            let state = AuthState {
                svc: svc.clone(),
                authenticator: svc.clone(),
                refresh_cookie,
            };
            let limit = rl
                .enabled
                .then(|| RateLimit::new(&platform.limit_store, "auth", rl.per_second, rl.burst));
            Ok(Mounted {
                api: http::routes(limit).with_state(state.clone()),
                root: http::root_routes().with_state(state),
                internal: super::internal::routes(svc),
                consumers: vec![Arc::new(AccountMailer::new(
                    platform.mailer.clone(),
                    ports.mail.clone(),
                ))],
                tasks: Vec::new(),
            })
        }
    }
}

pub mod remote;

#[cfg(feature = "auth")]
pub use mounting::Auth;

/// This domain for `domains::REGISTRY`; `None` in a build without the `auth` feature.
#[cfg(feature = "auth")]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = Some(&mounting::Auth);
#[cfg(not(feature = "auth"))]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = None;
