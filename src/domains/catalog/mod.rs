//! Stores, a category tree and products: browse with search and filters, a listing cache, and
//! a store for every new account.

pub mod contract;

#[cfg(feature = "catalog")]
mod cache;
#[cfg(feature = "catalog")]
mod http;
#[cfg(feature = "catalog")]
mod inventory;
#[cfg(feature = "catalog")]
mod jobs;
#[cfg(feature = "catalog")]
mod model;
#[cfg(feature = "catalog")]
mod repo;
#[cfg(feature = "catalog")]
mod service;
#[cfg(feature = "catalog")]
mod settings;
#[cfg(feature = "catalog")]
pub use settings::CatalogSettings;

#[cfg(feature = "catalog")]
pub use jobs::first_store_id;

#[cfg(feature = "catalog")]
mod internal;
#[cfg(feature = "catalog")]
mod mounting {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::middleware::from_fn_with_state;
    use utoipa_axum::router::OpenApiRouter;

    use super::http::{self, CatalogState};
    use super::jobs::{ReservationKeeper, StoreCreator};
    use super::service::CatalogService;
    use super::settings::CatalogSettings;
    use crate::domains::{check, Domain, Mounted, Need, PortKind, Ports};
    use crate::platform::budget::{hold_request_body, BodyCopies};
    use crate::platform::config::Settings;
    use crate::platform::http::API_PREFIX;
    use crate::platform::queue::Consumer;
    use crate::platform::{DomainInfo, Platform};

    pub struct Catalog;

    impl Domain for Catalog {
        fn info(&self) -> DomainInfo {
            DomainInfo {
                name: "catalog",
                description: "Stores, categories and products",
            }
        }

        /// Without files, products have no images.
        fn needs(&self) -> &'static [(PortKind, Need)] {
            &[
                (PortKind::Authenticator, Need::Required),
                (PortKind::Files, Need::Optional),
            ]
        }

        fn check(&self, settings: &Settings) -> Vec<String> {
            check::<CatalogSettings>(settings, "catalog", CatalogSettings::validate)
        }

        fn openapi(&self) -> utoipa::openapi::OpenApi {
            OpenApiRouter::<CatalogState>::new()
                .nest(API_PREFIX, http::routes(0))
                .into_openapi()
        }

        fn mount(&self, platform: &Platform, ports: &Ports) -> anyhow::Result<Mounted> {
            let authenticator =
                Ports::require(&ports.authenticator, PortKind::Authenticator, "catalog")?;
            let settings: CatalogSettings = platform.settings.section("catalog")?;
            let svc = Arc::new(CatalogService::new(
                platform.db.clone(),
                ports.files.get().cloned(),
                &settings,
                &platform.metrics.registry,
                platform.clock.clone(),
            )?);
            let _ = ports.inventory.set(svc.clone());
            let every = Duration::from_millis(settings.cache_check_ms);
            // A tenth of the hold, so stock comes back soon after it is due.
            let lapse_every = Duration::from_secs((settings.reservation_ttl_secs / 10).max(1));
            let (watcher, keeper, announcer) = (svc.clone(), svc.clone(), svc.clone());
            // The keeper confirms and releases from orders' events. In one process the order's
            // own transaction has done both, so each event costs it one read; it still runs
            // there, because the queue keeps delivering to a subscribed group whether or not
            // its consumer runs, and another process may hold stock here.
            let consumers: Vec<Arc<dyn Consumer>> = vec![
                Arc::new(StoreCreator {
                    db: platform.db.clone(),
                    clock: platform.clock.clone(),
                }),
                Arc::new(ReservationKeeper {
                    inventory: svc.clone(),
                }),
            ];
            // A product with an image reads its multipart body whole, then the image.
            let whole = BodyCopies {
                budget: platform.large_bodies.clone(),
                copies: 2,
            };
            Ok(Mounted {
                api: http::routes(upload_limit(&platform.settings)?)
                    .with_state(CatalogState {
                        svc: svc.clone(),
                        authenticator,
                    })
                    .layer(from_fn_with_state(whole, hold_request_body)),
                internal: super::internal::routes(svc.clone()),
                consumers,
                tasks: vec![
                    Box::new(move |stop| Box::pin(watcher.watch_version(every, stop))),
                    Box::new(move |stop| Box::pin(keeper.watch_reservations(lapse_every, stop))),
                    Box::new(move |stop| Box::pin(announcer.announce_stock_moves(stop))),
                ],
                ..Mounted::default()
            })
        }
    }

    /// Room for an image of up to `files.max_bytes` (the deployment's upload limit, which
    /// the files domain enforces again) and the rest of the form.
    fn upload_limit(settings: &Settings) -> anyhow::Result<usize> {
        #[derive(serde::Deserialize)]
        struct Uploads {
            max_bytes: usize,
        }
        Ok(settings.section::<Uploads>("files")?.max_bytes + 256 * 1024)
    }
}

pub mod remote;

#[cfg(feature = "catalog")]
pub use mounting::Catalog;

/// This domain for `domains::REGISTRY`; `None` in a build without the `catalog` feature.
#[cfg(feature = "catalog")]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = Some(&mounting::Catalog);
#[cfg(not(feature = "catalog"))]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = None;
