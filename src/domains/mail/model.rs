//! Emails as the API takes and shows them.

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::http::FieldError;

pub const MAX_RECIPIENTS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    Queued,
    Sending,
    Sent,
    Retrying,
    Failed,
}

impl EmailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Queued => "queued",
            EmailStatus::Sending => "sending",
            EmailStatus::Sent => "sent",
            EmailStatus::Retrying => "retrying",
            EmailStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<EmailStatus> {
        [
            EmailStatus::Queued,
            EmailStatus::Sending,
            EmailStatus::Sent,
            EmailStatus::Retrying,
            EmailStatus::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Recipients {
    #[schema(example = json!(["Ada <ada@example.com>"]))]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
}

impl Recipients {
    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.to.iter().chain(&self.cc).chain(&self.bcc)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SendRequest {
    #[serde(default)]
    #[schema(max_items = 50, example = json!(["Ada Lovelace <ada@example.com>"]))]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 998, example = "Your order shipped")]
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    /// Name of a stored template giving subject, text and html instead.
    #[schema(example = "order_shipped")]
    pub template: Option<String>,
    /// Contacts (ids from `/contacts`) to add to `to`.
    #[serde(default)]
    pub contact_ids: Vec<Uuid>,
    /// Values for the template's variables.
    #[schema(value_type = Option<Object>, example = json!({"name": "Ada"}))]
    pub variables: Option<serde_json::Value>,
    /// Files of the sender's (ids from `POST /files`) to attach, at most 10.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub attachments: Vec<Uuid>,
}

/// Most files one email carries.
pub const MAX_ATTACHMENTS: usize = 10;

/// The bare address of a mailbox (`Ada <ada@example.com>` -> `ada@example.com`), lower case.
pub fn address_of(mailbox: &str) -> Option<String> {
    mailbox
        .parse::<Mailbox>()
        .ok()
        .map(|m| m.email.to_string().to_lowercase())
}

impl SendRequest {
    /// Checks every address and the content; all problems at once.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let field = |f: String, m: &str| FieldError {
            field: f,
            message: m.into(),
        };
        if self.to.is_empty() && self.contact_ids.is_empty() {
            errors.push(field("to".into(), "needs at least one recipient"));
        }
        if self.to.len() + self.cc.len() + self.bcc.len() > MAX_RECIPIENTS {
            errors.push(field(
                "to".into(),
                "at most 50 recipients in to, cc and bcc together",
            ));
        }
        for (name, list) in [("to", &self.to), ("cc", &self.cc), ("bcc", &self.bcc)] {
            for (i, mailbox) in list.iter().enumerate() {
                if address_of(mailbox).is_none() {
                    errors.push(field(format!("{name}.{i}"), "is not a valid email address"));
                }
            }
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            errors.push(field("attachments".into(), "at most 10 files"));
        }
        for (i, id) in self.attachments.iter().enumerate() {
            if self.attachments[..i].contains(id) {
                errors.push(field(format!("attachments.{i}"), "is attached twice"));
            }
        }
        // With a template, the template gives subject and body.
        if self.template.is_none() {
            if self.subject.trim().is_empty() {
                errors.push(field("subject".into(), "is required"));
            } else if self.subject.chars().count() > 998 {
                errors.push(field("subject".into(), "must be at most 998 characters"));
            }
            let empty = |b: &Option<String>| b.as_deref().is_none_or(|b| b.trim().is_empty());
            if empty(&self.text) && empty(&self.html) {
                errors.push(field("text".into(), "text or html is required"));
            }
        }
        errors.is_empty().then_some(()).ok_or(errors)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attempt {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    /// `sent`, `temporary_failure` or `permanent_failure`.
    pub outcome: String,
    /// What the SMTP server (or transport) said.
    pub response: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Email {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub recipients: Recipients,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub status: EmailStatus,
    pub attempts: i32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Stable across retries, so a redelivered message is recognisable.
    pub message_id: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Files sent along (ids of the files domain).
    pub attachments: Vec<Uuid>,
    /// Every delivery attempt (on `GET /emails/{id}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delivery_attempts: Vec<Attempt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_validated_field_by_field() {
        let bad = SendRequest {
            to: vec!["ok@example.com".into(), "nope".into()],
            cc: vec!["also bad".into()],
            bcc: vec![],
            subject: " ".into(),
            text: None,
            html: Some(" ".into()),
            template: None,
            variables: None,
            contact_ids: vec![],
            attachments: vec![],
        };
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["to.1", "cc.0", "subject", "text"]);
        assert_eq!(
            address_of("Ada <Ada@Example.com>").as_deref(),
            Some("ada@example.com")
        );
    }
}
