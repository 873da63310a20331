//! Addresses, checkout without overselling, order status tracking, payments.

pub mod contract;

#[cfg(feature = "orders")]
mod http;
#[cfg(feature = "orders")]
mod model;
#[cfg(feature = "orders")]
mod repo;
#[cfg(feature = "orders")]
mod service;
#[cfg(feature = "orders")]
mod settings;
#[cfg(feature = "orders")]
pub use settings::OrdersSettings;

#[cfg(feature = "orders")]
mod mounting {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;
    use utoipa_axum::router::OpenApiRouter;

    use super::http::{self, OrdersState};
    use super::service::OrdersService;
    use super::settings::OrdersSettings;
    use crate::domains::{check, Domain, Mounted, Need, PortKind, Ports};
    use crate::platform::config::Settings;
    use crate::platform::http::API_PREFIX;
    use crate::platform::{DomainInfo, Platform};

    pub struct Orders;

    /// Expires unpaid orders every `every`.
    async fn expire_unpaid(svc: Arc<OrdersService>, every: Duration, stop: CancellationToken) {
        loop {
            match svc.expire_due(svc.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(orders = n, "expired unpaid orders"),
                Err(e) => tracing::warn!(error = %e, "could not expire unpaid orders"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    impl Domain for Orders {
        fn info(&self) -> DomainInfo {
            DomainInfo {
                name: "orders",
                description: "Addresses, checkout and order tracking",
            }
        }

        fn needs(&self) -> &'static [(PortKind, Need)] {
            &[
                (PortKind::Authenticator, Need::Required),
                (PortKind::Inventory, Need::Required),
            ]
        }

        fn check(&self, settings: &Settings) -> Vec<String> {
            check::<OrdersSettings>(settings, "orders", OrdersSettings::validate)
        }

        fn openapi(&self) -> utoipa::openapi::OpenApi {
            OpenApiRouter::<OrdersState>::new()
                .nest(API_PREFIX, http::routes())
                .into_openapi()
        }

        fn mount(&self, platform: &Platform, ports: &Ports) -> anyhow::Result<Mounted> {
            let authenticator =
                Ports::require(&ports.authenticator, PortKind::Authenticator, "orders")?;
            let inventory = Ports::require(&ports.inventory, PortKind::Inventory, "orders")?;
            let settings: OrdersSettings = platform.settings.section("orders")?;
            let every = Duration::from_secs(settings.expiry_check_secs);
            let svc = Arc::new(OrdersService::new(
                platform.db.clone(),
                inventory,
                settings,
                platform.clock.clone(),
            ));
            let expiry = svc.clone();
            Ok(Mounted {
                api: http::routes().with_state(OrdersState { svc, authenticator }),
                tasks: vec![Box::new(move |stop| {
                    Box::pin(expire_unpaid(expiry, every, stop))
                })],
                ..Mounted::default()
            })
        }
    }
}

#[cfg(feature = "orders")]
pub use mounting::Orders;

/// This domain for `domains::REGISTRY`; `None` in a build without the `orders` feature.
#[cfg(feature = "orders")]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = Some(&mounting::Orders);
#[cfg(not(feature = "orders"))]
pub const DOMAIN: Option<&dyn crate::domains::Domain> = None;
