//! OpenStreetMap Nominatim, as its usage policy asks: an identifying User-Agent and contact,
//! at most one request per `min_interval_ms` across every replica (a slot reserved in the
//! database, and in this process the actual sends spaced too, so a slot reached late
//! cannot bunch up with the next), answers cached by rounded coordinates, a timeout, and a circuit breaker that
//! sends lookups to the offline geocoder while Nominatim is failing.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use moka::future::Cache;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use sea_query::{Expr, Iden, LockType, OnConflict, Query};
use serde::Deserialize;
use tracing::Instrument;

use super::{BreakerState, CircuitBreaker, GeocodeError, Geocoded, Geocoder, Offline};
use crate::domains::locations::contract::Address;
use crate::domains::locations::settings::NominatimSettings;
use crate::platform::clock::Clock;
use crate::platform::db::{Db, DbError};
use crate::platform::telemetry;

#[derive(Iden)]
enum LocationsGeocoderGate {
    Table,
    Id,
    NextAt,
}

use LocationsGeocoderGate as Gate;

struct Metrics {
    requests: IntCounterVec,
    cache: IntCounterVec,
    breaker: IntGauge,
}

impl Metrics {
    fn new(registry: &Registry) -> anyhow::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                "geocoder_requests_total",
                "Reverse-geocoding lookups by provider and outcome",
            ),
            &["provider", "outcome"],
        )?;
        let cache = IntCounterVec::new(
            Opts::new("geocoder_cache_total", "Nominatim cache lookups"),
            &["result"],
        )?;
        let breaker = IntGauge::with_opts(
            Opts::new("circuit_breaker_state", "0 closed, 1 open, 2 half-open")
                .const_label("name", "nominatim"),
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(cache.clone()))?;
        registry.register(Box::new(breaker.clone()))?;
        Ok(Self {
            requests,
            cache,
            breaker,
        })
    }
}

pub struct Nominatim {
    client: reqwest::Client,
    settings: NominatimSettings,
    db: Db,
    cache: Cache<(i64, i64), Address>,
    breaker: CircuitBreaker,
    fallback: Offline,
    metrics: Metrics,
    /// When this process last sent a request.
    last_sent: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

#[derive(Deserialize)]
struct ReverseResponse {
    address: Option<NominatimAddress>,
    error: Option<String>,
}

/// The parts of Nominatim's `address` object Agora keeps. Nominatim names a part after what
/// it is in OpenStreetMap, so each of Agora's fields takes the first one present.
#[derive(Deserialize, Default)]
struct NominatimAddress {
    road: Option<String>,
    suburb: Option<String>,
    borough: Option<String>,
    city_district: Option<String>,
    quarter: Option<String>,
    neighbourhood: Option<String>,
    city: Option<String>,
    town: Option<String>,
    village: Option<String>,
    municipality: Option<String>,
    hamlet: Option<String>,
    state: Option<String>,
    province: Option<String>,
    region: Option<String>,
    postcode: Option<String>,
    country: Option<String>,
    country_code: Option<String>,
}

impl NominatimAddress {
    /// The same shape the offline geocoder gives, display name included.
    fn into_address(self) -> Address {
        let region = self.state.or(self.province).or(self.region);
        let mut address = Address {
            road: self.road,
            district: self
                .suburb
                .or(self.borough)
                .or(self.city_district)
                .or(self.quarter)
                .or(self.neighbourhood),
            city: self
                .city
                .or(self.town)
                .or(self.village)
                .or(self.municipality)
                .or(self.hamlet),
            state: region.clone(),
            region,
            postcode: self.postcode,
            country: self.country,
            country_code: self.country_code.map(|c| c.to_lowercase()),
            display_name: String::new(),
        };
        address.display_name = address.compose_display_name();
        address
    }
}

impl Nominatim {
    pub fn new(
        settings: &NominatimSettings,
        db: Db,
        registry: &Registry,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .timeout(Duration::from_secs(settings.timeout_secs))
            .build()?;
        Ok(Self {
            client,
            db,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(settings.cache_ttl_secs.max(1)))
                .build(),
            breaker: CircuitBreaker::new(
                settings.breaker_failures,
                Duration::from_secs(settings.breaker_open_secs),
                clock,
            ),
            fallback: Offline,
            metrics: Metrics::new(registry)?,
            settings: settings.clone(),
            last_sent: tokio::sync::Mutex::new(None),
        })
    }

