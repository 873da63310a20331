//! Saved places: ownership, geocoding on save (or later, by a job), nearby and box queries.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::contract::Address;
use super::geocoder::{BreakerState, GeocodeError, Geocoded, Geocoder};
use super::jobs::{GeocodeRequested, GEOCODE_REQUESTED};
use super::model::{check_coordinates, haversine_km, BBox, Location, LocationInput};
use super::repo;
use crate::domains::auth::contract::{Permission, Principal};
use crate::platform::clock::Clock;
use crate::platform::db::{Db, DbError};
use crate::platform::http::FieldError;
use crate::platform::queue::{publish, Outgoing};

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("no such location")]
    NotFound,
    #[error("no address is known at this point")]
    NoAddress,
    #[error("the geocoder is unavailable: {0}")]
    GeocoderUnavailable(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Nearby {
    #[serde(flatten)]
    pub location: Location,
    /// Great-circle distance from the query point.
    #[schema(example = 1.27)]
    pub distance_km: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReverseGeocoded {
    pub address: Address,
    /// `offline` or `nominatim`.
    #[schema(example = "offline")]
    pub provider: &'static str,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Breaker {
    #[schema(example = "nominatim")]
    pub name: &'static str,
    pub state: BreakerState,
}

pub struct LocationsService {
    db: Db,
    geocoder: Arc<dyn Geocoder>,
    /// How long a save waits for the geocoder before leaving the address to a job.
    inline_timeout: Duration,
    clock: Clock,
}

impl LocationsService {
    pub fn new(
        db: Db,
        geocoder: Arc<dyn Geocoder>,
        inline_timeout: Duration,
        clock: Clock,
    ) -> Self {
        Self {
            db,
            geocoder,
            inline_timeout,
            clock,
        }
    }

    /// The owner's, or anyone's for administrators; others' look like they do not exist.
    async fn visible(&self, principal: &Principal, id: Uuid) -> Result<Location, LocationError> {
        let location = repo::get(&self.db, id)
            .await?
            .ok_or(LocationError::NotFound)?;
        if !principal.owns_or_can(location.owner_id, Permission::ManageAnyResource) {
            return Err(LocationError::NotFound);
        }
        Ok(location)
    }

    /// The address to store: the given one, a looked-up one, or none: none known there
    /// (out at sea), or none yet, a job following.
    async fn resolve_address(&self, input: &LocationInput) -> Resolved {
        if let Some(given) = &input.address {
            return Resolved::Found(Box::new(given.clone().normalized()), "user");
        }
        match tokio::time::timeout(
            self.inline_timeout,
            self.geocoder.reverse(input.lat, input.lon),
        )
        .await
        {
            Ok(Ok(found)) => Resolved::Found(Box::new(found.address), found.provider),
            Ok(Err(GeocodeError::NotFound)) => Resolved::NoneHere,
            Ok(Err(e)) => {
                tracing::info!(error = %e, "address left to the geocoding job");
                Resolved::Later
            }
            Err(_) => {
                tracing::info!("geocoder too slow; address left to the geocoding job");
                Resolved::Later
            }
        }
    }

    async fn save(
        &self,
        id: Uuid,
        owner: Uuid,
        input: LocationInput,
        create: bool,
    ) -> Result<Location, LocationError> {
        let input = input.validate().map_err(LocationError::Validation)?;
        let resolved = self.resolve_address(&input).await;
        let address_ref = match &resolved {
            Resolved::Found(address, provider) => Some((&**address, *provider)),
            Resolved::NoneHere | Resolved::Later => None,
        };
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        if create {
            repo::insert(&mut tx, id, owner, &input, address_ref, now).await?;
        } else if !repo::replace(&mut tx, id, &input, address_ref, now).await? {
            return Err(LocationError::NotFound);
        }
        if matches!(resolved, Resolved::Later) {
            publish(
                &mut tx,
                Outgoing::new(
                    GEOCODE_REQUESTED,
                    id.to_string(),
                    &GeocodeRequested { location_id: id },
                ),
            )
            .await?;
        }
        tx.commit().await?;
        repo::get(&self.db, id)
            .await?
            .ok_or(LocationError::NotFound)
    }

    pub async fn create(
        &self,
        principal: &Principal,
        input: LocationInput,
    ) -> Result<Location, LocationError> {
        self.save(Uuid::now_v7(), principal.user_id, input, true)
            .await
    }

    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<Location, LocationError> {
        self.visible(principal, id).await
    }

    /// Replaces a place. Moved without a given address: the address is looked up again.
    pub async fn replace(
        &self,
        principal: &Principal,
        id: Uuid,
        input: LocationInput,
    ) -> Result<Location, LocationError> {
        let current = self.visible(principal, id).await?;
        self.save(id, current.owner_id, input, false).await
    }

    pub async fn delete(&self, principal: &Principal, id: Uuid) -> Result<(), LocationError> {
        self.visible(principal, id).await?;
        repo::delete(&self.db, id).await?;
        Ok(())
    }

    fn scope(principal: &Principal) -> Option<Uuid> {
        (!principal.can(Permission::ManageAnyResource)).then_some(principal.user_id)
    }

    pub async fn list(
        &self,
        principal: &Principal,
        bbox: Option<BBox>,
        page: u64,
        limit: u64,
    ) -> Result<(Vec<Location>, u64), LocationError> {
        Ok(repo::list(
            &self.db,
            Self::scope(principal),
            bbox,
            Some((limit, (page - 1) * limit)),
        )
        .await?)
    }

    /// Every place the caller may see (administrators: all), for GeoJSON.
    pub async fn all(&self, principal: &Principal) -> Result<Vec<Location>, LocationError> {
        Ok(repo::list(&self.db, Self::scope(principal), None, None)
            .await?
            .0)
    }

    /// The caller's own places within `radius_km`, nearest first.
    pub async fn nearby(
        &self,
        principal: &Principal,
        lat: f64,
        lon: f64,
        radius_km: f64,
        limit: u64,
    ) -> Result<Vec<Nearby>, LocationError> {
        let mut errors = check_coordinates(lat, lon);
        if !(radius_km > 0.0 && radius_km <= 20_000.0) {
            errors.push(FieldError {
                field: "radius_km".into(),
                message: "must be more than 0 and at most 20000".into(),
            });
        }
        if !errors.is_empty() {
            return Err(LocationError::Validation(errors));
        }
        let (candidates, _) = repo::list(
            &self.db,
            Some(principal.user_id),
            Some(BBox::around(lat, lon, radius_km)),
            None,
        )
        .await?;
        let mut found: Vec<Nearby> = candidates
            .into_iter()
            .map(|location| Nearby {
                distance_km: haversine_km(lat, lon, location.lat, location.lon),
                location,
            })
            .filter(|n| n.distance_km <= radius_km)
            .collect();
        found.sort_by(|a, b| a.distance_km.total_cmp(&b.distance_km));
        found.truncate(limit as usize);
        Ok(found)
    }

    pub async fn reverse(&self, lat: f64, lon: f64) -> Result<ReverseGeocoded, LocationError> {
        let errors = check_coordinates(lat, lon);
        if !errors.is_empty() {
            return Err(LocationError::Validation(errors));
        }
        match self.geocoder.reverse(lat, lon).await {
            Ok(Geocoded { address, provider }) => Ok(ReverseGeocoded { address, provider }),
            Err(GeocodeError::NotFound) => Err(LocationError::NoAddress),
            Err(GeocodeError::Unavailable(e)) => Err(LocationError::GeocoderUnavailable(e)),
        }
    }

    pub fn breakers(&self) -> Vec<Breaker> {
        self.geocoder
            .breakers()
            .into_iter()
            .map(|(name, state)| Breaker { name, state })
            .collect()
    }
}

/// What a save learns of the address.
enum Resolved {
    /// Given, or looked up: with its provider.
    Found(Box<Address>, &'static str),
    /// The geocoder knows no address there; a job would learn nothing more.
    NoneHere,
    /// The geocoder failed or was slow: the geocoding job fills it in later.
    Later,
}
