//! The geocoder port and its adapters: offline (bundled GeoNames cities) and Nominatim
//! (rate-limited across replicas, cached, behind a circuit breaker, falling back offline).

mod nominatim;
mod offline;

use async_trait::async_trait;

pub use crate::platform::breaker::{BreakerState, CircuitBreaker};
pub use nominatim::Nominatim;
pub use offline::Offline;

use super::contract::Address;

#[derive(Debug, thiserror::Error)]
pub enum GeocodeError {
    #[error("geocoder unavailable: {0}")]
    Unavailable(String),
    #[error("no address known at this point")]
    NotFound,
}

/// An address and the provider that gave it.
#[derive(Debug, Clone)]
pub struct Geocoded {
    pub address: Address,
    pub provider: &'static str,
}

#[async_trait]
pub trait Geocoder: Send + Sync + 'static {
    async fn reverse(&self, lat: f64, lon: f64) -> Result<Geocoded, GeocodeError>;
    /// Circuit breakers this geocoder runs, for `/admin/circuit-breakers`.
    fn breakers(&self) -> Vec<(&'static str, BreakerState)> {
        Vec::new()
    }
}
