//! Saved map places with reverse geocoding (offline, or OpenStreetMap Nominatim), nearby and
//! box queries, GeoJSON.

pub mod contract;

#[cfg(feature = "locations")]
mod geocoder;
#[cfg(feature = "locations")]
mod http;
#[cfg(feature = "locations")]
mod jobs;
#[cfg(feature = "locations")]
mod model;
#[cfg(feature = "locations")]
mod repo;
#[cfg(feature = "locations")]
mod service;
#[cfg(feature = "locations")]
mod settings;
#[cfg(feature = "locations")]
pub use settings::{GeocoderKind, LocationsSettings, NominatimSettings};

#[cfg(feature = "locations")]
pub use geocoder::{Geocoder, Nominatim, Offline};

#[cfg(feature = "locations")]
mod mounting {
    use std::sync::Arc;
    use std::time::Duration;

    use utoipa_axum::router::OpenApiRouter;

    use super::geocoder::{Geocoder, Nominatim, Offline};
    use super::http::{self, LocationsState};
    use super::jobs::AddressFiller;
    use super::service::LocationsService;
    use super::settings::{GeocoderKind, LocationsSettings};
    use crate::domains::{check, Domain, Mounted, Need, PortKind, Ports};
    use crate::platform::config::Settings;
    use crate::platform::http::API_PREFIX;
    use crate::platform::{DomainInfo, Platform};

    pub struct Locations;

    impl Domain for Locations {
        fn info(&self) -> DomainInfo {
            DomainInfo {
                name: "locations",
                description: "Saved places and reverse geocoding",
            }
        }

        fn needs(&self) -> &'static [(PortKind, Need)] {
            &[(PortKind::Authenticator, Need::Required)]
        }

        fn check(&self, settings: &Settings) -> Vec<String> {
            check::<LocationsSettings>(settings, "locations", LocationsSettings::validate)
        }

        fn openapi(&self) -> utoipa::openapi::OpenApi {
            OpenApiRouter::<LocationsState>::new()
                .nest(API_PREFIX, http::routes())
                .into_openapi()
        }

        fn mount(&self, platform: &Platform, ports: &Ports) -> anyhow::Result<Mounted> {
            let authenticator =
                Ports::require(&ports.authenticator, PortKind::Authenticator, "locations")?;
            let settings: LocationsSettings = platform.settings.section("locations")?;
            let geocoder: Arc<dyn Geocoder> = match settings.geocoder {
                GeocoderKind::Offline => Arc::new(Offline),
                GeocoderKind::Nominatim => Arc::new(Nominatim::new(
                    &settings.nominatim,
                    platform.db.clone(),
                    &platform.metrics.registry,
                    platform.clock.clone(),
                )?),
            };
            let inline_timeout = Duration::from_secs(settings.nominatim.timeout_secs + 1);
            let svc = Arc::new(LocationsService::new(
                platform.db.clone(),
                geocoder.clone(),
                inline_timeout,
                platform.clock.clone(),
            ));
            Ok(Mounted {
                api: http::routes().with_state(LocationsState { svc, authenticator }),
                consumers: vec![Arc::new(AddressFiller {
                    db: platform.db.clone(),
                    geocoder,
                    clock: platform.clock.clone(),
                })],
                ..Mounted::default()
            })
        }
    }
}

#[cfg(feature = "locations")]
pub use mounting::Locations;

/// This domain for `domains::REGISTRY`; `None` in a build without the `locations` feature.
#[cfg(feature = "locations")]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = Some(&mounting::Locations);
#[cfg(not(feature = "locations"))]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = None;
