//! What other domains may know of mail: the job that asks for an email's delivery.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Queued with every email accepted for delivery.
pub const SEND_REQUESTED: &str = "mail.send_requested";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendRequested {
    pub email_id: Uuid,
}

/// An email the system sends on a user's behalf (a notification), not typed by them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SystemEmail {
    /// The account it is for; it shows among that account's emails.
    pub owner_id: Uuid,
    pub to: String,
    pub subject: String,
    pub text: String,
    /// The same key again returns the first email instead of sending another.
    pub key: String,
}

/// A system email from a stored template (`GET /email-templates`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateEmail {
    pub owner_id: Uuid,
    pub to: String,
    pub template: String,
    pub variables: serde_json::Value,
    pub key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SystemSendError {
    /// Retrying cannot help: a suppressed or malformed address.
    #[error("{0}")]
    Refused(String),
    /// The template is missing or does not render with these variables.
    #[error("{0}")]
    Template(String),
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// Queues emails for delivery. In one process the mail service; split out, an HTTP client.
#[async_trait::async_trait]
pub trait MailSender: Send + Sync + 'static {
    /// Stores the email as `queued` and asks for its delivery; returns its id.
    async fn send_system(&self, email: SystemEmail) -> Result<Uuid, SystemSendError>;
    /// The same, with subject and body rendered from a stored template.
    async fn send_template(&self, email: TemplateEmail) -> Result<Uuid, SystemSendError>;
}

/// A refused system email between processes (409 body); anything else is unavailability.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum SendRefusal {
    Refused { detail: String },
    Template { detail: String },
}

/// The email's id, between processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    pub id: Uuid,
}