    fn cache_key(&self, lat: f64, lon: f64) -> (i64, i64) {
        let scale = 10f64.powi(self.settings.cache_decimals as i32);
        ((lat * scale).round() as i64, (lon * scale).round() as i64)
    }

    /// Reserves the next free request slot in the shared gate and returns its time.
    async fn reserve_slot(&self) -> Result<DateTime<Utc>, DbError> {
        let interval = chrono::Duration::milliseconds(self.settings.min_interval_ms as i64);
        let mut tx = self.db.begin().await?;
        tx.execute(
            Query::insert()
                .into_table(Gate::Table)
                .columns([Gate::Id, Gate::NextAt])
                .values_panic([1.into(), Utc::now().into()])
                .on_conflict(OnConflict::column(Gate::Id).do_nothing().to_owned()),
        )
        .await?;
        let (next_at,): (DateTime<Utc>,) = tx
            .fetch_one(
                Query::select()
                    .column(Gate::NextAt)
                    .from(Gate::Table)
                    .and_where(Expr::col(Gate::Id).eq(1))
                    .lock(LockType::Update),
            )
            .await?;
        let slot = next_at.max(Utc::now());
        tx.execute(
            Query::update()
                .table(Gate::Table)
                .value(Gate::NextAt, slot + interval)
                .and_where(Expr::col(Gate::Id).eq(1)),
        )
        .await?;
        tx.commit().await?;
        Ok(slot)
    }

    /// A slot is reserved before its transaction commits; under load a request may reach its
    /// slot late, right before the next one's. Sends from this process keep the interval.
    async fn space_from_last_send(&self) {
        let interval = Duration::from_millis(self.settings.min_interval_ms);
        let mut last = self.last_sent.lock().await;
        if let Some(last) = *last {
            tokio::time::sleep_until(last + interval).await;
        }
        *last = Some(tokio::time::Instant::now());
    }

    async fn fetch(&self, lat: f64, lon: f64) -> Result<Address, GeocodeError> {
        let slot = self
            .reserve_slot()
            .await
            .map_err(|e| GeocodeError::Unavailable(e.to_string()))?;
        if let Ok(wait) = (slot - Utc::now()).to_std() {
            tokio::time::sleep(wait).await;
        }
        self.space_from_last_send().await;
        let url = format!("{}/reverse", self.settings.url.trim_end_matches('/'));
        let mut query = vec![
            ("format", "jsonv2".to_string()),
            ("lat", lat.to_string()),
            ("lon", lon.to_string()),
            ("addressdetails", "1".to_string()),
        ];
        if !self.settings.email.is_empty() {
            query.push(("email", self.settings.email.clone()));
        }
        let response = self
            .client
            .get(url)
            .query(&query)
            .send()
            .await
            .map_err(|e| GeocodeError::Unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(GeocodeError::Unavailable(format!(
                "Nominatim answered {}",
                response.status()
            )));
        }
        let body: ReverseResponse = response
            .json()
            .await
            .map_err(|e| GeocodeError::Unavailable(format!("unreadable answer: {e}")))?;
        if body.error.is_some() {
            return Err(GeocodeError::NotFound);
        }
        Ok(body.address.unwrap_or_default().into_address())
    }

    async fn offline(&self, lat: f64, lon: f64) -> Result<Geocoded, GeocodeError> {
        self.metrics
            .requests
            .with_label_values(&["offline", "fallback"])
            .inc();
        self.fallback.reverse(lat, lon).await
    }
}

