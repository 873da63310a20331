//! Notifying: preferences and quiet hours decide each channel's fate, the notification and
//! its deliveries are written with their jobs in one transaction, and each job sends one
//! channel's message. Also the inbox, preferences and templates behind the routes.

use std::sync::Arc;

use prometheus::{IntCounterVec, Opts, Registry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::channels::{Channels, Outbound, SendError};
use super::contract::{Notice, Notifier, NotifyError};
use super::live::LiveFeed;
use super::model::{
    default_matrix, AdminNotice, Channel, ChannelMatrix, DeliveryStatus, Notification, Preferences,
    PreferencesUpdate,
};
use super::repo::{self, NewDelivery, NewNotification, TemplateRow};
use super::templates;
use crate::domains::auth::contract::{Permission, Principal, UserContact, UserDirectory};
use crate::platform::clock::Clock;
use crate::platform::db::{Db, DbError};
use crate::platform::http::FieldError;
use crate::platform::queue::{publish, HandlerError, Outgoing};

/// The job that sends one channel's part of a notification.
pub const DELIVER: &str = "notifications.deliver";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverJob {
    pub delivery_id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Unavailable(String),
}

impl From<NotifyError> for NotificationError {
    fn from(e: NotifyError) -> Self {
        NotificationError::Unavailable(e.to_string())
    }
}

/// What `POST /notifications` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = NotificationsSent)]
pub struct Sent {
    /// One per account, in the order given.
    pub notification_ids: Vec<Uuid>,
}

pub struct NotificationService {
    db: Db,
    directory: Arc<dyn UserDirectory>,
    channels: Channels,
    pub live: Arc<LiveFeed>,
    max_attempts: u32,
    created: IntCounterVec,
    delivered: IntCounterVec,
    clock: Clock,
}

impl NotificationService {
    pub fn new(
        db: Db,
        directory: Arc<dyn UserDirectory>,
        channels: Channels,
        live: Arc<LiveFeed>,
        max_attempts: u32,
        registry: &Registry,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let created = IntCounterVec::new(
            Opts::new("notifications_created_total", "Notifications recorded"),
            &["category"],
        )?;
        let delivered = IntCounterVec::new(
            Opts::new(
                "notification_deliveries_total",
                "Channel deliveries by final status (sent, failed, skipped) or held",
            ),
            &["channel", "status"],
        )?;
        registry.register(Box::new(created.clone()))?;
        registry.register(Box::new(delivered.clone()))?;
        Ok(Self {
            db,
            directory,
            channels,
            live,
            max_attempts,
            created,
            delivered,
            clock,
        })
    }

    async fn matrix(&self, user: Uuid) -> Result<ChannelMatrix, DbError> {
        let mut matrix = default_matrix();
        for (category, channel, on) in repo::preferences(&self.db, user).await? {
            matrix.entry(category).or_default().insert(channel, on);
        }
        Ok(matrix)
    }

    /// The channel's template for the event rendered with `data`, else the stored copy.
    async fn text_for(
        &self,
        event_type: &str,
        channel: Channel,
        data: &Value,
    ) -> Result<Option<(String, String)>, DbError> {
        let Some(t) = repo::template_for(&self.db, event_type, channel).await? else {
            return Ok(None);
        };
        match templates::render(&t.title, &t.body, data) {
            Ok(text) => Ok(Some(text)),
            Err(e) => {
                tracing::warn!(event_type, channel = channel.as_str(), error = %e, "template failed");
                Ok(None)
            }
        }
    }

    /// The account `notice` is for, or NoSuchUser.
    async fn contact(&self, user_id: Uuid) -> Result<UserContact, NotifyError> {
        self.directory
            .contact(user_id)
            .await?
            .ok_or(NotifyError::NoSuchUser(user_id))
    }

    /// Records `notice` for the account `contact` (already looked up) and starts its deliveries.
    async fn record(&self, notice: Notice, contact: &UserContact) -> Result<Uuid, NotifyError> {
        let unavailable = |e: DbError| NotifyError::Unavailable(e.into());
        let matrix = self.matrix(notice.user_id).await.map_err(unavailable)?;
        let quiet = repo::quiet_hours(&self.db, notice.user_id)
            .await
            .map_err(unavailable)?;
        let (title, body) = self
            .text_for(&notice.event_type, Channel::InApp, &notice.data)
            .await
            .map_err(unavailable)?
            .unwrap_or_else(|| (notice.event_type.clone(), notice.data.to_string()));

        let t = self.clock.now();
        // Channels the event may use at all; of those, the ones the user wants.
        let used =
            |channel: &Channel| notice.channels.is_empty() || notice.channels.contains(channel);
        let enabled = |channel: Channel| {
            notice.critical
                || matrix
                    .get(&notice.category)
                    .and_then(|m| m.get(&channel))
                    .copied()
                    .unwrap_or(false)
        };
        let id = Uuid::now_v7();
        let in_inbox = used(&Channel::InApp) && enabled(Channel::InApp);
        let new = NewNotification {
            id,
            user_id: notice.user_id,
            event_type: &notice.event_type,
            category: notice.category,
            critical: notice.critical,
            title: &title,
            body: &body,
            data: &notice.data,
            source_key: &notice.source_key,
            in_inbox,
            now: t,
        };
        let mut tx = self.db.begin().await.map_err(unavailable)?;
        if let Err(e) = repo::insert_notification(&mut tx, &new).await {
            drop(tx);
            // A redelivered event (the same source key): the first notification stands.
            if matches!(e, DbError::UniqueViolation { .. }) {
                if let Some(first) = repo::by_source(&self.db, notice.user_id, &notice.source_key)
                    .await
                    .map_err(unavailable)?
                {
                    return Ok(first);
                }
            }
            return Err(unavailable(e));
        }
        let mut deliveries = Vec::new();
        for channel in Channel::ALL.into_iter().filter(used) {
            let (status, detail, after) = if !enabled(channel) {
                (
                    DeliveryStatus::Skipped,
                    Some("turned off in preferences"),
                    None,
                )
            } else if channel == Channel::InApp {
                (DeliveryStatus::Sent, Some("in the inbox"), None)
            } else if let Some(why) = self.channels.unavailable(channel, contact) {
                (DeliveryStatus::Skipped, Some(why), None)
            } else if let Some(until) = quiet
                .as_ref()
                .filter(|_| !notice.critical)
                .and_then(|q| q.ends_after(t))
            {
                (DeliveryStatus::Held, Some("quiet hours"), Some(until))
            } else {
                (DeliveryStatus::Pending, None, None)
            };
            deliveries.push(NewDelivery {
                id: Uuid::now_v7(),
                notification_id: id,
                channel,
                status,
                detail,
                deliver_after: after,
                now: t,
            });
        }
        repo::insert_deliveries(&mut tx, &deliveries)
            .await
            .map_err(unavailable)?;
        for d in deliveries.iter().filter(|d| d.status == DeliveryStatus::Pending) {
            publish(&mut tx, deliver_job(d.id))
                .await
                .map_err(unavailable)?;
        }
        let outcomes: Vec<_> = deliveries.iter().map(|d| (d.channel, d.status)).collect();
        tx.commit().await.map_err(unavailable)?;

        self.created
            .with_label_values(&[notice.category.as_str()])
            .inc();
        for (channel, status) in outcomes {
            if status != DeliveryStatus::Pending {
                self.delivered
                    .with_label_values(&[channel.as_str(), status.as_str()])
                    .inc();
            }
        }
        if in_inbox {
            self.live.announce(Notification {
                id,
                user_id: notice.user_id,
                event_type: notice.event_type,
                category: notice.category,
                critical: notice.critical,
                title,
                body,
                data: notice.data,
                read: false,
                read_at: None,
                removed_at: None,
                created_at: t,
                deliveries: Vec::new(),
            });
        }
        Ok(id)
    }

    /// Sends one delivery; `attempt` counts from 1. Errors ask the queue to try again.
    pub async fn deliver(&self, delivery_id: Uuid, attempt: u32) -> Result<(), HandlerError> {
        let retry = |e: DbError| HandlerError::Retry(e.to_string());
        let Some(row) = repo::delivery(&self.db, delivery_id).await.map_err(retry)? else {
            return Ok(());
        };
        // Done already (a redelivered job), or held until the quiet hours end.
        if row.status() != DeliveryStatus::Pending {
            return Ok(());
        }
        let channel = row.channel();
        let Some(n) = repo::notification(&self.db, row.notification_id)
            .await
            .map_err(retry)?
        else {
            return Ok(());
        };
        let contact = match self.directory.contact(n.user_id).await {
            Ok(Some(c)) if c.is_active => c,
            Ok(_) => {
                let why = "the account is gone or deactivated";
                self.finish(
                    delivery_id,
                    channel,
                    DeliveryStatus::Skipped,
                    why,
                    None,
                    false,
                )
                .await
                .map_err(retry)?;
                return Ok(());
            }
            Err(e) => return Err(HandlerError::Retry(format!("{e:#}"))),
        };
        let (title, body) = self
            .text_for(&n.event_type, channel, &n.data)
            .await
            .map_err(retry)?
            .unwrap_or_else(|| (n.title.clone(), n.body.clone()));
        let out = Outbound {
            delivery_id,
            notification_id: n.id,
            event_type: &n.event_type,
            contact: &contact,
            title: &title,
            body: &body,
        };
        match self.channels.send(channel, &out).await {
            Ok(sent) => {
                self.finish(
                    delivery_id,
                    channel,
                    DeliveryStatus::Sent,
                    &sent.detail,
                    sent.external_id.as_deref(),
                    true,
                )
                .await
                .map_err(retry)?;
                Ok(())
            }
            Err(SendError::Retry(e)) if attempt < self.max_attempts => {
                repo::update_pending(
                    &self.db,
                    delivery_id,
                    DeliveryStatus::Pending,
                    Some(&e),
                    None,
                    true,
                    self.clock.now(),
                )
                .await
                .map_err(retry)?;
                Err(HandlerError::Retry(e))
            }
            Err(e) => {
                let why = match e {
                    SendError::Retry(e) => format!("attempts exhausted: {e}"),
                    SendError::Permanent(e) => e,
                };
                self.finish(
                    delivery_id,
                    channel,
                    DeliveryStatus::Failed,
                    &why,
                    None,
                    true,
                )
                .await
                .map_err(retry)?;
                Ok(())
            }
        }
    }

    async fn finish(
        &self,
        delivery_id: Uuid,
        channel: Channel,
        status: DeliveryStatus,
        detail: &str,
        external_id: Option<&str>,
        attempted: bool,
    ) -> Result<(), DbError> {
        let moved = repo::update_pending(
            &self.db,
            delivery_id,
            status,
            Some(detail),
            external_id,
            attempted,
            self.clock.now(),
        )
        .await?;
        if moved {
            self.delivered
                .with_label_values(&[channel.as_str(), status.as_str()])
                .inc();
        }
        Ok(())
    }

    /// Puts deliveries whose quiet hours ended back in line; returns how many.
    pub async fn release_held(&self) -> Result<usize, DbError> {
        let mut released = 0;
        for id in repo::due_held(&self.db, self.clock.now(), 200).await? {
            let mut tx = self.db.begin().await?;
            if repo::release(&mut tx, id, self.clock.now()).await? {
                publish(&mut tx, deliver_job(id)).await?;
                released += 1;
            }
            tx.commit().await?;
        }
        Ok(released)
    }

    pub async fn list(
        &self,
        principal: &Principal,
        unread_only: bool,
        page: u64,
        limit: u64,
    ) -> Result<(Vec<Notification>, u64), NotificationError> {
        Ok(repo::list(
            &self.db,
            principal.user_id,
            unread_only,
            limit,
            (page - 1) * limit,
        )
        .await?)
    }

    /// One notification with its deliveries: its user's until they remove it; for an
    /// administrator, anyone's, removed or not.
    pub async fn get(
        &self,
        principal: &Principal,
        id: Uuid,
    ) -> Result<Notification, NotificationError> {
        const MISSING: NotificationError = NotificationError::NotFound("no such notification");
        let n = repo::notification(&self.db, id).await?.ok_or(MISSING)?;
        let admin = principal.can(Permission::ReadUsers);
        if !admin && (n.user_id != principal.user_id || n.removed_at.is_some()) {
            return Err(MISSING);
        }
        Ok(n)
    }

    pub async fn unread_count(&self, principal: &Principal) -> Result<u64, NotificationError> {
        Ok(repo::unread_count(&self.db, principal.user_id).await?)
    }

    pub async fn mark_read(
        &self,
        principal: &Principal,
        id: Uuid,
    ) -> Result<(), NotificationError> {
        if !repo::mark_read(&self.db, principal.user_id, id, self.clock.now()).await? {
            return Err(NotificationError::NotFound("no such notification"));
        }
        Ok(())
    }

    pub async fn mark_all_read(&self, principal: &Principal) -> Result<u64, NotificationError> {
        Ok(repo::mark_all_read(&self.db, principal.user_id, self.clock.now()).await?)
    }

    pub async fn remove(&self, principal: &Principal, id: Uuid) -> Result<(), NotificationError> {
        if !repo::remove(&self.db, principal.user_id, id, self.clock.now()).await? {
            return Err(NotificationError::NotFound("no such notification"));
        }
        Ok(())
    }

    /// An administrator's message to each of `notice.user_ids`.
    pub async fn send(&self, notice: AdminNotice) -> Result<Sent, NotificationError> {
        notice.validate().map_err(NotificationError::Validation)?;
        // Every account first, so that a wrong id writes nothing.
        let mut errors = Vec::new();
        let mut contacts = Vec::with_capacity(notice.user_ids.len());
        for (i, user) in notice.user_ids.iter().enumerate() {
            match self.contact(*user).await {
                Ok(contact) => contacts.push(contact),
                Err(NotifyError::NoSuchUser(_)) => errors.push(FieldError {
                    field: format!("user_ids.{i}"),
                    message: format!("no account {user}"),
                }),
                Err(e) => return Err(e.into()),
            }
        }
        if !errors.is_empty() {
            return Err(NotificationError::Validation(errors));
        }
        let request = Uuid::now_v7();
        let data = serde_json::json!({"title": notice.title.trim(), "body": notice.body.trim()});
        let mut ids = Vec::with_capacity(notice.user_ids.len());
        for contact in &contacts {
            let each = Notice {
                user_id: contact.user_id,
                event_type: "admin.message".into(),
                category: notice.category,
                critical: notice.critical,
                channels: Vec::new(),
                data: data.clone(),
                source_key: format!("admin:{request}"),
            };
            ids.push(self.record(each, contact).await?);
        }
        Ok(Sent {
            notification_ids: ids,
        })
    }

    pub async fn preferences(
        &self,
        principal: &Principal,
    ) -> Result<Preferences, NotificationError> {
        Ok(Preferences {
            channels: self.matrix(principal.user_id).await?,
            quiet_hours: repo::quiet_hours(&self.db, principal.user_id).await?,
        })
    }

    pub async fn update_preferences(
        &self,
        principal: &Principal,
        update: PreferencesUpdate,
    ) -> Result<Preferences, NotificationError> {
        if let Some(Some(q)) = &update.quiet_hours {
            q.validate()
                .map_err(|e| NotificationError::Validation(vec![e]))?;
        }
        let user = principal.user_id;
        let mut tx = self.db.begin().await?;
        for (category, channels) in &update.channels {
            for (channel, on) in channels {
                repo::set_preference(&mut tx, user, *category, *channel, *on).await?;
            }
        }
        if let Some(quiet) = update.quiet_hours {
            repo::set_quiet_hours(&mut tx, user, quiet, self.clock.now()).await?;
        }
        tx.commit().await?;
        self.preferences(principal).await
    }

    pub async fn templates(&self) -> Result<Vec<TemplateRow>, NotificationError> {
        Ok(repo::templates(&self.db).await?)
    }

    /// Creates or replaces the template of an event type for a channel (or `*`), once it
    /// renders with the event's sample variables.
    pub async fn put_template(
        &self,
        event_type: &str,
        channel: &str,
        title: &str,
        body: &str,
    ) -> Result<TemplateRow, NotificationError> {
        check_template_key(event_type, channel)?;
        templates::check(event_type, title, body).map_err(NotificationError::Validation)?;
        let row = TemplateRow {
            event_type: event_type.to_string(),
            channel: channel.to_string(),
            title: title.trim().to_string(),
            body: body.trim().to_string(),
            updated_at: self.clock.now(),
        };
        repo::upsert_template(&self.db, &row).await?;
        Ok(row)
    }

    pub async fn delete_template(
        &self,
        event_type: &str,
        channel: &str,
    ) -> Result<(), NotificationError> {
        check_template_key(event_type, channel)?;
        if channel == "*" {
            return Err(NotificationError::Conflict(
                "the `*` template of an event is its fallback and can only be replaced",
            ));
        }
        if !repo::delete_template(&self.db, event_type, channel).await? {
            return Err(NotificationError::NotFound("no such template"));
        }
        Ok(())
    }

    /// Renders the event's template for `channel` with the sample variables.
    pub async fn preview(
        &self,
        event_type: &str,
        channel: Channel,
    ) -> Result<(String, String), NotificationError> {
        check_template_key(event_type, channel.as_str())?;
        self.text_for(event_type, channel, &templates::sample(event_type))
            .await?
            .ok_or(NotificationError::NotFound("no such template"))
    }
}

fn check_template_key(event_type: &str, channel: &str) -> Result<(), NotificationError> {
    let mut errors = Vec::new();
    if !templates::is_known(event_type) {
        let known: Vec<&str> = templates::EVENT_TYPES.iter().map(|(n, _)| *n).collect();
        errors.push(FieldError {
            field: "event_type".into(),
            message: format!("expected one of {}", known.join(", ")),
        });
    }
    if channel != "*" && Channel::parse(channel).is_none() {
        errors.push(FieldError {
            field: "channel".into(),
            message: "expected email, in_app, sms, push or *".into(),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(NotificationError::Validation(errors))
    }
}

fn deliver_job(delivery_id: Uuid) -> Outgoing {
    Outgoing::new(
        DELIVER,
        delivery_id.to_string(),
        &DeliverJob { delivery_id },
    )
}

#[async_trait::async_trait]
impl Notifier for NotificationService {
    async fn notify(&self, notice: Notice) -> Result<Uuid, NotifyError> {
        let contact = self.contact(notice.user_id).await?;
        self.record(notice, &contact).await
    }
}
