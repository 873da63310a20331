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
mod model;
#[cfg(feature = "mail")]
mod repo;
#[cfg(feature = "mail")]
mod service;
#[cfg(feature = "mail")]
mod templates;

#[cfg(feature = "mail")]
mod mounting {
    use std::sync::Arc;

    use utoipa_axum::router::OpenApiRouter;

    use super::http::{self, MailState};
    use super::jobs::Delivery;
    use super::service::MailService;
    use crate::app::Platform;
    use crate::domains::auth::contract::Authenticator;
    use crate::domains::files::contract::FilesApi;
    use crate::platform::http::API_PREFIX;
    use crate::platform::queue::Consumer;

    pub struct MountedMail {
        pub api: OpenApiRouter,
        pub consumers: Vec<Arc<dyn Consumer>>,
        pub tasks: Vec<crate::domains::Task>,
        /// Sends for other domains (notifications).
        pub sender: Arc<dyn super::contract::MailSender>,
    }

    pub fn mount(
        platform: &Platform,
        authenticator: Option<Arc<dyn Authenticator>>,
        files: Option<Arc<dyn FilesApi>>,
    ) -> anyhow::Result<MountedMail> {
        let authenticator = authenticator.ok_or_else(|| {
            anyhow::anyhow!(
                "the mail domain needs the auth domain in the same build to check tokens"
            )
        })?;
        let svc = Arc::new(MailService::new(
            platform.db.clone(),
            files.clone(),
            platform.settings.mail.per_user_per_minute,
            platform.clock.clone(),
        ));
        let delivery = Delivery::new(
            platform.db.clone(),
            platform.mailer.clone(),
            files,
            &platform.settings.mail,
            &platform.metrics.registry,
            platform.clock.clone(),
        )?;
        let depth = prometheus::IntGauge::new(
            "email_retry_queue_depth",
            "Emails waiting for another delivery attempt",
        )?;
        platform
            .metrics
            .registry
            .register(Box::new(depth.clone()))?;
        let every =
            std::time::Duration::from_secs(platform.settings.queue.metrics_interval_secs.max(1));
        let db = platform.db.clone();
        Ok(MountedMail {
            sender: svc.clone(),
            api: http::routes().with_state(MailState { svc, authenticator }),
            consumers: vec![Arc::new(delivery)],
            tasks: vec![Box::new(move |stop| {
                Box::pin(super::jobs::watch_retry_depth(db, depth, every, stop))
            })],
        })
    }

    pub fn openapi() -> utoipa::openapi::OpenApi {
        OpenApiRouter::<MailState>::new()
            .nest(API_PREFIX, http::routes())
            .into_openapi()
    }
}

#[cfg(feature = "mail")]
pub use mounting::{mount, openapi, MountedMail};
