//! The bundled GeoNames places, first-level regions and country names (`../data/`, made by
//! `scripts/geodata/build.py`), parsed once into compact arrays.

use std::collections::HashMap;
use std::io::Read;

const PLACES_GZ: &[u8] = include_bytes!("../data/places.tsv.gz");
const REGIONS: &str = include_str!("../data/regions.tsv");
const COUNTRIES: &str = include_str!("../data/countries.tsv");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A town or city: what a resident names as where they live.
    Settlement,
    /// A section of a settlement (GeoNames `PPLX`): a district or suburb.
    District,
}

pub struct Place {
    name_start: u32,
    name_len: u16,
    pub lat: f32,
    pub lon: f32,
    pub population: u32,
    pub kind: Kind,
    pub country: [u8; 2],
    /// Index into [`Gazetteer::regions`].
    pub region: Option<u16>,
}

pub struct Region {
    /// ISO 3166-2 code, e.g. `FR-IDF`.
    pub iso: Box<str>,
    pub name: Box<str>,
}

pub struct Gazetteer {
    /// Every place name, one after the other: one allocation instead of one per place.
    names: String,
    pub places: Vec<Place>,
    pub regions: Vec<Region>,
    regions_by_iso: HashMap<Box<str>, u16>,
    countries: HashMap<[u8; 2], Box<str>>,
}

impl Gazetteer {
    pub fn load() -> Self {
        let mut regions = Vec::new();
        let mut by_geonames_code = HashMap::new();
        let mut regions_by_iso = HashMap::new();
        for line in REGIONS.lines() {
            let [code, iso, name] = fields(line);
            let index = regions.len() as u16;
            by_geonames_code.insert(code, index);
            regions_by_iso.insert(iso.into(), index);
            regions.push(Region {
                iso: iso.into(),
                name: name.into(),
            });
        }

        let mut text = String::new();
        flate2::read::GzDecoder::new(PLACES_GZ)
            .read_to_string(&mut text)
            .expect("the bundled places are valid gzip and UTF-8");
        let mut names = String::with_capacity(text.len() / 3);
        let mut places = Vec::with_capacity(text.lines().count());
        let mut code = String::new();
        for line in text.lines() {
            let [name, lat, lon, kind, population, country, admin1] = fields(line);
            code.clear();
            code.push_str(country);
            code.push('.');
            code.push_str(admin1);
            places.push(Place {
                name_start: names.len() as u32,
                name_len: name.len() as u16,
                lat: lat.parse().expect("latitude"),
                lon: lon.parse().expect("longitude"),
                population: population.parse().unwrap_or(0),
                kind: if kind == "d" {
                    Kind::District
                } else {
                    Kind::Settlement
                },
                country: country_code(country),
                region: by_geonames_code.get(code.as_str()).copied(),
            });
            names.push_str(name);
        }
        names.shrink_to_fit();

        let countries = COUNTRIES
            .lines()
            .map(|line| {
                let [iso, name] = fields(line);
                (country_code(iso), name.into())
            })
            .collect();
        Self {
            names,
            places,
            regions,
            regions_by_iso,
            countries,
        }
    }

    pub fn name(&self, place: &Place) -> &str {
        let start = place.name_start as usize;
        &self.names[start..start + place.name_len as usize]
    }

    pub fn region(&self, place: &Place) -> Option<&Region> {
        place.region.map(|i| &self.regions[i as usize])
    }

    pub fn region_by_iso(&self, iso: &str) -> Option<&Region> {
        self.regions_by_iso
            .get(iso)
            .map(|&i| &self.regions[i as usize])
    }

    pub fn country_name(&self, code: [u8; 2]) -> Option<&str> {
        self.countries.get(&code).map(|n| &**n)
    }
}

pub fn country_code(code: &str) -> [u8; 2] {
    let b = code.as_bytes();
    [
        b.first().copied().unwrap_or(b'?'),
        b.get(1).copied().unwrap_or(b'?'),
    ]
}

fn fields<const N: usize>(line: &str) -> [&str; N] {
    let mut parts = line.split('\t');
    std::array::from_fn(|_| parts.next().unwrap_or(""))
}
