//! The ways out: email through the mail contract, SMS and push through webhook providers
//! (any real gateway can sit behind one). In-app needs no adapter: the notification is it.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tracing::Instrument;
use uuid::Uuid;

use super::model::Channel;
use super::settings::NotificationsSettings;
use crate::domains::auth::contract::UserContact;
use crate::domains::mail::contract::{MailSender, SystemEmail, SystemSendError};
use crate::platform::{signing, telemetry};

/// What one delivery carries.
pub struct Outbound<'a> {
    pub delivery_id: Uuid,
    pub notification_id: Uuid,
    pub event_type: &'a str,
    pub contact: &'a UserContact,
    pub title: &'a str,
    pub body: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for it (the email id).
    pub external_id: Option<String>,
    pub detail: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// Worth another attempt (network, 5xx, 429).
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Permanent(String),
}

/// A provider that takes deliveries as signed JSON POSTs.
pub struct Webhook {
    url: String,
    secret: String,
    client: reqwest::Client,
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    delivery_id: Uuid,
    notification_id: Uuid,
    channel: &'a str,
    event_type: &'a str,
    user_id: Uuid,
    /// The phone number for SMS; absent for push (the provider knows the user's devices).
    to: Option<&'a str>,
    title: &'a str,
    body: &'a str,
}

impl Webhook {
    fn new(url: &str, secret: &str, timeout: Duration) -> anyhow::Result<Option<Self>> {
        if url.is_empty() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("agora/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Some(Self {
            url: url.to_string(),
            secret: secret.to_string(),
            client,
        }))
    }

    async fn post(&self, channel: Channel, out: &Outbound<'_>) -> Result<Sent, SendError> {
        let span = telemetry::client_span(&format!("{} webhook", channel.as_str()));
        let result = self.deliver(channel, out).instrument(span.clone()).await;
        if result.is_err() {
            telemetry::record_error(&span);
        }
        result
    }

    async fn deliver(&self, channel: Channel, out: &Outbound<'_>) -> Result<Sent, SendError> {
        let to = match channel {
            Channel::Sms => out.contact.phone.as_deref(),
            _ => None,
        };
        let body = serde_json::to_vec(&WebhookBody {
            delivery_id: out.delivery_id,
            notification_id: out.notification_id,
            channel: channel.as_str(),
            event_type: out.event_type,
            user_id: out.contact.user_id,
            to,
            title: out.title,
            body: out.body,
        })
        .map_err(|e| SendError::Permanent(e.to_string()))?;
        let mut request = self.client.post(&self.url);
        if let Some(traceparent) = telemetry::current_traceparent() {
            request = request.header("traceparent", traceparent);
        }
        let response = request
            .header("content-type", "application/json")
            .header("x-signature", signing::sign(&self.secret, &body))
            // Lets the provider drop a delivery it already took (a retried request).
            .header("idempotency-key", out.delivery_id.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Retry(format!("{channel:?} provider unreachable: {e}")))?;
        let status = response.status();
        let text: String = response.text().await.unwrap_or_default();
        let detail = format!(
            "{} {}",
            status.as_u16(),
            text.chars().take(200).collect::<String>()
        );
        if status.is_success() {
            Ok(Sent {
                external_id: None,
                detail,
            })
        } else if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            Err(SendError::Retry(detail))
        } else {
            Err(SendError::Permanent(detail))
        }
    }
}

/// Every channel adapter this replica has.
pub struct Channels {
    email: Option<Arc<dyn MailSender>>,
    sms: Option<Webhook>,
    push: Option<Webhook>,
}

impl Channels {
    pub fn new(
        settings: &NotificationsSettings,
        email: Option<Arc<dyn MailSender>>,
    ) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(settings.webhook_timeout_secs);
        let secret = settings.webhook_secret.expose();
        Ok(Self {
            email,
            sms: Webhook::new(&settings.sms_webhook_url, secret, timeout)?,
            push: Webhook::new(&settings.push_webhook_url, secret, timeout)?,
        })
    }

    /// Why `channel` cannot reach `contact` at all, if it cannot.
    pub fn unavailable(&self, channel: Channel, contact: &UserContact) -> Option<&'static str> {
        match channel {
            Channel::InApp => None,
            Channel::Email if self.email.is_none() => Some("the mail domain is not in this build"),
            Channel::Email => None,
            Channel::Sms if self.sms.is_none() => Some("no SMS provider is configured"),
            Channel::Sms if contact.phone.is_none() => Some("the account has no phone number"),
            Channel::Sms => None,
            Channel::Push if self.push.is_none() => Some("no push provider is configured"),
            Channel::Push => None,
        }
    }

    pub async fn send(&self, channel: Channel, out: &Outbound<'_>) -> Result<Sent, SendError> {
        let missing = || SendError::Permanent(format!("{} is not configured", channel.as_str()));
        match channel {
            Channel::InApp => Ok(Sent {
                external_id: None,
                detail: "in the inbox".into(),
            }),
            Channel::Email => {
                let mail = self.email.as_ref().ok_or_else(missing)?;
                let email = SystemEmail {
                    owner_id: out.contact.user_id,
                    to: format!("{} <{}>", quote(&out.contact.name), out.contact.email),
                    subject: out.title.to_string(),
                    text: format!("{}\n", out.body),
                    key: format!("notification:{}", out.delivery_id),
                };
                match mail.send_system(email).await {
                    Ok(id) => Ok(Sent {
                        external_id: Some(id.to_string()),
                        detail: "queued for delivery by mail".into(),
                    }),
                    Err(SystemSendError::Refused(e) | SystemSendError::Template(e)) => {
                        Err(SendError::Permanent(e))
                    }
                    Err(SystemSendError::Unavailable(e)) => Err(SendError::Retry(format!("{e:#}"))),
                }
            }
            Channel::Sms => {
                self.sms
                    .as_ref()
                    .ok_or_else(missing)?
                    .post(channel, out)
                    .await
            }
            Channel::Push => {
                self.push
                    .as_ref()
                    .ok_or_else(missing)?
                    .post(channel, out)
                    .await
            }
        }
    }
}

/// A display name as a quoted string, so commas and the like cannot break the address.
fn quote(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    format!("\"{clean}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_the_address() {
        assert_eq!(
            quote("Ada \"the\" Lovelace, Countess"),
            "\"Ada the Lovelace, Countess\""
        );
    }
}
