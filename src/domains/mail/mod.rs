//! The email system: send through the API, deliver in the background over the Mailer port with
//! retries, dead letters and suppression, statistics.

pub mod contract;

#[cfg(feature = "mail")]
mod contacts;
#[cfg(feature = "mail")]
mod http;
#[cfg(feature = "mail")]
mod jobs;
#[cfg(feature = "mail")]
mod journal;
#[cfg(feature = "mail")]
mod model;
#[cfg(feature = "mail")]
mod repo;
#[cfg(feature = "mail")]
mod service;
#[cfg(feature = "mail")]
mod settings;
#[cfg(feature = "mail")]
pub use settings::MailSettings;
#[cfg(feature = "mail")]
mod templates;

#[cfg(feature = "mail")]
mod internal;
#[cfg(feature = "mail")]
mod mounting {
    use std::sync::Arc;

    use utoipa_axum::router::OpenApiRouter;

    use super::http::{self, MailState};
    use super::jobs::Delivery;
    use super::service::MailService;
    use super::settings::MailSettings;
    use crate::domains::{check, Domain, Mounted, Need, PortKind, Ports};
    use crate::platform::config::Settings;
    use crate::platform::http::API_PREFIX;
    use crate::platform::{DomainInfo, Platform};

    pub struct Mail;

    impl Domain for Mail {
        fn info(&self) -> DomainInfo {
            DomainInfo {
                name: "mail",
                description: "Email composition, delivery, templates, statistics",
            }
        }

        /// Without files, emails have no attachments.
        fn needs(&self) -> &'static [(PortKind, Need)] {
            &[
                (PortKind::Authenticator, Need::Required),
                (PortKind::Files, Need::Optional),
            ]
        }

        fn check(&self, settings: &Settings) -> Vec<String> {
            check::<MailSettings>(settings, "mail", MailSettings::validate)
        }

        fn openapi(&self) -> utoipa::openapi::OpenApi {
            OpenApiRouter::<MailState>::new()
                .nest(API_PREFIX, http::routes())
                .into_openapi()
        }

        fn mount(&self, platform: &Platform, ports: &Ports) -> anyhow::Result<Mounted> {
            let authenticator =
                Ports::require(&ports.authenticator, PortKind::Authenticator, "mail")?;
            let settings: MailSettings = platform.settings.section("mail")?;
            let files = ports.files.get().cloned();
            let svc = Arc::new(MailService::new(
                platform.db.clone(),
                files.clone(),
                settings.per_user_per_minute,
                platform.clock.clone(),
            ));
            let _ = ports.mail.set(svc.clone());
            let delivery = Delivery::new(platform, files, &settings)?;
            let delivery = Arc::new(delivery);
            let depth = prometheus::IntGauge::new(
                "email_retry_queue_depth",
                "Emails waiting for another delivery attempt",
            )?;
            platform
                .metrics
                .registry
                .register(Box::new(depth.clone()))?;
            let every = std::time::Duration::from_secs(
                platform.settings.queue.metrics_interval_secs.max(1),
            );
            let db = platform.db.clone();
            Ok(Mounted {
                api: http::routes().with_state(MailState {
                    svc: svc.clone(),
                    authenticator,
                }),
                internal: super::internal::routes(svc),
                consumers: vec![delivery.clone()],
                tasks: vec![
                    Box::new(move |stop| {
                        Box::pin(super::jobs::watch_retry_depth(db, depth, every, stop))
                    }),
                    Box::new(move |stop| Box::pin(delivery.record_journal(stop))),
                ],
                ..Mounted::default()
            })
        }
    }
}

pub mod remote;

#[cfg(feature = "mail")]
pub use mounting::Mail;

/// This domain for `domains::REGISTRY`; `None` in a build without the `mail` feature.
#[cfg(feature = "mail")]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = Some(&mounting::Mail);
#[cfg(not(feature = "mail"))]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = None;
