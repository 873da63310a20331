//! What other domains may know of locations: the structured address a reverse geocoder gives.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A structured address. Fields the provider does not know are absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = GeocodedAddress)]
pub struct Address {
    #[schema(example = "10 Downing Street, London, SW1A 2AA, United Kingdom")]
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Downing Street")]
    pub road: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "London")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "England")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "SW1A 2AA")]
    pub postcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "United Kingdom")]
    pub country: Option<String>,
    /// ISO 3166-1 alpha-2, lower case.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "gb")]
    pub country_code: Option<String>,
}