#[async_trait]
impl Geocoder for Nominatim {
    async fn reverse(&self, lat: f64, lon: f64) -> Result<Geocoded, GeocodeError> {
        let key = self.cache_key(lat, lon);
        if let Some(address) = self.cache.get(&key).await {
            self.metrics.cache.with_label_values(&["hit"]).inc();
            return Ok(Geocoded {
                address,
                provider: "nominatim",
            });
        }
        self.metrics.cache.with_label_values(&["miss"]).inc();
        if !self.breaker.allow() {
            self.metrics.breaker.set(self.breaker.state().as_number());
            return self.offline(lat, lon).await;
        }
        let span = telemetry::client_span("nominatim reverse");
        let result = self.fetch(lat, lon).instrument(span.clone()).await;
        if matches!(result, Err(GeocodeError::Unavailable(_))) {
            telemetry::record_error(&span);
        }
        match &result {
            // The server answered: it is healthy, even if it knows no address here.
            Ok(_) | Err(GeocodeError::NotFound) => self.breaker.record_success(),
            Err(GeocodeError::Unavailable(e)) => {
                tracing::warn!(error = %e, "Nominatim lookup failed");
                self.breaker.record_failure();
            }
        }
        self.metrics.breaker.set(self.breaker.state().as_number());
        match result {
            Ok(address) => {
                self.metrics
                    .requests
                    .with_label_values(&["nominatim", "ok"])
                    .inc();
                self.cache.insert(key, address.clone()).await;
                Ok(Geocoded {
                    address,
                    provider: "nominatim",
                })
            }
            Err(GeocodeError::NotFound) => {
                self.metrics
                    .requests
                    .with_label_values(&["nominatim", "not_found"])
                    .inc();
                Err(GeocodeError::NotFound)
            }
            Err(_) => {
                self.metrics
                    .requests
                    .with_label_values(&["nominatim", "error"])
                    .inc();
                self.offline(lat, lon).await
            }
        }
    }

    fn breakers(&self) -> Vec<(&'static str, BreakerState)> {
        vec![("nominatim", self.breaker.state())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_maps_onto_the_offline_geocoders_fields() {
        // Nominatim's answer at the Eiffel Tower (format=jsonv2, addressdetails=1).
        let body: ReverseResponse = serde_json::from_str(
            r#"{"display_name": "Tour Eiffel, 5, Avenue Anatole France, Quartier du Gros-Caillou, Paris 7e Arrondissement, Paris, Île-de-France, France métropolitaine, 75007, France",
                "address": {"tourism": "Tour Eiffel", "house_number": "5", "road": "Avenue Anatole France",
                            "city_block": "Quartier du Gros-Caillou", "suburb": "Paris 7e Arrondissement",
                            "city_district": "Paris", "city": "Paris", "ISO3166-2-lvl6": "FR-75C",
                            "state": "Île-de-France", "ISO3166-2-lvl4": "FR-IDF", "region": "France métropolitaine",
                            "postcode": "75007", "country": "France", "country_code": "fr"}}"#,
        )
        .unwrap();
        let address = body.address.unwrap().into_address();
        assert_eq!(address.district.as_deref(), Some("Paris 7e Arrondissement"));
        assert_eq!(address.city.as_deref(), Some("Paris"));
        assert_eq!(address.region.as_deref(), Some("Île-de-France"));
        assert_eq!(address.state, address.region);
        assert_eq!(address.country_code.as_deref(), Some("fr"));
        assert_eq!(
            address.display_name,
            "Avenue Anatole France, Paris 7e Arrondissement, Paris, 75007, Île-de-France, France"
        );
    }

    #[test]
    fn a_village_is_the_city_where_there_is_no_city() {
        let body: ReverseResponse = serde_json::from_str(
            r#"{"address": {"village": "Giverny", "municipality": "Vernon", "state": "Normandie",
                            "country": "France", "country_code": "FR"}}"#,
        )
        .unwrap();
        let address = body.address.unwrap().into_address();
        assert_eq!(address.city.as_deref(), Some("Giverny"));
        assert_eq!(address.district, None);
        assert_eq!(address.country_code.as_deref(), Some("fr"));
    }
}
