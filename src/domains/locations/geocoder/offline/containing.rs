//! Which town a point belongs to.
//!
//! The nearest town centre is often a small neighbour's: the Eiffel Tower is nearer the
//! centre of Neuilly-sur-Seine than that of Paris. A town covers an area that grows with its
//! population, so each town reaches `REACH_KM_PER_SQRT_PERSON * sqrt(population)` from its
//! centre, and the point belongs to the town it is relatively nearest: the smallest distance
//! divided by the square root of the population. Only towns of the country the point lies in
//! compete, and of its first-level region where the bundled boundaries draw one (US states,
//! Canadian provinces, Australian states and others), so a larger city across a border or a
//! state line is not chosen. Measured on the landmark table (`landmarks.tsv`) and on small
//! towns beside big cities; the figures are in the README.

use country_boundaries::{CountryBoundaries, LatLon, BOUNDARIES_ODBL_60X30};
use kiddo::immutable::float::kdtree::ImmutableKdTree;
use kiddo::SquaredEuclidean;

use super::gazetteer::{country_code, Gazetteer, Kind, Place, Region};

const EARTH_RADIUS_KM: f64 = 6371.0;
/// Places are looked for this far from the point; no town reaches further.
const SEARCH_KM: f64 = 50.0;
/// A town of 1 million reaches 15 km, one of 20,000 2 km.
const REACH_KM_PER_SQRT_PERSON: f64 = 0.015;
/// Towns smaller than this compete on distance alone: in the countryside the nearest village
/// is the answer.
const POPULATION_FLOOR: f64 = 20_000.0;
/// A district (GeoNames section of a town) is named when its centre is this near.
const DISTRICT_KM: f64 = 1.0;

pub struct Index {
    gazetteer: Gazetteer,
    tree: ImmutableKdTree<f32, u32, 3, 32>,
    boundaries: CountryBoundaries,
}

/// What the index knows at a point.
pub struct Found<'a> {
    pub city: Option<&'a Place>,
    pub district: Option<&'a Place>,
    pub region: Option<&'a Region>,
    pub country: [u8; 2],
}

impl Index {
    pub fn build() -> Self {
        let gazetteer = Gazetteer::load();
        let points: Vec<[f32; 3]> = gazetteer
            .places
            .iter()
            .map(|p| unit_vector(p.lat as f64, p.lon as f64))
            .collect();
        Self {
            tree: ImmutableKdTree::new_from_slice(&points),
            boundaries: CountryBoundaries::from_reader(BOUNDARIES_ODBL_60X30)
                .expect("the bundled boundaries are readable"),
            gazetteer,
        }
    }

    pub fn gazetteer(&self) -> &Gazetteer {
        &self.gazetteer
    }

    /// The town, district, region and country at a point; `None` out at sea, far from any
    /// town.
    pub fn locate(&self, lat: f64, lon: f64) -> Option<Found<'_>> {
        let near: Vec<(f64, &Place)> = self
            .tree
            .within_unsorted::<SquaredEuclidean>(&unit_vector(lat, lon), chord_squared(SEARCH_KM))
            .into_iter()
            .map(|n| (km(n.distance), &self.gazetteer.places[n.item as usize]))
            .collect();
        let (country, subdivision) = self.area(lat, lon);
        let region_iso = |p: &Place| self.gazetteer.region(p).map(|r| &*r.iso);
        // GeoNames and the boundaries may code a country's regions differently: the region
        // only narrows the choice where the places around carry its code.
        let subdivision =
            subdivision.filter(|iso| near.iter().any(|(_, p)| region_iso(p) == Some(*iso)));
        let towns: Vec<(f64, &Place)> = near
            .iter()
            .copied()
            .filter(|(_, p)| p.kind == Kind::Settlement)
            .filter(|(_, p)| country.is_none_or(|c| p.country == c))
            .filter(|(_, p)| subdivision.is_none_or(|s| region_iso(p) == Some(s)))
            .collect();
        let city = towns
            .iter()
            .filter(|(d, p)| *d <= reach_km(p))
            .min_by(|a, b| relative_distance(a).total_cmp(&relative_distance(b)))
            .or_else(|| towns.iter().min_by(|a, b| a.0.total_cmp(&b.0)))
            .map(|(_, p)| *p);
        let district = city.and_then(|city| {
            near.iter()
                .filter(|(d, p)| p.kind == Kind::District && *d <= DISTRICT_KM)
                .filter(|(_, p)| p.country == city.country && p.region == city.region)
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, p)| *p)
        });
        let region = match city {
            Some(city) => self.gazetteer.region(city),
            None => subdivision.and_then(|iso| self.gazetteer.region_by_iso(iso)),
        };
        Some(Found {
            city,
            district,
            region,
            country: city.map(|c| c.country).or(country)?,
        })
    }

    /// The country and, where the boundaries draw one, the first-level region a point lies
    /// in. Both are `None` at sea: the boundaries stop at the coast.
    fn area(&self, lat: f64, lon: f64) -> (Option<[u8; 2]>, Option<&str>) {
        let Ok(position) = LatLon::new(lat, lon) else {
            return (None, None);
        };
        let ids = self.boundaries.ids(position);
        let country = ids.iter().find(|id| id.len() == 2).map(|id| country_code(id));
        let subdivision = ids.iter().find(|id| id.contains('-')).copied();
        (country, subdivision)
    }
}

fn reach_km(place: &Place) -> f64 {
    REACH_KM_PER_SQRT_PERSON * (place.population as f64).max(POPULATION_FLOOR).sqrt()
}

fn relative_distance((distance, place): &&(f64, &Place)) -> f64 {
    distance / (place.population as f64).max(POPULATION_FLOOR).sqrt()
}

/// Points on the unit sphere: straight-line distance grows with distance over the surface,
/// with no seam at the antimeridian.
fn unit_vector(lat: f64, lon: f64) -> [f32; 3] {
    let (lat, lon) = (lat.to_radians(), lon.to_radians());
    [
        (lat.cos() * lon.cos()) as f32,
        (lat.cos() * lon.sin()) as f32,
        lat.sin() as f32,
    ]
}

fn chord_squared(km: f64) -> f32 {
    let chord = 2.0 * (km / (2.0 * EARTH_RADIUS_KM)).sin();
    (chord * chord) as f32
}

fn km(chord_squared: f32) -> f64 {
    2.0 * EARTH_RADIUS_KM * ((chord_squared as f64).sqrt() / 2.0).min(1.0).asin()
}
