//! What other domains may know of locations: the structured address a reverse geocoder gives.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A structured address, the same shape whichever provider answered. Fields the provider
/// does not know are absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = GeocodedAddress)]
pub struct Address {
    /// The parts below joined, most specific first.
    #[schema(example = "10 Downing Street, Westminster, London, SW1A 2AA, England, United Kingdom")]
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "10 Downing Street")]
    pub road: Option<String>,
    /// The part of the city: a district, borough or suburb.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Westminster")]
    pub district: Option<String>,
    /// The town or city a resident would name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "London")]
    pub city: Option<String>,
    /// The first-level division of the country: state, province, region.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "England")]
    pub region: Option<String>,
    /// The same as `region`, for clients written before `region` existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "England", deprecated)]
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

impl Address {
    /// `region` and `state` name the same thing: an address stored or given with only one of
    /// them gets both.
    pub fn normalized(mut self) -> Self {
        if self.region.is_none() {
            self.region = self.state.clone();
        } else if self.state.is_none() {
            self.state = self.region.clone();
        }
        self
    }

    /// The display name every provider's answer gets: the known parts, most specific first,
    /// a part equal to the one before it left out ("Singapore, Singapore").
    pub fn compose_display_name(&self) -> String {
        let parts = [
            &self.road,
            &self.district,
            &self.city,
            &self.postcode,
            &self.region,
            &self.country,
        ];
        let mut shown: Vec<&str> = Vec::new();
        for part in parts.into_iter().flatten() {
            let part = part.trim();
            if !part.is_empty() && shown.last() != Some(&part) {
                shown.push(part);
            }
        }
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_name_joins_the_known_parts_without_repeats() {
        let address = Address {
            district: Some("Marina Bay".into()),
            city: Some("Singapore".into()),
            region: Some("Singapore".into()),
            country: Some("Singapore".into()),
            ..Address::default()
        };
        assert_eq!(address.compose_display_name(), "Marina Bay, Singapore");
    }

    #[test]
    fn region_and_state_are_filled_from_each_other() {
        let old = Address {
            state: Some("Île-de-France".into()),
            ..Address::default()
        };
        assert_eq!(old.normalized().region.as_deref(), Some("Île-de-France"));
        let new = Address {
            region: Some("Bayern".into()),
            ..Address::default()
        };
        assert_eq!(new.normalized().state.as_deref(), Some("Bayern"));
    }
}
