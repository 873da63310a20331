//! Business domains, one Cargo feature each, and the registry the composition root mounts
//! them from. A domain talks to another only through the other's `contract` module (and its
//! `remote` client, the same contract over HTTP); everything else of it is behind its feature.
//!
//! Adding a domain: its folder (with its `DOMAIN` constant), a feature line in `Cargo.toml`,
//! and its name in the `domains!` list below.

pub mod authn;

use std::sync::{Arc, OnceLock};

use anyhow::Context;
use utoipa_axum::router::OpenApiRouter;

use crate::platform::queue::Consumer;
use crate::platform::remote::ServiceClient;
use crate::platform::{DomainInfo, Platform, Task};

use self::auth::contract::{Authenticator, UserDirectory};
use self::catalog::contract::Inventory;
use self::files::contract::FilesApi;
use self::mail::contract::MailSender;

/// What a domain is to the composition root.
pub trait Domain: Sync {
    fn info(&self) -> DomainInfo;
    /// The ports of other domains it uses, and whether it can start without each.
    fn needs(&self) -> &'static [(PortKind, Need)] {
        &[]
    }
    /// Checks the domain's settings section; each problem names its key.
    fn check(&self, _settings: &crate::platform::config::Settings) -> Vec<String> {
        Vec::new()
    }
    /// Its routes as OpenAPI paths (already under `/api/v1`), built without a database.
    fn openapi(&self) -> utoipa::openapi::OpenApi;
    /// Builds the domain on the platform; it fills the ports it provides.
    fn mount(&self, platform: &Platform, ports: &Ports) -> anyhow::Result<Mounted>;
}

/// Declares each domain's module, the names of all of them, and the registry, from one list.
macro_rules! domains {
    ($($name:ident),* $(,)?) => {
        $(pub mod $name;)*

        /// Every domain of any build, so a configuration for a whole deployment is valid in
        /// each of its processes.
        const ALL_NAMES: &[&str] = &[$(stringify!($name)),*];

        /// Every domain, `None` where its feature is off, in mount order.
        const ALL: &[Option<&dyn Domain>] = &[$($name::DOMAIN),*];
    };
}

// Providers before the domains that use them at mount time.
domains!(auth, files, catalog, mail, orders, notifications, locations);

/// The compiled-in domains, in mount order.
pub static REGISTRY: std::sync::LazyLock<Vec<&'static dyn Domain>> =
    std::sync::LazyLock::new(|| ALL.iter().flatten().copied().collect());

/// The domains compiled into this binary.
pub fn enabled() -> Vec<DomainInfo> {
    REGISTRY.iter().map(|d| d.info()).collect()
}

fn compiled_in(name: &str) -> bool {
    REGISTRY.iter().any(|d| d.info().name == name)
}

/// A port slot: set once by its provider (in-process) or by a remote adapter, read by users.
/// Readable before it is set, so a provider may use a port of a domain mounted after it.
pub type Port<T> = Arc<OnceLock<Arc<T>>>;

/// Every port one domain offers the others.
#[derive(Clone, Default)]
pub struct Ports {
    pub authenticator: Port<dyn Authenticator>,
    pub directory: Port<dyn UserDirectory>,
    pub files: Port<dyn FilesApi>,
    pub inventory: Port<dyn Inventory>,
    pub mail: Port<dyn MailSender>,
}

impl Ports {
    /// The port's adapter, or a start-up error naming how to provide it.
    pub fn require<T: ?Sized>(
        port: &Port<T>,
        kind: PortKind,
        user: &str,
    ) -> anyhow::Result<Arc<T>> {
        port.get().cloned().ok_or_else(|| missing(kind, user))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    /// The domain works without it, with less (e.g. no attachments without files).
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    Authenticator,
    UserDirectory,
    Files,
    Inventory,
    Mail,
}

impl PortKind {
    const ALL: [PortKind; 5] = [
        PortKind::Authenticator,
        PortKind::UserDirectory,
        PortKind::Files,
        PortKind::Inventory,
        PortKind::Mail,
    ];

    /// The domain that provides it.
    pub fn provider(self) -> &'static str {
        match self {
            PortKind::Authenticator | PortKind::UserDirectory => "auth",
            PortKind::Files => "files",
            PortKind::Inventory => "catalog",
            PortKind::Mail => "mail",
        }
    }

    fn what(self) -> &'static str {
        match self {
            PortKind::Authenticator => "token checks",
            PortKind::UserDirectory => "account lookups",
            PortKind::Files => "files",
            PortKind::Inventory => "stock",
            PortKind::Mail => "email sending",
        }
    }
}

