//! Prometheus registry and the platform's metrics, rendered at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::platform::db::Db;
use crate::platform::queue::ConsumerStats;

/// Latency buckets in seconds, from 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub queue: QueueMetrics,
    /// Calls to other Agora processes (`services.*`), by service and outcome.
    pub service_calls: IntCounterVec,
    pub service_call_duration: HistogramVec,
    db_pool: IntGaugeVec,
    db_pool_max: IntGaugeVec,
}

#[derive(Clone)]
pub struct QueueMetrics {
    pub processed: IntCounterVec,
    pub duration: HistogramVec,
    depth: IntGaugeVec,
    dead: IntGaugeVec,
    /// Broker backend: messages a group has yet to read, per topic.
    pub lag: IntGaugeVec,
    /// Broker backend: committed outbox messages not yet on the broker.
    pub unrelayed: prometheus::IntGauge,
}

impl QueueMetrics {
    pub fn set_backlog(&self, stats: &[ConsumerStats]) {
        self.depth.reset();
        self.dead.reset();
        for s in stats {
            self.depth
                .with_label_values(&[&s.consumer])
                .set((s.pending + s.processing) as i64);
            self.dead
                .with_label_values(&[&s.consumer])
                .set(s.dead as i64);
        }
    }
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "http_requests_total",
                    "HTTP requests by method, route template and status",
                ),
                &["method", "route", "status"],
            )
            .unwrap(),
        );
        let http_duration = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                    .buckets(LATENCY_BUCKETS.to_vec()),
                &["method", "route"],
            )
            .unwrap(),
        );
        let service_calls = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "service_calls_total",
                    "Calls to other Agora processes by service and outcome (ok, rejected, failed, open)",
                ),
                &["service", "outcome"],
            )
            .unwrap(),
        );
        let service_call_duration = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "service_call_duration_seconds",
                    "Latency of calls to other Agora processes, retries included",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["service"],
            )
            .unwrap(),
        );
        let queue = QueueMetrics {
            processed: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "queue_messages_processed_total",
                        "Queue deliveries handled, by outcome",
                    ),
                    &["consumer", "outcome"],
                )
                .unwrap(),
            ),
            duration: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new("queue_message_duration_seconds", "Time a handler took")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                    &["consumer"],
                )
                .unwrap(),
            ),
            depth: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "queue_depth",
                        "Deliveries waiting or running, per consumer group",
                    ),
                    &["consumer"],
                )
                .unwrap(),
            ),
            dead: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "queue_dead_letters",
                        "Deliveries in the dead-letter state, per consumer group",
                    ),
                    &["consumer"],
                )
                .unwrap(),
            ),
            lag: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "queue_consumer_lag",
                        "Kafka: messages a consumer group has yet to read, per topic",
                    ),
                    &["consumer", "topic"],
                )
                .unwrap(),
            ),
            unrelayed: register(
                &registry,
                prometheus::IntGauge::new(
                    "queue_outbox_unrelayed",
                    "Kafka: committed messages waiting in the outbox for the broker",
                )
                .unwrap(),
            ),
        };
        let db_pool = register(
            &registry,
            IntGaugeVec::new(
                Opts::new("db_pool_connections", "Database pool connections by state"),
                &["pool", "state"],
            )
            .unwrap(),
        );
        let db_pool_max = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "db_pool_max_connections",
                    "The most connections a database pool may open",
                ),
                &["pool"],
            )
            .unwrap(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            queue,
            service_calls,
            service_call_duration,
            db_pool,
            db_pool_max,
        }
    }

    /// Prometheus text format; pool gauges are read at scrape time.
    pub fn render(&self, db: &Db) -> String {
        for stats in db.pool_stats() {
            self.db_pool
                .with_label_values(&[stats.pool, "idle"])
                .set(stats.idle as i64);
            self.db_pool
                .with_label_values(&[stats.pool, "in_use"])
                .set(stats.size.saturating_sub(stats.idle) as i64);
            self.db_pool_max
                .with_label_values(&[stats.pool])
                .set(stats.max as i64);
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
