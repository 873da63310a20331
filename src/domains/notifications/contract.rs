//! What other domains may know of notifications: the channels, the categories users set
//! preferences for, and the port to notify a user.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    InApp,
    Sms,
    Push,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Email, Channel::InApp, Channel::Sms, Channel::Push];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::InApp => "in_app",
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[schema(as = NotificationCategory)]
pub enum Category {
    Account,
    Orders,
    Catalog,
    Marketing,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Account,
        Category::Orders,
        Category::Catalog,
        Category::Marketing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Account => "account",
            Category::Orders => "orders",
            Category::Catalog => "catalog",
            Category::Marketing => "marketing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Something to tell one user, rendered from the templates of `event_type`.
#[derive(Debug, Clone)]
pub struct Notice {
    pub user_id: Uuid,
    /// Names the templates (`orders.placed`, `catalog.stock_low`, `admin.message`...).
    pub event_type: String,
    pub category: Category,
    /// Ignores preferences and quiet hours.
    pub critical: bool,
    /// The channels it may use at all; empty means every channel.
    pub channels: Vec<Channel>,
    /// The template variables.
    pub data: Value,
    /// What caused it; the same key for the same user adds nothing (redelivered events).
    pub source_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no such account: {0}")]
    NoSuchUser(Uuid),
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// Notifies users. In one process the notifications service; split out, an HTTP client.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Records the notification and starts its deliveries; returns its id, or the first one's
    /// if `source_key` was seen before for this user.
    async fn notify(&self, notice: Notice) -> Result<Uuid, NotifyError>;
}
