//! Business domains, one Cargo feature each. A domain talks to another only through the
//! other's `contract` module; everything else of it is behind its feature.

pub mod auth;
pub mod catalog;
pub mod files;
pub mod locations;
pub mod mail;
pub mod notifications;
pub mod orders;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;

use crate::app::Platform;
use crate::platform::queue::Consumer;

pub struct DomainInfo {
    pub name: &'static str,
    pub description: &'static str,
}

/// Every domain, enabled or not, in the order they are mounted.
const ALL: &[(DomainInfo, bool)] = &[
    (
        DomainInfo {
            name: "auth",
            description: "Accounts, tokens, sessions, roles",
        },
        cfg!(feature = "auth"),
    ),
    (
        DomainInfo {
            name: "mail",
            description: "Email composition, delivery, templates, statistics",
        },
        cfg!(feature = "mail"),
    ),
    (
        DomainInfo {
            name: "notifications",
            description: "Email, in-app, SMS and push notifications",
        },
        cfg!(feature = "notifications"),
    ),
    (
        DomainInfo {
            name: "locations",
            description: "Saved places and reverse geocoding",
        },
        cfg!(feature = "locations"),
    ),
    (
        DomainInfo {
            name: "catalog",
            description: "Stores, categories and products",
        },
        cfg!(feature = "catalog"),
    ),
    (
        DomainInfo {
            name: "orders",
            description: "Addresses, checkout and order tracking",
        },
        cfg!(feature = "orders"),
    ),
    (
        DomainInfo {
            name: "files",
            description: "Uploads checked by content, served back",
        },
        cfg!(feature = "files"),
    ),
];

/// The domains compiled into this binary.
pub fn enabled() -> Vec<&'static DomainInfo> {
    ALL.iter().filter(|(_, on)| *on).map(|(d, _)| d).collect()
}

/// A background loop of a domain, run until the token is cancelled at shutdown.
pub type Task = Box<
    dyn FnOnce(tokio_util::sync::CancellationToken) -> futures::future::BoxFuture<'static, ()>
        + Send,
>;

/// What the enabled domains add to the application.
#[derive(Default)]
pub struct Mounted {
    /// Routes under `/api/v1`.
    pub api: OpenApiRouter,
    /// Routes at the root (`/.well-known/...`).
    pub root: OpenApiRouter,
    pub consumers: Vec<Arc<dyn Consumer>>,
    pub tasks: Vec<Task>,
}

/// The enabled domains' routes as OpenAPI paths (already under `/api/v1`), built without a
/// database so the document can be printed anywhere. Domains register here as they are added.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[allow(unused_mut)]
    let mut doc = utoipa::openapi::OpenApiBuilder::new().build();
    #[cfg(feature = "auth")]
    doc.merge(auth::openapi());
    #[cfg(feature = "locations")]
    doc.merge(locations::openapi());
    #[cfg(feature = "files")]
    doc.merge(files::openapi());
    #[cfg(feature = "catalog")]
    doc.merge(catalog::openapi());
    #[cfg(feature = "orders")]
    doc.merge(orders::openapi());
    #[cfg(feature = "mail")]
    doc.merge(mail::openapi());
    #[cfg(feature = "notifications")]
    doc.merge(notifications::openapi());
    doc
}

/// Builds every enabled domain on the platform. Domains register here as they are added.
pub fn mount(platform: &Platform) -> anyhow::Result<Mounted> {
    #[allow(unused_mut)]
    let mut mounted = Mounted::default();
    // Checks tokens for the other domains; a split-out process would use a JWKS client here.
    // Auth's account mails go through mail once it is mounted (mail needs auth first).
    #[cfg(feature = "auth")]
    let mail_slot = auth::MailSlot::default();
    #[cfg(feature = "auth")]
    let (authenticator, directory) = {
        let auth = auth::mount(platform, mail_slot.clone())?;
        mounted.api = mounted.api.merge(auth.api);
        mounted.root = mounted.root.merge(auth.root);
        mounted.consumers.extend(auth.consumers);
        (Some(auth.authenticator), Some(auth.directory))
    };
    #[cfg(not(feature = "auth"))]
    let (authenticator, directory): (
        Option<Arc<dyn auth::contract::Authenticator>>,
        Option<Arc<dyn auth::contract::UserDirectory>>,
    ) = (None, None);
    #[cfg(feature = "locations")]
    {
        let locations = locations::mount(platform, authenticator.clone())?;
        mounted.api = mounted.api.merge(locations.api);
        mounted.consumers.extend(locations.consumers);
    }
    #[cfg(feature = "files")]
    let files_api: Option<Arc<dyn files::contract::FilesApi>> = {
        let files = files::mount(platform, authenticator.clone())?;
        mounted.api = mounted.api.merge(files.api);
        mounted.root = mounted.root.merge(files.root);
        Some(files.files)
    };
    #[cfg(not(feature = "files"))]
    let files_api: Option<Arc<dyn files::contract::FilesApi>> = None;
    #[cfg(feature = "catalog")]
    let inventory: Option<Arc<dyn catalog::contract::Inventory>> = {
        let catalog = catalog::mount(platform, authenticator.clone(), files_api.clone())?;
        mounted.api = mounted.api.merge(catalog.api);
        mounted.consumers.extend(catalog.consumers);
        mounted.tasks.extend(catalog.tasks);
        Some(catalog.inventory)
    };
    #[cfg(not(feature = "catalog"))]
    let inventory: Option<Arc<dyn catalog::contract::Inventory>> = None;
    #[cfg(feature = "orders")]
    {
        let orders = orders::mount(platform, authenticator.clone(), inventory.clone())?;
        mounted.api = mounted.api.merge(orders.api);
        mounted.tasks.extend(orders.tasks);
    }
    #[cfg(feature = "mail")]
    let mail_sender: Option<Arc<dyn mail::contract::MailSender>> = {
        let mail = mail::mount(platform, authenticator.clone(), files_api.clone())?;
        mounted.api = mounted.api.merge(mail.api);
        mounted.consumers.extend(mail.consumers);
        mounted.tasks.extend(mail.tasks);
        #[cfg(feature = "auth")]
        let _ = mail_slot.set(mail.sender.clone());
        Some(mail.sender)
    };
    #[cfg(not(feature = "mail"))]
    let mail_sender: Option<Arc<dyn mail::contract::MailSender>> = None;
    #[cfg(feature = "notifications")]
    {
        let neighbours = notifications::Neighbours {
            authenticator: authenticator.clone(),
            directory: directory.clone(),
            mail: mail_sender.clone(),
            stores: inventory.clone(),
        };
        let notifications = notifications::mount(platform, neighbours)?;
        mounted.api = mounted.api.merge(notifications.api);
        mounted.consumers.extend(notifications.consumers);
        mounted.tasks.extend(notifications.tasks);
    }
    let _ = (files_api, inventory, mail_sender, directory);
    let _ = (platform, authenticator);
    Ok(mounted)
}

#[cfg(test)]
mod tests {
    #[test]
    fn enabled_follows_features() {
        let names: Vec<_> = super::enabled().iter().map(|d| d.name).collect();
        assert_eq!(names.contains(&"auth"), cfg!(feature = "auth"));
        assert_eq!(names.contains(&"files"), cfg!(feature = "files"));
        assert_eq!(names.len(), super::ALL.iter().filter(|(_, on)| *on).count());
    }
}