fn missing(kind: PortKind, user: &str) -> anyhow::Error {
    let provider = kind.provider();
    anyhow::anyhow!(
        "the {user} domain needs the {provider} domain for {}: build with the `{provider}` \
         feature, or set services.{provider}.url (AGORA__SERVICES__{}__URL) to a process that hosts it",
        kind.what(),
        provider.to_uppercase()
    )
}

/// What the enabled domains add to the application.
#[derive(Default)]
pub struct Mounted {
    /// Routes under `/api/v1`.
    pub api: OpenApiRouter,
    /// Routes at the root (`/.well-known/...`, `/uploads/...`).
    pub root: OpenApiRouter,
    /// Service-to-service routes under `/internal/v1`: not in the OpenAPI document, and only
    /// for callers holding the service key.
    pub internal: axum::Router,
    pub consumers: Vec<Arc<dyn Consumer>>,
    pub tasks: Vec<Task>,
}

impl Mounted {
    fn absorb(&mut self, other: Mounted) {
        self.api = std::mem::take(&mut self.api).merge(other.api);
        self.root = std::mem::take(&mut self.root).merge(other.root);
        self.internal = std::mem::take(&mut self.internal).merge(other.internal);
        self.consumers.extend(other.consumers);
        self.tasks.extend(other.tasks);
    }
}

/// The enabled domains' routes as OpenAPI paths, built without a database so the document
/// can be printed anywhere.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new().build();
    for domain in REGISTRY.iter() {
        doc.merge(domain.openapi());
    }
    doc
}

/// A domain's section, read as `T` and checked by `validate`: the problems, each naming
/// its key.
pub fn check<T: serde::de::DeserializeOwned>(
    settings: &crate::platform::config::Settings,
    name: &str,
    validate: impl Fn(&T) -> Result<(), crate::platform::config::ConfigError>,
) -> Vec<String> {
    match settings.section::<T>(name) {
        Ok(section) => validate(&section)
            .err()
            .map(|e| e.to_string())
            .into_iter()
            .collect(),
        Err(e) => vec![e.to_string()],
    }
}

/// Every compiled-in domain's settings problems.
pub fn check_settings(settings: &crate::platform::config::Settings) -> Vec<String> {
    let mut problems: Vec<String> = REGISTRY.iter().flat_map(|d| d.check(settings)).collect();
    for name in settings.domains.keys() {
        if !ALL_NAMES.contains(&name.as_str()) {
            problems.push(format!("configuration: unknown section or key `{name}`"));
        }
    }
    let mut providers: Vec<&str> = PortKind::ALL.iter().map(|k| k.provider()).collect();
    providers.dedup();
    for name in settings.services.keys() {
        if !providers.contains(&name.as_str()) {
            problems.push(format!(
                "services.{name}: no domain by that name offers a port ({})",
                providers.join(", ")
            ));
        }
    }
    problems
}

/// Builds every compiled-in domain on the platform. A port whose provider is not compiled in
/// is wired to that provider's process from `services.<provider>.url`; a required port that
/// is neither is a start-up error naming the key.
pub fn mount(platform: &Platform) -> anyhow::Result<Mounted> {
    let ports = Ports::default();
    wire_remote(platform, &ports)?;
    for domain in REGISTRY.iter() {
        let user = domain.info().name;
        for &(kind, need) in domain.needs() {
            let reachable = compiled_in(kind.provider())
                || platform.settings.services.contains_key(kind.provider());
            if need == Need::Required && !reachable {
                return Err(missing(kind, user));
            }
        }
    }
    let mut mounted = Mounted::default();
    for domain in REGISTRY.iter() {
        let name = domain.info().name;
        let part = domain
            .mount(platform, &ports)
            .with_context(|| format!("mounting the {name} domain"))?;
        mounted.absorb(part);
    }
    Ok(mounted)
}

