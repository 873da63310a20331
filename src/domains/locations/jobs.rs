//! Fills in the address of places saved while the geocoder was failing.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::geocoder::{GeocodeError, Geocoder};
use super::repo;
use crate::platform::clock::Clock;
use crate::platform::db::Db;
use crate::platform::queue::{Consumer, HandlerError, Message};

pub const GEOCODE_REQUESTED: &str = "locations.geocode_requested";

#[derive(Debug, Serialize, Deserialize)]
pub struct GeocodeRequested {
    pub location_id: Uuid,
}

pub struct AddressFiller {
    pub db: Db,
    pub geocoder: Arc<dyn Geocoder>,
    pub clock: Clock,
}

#[async_trait]
impl Consumer for AddressFiller {
    fn group(&self) -> &str {
        "locations-geocoder"
    }

    fn topics(&self) -> Vec<String> {
        vec![GEOCODE_REQUESTED.into()]
    }

    async fn handle(&self, message: &Message) -> Result<(), HandlerError> {
        let job: GeocodeRequested = message.payload_as()?;
        let Some(location) = repo::get(&self.db, job.location_id)
            .await
            .map_err(|e| HandlerError::Retry(e.to_string()))?
        else {
            return Ok(()); // deleted meanwhile
        };
        if location.address.is_some() {
            return Ok(());
        }
        match self.geocoder.reverse(location.lat, location.lon).await {
            Ok(found) => {
                repo::fill_address(
                    &self.db,
                    self.clock.now(),
                    location.id,
                    &found.address,
                    found.provider,
                )
                .await
                .map_err(|e| HandlerError::Retry(e.to_string()))?;
                Ok(())
            }
            Err(GeocodeError::NotFound) => Ok(()),
            Err(e) => Err(HandlerError::Retry(e.to_string())),
        }
    }
}
