//! Account mails (verification, reset, lockout): queued in the transaction that needs them,
//! rendered from the templates beside this file and sent through the Mailer port.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use minijinja::Environment;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domains::mail::contract::{MailSender, SystemSendError, TemplateEmail};
use crate::platform::mailer::{MailError, Mailer, OutgoingEmail};
use crate::platform::queue::{Consumer, HandlerError, Message};

pub const ACCOUNT_MAIL: &str = "auth.account_mail";

/// `Name <address>`, with what would break the header taken out of the name.
fn mailbox(mail: &AccountMail) -> String {
    format!("{} <{}>", mail.name.replace(['<', '>', '"'], ""), mail.to)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountMail {
    /// `verify_email`, `reset_password` or `account_locked`: the template's name.
    pub kind: String,
    /// The account; its emails list the mail (when the mail domain sends it).
    #[serde(default)]
    pub user_id: Option<Uuid>,
    pub to: String,
    pub name: String,
    pub token: Option<String>,
    pub link: Option<String>,
    pub valid_for_minutes: Option<u64>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// Where account mails go: through the mail domain (stored, with a status and retries, from
/// its editable `auth.*` templates) once it is mounted, else straight to the Mailer port from
/// the templates beside this file.
pub type MailSlot = Arc<OnceLock<Arc<dyn MailSender>>>;

pub struct AccountMailer {
    mailer: Arc<dyn Mailer>,
    mail: MailSlot,
    templates: Environment<'static>,
}

impl AccountMailer {
    pub fn new(mailer: Arc<dyn Mailer>, mail: MailSlot) -> Self {
        let mut templates = Environment::new();
        templates.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in [
            ("verify_email", include_str!("templates/verify_email.txt")),
            (
                "reset_password",
                include_str!("templates/reset_password.txt"),
            ),
            (
                "account_locked",
                include_str!("templates/account_locked.txt"),
            ),
        ] {
            templates
                .add_template(name, source)
                .expect("bundled templates parse");
        }
        Self {
            mailer,
            mail,
            templates,
        }
    }

    /// What the templates may use.
    fn variables(&self, mail: &AccountMail) -> serde_json::Value {
        let locked_until = mail
            .locked_until
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        serde_json::json!({
            "name": mail.name, "token": mail.token, "link": mail.link,
            "valid_for_minutes": mail.valid_for_minutes, "locked_until": locked_until,
        })
    }

    /// (subject, body): the template's first line is `Subject: ...`.
    pub fn render(&self, mail: &AccountMail) -> Result<(String, String), HandlerError> {
        let template = self.templates.get_template(&mail.kind).map_err(|e| {
            HandlerError::Permanent(format!("unknown account mail `{}`: {e}", mail.kind))
        })?;
        let text = template
            .render(self.variables(mail))
            .map_err(|e| HandlerError::Permanent(format!("rendering `{}`: {e}", mail.kind)))?;
        let (first, body) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));
        let subject = first
            .strip_prefix("Subject: ")
            .unwrap_or(first)
            .trim()
            .to_string();
        Ok((subject, format!("{}\n", body.trim_end())))
    }
}

#[async_trait]
impl Consumer for AccountMailer {
    fn group(&self) -> &str {
        "auth-mailer"
    }

    fn topics(&self) -> Vec<String> {
        vec![ACCOUNT_MAIL.into()]
    }

    async fn handle(&self, message: &Message) -> Result<(), HandlerError> {
        let mail: AccountMail = message.payload_as()?;
        if let (Some(sender), Some(user_id)) = (self.mail.get(), mail.user_id) {
            let email = TemplateEmail {
                owner_id: user_id,
                to: mailbox(&mail),
                template: format!("auth.{}", mail.kind),
                variables: self.variables(&mail),
                key: format!("account-mail:{}", message.id),
            };
            match sender.send_template(email).await {
                Ok(_) => return Ok(()),
                Err(SystemSendError::Refused(why)) => {
                    tracing::warn!(kind = %mail.kind, %why, "account mail not sent");
                    return Ok(());
                }
                Err(SystemSendError::Unavailable(e)) => return Err(e.into()),
                // An administrator broke or removed the template: the bundled one still works.
                Err(SystemSendError::Template(why)) => {
                    tracing::warn!(kind = %mail.kind, %why, "account mail template unusable; using the bundled one");
                }
            }
        }
        let (subject, text) = self.render(&mail)?;
        let to = mailbox(&mail)
            .parse()
            .or_else(|_| mail.to.parse())
            .map_err(|e| HandlerError::Permanent(format!("recipient {}: {e}", mail.to)))?;
        let email = OutgoingEmail {
            // Stable across redeliveries of this message.
            message_id: format!("<{}@agora>", message.id),
            from: None,
            to: vec![to],
            cc: vec![],
            bcc: vec![],
            subject,
            text: Some(text),
            // Account emails are cheap to repeat: no journal.
            hand_over: None,
            html: None,
            attachments: Vec::new(),
        };
        match self.mailer.send(&email).await {
            Ok(_) => Ok(()),
            Err(MailError::Transient(e)) => Err(HandlerError::Retry(e)),
            Err(e) => Err(HandlerError::Permanent(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoMail;
    #[async_trait]
    impl Mailer for NoMail {
        async fn send(
            &self,
            _: &OutgoingEmail,
        ) -> Result<crate::platform::mailer::Sent, MailError> {
            Err(MailError::Transient("not in unit tests".into()))
        }
        fn transport(&self) -> &'static str {
            "none"
        }
    }

    #[test]
    fn every_template_renders() {
        let mailer = AccountMailer::new(Arc::new(NoMail), Default::default());
        for kind in ["verify_email", "reset_password", "account_locked"] {
            let mail = AccountMail {
                kind: kind.into(),
                user_id: None,
                to: "ada@example.com".into(),
                name: "Ada".into(),
                token: Some("tok123".into()),
                link: Some("http://x/verify-email?token=tok123".into()),
                valid_for_minutes: Some(60),
                locked_until: Some(Utc::now()),
            };
            let (subject, body) = mailer.render(&mail).unwrap();
            assert!(
                !subject.is_empty() && !subject.starts_with("Subject"),
                "{kind}: {subject}"
            );
            assert!(body.contains("Hello Ada"), "{kind}: {body}");
        }
    }
}
