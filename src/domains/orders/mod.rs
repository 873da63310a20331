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
mod mounting {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;
    use utoipa_axum::router::OpenApiRouter;

    use super::http::{self, OrdersState};
    use super::service::OrdersService;
    use crate::app::Platform;
    use crate::domains::auth::contract::Authenticator;
    use crate::domains::catalog::contract::Inventory;
    use crate::domains::Task;
    use crate::platform::http::API_PREFIX;

    pub struct MountedOrders {
        pub api: OpenApiRouter,
        pub tasks: Vec<Task>,
    }

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

    pub fn mount(
        platform: &Platform,
        authenticator: Option<Arc<dyn Authenticator>>,
        inventory: Option<Arc<dyn Inventory>>,
    ) -> anyhow::Result<MountedOrders> {
        let authenticator = authenticator.ok_or_else(|| {
            anyhow::anyhow!(
                "the orders domain needs the auth domain in the same build to check tokens"
            )
        })?;
        let inventory = inventory.ok_or_else(|| {
            anyhow::anyhow!(
                "the orders domain needs the catalog domain in the same build for stock"
            )
        })?;
        let settings = platform.settings.orders.clone();
        let every = Duration::from_secs(settings.expiry_check_secs);
        let svc = Arc::new(OrdersService::new(
            platform.db.clone(),
            inventory,
            settings,
            platform.clock.clone(),
        ));
        let expiry = svc.clone();
        Ok(MountedOrders {
            api: http::routes().with_state(OrdersState { svc, authenticator }),
            tasks: vec![Box::new(move |stop| {
                Box::pin(expire_unpaid(expiry, every, stop))
            })],
        })
    }

    pub fn openapi() -> utoipa::openapi::OpenApi {
        OpenApiRouter::<OrdersState>::new()
            .nest(API_PREFIX, http::routes())
            .into_openapi()
    }
}

#[cfg(feature = "orders")]
pub use mounting::{mount, openapi, MountedOrders};