/// Remote adapters for the ports of providers that live in another process.
fn wire_remote(platform: &Platform, ports: &Ports) -> anyhow::Result<()> {
    let settings = &platform.settings;
    let client = |provider: &'static str| -> anyhow::Result<Option<Arc<ServiceClient>>> {
        if compiled_in(provider) {
            return Ok(None);
        }
        let Some(service) = settings.services.get(provider) else {
            return Ok(None);
        };
        let client = ServiceClient::new(
            provider,
            service,
            settings.server.service_key.as_ref().map(|k| k.expose()),
            &platform.metrics,
            platform.clock.clone(),
        )
        .with_context(|| format!("services.{provider}"))?;
        Ok(Some(Arc::new(client)))
    };
    if let Some(c) = client("auth")? {
        let remote = Arc::new(auth::remote::RemoteAuth::new(
            c,
            auth::remote::revocation_check_secs(settings)?,
            platform.clock.clone(),
        ));
        let _ = ports.authenticator.set(remote.clone());
        let _ = ports.directory.set(remote);
    }
    if let Some(c) = client("files")? {
        let _ = ports
            .files
            .set(Arc::new(files::remote::RemoteFiles::new(c)));
    }
    if let Some(c) = client("catalog")? {
        let _ = ports
            .inventory
            .set(Arc::new(catalog::remote::RemoteInventory::new(c)));
    }
    if let Some(c) = client("mail")? {
        let _ = ports.mail.set(Arc::new(mail::remote::RemoteMail::new(c)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn enabled_follows_features() {
        let names: Vec<_> = super::enabled().iter().map(|d| d.name).collect();
        assert_eq!(names.contains(&"auth"), cfg!(feature = "auth"));
        assert_eq!(names.contains(&"files"), cfg!(feature = "files"));
        assert_eq!(names.contains(&"orders"), cfg!(feature = "orders"));
    }

    fn problems(vars: &[(&str, &str)]) -> String {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let settings = crate::platform::config::Settings::load_from(
            std::path::Path::new("/nonexistent"),
            vars,
        )
        .unwrap();
        super::check_settings(&settings).join("; ")
    }

    #[test]
    fn each_domain_checks_its_own_section() {
        assert_eq!(problems(&[]), "");
        let unknown_section = problems(&[("AGORA__CATALOGUE__CACHE_TTL_SECS", "1")]);
        assert!(unknown_section.contains("`catalogue`"), "{unknown_section}");
        let services = problems(&[
            ("AGORA__SERVICES__SHOP__URL", "http://x"),
            ("AGORA__SERVER__SERVICE_KEY", &"k".repeat(32)),
        ]);
        assert!(services.contains("services.shop"), "{services}");
        if cfg!(feature = "auth") {
            let bad = problems(&[("AGORA__AUTH__PUBLIC_URL", "ftp://x")]);
            assert!(bad.contains("auth.public_url"), "{bad}");
        }
        if cfg!(feature = "catalog") {
            let unknown_key = problems(&[("AGORA__CATALOG__CACHE_TTL", "1")]);
            assert!(unknown_key.contains("cache_ttl"), "{unknown_key}");
            let short = problems(&[("AGORA__CATALOG__RESERVATION_TTL_SECS", "3")]);
            assert!(short.contains("catalog.reservation_ttl_secs"), "{short}");
        }
    }

    #[test]
    fn every_migration_belongs_to_the_platform_or_a_domain() {
        for owner in crate::platform::db::migrate::owners() {
            assert!(
                owner == "platform" || super::ALL_NAMES.contains(&owner),
                "{owner}"
            );
        }
    }

    /// Every `.rs` file under `src/<dir>`, with its path.
    fn sources(dir: &str) -> Vec<(std::path::PathBuf, String)> {
        let mut found = Vec::new();
        let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    found.push((path, text));
                }
            }
        }
        found
    }

    /// The layering the design promises, checked on the source: the platform knows no
    /// domain, no domain reaches into the composition root, and a domain uses another only
    /// through its contract (or, for the registry, its remote client).
    #[test]
    fn domains_meet_only_through_contracts() {
        for (path, text) in sources("platform") {
            assert!(
                !text.contains("crate::domains"),
                "{} imports a domain",
                path.display()
            );
        }
        let domains = super::ALL_NAMES;
        // Spelt in two halves so this test's own file does not match.
        let root = ["crate", "::app"].concat();
        for (path, text) in sources("domains") {
            assert!(
                !text.contains(&root),
                "{} imports the composition root",
                path.display()
            );
            let own = path
                .strip_prefix(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domains"))
                .unwrap()
                .iter()
                .next()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            for (i, _) in text.match_indices("crate::domains::") {
                let rest = &text[i + "crate::domains::".len()..];
                let mut parts = rest.splitn(3, "::");
                let (Some(domain), Some(next)) = (parts.next(), parts.next()) else {
                    continue;
                };
                if domains.contains(&domain) && domain != own && own != "mod" {
                    assert!(
                        next.starts_with("contract"),
                        "{} uses crate::domains::{domain}::{} (only its contract may be used)",
                        path.display(),
                        next.split(|c: char| !c.is_alphanumeric() && c != '_')
                            .next()
                            .unwrap_or(next)
                    );
                }
            }
        }
    }

    #[test]
    fn a_missing_port_names_the_feature_and_the_key() {
        let err = super::missing(super::PortKind::Inventory, "orders").to_string();
        assert!(err.contains("`catalog` feature"), "{err}");
        assert!(err.contains("AGORA__SERVICES__CATALOG__URL"), "{err}");
    }
}
