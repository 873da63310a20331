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
mod templates;

#[cfg(feature = "notifications")]
mod mounting {
    use std::sync::Arc;
    use std::time::Duration;

    use utoipa_axum::router::OpenApiRouter;

    use super::channels::Channels;
    use super::contract::Notifier;
    use super::http::{self, NotificationsState};
    use super::jobs::{Deliverer, EventNotifier};
    use super::live::LiveFeed;
    use super::service::NotificationService;
    use crate::app::Platform;
    use crate::domains::auth::contract::{Authenticator, UserDirectory};
    use crate::domains::catalog::contract::Inventory;
    use crate::domains::mail::contract::MailSender;
    use crate::domains::Task;
    use crate::platform::http::API_PREFIX;
    use crate::platform::queue::Consumer;

    pub struct MountedNotifications {
        pub api: OpenApiRouter,
        pub consumers: Vec<Arc<dyn Consumer>>,
        pub tasks: Vec<Task>,
        pub notifier: Arc<dyn Notifier>,
    }

    /// What notifications use of the other domains.
    pub struct Neighbours {
        pub authenticator: Option<Arc<dyn Authenticator>>,
        pub directory: Option<Arc<dyn UserDirectory>>,
        pub mail: Option<Arc<dyn MailSender>>,
        pub stores: Option<Arc<dyn Inventory>>,
    }

    pub fn mount(platform: &Platform, n: Neighbours) -> anyhow::Result<MountedNotifications> {
        let (Some(authenticator), Some(directory)) = (n.authenticator, n.directory) else {
            anyhow::bail!(
                "the notifications domain needs the auth domain in the same build for tokens and accounts"
            );
        };
        let settings = &platform.settings.notifications;
        let registry = &platform.metrics.registry;
        let clients = prometheus::IntGauge::new(
            "notification_stream_clients",
            "Clients connected to GET /notifications/stream on this replica",
        )?;
        registry.register(Box::new(clients.clone()))?;
        let live = Arc::new(LiveFeed::new(clients));
        let svc = Arc::new(NotificationService::new(
            platform.db.clone(),
            directory,
            Channels::new(settings, n.mail)?,
            live.clone(),
            settings.max_attempts,
            registry,
            platform.clock.clone(),
        )?);
        let poll_every = Duration::from_millis(settings.stream_poll_ms);
        let release_every = Duration::from_secs(settings.release_check_secs);
        let (db, clock, releaser) = (platform.db.clone(), platform.clock.clone(), svc.clone());
        Ok(MountedNotifications {
            notifier: svc.clone(),
            consumers: vec![
                Arc::new(EventNotifier {
                    notifier: svc.clone(),
                    stores: n.stores,
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
        })
    }

    pub fn openapi() -> utoipa::openapi::OpenApi {
        OpenApiRouter::<NotificationsState>::new()
            .nest(API_PREFIX, http::routes())
            .into_openapi()
    }
}

#[cfg(feature = "notifications")]
pub use mounting::{mount, openapi, MountedNotifications, Neighbours};
