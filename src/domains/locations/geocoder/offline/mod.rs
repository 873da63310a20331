//! Reverse geocoding with no network: the town a point belongs to among the GeoNames places
//! bundled in the binary (see `containing.rs` for the rule), with its district, region and
//! country. Names are spelled as GeoNames spells them, diacritics kept. The index is built
//! once per process, on first use.

mod containing;
mod gazetteer;

use std::sync::OnceLock;

use async_trait::async_trait;

use super::{GeocodeError, Geocoded, Geocoder};
use crate::domains::locations::contract::Address;
pub use containing::Index;

static INDEX: OnceLock<Index> = OnceLock::new();

#[derive(Clone, Default)]
pub struct Offline;

impl Offline {
    pub fn index() -> &'static Index {
        INDEX.get_or_init(Index::build)
    }

    /// The address at a point; `None` at sea, far from any town.
    pub fn lookup(lat: f64, lon: f64) -> Option<Address> {
        let index = Self::index();
        let found = index.locate(lat, lon)?;
        let names = index.gazetteer();
        let code = String::from_utf8_lossy(&found.country).into_owned();
        let region = found.region.map(|r| r.name.to_string());
        let mut address = Address {
            district: found.district.map(|p| names.name(p).to_string()),
            city: found.city.map(|p| names.name(p).to_string()),
            state: region.clone(),
            region,
            country: names.country_name(found.country).map(str::to_string),
            country_code: Some(code.to_lowercase()),
            ..Address::default()
        };
        address.display_name = address.compose_display_name();
        Some(address)
    }
}

#[async_trait]
impl Geocoder for Offline {
    async fn reverse(&self, lat: f64, lon: f64) -> Result<Geocoded, GeocodeError> {
        // Building the index (first call) and the search are CPU work.
        let address = tokio::task::spawn_blocking(move || Offline::lookup(lat, lon))
            .await
            .map_err(|e| GeocodeError::Unavailable(e.to_string()))?
            .ok_or(GeocodeError::NotFound)?;
        Ok(Geocoded {
            address,
            provider: "offline",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Landmarks with the town and country a person there would name (`../landmarks.tsv`).
    const LANDMARKS: &str = include_str!("../landmarks.tsv");

    #[test]
    fn every_landmark_gets_the_town_a_person_there_would_name() {
        let (mut count, mut misses, mut wrong) = (0, 0, Vec::new());
        for line in LANDMARKS.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split('\t').collect();
            let (name, city, country_code) = (f[0], f[3], f[4]);
            let (lat, lon) = (f[1].parse().unwrap(), f[2].parse().unwrap());
            // A known miss names the town answered instead, before a colon and the reason.
            let answered = match f.get(6) {
                Some(miss) => {
                    misses += 1;
                    miss.split(':').next().unwrap()
                }
                None => city,
            };
            count += 1;
            let found = Offline::lookup(lat, lon);
            let got = found
                .as_ref()
                .map(|a| (a.city.as_deref(), a.country_code.as_deref()));
            if got != Some((Some(answered), Some(country_code))) {
                wrong.push(format!("{name}: expected {answered} ({country_code}), got {found:?}"));
            }
        }
        assert!(count >= 40, "the table has {count} landmarks");
        assert!(wrong.is_empty(), "{} of {count} not as listed:\n{}", wrong.len(), wrong.join("\n"));
        assert_eq!(misses, 2, "the README states {} right of {count}", count - misses);
    }

    #[test]
    fn names_keep_their_diacritics_and_every_level_is_filled() {
        let eiffel = Offline::lookup(48.8584, 2.2945).unwrap();
        assert_eq!(eiffel.city.as_deref(), Some("Paris"));
        assert_eq!(eiffel.region.as_deref(), Some("Île-de-France"));
        assert_eq!(eiffel.state, eiffel.region);
        assert_eq!(eiffel.country.as_deref(), Some("France"));
        assert_eq!(eiffel.display_name, "Paris, Île-de-France, France");
        let castle = Offline::lookup(50.0911, 14.4016).unwrap();
        assert_eq!(castle.district.as_deref(), Some("Malá Strana"), "{castle:?}");
        assert_eq!(castle.city.as_deref(), Some("Prague"));
    }

    #[test]
    fn the_antimeridian_is_no_seam() {
        // Egvekinot lies at 179.12° W: a point just east of 180° E is 40 km from it.
        for lon in [179.99, -179.99] {
            let found = Offline::lookup(66.32, lon).unwrap();
            assert_eq!(found.city.as_deref(), Some("Egvekinot"), "at {lon}: {found:?}");
            assert_eq!(found.country_code.as_deref(), Some("ru"));
        }
    }

    #[test]
    fn open_sea_has_no_address() {
        assert_eq!(Offline::lookup(0.0, -140.0), None);
        assert_eq!(Offline::lookup(-45.0, -30.0), None);
    }
}
