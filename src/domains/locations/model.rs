//! Saved places: validated input, the place as the API shows it, distances and boxes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::contract::Address;
use crate::platform::http::FieldError;
use crate::platform::text;

const MAX_TAGS: usize = 20;
const EARTH_RADIUS_KM: f64 = 6371.0088;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Location {
    pub id: Uuid,
    pub owner_id: Uuid,
    #[schema(example = "Office")]
    pub name: String,
    #[schema(example = 51.5034)]
    pub lat: f64,
    #[schema(example = -0.1276)]
    pub lon: f64,
    pub notes: Option<String>,
    #[schema(example = json!(["work"]))]
    pub tags: Vec<String>,
    /// Filled by reverse geocoding unless given; absent while a lookup is pending.
    pub address: Option<Address>,
    /// `offline`, `nominatim`, or `user` when the address was given.
    pub address_provider: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a client sends to create or replace a place.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LocationInput {
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 200, example = "Office")]
    pub name: String,
    /// -90 to 90.
    #[schema(minimum = -90.0, maximum = 90.0, example = 51.5034)]
    pub lat: f64,
    /// -180 to 180.
    #[schema(minimum = -180.0, maximum = 180.0, example = -0.1276)]
    pub lon: f64,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub tags: Vec<String>,
    /// Given: kept as is. Absent: filled by reverse geocoding.
    pub address: Option<Address>,
}

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.into(),
        message: message.into(),
    }
}

pub fn check_coordinates(lat: f64, lon: f64) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !(-90.0..=90.0).contains(&lat) || !lat.is_finite() {
        errors.push(field("lat", "must be between -90 and 90"));
    }
    if !(-180.0..=180.0).contains(&lon) || !lon.is_finite() {
        errors.push(field("lon", "must be between -180 and 180"));
    }
    errors
}

impl LocationInput {
    /// Trims and checks every field; all problems at once.
    pub fn validate(mut self) -> Result<LocationInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.name = text::single_line(&mut errors, "name", &self.name, 200);
        errors.extend(check_coordinates(self.lat, self.lon));
        self.notes = self
            .notes
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        if self
            .notes
            .as_ref()
            .is_some_and(|n| n.chars().count() > 2000)
        {
            errors.push(field("notes", "must be at most 2000 characters"));
        }
        let mut tags: Vec<String> = Vec::new();
        for tag in self.tags.iter().map(|t| t.trim().to_lowercase()) {
            if tag.is_empty() || tag.chars().count() > 50 {
                errors.push(field("tags", "each tag must be 1 to 50 characters"));
                break;
            }
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.len() > MAX_TAGS {
            errors.push(field("tags", format!("at most {MAX_TAGS} tags")));
        }
        self.tags = tags;
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

/// Great-circle distance in kilometres.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
}

/// `minLon,minLat,maxLon,maxLat`, as Leaflet's `toBBoxString()` gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl BBox {
    pub fn parse(raw: &str) -> Result<BBox, FieldError> {
        let bad = || {
            field(
                "bbox",
                "must be minLon,minLat,maxLon,maxLat with min <= max, in range",
            )
        };
        let parts: Vec<f64> = raw
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let [min_lon, min_lat, max_lon, max_lat] = parts[..] else {
            return Err(bad());
        };
        let valid = check_coordinates(min_lat, min_lon).is_empty()
            && check_coordinates(max_lat, max_lon).is_empty()
            && min_lon <= max_lon
            && min_lat <= max_lat;
        if valid {
            Ok(BBox {
                min_lon,
                min_lat,
                max_lon,
                max_lat,
            })
        } else {
            Err(bad())
        }
    }

    /// The box around a circle (a pre-filter for `nearby`; poles and the antimeridian clamp).
    pub fn around(lat: f64, lon: f64, radius_km: f64) -> BBox {
        let dlat = (radius_km / EARTH_RADIUS_KM).to_degrees();
        let cos = lat.to_radians().cos().max(1e-6);
        let dlon = (radius_km / (EARTH_RADIUS_KM * cos)).to_degrees();
        BBox {
            min_lat: (lat - dlat).max(-90.0),
            max_lat: (lat + dlat).min(90.0),
            min_lon: if dlon >= 180.0 {
                -180.0
            } else {
                (lon - dlon).max(-180.0)
            },
            max_lon: if dlon >= 180.0 {
                180.0
            } else {
                (lon + dlon).min(180.0)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        // London to Paris is about 344 km.
        let d = haversine_km(51.5074, -0.1278, 48.8566, 2.3522);
        assert!((d - 343.5).abs() < 2.0, "{d}");
        assert!(haversine_km(10.0, 10.0, 10.0, 10.0).abs() < 1e-9);
    }

    #[test]
    fn boxes() {
        assert_eq!(
            BBox::parse("-1,50,1,52").unwrap(),
            BBox {
                min_lon: -1.0,
                min_lat: 50.0,
                max_lon: 1.0,
                max_lat: 52.0
            }
        );
        for bad in ["", "1,2,3", "a,b,c,d", "1,52,-1,50", "-200,0,0,1"] {
            assert!(BBox::parse(bad).is_err(), "{bad}");
        }
        let around = BBox::around(51.5, 0.0, 10.0);
        assert!(
            around.min_lat < 51.5 && around.max_lat > 51.5 && around.max_lon - around.min_lon > 0.2
        );
    }

    #[test]
    fn input_is_validated_field_by_field() {
        let input = LocationInput {
            name: " ".into(),
            lat: 91.0,
            lon: -181.0,
            notes: None,
            tags: vec!["Work".into(), "work".into()],
            address: None,
        };
        let fields: Vec<String> = input
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["name", "lat", "lon"]);
        let ok = LocationInput {
            name: "Home".into(),
            lat: 1.0,
            lon: 2.0,
            notes: Some("  ".into()),
            tags: vec!["Work".into(), "work ".into()],
            address: None,
        }
        .validate()
        .unwrap();
        assert_eq!(ok.tags, vec!["work"]);
        assert_eq!(ok.notes, None);
    }
}
