//! The offline geocoder: index build time and memory, lookup latency, and every landmark's
//! answer with its district.
//!
//!     cargo bench --bench geocoder

use std::io::Read;
use std::time::{Duration, Instant};

use agora::domains::locations::Offline;
use rand::{Rng, SeedableRng};

const LOOKUPS: usize = 100_000;

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn time_lookups(name: &str, points: &[(f64, f64)]) {
    let mut took = Vec::with_capacity(points.len());
    let mut answered = 0;
    for &(lat, lon) in points {
        let started = Instant::now();
        answered += Offline::lookup(lat, lon).is_some() as usize;
        took.push(started.elapsed());
    }
    took.sort();
    println!(
        "{name}: {} lookups, {answered} answered; p50 {:?}, p99 {:?}, max {:?}",
        points.len(),
        percentile(&took, 0.50),
        percentile(&took, 0.99),
        took[took.len() - 1]
    );
}

/// (name, lat, lon, population) of every town in the bundled data.
fn towns() -> Vec<(String, f64, f64, u64)> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        &include_bytes!("../src/domains/locations/geocoder/data/places.tsv.gz")[..],
    )
    .read_to_string(&mut text)
    .unwrap();
    text.lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f[3] == "c")
        .map(|f| {
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[4].parse().unwrap_or(0),
            )
        })
        .collect()
}

fn km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let h = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((lon2 - lon1).to_radians() / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// The other side of the rule: small towns beside big cities must keep their name. Towns of
/// 500 to 50,000 people within 30 km of a city of a million, asked 500 m and 1 km north of
/// their centre.
fn small_towns_keep_their_name() {
    let towns = towns();
    let cities: Vec<_> = towns.iter().filter(|t| t.3 >= 1_000_000).collect();
    let mut beside: Vec<_> = towns
        .iter()
        .filter(|t| (500..=50_000).contains(&t.3))
        .filter(|t| {
            cities.iter().any(|c| {
                (c.1 - t.1).abs() < 0.3
                    && km((c.1, c.2), (t.1, t.2)) < 30.0
                    && km((c.1, c.2), (t.1, t.2)) > 3.0
            })
        })
        .collect();
    beside.sort_by(|a, b| a.0.cmp(&b.0));
    let sample: Vec<_> = beside
        .iter()
        .step_by((beside.len() / 2000).max(1))
        .collect();
    for offset_km in [0.5, 1.0] {
        let kept = sample
            .iter()
            .filter(|t| {
                Offline::lookup(t.1 + offset_km / 111.2, t.2).and_then(|a| a.city)
                    == Some(t.0.clone())
            })
            .count();
        println!(
            "small towns beside big cities, asked {offset_km} km from their centre: {kept} of {} keep their name",
            sample.len()
        );
    }
}

fn main() {
    let before = resident_kib();
    let started = Instant::now();
    Offline::index();
    println!(
        "index: built in {:?}, resident memory +{} MiB",
        started.elapsed(),
        (resident_kib().saturating_sub(before)) / 1024
    );

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // Where people save places: near towns (up to 0.2° away), and anywhere on Earth.
    let landmarks: Vec<(f64, f64)> =
        include_str!("../src/domains/locations/geocoder/landmarks.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[1].parse().unwrap(), f[2].parse().unwrap())
            })
            .collect();
    let near_towns: Vec<(f64, f64)> = (0..LOOKUPS)
        .map(|i| {
            let (lat, lon) = landmarks[i % landmarks.len()];
            (
                (lat + rng.random_range(-0.2..0.2)).clamp(-90.0, 90.0),
                lon + rng.random_range(-0.2..0.2),
            )
        })
        .map(|(lat, lon): (f64, f64)| {
            (
                lat,
                if lon > 180.0 {
                    lon - 360.0
                } else if lon < -180.0 {
                    lon + 360.0
                } else {
                    lon
                },
            )
        })
        .collect();
    let anywhere: Vec<(f64, f64)> = (0..LOOKUPS)
        .map(|_| {
            (
                rng.random_range(-1.0f64..1.0).asin().to_degrees(),
                rng.random_range(-180.0..180.0),
            )
        })
        .collect();
    time_lookups("near the landmarks' cities", &near_towns);
    time_lookups("uniformly over the globe", &anywhere);
    small_towns_keep_their_name();

    println!("\nlandmarks:");
    for line in include_str!("../src/domains/locations/geocoder/landmarks.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
    {
        let f: Vec<&str> = line.split('\t').collect();
        let address = Offline::lookup(f[1].parse().unwrap(), f[2].parse().unwrap());
        println!(
            "  {:32} {}",
            f[0],
            address.map(|a| a.display_name).unwrap_or_default()
        );
    }
}
