//! Nearest city, region and country from the GeoNames cities (population > 1000) bundled by
//! the `reverse_geocoder` crate: no network. The index is built once per process, on first use.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use reverse_geocoder::ReverseGeocoder;

use super::{GeocodeError, Geocoded, Geocoder};
use crate::domains::locations::contract::Address;

static INDEX: OnceLock<Arc<ReverseGeocoder>> = OnceLock::new();

#[derive(Clone, Default)]
pub struct Offline;

impl Offline {
    fn index() -> Arc<ReverseGeocoder> {
        INDEX
            .get_or_init(|| Arc::new(ReverseGeocoder::new()))
            .clone()
    }

    pub fn lookup(lat: f64, lon: f64) -> Address {
        let index = Self::index();
        let record = index.search((lat, lon)).record;
        let country = country_name(&record.cc);
        let parts: Vec<&str> = [
            record.name.as_str(),
            record.admin1.as_str(),
            country.unwrap_or(record.cc.as_str()),
        ]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
        Address {
            display_name: parts.join(", "),
            road: None,
            city: Some(record.name.clone()),
            state: Some(record.admin1.clone()).filter(|s| !s.is_empty()),
            postcode: None,
            country: country.map(str::to_string),
            country_code: Some(record.cc.to_lowercase()),
        }
    }
}

#[async_trait]
impl Geocoder for Offline {
    async fn reverse(&self, lat: f64, lon: f64) -> Result<Geocoded, GeocodeError> {
        // Building the index (first call) and the search are CPU work.
        let address = tokio::task::spawn_blocking(move || Offline::lookup(lat, lon))
            .await
            .map_err(|e| GeocodeError::Unavailable(e.to_string()))?;
        Ok(Geocoded {
            address,
            provider: "offline",
        })
    }
}

/// English names of the most common country codes; others show as their code.
fn country_name(cc: &str) -> Option<&'static str> {
    Some(match cc {
        "AR" => "Argentina",
        "AT" => "Austria",
        "AU" => "Australia",
        "BE" => "Belgium",
        "BR" => "Brazil",
        "CA" => "Canada",
        "CH" => "Switzerland",
        "CN" => "China",
        "CZ" => "Czechia",
        "DE" => "Germany",
        "DK" => "Denmark",
        "EG" => "Egypt",
        "ES" => "Spain",
        "FI" => "Finland",
        "FR" => "France",
        "GB" => "United Kingdom",
        "GR" => "Greece",
        "ID" => "Indonesia",
        "IE" => "Ireland",
        "IN" => "India",
        "IT" => "Italy",
        "JP" => "Japan",
        "KE" => "Kenya",
        "KR" => "South Korea",
        "MX" => "Mexico",
        "NG" => "Nigeria",
        "NL" => "Netherlands",
        "NO" => "Norway",
        "NZ" => "New Zealand",
        "PL" => "Poland",
        "PT" => "Portugal",
        "RU" => "Russia",
        "SE" => "Sweden",
        "TR" => "Turkey",
        "UA" => "Ukraine",
        "US" => "United States",
        "ZA" => "South Africa",
        _ => return None,
    })
}
