//! Settings: compiled-in `config/default.toml` < `{config_dir}/default.toml` <
//! `{config_dir}/{AGORA_ENV}.toml` < `AGORA__SECTION__KEY` environment variables.
//! Any key may also be read from a file named by `AGORA__SECTION__KEY_FILE`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use ipnet::IpNet;
use serde::{Deserialize, Serialize, Serializer};

/// The defaults, so the binary runs from any directory with no file beside it.
const DEFAULTS: &str = include_str!("../../config/default.toml");
const ENV_PREFIX: &str = "AGORA__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("configuration: cannot read {var} ({path}): {source}")]
    SecretFile {
        var: String,
        path: String,
        source: std::io::Error,
    },
}

pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Unknown keys are refused in the platform's sections here, in a domain's section by that
/// domain, and unknown sections by `domains::check_settings`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub queue: QueueSettings,
    pub mailer: MailerSettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
    pub openapi: OpenApiSettings,
    pub console: ConsoleSettings,
    /// Other Agora processes hosting the domains this build leaves out, by domain name
    /// (`services.catalog.url`); see "Splitting a domain out" in the README.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSettings>,
    /// Every other section (`[auth]`, `[catalog]`, ...) belongs to the domain of that name,
    /// which reads it with [`Settings::section`] and checks it itself. Kept whole, so one
    /// configuration serves a build with any set of domains.
    #[serde(flatten)]
    pub domains: DomainSections,
}

/// The domains' sections by name. `Debug` masks secrets, as [`Secret`] does.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct DomainSections(pub BTreeMap<String, serde_json::Value>);

impl std::ops::Deref for DomainSections {
    type Target = BTreeMap<String, serde_json::Value>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for DomainSections {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl fmt::Debug for DomainSections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        shown.values_mut().for_each(mask_secrets);
        shown.fmt(f)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// Base URL of the process, e.g. `http://catalog.internal:8080`.
    pub url: String,
    /// Each call's limit, connect included.
    #[serde(default = "default_service_timeout_ms")]
    pub timeout_ms: u64,
    /// Further attempts of a call that is safe to repeat, with backoff.
    #[serde(default = "default_service_retries")]
    pub retries: u32,
}

fn default_service_timeout_ms() -> u64 {
    5000
}

fn default_service_retries() -> u32 {
    2
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    /// Memory for uploads and attachments handled whole, in MiB (see `platform::budget`).
    pub large_body_memory_mib: usize,
    pub shutdown_grace_secs: u64,
    /// On SIGTERM, how long `/readyz` answers 503 while requests are still served (each
    /// answered with `Connection: close`), so a load balancer stops routing here before the
    /// listener closes.
    pub drain_secs: u64,
    pub trusted_proxies: Vec<IpNet>,
    /// The shared secret processes of one deployment present to each other's `/internal/v1`
    /// routes. Unset: those routes are not served (one process needs none).
    #[serde(default)]
    pub service_key: Option<Secret>,
    pub cors: CorsSettings,
    pub rate_limit: RateLimitSettings,
    /// Where the buckets of every rate limit (this one, `auth.rate_limit`) are kept.
    pub limit_store: crate::platform::http::rate_limit::LimitStoreSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(serialize_with = "serialize_masked_url")]
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    Database,
    Kafka,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    pub backend: QueueBackend,
    pub poll_interval_ms: u64,
    pub batch_size: u32,
    pub lease_secs: u64,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub jitter: f64,
    pub metrics_interval_secs: u64,
    pub retention_hours: u64,
    pub kafka: KafkaSettings,
}

/// The broker, when `queue.backend = "kafka"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    pub brokers: String,
    pub namespace: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub session_timeout_ms: u64,
    pub produce_timeout_ms: u64,
    pub relay_batch_size: u32,
    pub relay_interval_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    File,
    Smtp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailerSettings {
    pub transport: MailTransport,
    pub from: String,
    pub smtp: SmtpSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: String,
    pub password: Secret,
    pub timeout_secs: u64,
    pub pool_max: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub otlp: OtlpSettings,
}

