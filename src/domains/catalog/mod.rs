//! Stores, a category tree and products: browse with search and filters, a listing cache, and
//! a store for every new account.

pub mod contract;

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
pub use jobs::first_store_id;

#[cfg(feature = "catalog")]
mod mounting {
    use std::sync::Arc;
    use std::time::Duration;

    use utoipa_axum::router::OpenApiRouter;

    use super::http::{self, CatalogState};
    use super::jobs::StoreCreator;
    use super::service::CatalogService;
    use crate::app::Platform;
    use crate::domains::auth::contract::Authenticator;
    use crate::domains::files::contract::FilesApi;
    use crate::domains::Task;
    use crate::platform::http::API_PREFIX;
    use crate::platform::queue::Consumer;

    pub struct MountedCatalog {
        pub api: OpenApiRouter,
        /// Stock for checkout (the orders domain).
        pub inventory: Arc<dyn crate::domains::catalog::contract::Inventory>,
        pub consumers: Vec<Arc<dyn Consumer>>,
        pub tasks: Vec<Task>,
    }

    pub fn mount(
        platform: &Platform,
        authenticator: Option<Arc<dyn Authenticator>>,
        files: Option<Arc<dyn FilesApi>>,
    ) -> anyhow::Result<MountedCatalog> {
        let authenticator = authenticator.ok_or_else(|| {
            anyhow::anyhow!(
                "the catalog domain needs the auth domain in the same build to check tokens"
            )
        })?;
        let settings = &platform.settings.catalog;
        let svc = Arc::new(CatalogService::new(
            platform.db.clone(),
            files,
            settings,
            &platform.metrics.registry,
            platform.clock.clone(),
        )?);
        let every = Duration::from_millis(settings.cache_check_ms);
        let watcher = svc.clone();
        Ok(MountedCatalog {
            inventory: svc.clone(),
            api: http::routes(upload_limit(platform))
                .with_state(CatalogState { svc, authenticator }),
            consumers: vec![Arc::new(StoreCreator {
                db: platform.db.clone(),
                clock: platform.clock.clone(),
            })],
            tasks: vec![Box::new(move |stop| {
                Box::pin(watcher.watch_version(every, stop))
            })],
        })
    }

    /// Room for an image of up to `files.max_bytes` and the rest of the form.
    fn upload_limit(platform: &Platform) -> usize {
        platform.settings.files.max_bytes + 256 * 1024
    }

    pub fn openapi() -> utoipa::openapi::OpenApi {
        OpenApiRouter::<CatalogState>::new()
            .nest(API_PREFIX, http::routes(0))
            .into_openapi()
    }
}

#[cfg(feature = "catalog")]
pub use mounting::{mount, openapi, MountedCatalog};
