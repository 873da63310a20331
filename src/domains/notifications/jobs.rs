//! Queue consumers: domain events become notifications; delivery jobs send each channel's
//! part. And the task that releases deliveries held by quiet hours.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::contract::{Category, Channel, Notice, Notifier, NotifyError};
use super::service::{DeliverJob, NotificationService, DELIVER};
use crate::domains::auth::contract::{UserRegistered, USER_REGISTERED};
use crate::domains::catalog::contract::{Inventory, StockLow, STOCK_LOW};
use crate::domains::orders::contract::{OrderPlaced, StatusChanged, ORDER_PLACED, STATUS_CHANGED};
use crate::platform::money::format_amount;
use crate::platform::queue::{Consumer, HandlerError, Message};

/// Turns other domains' events into notifications. Events whose producer is not in this
/// build simply never arrive.
pub struct EventNotifier {
    pub notifier: Arc<dyn Notifier>,
    /// Finds a store's owner; without the catalog, owners are not told.
    pub stores: Option<Arc<dyn Inventory>>,
}

/// The first 8 hex digits, upper-cased: what a buyer reads out on the phone.
fn order_ref(order_id: Uuid) -> String {
    order_id.simple().to_string()[..8].to_uppercase()
}

fn order_vars(order_id: Uuid, total: i64, currency: &str) -> serde_json::Value {
    json!({
        "order_id": order_id,
        "order_ref": order_ref(order_id),
        "total": total,
        "currency": currency,
        "amount": format_amount(total, currency),
    })
}

type EventNotice = (Uuid, &'static str, Category, serde_json::Value);

/// Channels an event type may use; the rest of the events use every channel.
fn channels_of(event_type: &str) -> Vec<Channel> {
    match event_type {
        // Auth's verification mail already greets the new account by email.
        "account.welcome" => vec![Channel::InApp, Channel::Push],
        _ => Vec::new(),
    }
}

impl EventNotifier {
    async fn owner_of(&self, store_id: Uuid) -> Result<Option<Uuid>, HandlerError> {
        match &self.stores {
            None => Ok(None),
            Some(stores) => stores
                .store_owner(store_id)
                .await
                .map_err(|e| HandlerError::Retry(e.to_string())),
        }
    }

    /// The notices an event makes: (user, event type, category, variables).
    async fn notices(&self, message: &Message) -> Result<Vec<EventNotice>, HandlerError> {
        Ok(match message.topic.as_str() {
            USER_REGISTERED => {
                let e: UserRegistered = message.payload_as()?;
                vec![(
                    e.user_id,
                    "account.welcome",
                    Category::Account,
                    json!({"name": e.name}),
                )]
            }
            ORDER_PLACED => {
                let e: OrderPlaced = message.payload_as()?;
                let vars = order_vars(e.order_id, e.total, &e.currency);
                let mut out = vec![(e.buyer_id, "orders.placed", Category::Orders, vars.clone())];
                if let Some(owner) = self.owner_of(e.store_id).await? {
                    out.push((owner, "orders.received", Category::Orders, vars));
                }
                out
            }
            STATUS_CHANGED => {
                let e: StatusChanged = message.payload_as()?;
                let vars = json!({
                    "order_id": e.order_id, "order_ref": order_ref(e.order_id),
                    "from": e.from, "to": e.to,
                });
                vec![(e.buyer_id, "orders.status_changed", Category::Orders, vars)]
            }
            STOCK_LOW => {
                let e: StockLow = message.payload_as()?;
                let vars = json!({
                    "product_id": e.product_id, "sku": e.sku,
                    "stock": e.stock, "threshold": e.threshold,
                });
                match self.owner_of(e.store_id).await? {
                    Some(owner) => vec![(owner, "catalog.stock_low", Category::Catalog, vars)],
                    None => Vec::new(),
                }
            }
            other => {
                return Err(HandlerError::Permanent(format!(
                    "notifications do not handle `{other}`"
                )))
            }
        })
    }
}

#[async_trait]
impl Consumer for EventNotifier {
    fn group(&self) -> &str {
        "notifications-events"
    }

    fn topics(&self) -> Vec<String> {
        [USER_REGISTERED, ORDER_PLACED, STATUS_CHANGED, STOCK_LOW]
            .map(String::from)
            .to_vec()
    }

    async fn handle(&self, message: &Message) -> Result<(), HandlerError> {
        for (user_id, event_type, category, data) in self.notices(message).await? {
            let notice = Notice {
                user_id,
                event_type: event_type.into(),
                category,
                critical: false,
                channels: channels_of(event_type),
                data,
                // The same message seen again (at-least-once) adds nothing.
                source_key: format!("{}:{event_type}", message.id),
            };
            match self.notifier.notify(notice).await {
                Ok(_) => {}
                Err(NotifyError::NoSuchUser(user)) => {
                    tracing::info!(%user, topic = %message.topic, "no account to notify");
                }
                Err(NotifyError::Unavailable(e)) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Sends each channel's part of a notification.
pub struct Deliverer {
    pub svc: Arc<NotificationService>,
    pub max_attempts: u32,
}

#[async_trait]
impl Consumer for Deliverer {
    fn group(&self) -> &str {
        "notifications-delivery"
    }

    fn topics(&self) -> Vec<String> {
        vec![DELIVER.into()]
    }

    /// The delivery itself decides when to give up (and records it as failed).
    fn max_attempts(&self) -> Option<u32> {
        Some(self.max_attempts + 1)
    }

    async fn handle(&self, message: &Message) -> Result<(), HandlerError> {
        let job: DeliverJob = message.payload_as()?;
        self.svc.deliver(job.delivery_id, message.attempt).await
    }
}

/// Releases deliveries held by quiet hours once the hours are over.
pub async fn release_held(svc: Arc<NotificationService>, every: Duration, stop: CancellationToken) {
    loop {
        match svc.release_held().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "deliveries released after quiet hours"),
            Err(e) => tracing::warn!(error = %e, "could not release held deliveries"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