/// Traces exported over OTLP/HTTP (protobuf). Off while no endpoint is set here or in
/// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSettings {
    /// The collector's base URL, e.g. `http://otel-collector:4318`; traces go to `/v1/traces`.
    pub endpoint: String,
    /// `OTEL_SERVICE_NAME` wins when set.
    pub service_name: String,
    /// The share of new traces kept, 0.0 to 1.0; a request that arrives inside a trace follows
    /// its caller's decision. `OTEL_TRACES_SAMPLER` wins when set.
    pub sample_ratio: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiSettings {
    pub swagger_ui: bool,
}

/// The web console at `/` (a build with the `console` feature).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    pub enabled: bool,
    /// Map tiles, `{z}/{x}/{y}` (and optionally `{s}`) in an http(s) URL; empty: no tiles.
    pub tile_url: String,
    pub tile_attribution: String,
}

/// A value that never appears in logs, `Debug` output or `agora config check`.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"********\""
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "********" })
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:********@host/db`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:********@{host}"),
        None => url.to_string(),
    }
}

fn serialize_masked_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mask_url(url))
}

impl Settings {
    /// Loads from `config_dir` and the process environment (`AGORA_ENV`, `AGORA__*`).
    pub fn load(config_dir: &Path) -> Result<Self, ConfigError> {
        Self::load_from(config_dir, std::env::vars())
    }

    /// Loads from `config_dir` and the given environment; the seam tests use.
    pub fn load_from(
        config_dir: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut plain = HashMap::new();
        let mut from_files = Vec::new();
        let mut profile = None;
        for (name, value) in vars {
            if name == "AGORA_ENV" {
                profile = Some(value);
            } else if let Some(key) = name.strip_prefix(ENV_PREFIX) {
                match key.strip_suffix("_FILE") {
                    Some(key) => from_files.push((name.clone(), env_key_to_path(key), value)),
                    None => {
                        plain.insert(name, value);
                    }
                }
            }
        }

        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::from(config_dir.join("default.toml")).required(false));
        if let Some(profile) = profile.filter(|p| !p.is_empty()) {
            let file = config_dir.join(format!("{profile}.toml"));
            builder = builder.add_source(File::from(file).required(false));
        }
        builder = builder.add_source(
            Environment::with_prefix("AGORA")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("server.trusted_proxies")
                .with_list_parse_key("server.cors.allowed_origins")
                .with_list_parse_key("files.allowed_types")
                .try_parsing(true)
                .source(Some(plain)),
        );
        for (var, key, path) in from_files {
            let value =
                std::fs::read_to_string(&path).map_err(|source| ConfigError::SecretFile {
                    var,
                    path: path.clone(),
                    source,
                })?;
            builder = builder.set_override(key, value.trim_end_matches(['\r', '\n']))?;
        }

        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what serde cannot: ranges, URLs, addresses.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let tiles = &self.console.tile_url;
        if !(tiles.is_empty()
            || (tiles.starts_with("http://") || tiles.starts_with("https://"))
                && ["{z}", "{x}", "{y}"].iter().all(|p| tiles.contains(p)))
        {
            return Err(invalid(
                "console.tile_url",
                format!(
                    "expected empty or an http(s) URL with {{z}}, {{x}} and {{y}}, got `{tiles}`"
                ),
            ));
        }
        let url = &self.database.url;
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                format!(
                    "expected empty, sqlite://PATH or postgres://..., got `{}`",
                    mask_url(url)
                ),
            ));
        }
        if let Some(key) = &self.server.service_key {
            if key.expose().len() < 32 {
                return Err(invalid(
                    "server.service_key",
                    "expected at least 32 characters (e.g. `openssl rand -hex 32`)",
                ));
            }
        }
        for (name, service) in &self.services {
            let key = format!("services.{name}.url");
            if !(service.url.starts_with("http://") || service.url.starts_with("https://")) {
                return Err(invalid(
                    key.clone(),
                    "expected http://HOST:PORT or https://...",
                ));
            }
            if self.server.service_key.is_none() {
                return Err(invalid(
                    &key,
                    "calling another process needs server.service_key (the same in every process)",
                ));
            }
            if service.timeout_ms == 0 {
                return Err(invalid(
                    format!("services.{name}.timeout_ms"),
                    "expected at least 1",
                ));
            }
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "expected at least 1"));
        }
        if let Err((key, why)) = self.server.limit_store.validate() {
            return Err(invalid(key, why));
        }
        if self.server.large_body_memory_mib == 0 {
            return Err(invalid(
                "server.large_body_memory_mib",
                "expected at least 1",
            ));
        }
        if self.server.request_timeout_secs == 0 {
            return Err(invalid(
                "server.request_timeout_secs",
                "expected at least 1",
            ));
        }
        if self.server.body_limit_bytes == 0 {
            return Err(invalid("server.body_limit_bytes", "expected at least 1"));
        }
        let rl = &self.server.rate_limit;
        if rl.per_second == 0 {
            return Err(invalid(
                "server.rate_limit.per_second",
                "expected at least 1",
            ));
        }
        if rl.burst == 0 {
            return Err(invalid("server.rate_limit.burst", "expected at least 1"));
        }
        for origin in &self.server.cors.allowed_origins {
            if origin != "*" && axum::http::HeaderValue::from_str(origin).is_err() {
                return Err(invalid(
                    "server.cors.allowed_origins",
                    format!("`{origin}` is not a valid origin"),
                ));
            }
        }
        let q = &self.queue;
        if q.backend == QueueBackend::Kafka {
            if !cfg!(feature = "kafka") {
                return Err(invalid(
                    "queue.backend",
                    "`kafka` needs a build with the `kafka` feature; use `database`",
                ));
            }
            let k = &q.kafka;
            if k.brokers.trim().is_empty() {
                return Err(invalid(
                    "queue.kafka.brokers",
                    "expected host:port[,host:port...]",
                ));
            }
            let legal = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
            if k.namespace.is_empty() || k.namespace.len() > 100 || !k.namespace.chars().all(legal)
            {
                return Err(invalid(
                    "queue.kafka.namespace",
                    "expected 1 to 100 of a-z, A-Z, 0-9, `.`, `_`, `-`",
                ));
            }
            if k.partitions < 1
                || k.replication_factor < 1
                || k.relay_batch_size == 0
                || k.relay_interval_ms == 0
                || k.produce_timeout_ms == 0
            {
                return Err(invalid(
                    "queue.kafka",
                    "expected partitions, replication_factor, relay_batch_size, relay_interval_ms and produce_timeout_ms of at least 1",
                ));
            }
        }
        if q.poll_interval_ms == 0 {
            return Err(invalid("queue.poll_interval_ms", "expected at least 1"));
        }
        if q.batch_size == 0 {
            return Err(invalid("queue.batch_size", "expected at least 1"));
        }
        if q.max_attempts == 0 {
            return Err(invalid("queue.max_attempts", "expected at least 1"));
        }
        if q.lease_secs == 0 {
            return Err(invalid("queue.lease_secs", "expected at least 1"));
        }
        if q.backoff_base_ms == 0 || q.backoff_max_ms < q.backoff_base_ms {
            return Err(invalid(
                "queue.backoff_max_ms",
                "expected backoff_base_ms >= 1 and backoff_max_ms >= backoff_base_ms",
            ));
        }
        if !(0.0..=1.0).contains(&q.jitter) {
            return Err(invalid(
                "queue.jitter",
                "expected a fraction between 0 and 1",
            ));
        }
        if self
            .mailer
            .from
            .parse::<lettre::message::Mailbox>()
            .is_err()
        {
            return Err(invalid(
                "mailer.from",
                format!(
                    "`{}` is not a mailbox like `Name <user@example.com>`",
                    self.mailer.from
                ),
            ));
        }
        if self.mailer.transport == MailTransport::Smtp && self.mailer.smtp.host.is_empty() {
            return Err(invalid(
                "mailer.smtp.host",
                "required when mailer.transport = \"smtp\"",
            ));
        }
        if self.mailer.smtp.pool_max == 0 {
            return Err(invalid("mailer.smtp.pool_max", "expected at least 1"));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(invalid("log.level", format!("not a valid filter: {e}")));
        }
        let otlp = &self.telemetry.otlp;
        if !(0.0..=1.0).contains(&otlp.sample_ratio) {
            return Err(invalid(
                "telemetry.otlp.sample_ratio",
                "expected a share between 0.0 and 1.0",
            ));
        }
        let is_url = otlp.endpoint.starts_with("http://") || otlp.endpoint.starts_with("https://");
        if !otlp.endpoint.is_empty() && !is_url {
            return Err(invalid(
                "telemetry.otlp.endpoint",
                "expected an http:// or https:// URL",
            ));
        }
        Ok(())
    }

    /// The database URL to connect to: the configured one, or SQLite inside `data_dir`.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("agora.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The effective settings as TOML with secrets masked (`agora config check`). In the
    /// domains' sections, a key naming a secret, password or key is masked.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        shown.domains.values_mut().for_each(mask_secrets);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render settings: {e}"))
    }

    /// The domain section `name`, typed by the domain (which refuses unknown keys). Values
    /// go through the configuration library again, so `"8080"` from the environment reads as
    /// a number and `12345` as a string where the type asks for one.
    pub fn section<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        let value = self.domains.get(name).cloned().unwrap_or_default();
        let table = serde_json::json!({ name: value });
        let text = toml::to_string(&table).map_err(|e| invalid(name, e.to_string()))?;
        Config::builder()
            .add_source(File::from_str(&text, FileFormat::Toml))
            .build()?
            .get::<T>(name)
            .map_err(|e| invalid(name, e.to_string()))
    }

    /// Sets a domain's key by its dotted path (`auth.password.iterations`), as a
    /// configuration file would: for embedding and tests.
    pub fn set(&mut self, path: &str, value: impl Into<serde_json::Value>) {
        let mut keys = path.split('.');
        let section = keys.next().expect("a dotted path");
        let mut node = self
            .domains
            .entry(section.to_string())
            .or_insert_with(|| serde_json::json!({}));
        let keys: Vec<&str> = keys.collect();
        for (i, key) in keys.iter().enumerate() {
            let table = node
                .as_object_mut()
                .unwrap_or_else(|| panic!("{path}: `{key}` is inside a value, not a table"));
            if i + 1 == keys.len() {
                table.insert(key.to_string(), value.into());
                return;
            }
            node = table
                .entry(key.to_string())
                .or_insert_with(|| serde_json::json!({}));
        }
    }
}

fn mask_secrets(value: &mut serde_json::Value) {
    if let Some(table) = value.as_object_mut() {
        for (key, value) in table.iter_mut() {
            let secret = ["secret", "password", "key"]
                .iter()
                .any(|s| key.ends_with(s));
            // A secret of digits arrives from the environment as a number.
            let set = value.as_str().is_some_and(|v| !v.is_empty()) || value.is_number();
            if secret && set {
                *value = serde_json::Value::String("********".into());
            } else {
                mask_secrets(value);
            }
        }
    }
}

/// `MAILER__SMTP__PASSWORD` -> `mailer.smtp.password`.
fn env_key_to_path(key: &str) -> String {
    key.split("__")
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = std::env::temp_dir().join("agora-config-test-none");
        Settings::load_from(
            &dir,
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn defaults_are_compiled_in() {
        let s = load(&[]).unwrap();
        assert_eq!(s.server.host, "127.0.0.1");
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.queue.backend, QueueBackend::Database);
        assert_eq!(s.mailer.transport, MailTransport::File);
        assert!(s.database_url().ends_with("data/agora.db"));
    }

    #[test]
    fn environment_overrides_and_lists() {
        let s = load(&[
            ("AGORA__SERVER__PORT", "9001"),
            (
                "AGORA__SERVER__TRUSTED_PROXIES",
                "10.0.0.0/8,192.168.1.1/32",
            ),
            ("AGORA__MAILER__SMTP__TLS", "none"),
        ])
        .unwrap();
        assert_eq!(s.server.port, 9001);
        assert_eq!(s.server.trusted_proxies.len(), 2);
        assert_eq!(s.mailer.smtp.tls, SmtpTls::None);
    }

    #[test]
    fn profile_file_overlays_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("staging.toml"), "[server]\nport = 7000\n").unwrap();
        let vars = [("AGORA_ENV".to_string(), "staging".to_string())];
        let s = Settings::load_from(dir.path(), vars).unwrap();
        assert_eq!(s.server.port, 7000);
    }

    #[test]
    fn secrets_come_from_files_and_are_masked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2-very-secret\n").unwrap();
        let s = load(&[
            ("AGORA__MAILER__SMTP__PASSWORD_FILE", path.to_str().unwrap()),
            (
                "AGORA__DATABASE__URL",
                "postgres://agora:dbpass@db:5432/agora",
            ),
        ])
        .unwrap();
        assert_eq!(s.mailer.smtp.password.expose(), "hunter2-very-secret");
        let shown = s.to_masked_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("dbpass"), "{shown}");
        assert!(
            shown.contains("postgres://agora:********@db:5432/agora"),
            "{shown}"
        );
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn missing_secret_file_names_the_variable() {
        let err = load(&[(
            "AGORA__MAILER__SMTP__PASSWORD_FILE",
            "/nonexistent/agora/pw",
        )])
        .unwrap_err()
        .to_string();
        assert!(err.contains("AGORA__MAILER__SMTP__PASSWORD_FILE"), "{err}");
    }

    #[test]
    fn wrong_values_name_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("AGORA__SERVER__PORT", "eighty", "server.port"),
            ("AGORA__LOG__FORMAT", "xml", "log.format"),
            ("AGORA__DATABASE__URL", "mysql://x", "database.url"),
            ("AGORA__QUEUE__JITTER", "2.5", "queue.jitter"),
            ("AGORA__MAILER__FROM", "not an address", "mailer.from"),
            (
                "AGORA__SERVER__TRUSTED_PROXIES",
                "not-an-ip",
                "server.trusted_proxies",
            ),
        ];
        for (var, value, key) in cases {
            let err = load(&[(var, value)]).unwrap_err().to_string();
            assert!(
                err.contains(key),
                "{var}={value}: `{err}` does not name {key}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = load(&[("AGORA__SERVER__PROT", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn domain_sections_read_typed_and_keep_secrets_masked() {
        #[derive(Deserialize)]
        struct Orders {
            payment_timeout_secs: u64,
            webhook_secret: Secret,
        }
        let mut s = load(&[
            ("AGORA__ORDERS__PAYMENT_TIMEOUT_SECS", "120"),
            ("AGORA__ORDERS__WEBHOOK_SECRET", "12345678"),
        ])
        .unwrap();
        let orders: Orders = s.section("orders").unwrap();
        assert_eq!(orders.payment_timeout_secs, 120);
        // Digits from the environment still read as the string the field is.
        assert_eq!(orders.webhook_secret.expose(), "12345678");
        assert!(!s.to_masked_toml().contains("12345678"));
        assert!(!format!("{s:?}").contains("12345678"));

        s.set("orders.payment_timeout_secs", 7);
        assert_eq!(
            s.section::<Orders>("orders").unwrap().payment_timeout_secs,
            7
        );
        let err = s.section::<Orders>("nowhere").err().unwrap().to_string();
        assert!(err.contains("nowhere"), "{err}");
    }

    #[test]
    fn masks_only_the_password_of_a_url() {
        assert_eq!(
            mask_url("postgres://u:p@h/db"),
            "postgres://u:********@h/db"
        );
        assert_eq!(mask_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(mask_url("sqlite://data/agora.db"), "sqlite://data/agora.db");
    }
}
