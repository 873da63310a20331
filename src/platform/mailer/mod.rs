//! The Mailer port and its lettre adapters: SMTP, and `.eml` files for running with no relay.

use std::path::PathBuf;

use async_trait::async_trait;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use crate::platform::config::{MailTransport, MailerSettings};

mod smtp;
pub use smtp::SmtpMailer;

/// An email ready to hand to a transport.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    /// Stable across retries, so a redelivered message is recognisable (`<id@host>`).
    pub message_id: String,
    /// `None`: the configured `mailer.from`.
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Called once, right before the last of the message goes to the transport.
    pub hand_over: Option<HandOver>,
}

/// What the sender does at the moment a transport is about to have the whole message (an
/// SMTP relay its closing dot, the file transport its rename): past it, the message may be
/// accepted even if the answer is never seen, so a journal written here lets a restart tell
/// such a message from one that never left. An error stops the message from going.
#[derive(Clone)]
pub struct HandOver(std::sync::Arc<dyn Fn() -> std::io::Result<()> + Send + Sync>);

impl HandOver {
    pub fn new(f: impl Fn() -> std::io::Result<()> + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(f))
    }

    pub fn call(&self) -> std::io::Result<()> {
        (self.0)()
    }
}

impl std::fmt::Debug for HandOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandOver")
    }
}

/// A file sent along with an email.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What the transport said when it took the message.
#[derive(Debug, Clone)]
pub struct Sent {
    pub response: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message itself is unusable (no recipient, no body).
    #[error("invalid message: {0}")]
    Invalid(String),
    /// Try again later: connection failure, timeout, SMTP 4xx.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Do not retry: SMTP 5xx (unknown mailbox, rejected content).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, email: &OutgoingEmail) -> Result<Sent, MailError>;
    /// `smtp` or `file`, for logs and metrics.
    fn transport(&self) -> &'static str;
}

/// Builds the transport chosen by `mailer.transport`.
pub fn from_settings(
    settings: &MailerSettings,
    data_dir: &std::path::Path,
) -> anyhow::Result<Box<dyn Mailer>> {
    let from: Mailbox = settings.from.parse()?;
    Ok(match settings.transport {
        MailTransport::File => Box::new(FileMailer::new(data_dir.join("outbox"), from)?),
        MailTransport::Smtp => Box::new(SmtpMailer::new(settings, from)?),
    })
}

/// The text and/or HTML of a message, before attachments join it.
enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

impl From<SinglePart> for Body {
    fn from(part: SinglePart) -> Self {
        Body::Single(part)
    }
}

impl From<MultiPart> for Body {
    fn from(part: MultiPart) -> Self {
        Body::Multi(part)
    }
}

fn build_message(email: &OutgoingEmail, default_from: &Mailbox) -> Result<Message, MailError> {
    if email.to.is_empty() && email.cc.is_empty() && email.bcc.is_empty() {
        return Err(MailError::Invalid("no recipient".into()));
    }
    let mut builder = Message::builder()
        .message_id(Some(email.message_id.clone()))
        .from(email.from.clone().unwrap_or_else(|| default_from.clone()))
        .subject(email.subject.clone());
    for to in &email.to {
        builder = builder.to(to.clone());
    }
    for cc in &email.cc {
        builder = builder.cc(cc.clone());
    }
    for bcc in &email.bcc {
        builder = builder.bcc(bcc.clone());
    }
    let html_part = |html: &String| {
        SinglePart::builder()
            .header(ContentType::TEXT_HTML)
            .body(html.clone())
    };
    let body = match (&email.text, &email.html) {
        (Some(text), Some(html)) => {
            MultiPart::alternative_plain_html(text.clone(), html.clone()).into()
        }
        (Some(text), None) => SinglePart::plain(text.clone()).into(),
        (None, Some(html)) => html_part(html).into(),
        (None, None) => return Err(MailError::Invalid("neither text nor html body".into())),
    };
    let built = if email.attachments.is_empty() {
        match body {
            Body::Single(part) => builder.singlepart(part),
            Body::Multi(part) => builder.multipart(part),
        }
    } else {
        let mut mixed = match body {
            Body::Single(part) => MultiPart::mixed().singlepart(part),
            Body::Multi(part) => MultiPart::mixed().multipart(part),
        };
        for a in &email.attachments {
            let content_type = ContentType::parse(&a.content_type)
                .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid"));
            mixed = mixed.singlepart(
                lettre::message::Attachment::new(a.filename.clone())
                    .body(a.bytes.clone(), content_type),
            );
        }
        builder.multipart(mixed)
    };
    built.map_err(|e| MailError::Invalid(e.to_string()))
}

/// Writes each message as `<uuid>.eml` in a directory: the zero-setup default.
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl FileMailer {
    pub fn new(dir: PathBuf, from: Mailbox) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, from })
    }
}

#[async_trait]
impl Mailer for FileMailer {
    /// Written under a temporary name, then renamed: whoever watches the directory (a
    /// mail pickup, a test) never reads half a message.
    async fn send(&self, email: &OutgoingEmail) -> Result<Sent, MailError> {
        let message = build_message(email, &self.from)?;
        let id = uuid::Uuid::now_v7();
        let partial = self.dir.join(format!("{id}.eml.part"));
        let path = self.dir.join(format!("{id}.eml"));
        let written = async {
            tokio::fs::write(&partial, message.formatted()).await?;
            if let Some(hand_over) = &email.hand_over {
                hand_over.call()?;
            }
            tokio::fs::rename(&partial, &path).await
        };
        match written.await {
            Ok(()) => Ok(Sent {
                response: path.display().to_string(),
            }),
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(MailError::Transient(format!(
                    "writing {}: {e}",
                    path.display()
                )))
            }
        }
    }

    fn transport(&self) -> &'static str {
        "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            message_id: "<0192-test@agora.local>".into(),
            from: None,
            to: vec!["Ada <ada@example.com>".parse().unwrap()],
            cc: vec![],
            bcc: vec![],
            subject: "Hello".into(),
            text: Some("plain body".into()),
            html: Some("<p>html body</p>".into()),
            attachments: Vec::new(),
            hand_over: None,
        }
    }

    #[tokio::test]
    async fn file_transport_writes_an_eml_with_the_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(
            dir.path().join("outbox"),
            "Agora <no-reply@localhost>".parse().unwrap(),
        )
        .unwrap();
        let sent = mailer.send(&email()).await.unwrap();
        let eml = std::fs::read_to_string(&sent.response).unwrap();
        assert!(eml.contains("Message-ID: <0192-test@agora.local>"), "{eml}");
        assert!(eml.contains("To: Ada <ada@example.com>"), "{eml}");
        assert!(
            eml.contains("plain body") && eml.contains("html body"),
            "{eml}"
        );
        assert!(eml.contains("From: Agora <no-reply@localhost>"), "{eml}");
    }

    #[test]
    fn refuses_a_message_without_recipient_or_body() {
        let from: Mailbox = "a@b.c".parse().unwrap();
        let mut no_rcpt = email();
        no_rcpt.to.clear();
        assert!(matches!(
            build_message(&no_rcpt, &from),
            Err(MailError::Invalid(_))
        ));
        let mut no_body = email();
        no_body.text = None;
        no_body.html = None;
        assert!(matches!(
            build_message(&no_body, &from),
            Err(MailError::Invalid(_))
        ));
    }
}
