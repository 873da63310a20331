//! Notifications across channels: email (through mail), in-app (stored, live over SSE), SMS
//! and push (webhook providers); per-user preferences and quiet hours, templates per event
//! type and channel, history with per-channel delivery status.

pub mod contract;

#[cfg(feature = "notifications")]
mod channels;
#[cfg(feature = "notifications")]
mod http;
#[cfg(feature = "notifications")]
mod jobs;
#[cfg(feature = "notifications")]
mod live;
#[cfg(feature = "notifications")]
mod model;
#[cfg(feature = "notifications")]
mod repo;
#[cfg(feature = "notifications")]
mod service;
#[cfg(feature = "notifications")]
mod settings;
#[cfg(feature = "notifications")]
pub use settings::NotificationsSettings;
#[cfg(feature = "notifications")]
mod templates;

#[cfg(feature = "notifications")]
mod mounting {
    use std::sync::Arc;
    use std::time::Duration;

    use utoipa_axum::router::OpenApiRouter;

    use super::channels::Channels;
    use super::http::{self, NotificationsState};
    use super::jobs::{Deliverer, EventNotifier};
    use super::live::LiveFeed;
    use super::service::NotificationService;
    use super::settings::NotificationsSettings;
    use crate::domains::{check, Domain, Mounted, Need, PortKind, Ports};
    use crate::platform::config::Settings;
    use crate::platform::http::API_PREFIX;
    use crate::platform::{DomainInfo, Platform};

    pub struct Notifications;

    impl Domain for Notifications {
        fn info(&self) -> DomainInfo {
            DomainInfo {
                name: "notifications",
                description: "Email, in-app, SMS and push notifications",
            }
        }

        /// Without mail, the email channel fails its deliveries; without the catalog,
        /// store owners hear of nothing about their stores.
        fn needs(&self) -> &'static [(PortKind, Need)] {
            &[
                (PortKind::Authenticator, Need::Required),
                (PortKind::UserDirectory, Need::Required),
                (PortKind::Mail, Need::Optional),
                (PortKind::Inventory, Need::Optional),
            ]
        }

        fn check(&self, settings: &Settings) -> Vec<String> {
            check::<NotificationsSettings>(
                settings,
                "notifications",
                NotificationsSettings::validate,
            )
        }

        fn openapi(&self) -> utoipa::openapi::OpenApi {
            OpenApiRouter::<NotificationsState>::new()
                .nest(API_PREFIX, http::routes())
                .into_openapi()
        }

        fn mount(&self, platform: &Platform, ports: &Ports) -> anyhow::Result<Mounted> {
            let authenticator = Ports::require(
                &ports.authenticator,
                PortKind::Authenticator,
                "notifications",
            )?;
            let directory =
                Ports::require(&ports.directory, PortKind::UserDirectory, "notifications")?;
            let settings: NotificationsSettings = platform.settings.section("notifications")?;
            let settings = &settings;
            let registry = &platform.metrics.registry;
            let clients = prometheus::IntGauge::new(
                "notification_stream_clients",
                "Clients connected to GET /notifications/stream on this replica",
            )?;
            registry.register(Box::new(clients.clone()))?;
            let live = Arc::new(LiveFeed::new(clients, platform.stopping.clone()));
            let svc = Arc::new(NotificationService::new(
                platform.db.clone(),
                directory,
                Channels::new(settings, ports.mail.get().cloned())?,
                live.clone(),
                settings.max_attempts,
                registry,
                platform.clock.clone(),
            )?);
            let poll_every = Duration::from_millis(settings.stream_poll_ms);
            let release_every = Duration::from_secs(settings.release_check_secs);
            let (db, clock, releaser) = (platform.db.clone(), platform.clock.clone(), svc.clone());
            Ok(Mounted {
                consumers: vec![
                    Arc::new(EventNotifier {
                        notifier: svc.clone(),
                        stores: ports.inventory.get().cloned(),
                    }),
                    Arc::new(Deliverer {
                        svc: svc.clone(),
                        max_attempts: settings.max_attempts,
                    }),
                ],
                tasks: vec![
                    Box::new(move |stop| Box::pin(live.poll(db, clock, poll_every, stop))),
                    Box::new(move |stop| {
                        Box::pin(super::jobs::release_held(releaser, release_every, stop))
                    }),
                ],
                api: http::routes().with_state(NotificationsState { svc, authenticator }),
                ..Mounted::default()
            })
        }
    }
}

#[cfg(feature = "notifications")]
pub use mounting::Notifications;

/// This domain for `domains::REGISTRY`; `None` in a build without the `notifications` feature.
#[cfg(feature = "notifications")]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = Some(&mounting::Notifications);
#[cfg(not(feature = "notifications"))]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = None;
