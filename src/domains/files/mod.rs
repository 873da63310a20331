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
mod settings;
#[cfg(feature = "files")]
mod storage;
#[cfg(feature = "files")]
pub use settings::FilesSettings;

#[cfg(feature = "files")]
mod internal;
#[cfg(feature = "files")]
mod mounting {
    use std::sync::Arc;

    use axum::middleware::from_fn_with_state;
    use utoipa_axum::router::OpenApiRouter;

    use super::http::{self, FilesState};
    use super::service::FilesService;
    use super::settings::FilesSettings;
    use super::storage::LocalStorage;
    use crate::domains::{check, Domain, Mounted, Need, PortKind, Ports};
    use crate::platform::budget::{hold_request_body, BodyCopies};
    use crate::platform::config::Settings;
    use crate::platform::http::API_PREFIX;
    use crate::platform::{DomainInfo, Platform};

    pub struct Files;

    impl Domain for Files {
        fn info(&self) -> DomainInfo {
            DomainInfo {
                name: "files",
                description: "Uploads checked by content, served back",
            }
        }

        fn needs(&self) -> &'static [(PortKind, Need)] {
            &[(PortKind::Authenticator, Need::Required)]
        }

        fn check(&self, settings: &Settings) -> Vec<String> {
            check::<FilesSettings>(settings, "files", FilesSettings::validate)
        }

        fn openapi(&self) -> utoipa::openapi::OpenApi {
            OpenApiRouter::<FilesState>::new()
                .nest(API_PREFIX, http::routes(0))
                .merge(http::root_routes())
                .into_openapi()
        }

        fn mount(&self, platform: &Platform, ports: &Ports) -> anyhow::Result<Mounted> {
            let authenticator =
                Ports::require(&ports.authenticator, PortKind::Authenticator, "files")?;
            let settings: FilesSettings = platform.settings.section("files")?;
            let storage = Arc::new(LocalStorage::new(
                settings.uploads_dir(&platform.settings.data_dir),
            )?);
            let max_bytes = settings.max_bytes;
            let svc = Arc::new(FilesService::new(
                platform.db.clone(),
                storage,
                settings,
                platform.clock.clone(),
            ));
            let _ = ports.files.set(svc.clone());
            let state = FilesState {
                svc: svc.clone(),
                authenticator,
            };
            // Uploads are read whole: a multipart body and the file; base64 in JSON, the body,
            // the decoded string and the bytes.
            let whole = |copies| {
                from_fn_with_state(
                    BodyCopies {
                        budget: platform.large_bodies.clone(),
                        copies,
                    },
                    hold_request_body,
                )
            };
            Ok(Mounted {
                api: http::routes(max_bytes)
                    .with_state(state.clone())
                    .layer(whole(2)),
                root: http::root_routes().with_state(state),
                internal: super::internal::routes(svc, max_bytes).layer(whole(3)),
                ..Mounted::default()
            })
        }
    }
}

pub mod remote;

#[cfg(feature = "files")]
pub use mounting::Files;

/// This domain for `domains::REGISTRY`; `None` in a build without the `files` feature.
#[cfg(feature = "files")]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = Some(&mounting::Files);
#[cfg(not(feature = "files"))]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = None;
