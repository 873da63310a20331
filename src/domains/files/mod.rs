//! Uploads checked by content (magic bytes), stored under random names, served back.

pub mod contract;

#[cfg(feature = "files")]
mod detect;
#[cfg(feature = "files")]
mod http;
#[cfg(feature = "files")]
mod repo;
#[cfg(feature = "files")]
mod service;
#[cfg(feature = "files")]
mod storage;

#[cfg(feature = "files")]
mod mounting {
    use std::sync::Arc;

    use utoipa_axum::router::OpenApiRouter;

    use super::contract::FilesApi;
    use super::http::{self, FilesState};
    use super::service::FilesService;
    use super::storage::LocalStorage;
    use crate::app::Platform;
    use crate::domains::auth::contract::Authenticator;
    use crate::platform::http::API_PREFIX;

    pub struct MountedFiles {
        pub api: OpenApiRouter,
        pub root: OpenApiRouter,
        /// For the domains that use files (the catalog's product images).
        pub files: Arc<dyn FilesApi>,
    }

    pub fn mount(
        platform: &Platform,
        authenticator: Option<Arc<dyn Authenticator>>,
    ) -> anyhow::Result<MountedFiles> {
        let authenticator = authenticator.ok_or_else(|| {
            anyhow::anyhow!(
                "the files domain needs the auth domain in the same build to check tokens"
            )
        })?;
        let settings = &platform.settings;
        let storage = Arc::new(LocalStorage::new(settings.uploads_dir())?);
        let svc = Arc::new(FilesService::new(
            platform.db.clone(),
            storage,
            settings.files.clone(),
            platform.clock.clone(),
        ));
        let state = FilesState {
            svc: svc.clone(),
            authenticator,
        };
        Ok(MountedFiles {
            api: http::routes(settings.files.max_bytes).with_state(state.clone()),
            root: http::root_routes().with_state(state),
            files: svc,
        })
    }

    pub fn openapi() -> utoipa::openapi::OpenApi {
        OpenApiRouter::<FilesState>::new()
            .nest(API_PREFIX, http::routes(0))
            .merge(http::root_routes())
            .into_openapi()
    }
}

#[cfg(feature = "files")]
pub use mounting::{mount, openapi, MountedFiles};
