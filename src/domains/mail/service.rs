//! Sending: validated, suppression-checked, idempotent, stored as `queued` with its delivery
//! job in one transaction; listing, statistics, dead letters and retries.

use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{Duration, Utc};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::contacts::{self, Contact, ContactInput};
use super::contract::{
    MailSender, SendRequested, SystemEmail, SystemSendError, TemplateEmail, SEND_REQUESTED,
};
use super::model::{address_of, Email, EmailStatus, Recipients, SendRequest};
use super::repo::{self, EmailFilter, NewEmail};
use super::templates::{self, Rendered, Template, TemplateInput};
use crate::domains::auth::contract::{Permission, Principal};
use crate::domains::files::contract::FilesApi;
use crate::platform::clock::Clock;
use crate::platform::db::{Db, DbError};
use crate::platform::http::FieldError;
use crate::platform::queue::{publish, Outgoing};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    #[error("only a failed email can be retried")]
    NotFailed,
    #[error("too many emails; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What `POST /emails/send` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = EmailAccepted)]
pub struct Accepted {
    pub id: Uuid,
    pub status: EmailStatus,
    #[serde(skip)]
    pub replayed: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = EmailStatsWindow)]
pub struct Window {
    pub sent: u64,
    pub failed: u64,
    /// sent / (sent + failed); absent when nothing finished.
    pub success_rate: Option<f64>,
    /// From acceptance to the SMTP server's acceptance, for sent emails.
    pub avg_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = EmailStats)]
pub struct Stats {
    pub queued: u64,
    pub sending: u64,
    pub retrying: u64,
    pub sent: u64,
    pub failed: u64,
    pub last_24h: Window,
    pub last_7d: Window,
}

/// What the attachments of one email may weigh together.
pub const MAX_ATTACHMENT_BYTES: u64 = 20 * 1024 * 1024;

pub struct MailService {
    db: Db,
    /// Attachments; without the files domain, emails carry none.
    files: Option<Arc<dyn FilesApi>>,
    /// Sends per user and minute, on this replica.
    per_user: DefaultKeyedRateLimiter<Uuid>,
    clock: Clock,
}

impl MailService {
    pub fn new(
        db: Db,
        files: Option<Arc<dyn FilesApi>>,
        per_user_per_minute: u32,
        clock: Clock,
    ) -> Self {
        let per_minute = NonZeroU32::new(per_user_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            db,
            files,
            per_user: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock,
        }
    }

    pub async fn send(
        &self,
        principal: &Principal,
        key: Option<&str>,
        request: SendRequest,
    ) -> Result<Accepted, MailError> {
        let hash: String = Sha256::digest(serde_json::to_vec(&request).unwrap_or_default())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if let Some(key) = key {
            if let Some(existing) = repo::email_by_key(&self.db, principal.user_id, key).await? {
                if existing.request_hash != hash {
                    return Err(MailError::KeyReused);
                }
                let email = existing.into_email();
                return Ok(Accepted {
                    id: email.id,
                    status: email.status,
                    replayed: true,
                });
            }
        }
        request.validate().map_err(MailError::Validation)?;
        self.check_attachments(principal, &request.attachments)
            .await?;
        let mut request = request;
        if !request.contact_ids.is_empty() {
            let found =
                contacts::of_owner(&self.db, principal.user_id, &request.contact_ids).await?;
            if let Some(missing) = request
                .contact_ids
                .iter()
                .find(|id| !found.iter().any(|c| c.id == **id))
            {
                return Err(MailError::Validation(vec![FieldError {
                    field: "contact_ids".into(),
                    message: format!("no contact {missing} of yours"),
                }]));
            }
            request.to.extend(found.iter().map(|c| c.mailbox()));
            if request.to.len() + request.cc.len() + request.bcc.len()
                > super::model::MAX_RECIPIENTS
            {
                return Err(MailError::Validation(vec![FieldError {
                    field: "contact_ids".into(),
                    message: "at most 50 recipients in all".into(),
                }]));
            }
        }
        if let Some(name) = request.template.clone() {
            let template = templates::by_name(&self.db, &name).await?.ok_or_else(|| {
                MailError::Validation(vec![FieldError {
                    field: "template".into(),
                    message: format!("no template named `{name}`"),
                }])
            })?;
            let vars = request.variables.clone().unwrap_or(serde_json::Value::Null);
            let rendered = templates::render(
                &template.subject,
                template.html.as_deref(),
                template.text.as_deref(),
                &vars,
                true,
            )
            .map_err(MailError::Validation)?;
            request.subject = rendered.subject;
            request.html = rendered.html;
            request.text = rendered.text;
        }
        if let Err(not_until) = self.per_user.check_key(&principal.user_id) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(MailError::RateLimited {
                retry_after_secs: wait.as_secs() + 1,
            });
        }
        let recipients = Recipients {
            to: request.to.clone(),
            cc: request.cc.clone(),
            bcc: request.bcc.clone(),
        };
        let addresses: Vec<String> = recipients.all().filter_map(|m| address_of(m)).collect();
        let suppressed = repo::suppressed_among(&self.db, &addresses).await?;
        if !suppressed.is_empty() {
            let errors = [
                ("to", &recipients.to),
                ("cc", &recipients.cc),
                ("bcc", &recipients.bcc),
            ]
            .into_iter()
            .flat_map(|(name, list)| {
                list.iter()
                    .enumerate()
                    .map(move |(i, m)| (format!("{name}.{i}"), m))
            })
            .filter(|(_, m)| address_of(m).is_some_and(|a| suppressed.contains(&a)))
            .map(|(field, _)| FieldError {
                field,
                message: "is suppressed after a hard bounce".into(),
            })
            .collect();
            return Err(MailError::Validation(errors));
        }

        let empty_to_none = |b: &Option<String>| {
            b.as_deref()
                .filter(|b| !b.trim().is_empty())
                .map(str::to_string)
        };
        let content = Content {
            subject: request.subject.trim(),
            text: empty_to_none(&request.text),
            html: empty_to_none(&request.html),
            attachments: &request.attachments,
        };
        self.enqueue(principal.user_id, key, &hash, &recipients, content)
            .await
    }

    /// Stores the email as `queued` with its delivery job, in one transaction. A key already
    /// used by this owner (a race with another request) returns that email.
    async fn enqueue(
        &self,
        owner: Uuid,
        key: Option<&str>,
        hash: &str,
        recipients: &Recipients,
        content: Content<'_>,
    ) -> Result<Accepted, MailError> {
        let id = Uuid::now_v7();
        let message_id = format!("<{id}@agora>");
        let new = NewEmail {
            id,
            owner_id: owner,
            recipients,
            subject: content.subject,
            text: content.text.as_deref(),
            html: content.html.as_deref(),
            message_id: &message_id,
            idempotency_key: key,
            request_hash: hash,
            attachments: content.attachments,
        };
        let mut tx = self.db.begin().await?;
        if let Err(e) = repo::insert_email(&mut tx, &new, self.clock.now()).await {
            drop(tx);
            if let (DbError::UniqueViolation { .. }, Some(key)) = (&e, key) {
                if let Some(existing) = repo::email_by_key(&self.db, owner, key).await? {
                    let email = existing.into_email();
                    return Ok(Accepted {
                        id: email.id,
                        status: email.status,
                        replayed: true,
                    });
                }
            }
            return Err(e.into());
        }
        publish(
            &mut tx,
            Outgoing::new(
                SEND_REQUESTED,
                id.to_string(),
                &SendRequested { email_id: id },
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Accepted {
            id,
            status: EmailStatus::Queued,
            replayed: false,
        })
    }

    /// Every attachment is a file of the sender's (an administrator may attach any), and all
    /// of them together stay under `MAX_ATTACHMENT_BYTES`.
    async fn check_attachments(
        &self,
        principal: &Principal,
        ids: &[Uuid],
    ) -> Result<(), MailError> {
        if ids.is_empty() {
            return Ok(());
        }
        let invalid = |field: String, message: String| {
            MailError::Validation(vec![FieldError { field, message }])
        };
        let Some(files) = &self.files else {
            return Err(invalid(
                "attachments".into(),
                "this server has no files domain to attach from".into(),
            ));
        };
        let mut total = 0;
        for (i, id) in ids.iter().enumerate() {
            let file = files
                .get(*id)
                .await
                .map_err(|e| MailError::Unavailable(e.to_string()))?
                .filter(|f| principal.owns_or_can(f.owner_id, Permission::ManageAnyResource));
            let Some(file) = file else {
                return Err(invalid(
                    format!("attachments.{i}"),
                    format!("no file {id} of yours"),
                ));
            };
            total += file.size;
        }
        if total > MAX_ATTACHMENT_BYTES {
            return Err(invalid(
                "attachments".into(),
                format!("at most {} MB in all", MAX_ATTACHMENT_BYTES / 1024 / 1024),
            ));
        }
        Ok(())
    }

    fn scope(principal: &Principal, user: Option<Uuid>) -> Option<Uuid> {
        if principal.can(Permission::ReadUsers) {
            user
        } else {
            Some(principal.user_id)
        }
    }

    pub async fn list(
        &self,
        principal: &Principal,
        user: Option<Uuid>,
        status: Option<EmailStatus>,
        q: Option<String>,
        page: u64,
        limit: u64,
    ) -> Result<(Vec<Email>, u64), MailError> {
        let filter = EmailFilter {
            owner: Self::scope(principal, user),
            status,
            q,
        };
        Ok(repo::emails(&self.db, &filter, limit, (page - 1) * limit).await?)
    }

    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<Email, MailError> {
        let mut email = repo::email(&self.db, id)
            .await?
            .ok_or(MailError::NotFound("no such email"))?
            .into_email();
        if !principal.owns_or_can(email.owner_id, Permission::ReadUsers) {
            return Err(MailError::NotFound("no such email"));
        }
        email.delivery_attempts = repo::attempts(&self.db, id).await?;
        Ok(email)
    }

    /// A failed email back in line with fresh attempts (its owner or an administrator).
    pub async fn retry(&self, principal: &Principal, id: Uuid) -> Result<Accepted, MailError> {
        let email = self.get(principal, id).await?;
        let mut tx = self.db.begin().await?;
        if !repo::requeue(&mut tx, email.id, self.clock.now()).await? {
            return Err(MailError::NotFailed);
        }
        publish(
            &mut tx,
            Outgoing::new(
                SEND_REQUESTED,
                id.to_string(),
                &SendRequested { email_id: id },
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Accepted {
            id,
            status: EmailStatus::Queued,
            replayed: false,
        })
    }

    pub async fn stats(
        &self,
        principal: &Principal,
        user: Option<Uuid>,
    ) -> Result<Stats, MailError> {
        let owner = Self::scope(principal, user);
        let now = self.clock.now();
        let rows = repo::since(&self.db, owner, now - Duration::days(7)).await?;
        let count =
            |status: EmailStatus| rows.iter().filter(|r| r.0 == status.as_str()).count() as u64;
        let window = |from: chrono::DateTime<Utc>| {
            let recent: Vec<_> = rows.iter().filter(|r| r.1 >= from).collect();
            let sent = recent.iter().filter(|r| r.0 == "sent").count() as u64;
            let failed = recent.iter().filter(|r| r.0 == "failed").count() as u64;
            let mut latencies: Vec<f64> = recent
                .iter()
                .filter_map(|r| r.2.map(|sent_at| (sent_at - r.1).num_milliseconds() as f64))
                .collect();
            latencies.sort_by(f64::total_cmp);
            let avg = (!latencies.is_empty())
                .then(|| latencies.iter().sum::<f64>() / latencies.len() as f64);
            let p95 = (!latencies.is_empty()).then(|| {
                latencies[((latencies.len() as f64 * 0.95).ceil() as usize).saturating_sub(1)]
            });
            Window {
                sent,
                failed,
                success_rate: (sent + failed > 0).then(|| sent as f64 / (sent + failed) as f64),
                avg_latency_ms: avg,
                p95_latency_ms: p95,
            }
        };
        Ok(Stats {
            queued: count(EmailStatus::Queued),
            sending: count(EmailStatus::Sending),
            retrying: count(EmailStatus::Retrying),
            sent: count(EmailStatus::Sent),
            failed: count(EmailStatus::Failed),
            last_24h: window(now - Duration::hours(24)),
            last_7d: window(now - Duration::days(7)),
        })
    }

    pub async fn suppressions(
        &self,
        page: u64,
        limit: u64,
    ) -> Result<(Vec<Suppression>, u64), MailError> {
        let (rows, total) = repo::suppressions(&self.db, limit, (page - 1) * limit).await?;
        Ok((
            rows.into_iter()
                .map(|(address, reason, created_at)| Suppression {
                    address,
                    reason,
                    created_at,
                })
                .collect(),
            total,
        ))
    }

    pub async fn unsuppress(&self, address: &str) -> Result<(), MailError> {
        if repo::unsuppress(&self.db, &address.trim().to_lowercase()).await? {
            Ok(())
        } else {
            Err(MailError::NotFound("no such suppressed address"))
        }
    }
}

impl MailService {
    pub async fn templates(&self) -> Result<Vec<Template>, MailError> {
        Ok(templates::all(&self.db).await?)
    }

    pub async fn template(&self, id: Uuid) -> Result<Template, MailError> {
        templates::by_id(&self.db, id)
            .await?
            .ok_or(MailError::NotFound("no such template"))
    }

    pub async fn create_template(&self, input: TemplateInput) -> Result<Template, MailError> {
        let input = input.validate().map_err(MailError::Validation)?;
        let id = templates::insert(&self.db, &input, self.clock.now())
            .await
            .map_err(name_taken)?;
        self.template(id).await
    }

    pub async fn update_template(
        &self,
        id: Uuid,
        input: TemplateInput,
    ) -> Result<Template, MailError> {
        let input = input.validate().map_err(MailError::Validation)?;
        if !templates::update(&self.db, id, &input, self.clock.now())
            .await
            .map_err(name_taken)?
        {
            return Err(MailError::NotFound("no such template"));
        }
        self.template(id).await
    }

    pub async fn delete_template(&self, id: Uuid) -> Result<(), MailError> {
        if templates::delete(&self.db, id).await? {
            Ok(())
        } else {
            Err(MailError::NotFound("no such template"))
        }
    }

    /// Renders with sample variables, strictly, without sending anything.
    pub async fn preview(
        &self,
        id: Uuid,
        variables: serde_json::Value,
    ) -> Result<Rendered, MailError> {
        let t = self.template(id).await?;
        templates::render(
            &t.subject,
            t.html.as_deref(),
            t.text.as_deref(),
            &variables,
            true,
        )
        .map_err(MailError::Validation)
    }
}

impl MailService {
    async fn own_contact(&self, principal: &Principal, id: Uuid) -> Result<Contact, MailError> {
        match contacts::by_id(&self.db, id).await? {
            Some(c) if c.owner_id == principal.user_id => Ok(c),
            _ => Err(MailError::NotFound("no such contact")),
        }
    }

    pub async fn contacts(
        &self,
        principal: &Principal,
        q: Option<&str>,
        page: u64,
        limit: u64,
    ) -> Result<(Vec<Contact>, u64), MailError> {
        Ok(contacts::search(&self.db, principal.user_id, q, limit, (page - 1) * limit).await?)
    }

    pub async fn contact(&self, principal: &Principal, id: Uuid) -> Result<Contact, MailError> {
        self.own_contact(principal, id).await
    }

    pub async fn create_contact(
        &self,
        principal: &Principal,
        input: ContactInput,
    ) -> Result<Contact, MailError> {
        let input = input.validate().map_err(MailError::Validation)?;
        let id = contacts::insert(&self.db, principal.user_id, &input, self.clock.now())
            .await
            .map_err(email_taken)?;
        self.own_contact(principal, id).await
    }

    pub async fn update_contact(
        &self,
        principal: &Principal,
        id: Uuid,
        input: ContactInput,
    ) -> Result<Contact, MailError> {
        self.own_contact(principal, id).await?;
        let input = input.validate().map_err(MailError::Validation)?;
        contacts::update(&self.db, id, &input, self.clock.now())
            .await
            .map_err(email_taken)?;
        self.own_contact(principal, id).await
    }

    pub async fn delete_contact(&self, principal: &Principal, id: Uuid) -> Result<(), MailError> {
        self.own_contact(principal, id).await?;
        Ok(contacts::delete(&self.db, id).await?)
    }
}

fn email_taken(e: DbError) -> MailError {
    match e {
        DbError::UniqueViolation { .. } => MailError::Validation(vec![FieldError {
            field: "email".into(),
            message: "is already in your contacts".into(),
        }]),
        other => other.into(),
    }
}

fn name_taken(e: DbError) -> MailError {
    match e {
        DbError::UniqueViolation { .. } => MailError::Validation(vec![FieldError {
            field: "name".into(),
            message: "is taken by another template".into(),
        }]),
        other => other.into(),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Suppression {
    pub address: String,
    /// The SMTP answer that suppressed it.
    pub reason: String,
    pub created_at: chrono::DateTime<Utc>,
}

/// What an email says.
struct Content<'a> {
    subject: &'a str,
    text: Option<String>,
    html: Option<String>,
    attachments: &'a [Uuid],
}

#[async_trait::async_trait]
impl MailSender for MailService {
    /// Not rate limited per user (the system sends, not the user); suppression still applies.
    async fn send_system(&self, email: SystemEmail) -> Result<Uuid, SystemSendError> {
        let content = Content {
            subject: email.subject.trim(),
            text: Some(email.text.clone()),
            html: None,
            attachments: &[],
        };
        self.send_as_system(email.owner_id, &email.to, &email.key, content)
            .await
    }

    async fn send_template(&self, email: TemplateEmail) -> Result<Uuid, SystemSendError> {
        let unavailable = |e: MailError| SystemSendError::Unavailable(anyhow::anyhow!(e));
        let Some(template) = templates::by_name(&self.db, &email.template)
            .await
            .map_err(|e| unavailable(e.into()))?
        else {
            return Err(SystemSendError::Template(format!(
                "no mail template `{}`",
                email.template
            )));
        };
        let rendered = templates::render(
            &template.subject,
            template.html.as_deref(),
            template.text.as_deref(),
            &email.variables,
            true,
        )
        .map_err(|errors| {
            let detail: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            SystemSendError::Template(format!("`{}`: {}", email.template, detail.join("; ")))
        })?;
        let content = Content {
            subject: rendered.subject.trim(),
            text: rendered.text,
            html: rendered.html,
            attachments: &[],
        };
        self.send_as_system(email.owner_id, &email.to, &email.key, content)
            .await
    }
}

impl MailService {
    /// Queues an email for `owner` once per `key`, unless the address is suppressed.
    async fn send_as_system(
        &self,
        owner: Uuid,
        to: &str,
        key: &str,
        content: Content<'_>,
    ) -> Result<Uuid, SystemSendError> {
        let unavailable = |e: MailError| SystemSendError::Unavailable(anyhow::anyhow!(e));
        if let Some(existing) = repo::email_by_key(&self.db, owner, key)
            .await
            .map_err(|e| unavailable(e.into()))?
        {
            return Ok(existing.into_email().id);
        }
        let Some(address) = address_of(to) else {
            return Err(SystemSendError::Refused(format!(
                "`{to}` is not an email address"
            )));
        };
        let suppressed = repo::suppressed_among(&self.db, std::slice::from_ref(&address))
            .await
            .map_err(|e| unavailable(e.into()))?;
        if !suppressed.is_empty() {
            return Err(SystemSendError::Refused(format!(
                "{address} is suppressed after a hard bounce"
            )));
        }
        let recipients = Recipients {
            to: vec![to.to_string()],
            cc: Vec::new(),
            bcc: Vec::new(),
        };
        let accepted = self
            .enqueue(owner, Some(key), "system", &recipients, content)
            .await
            .map_err(unavailable)?;
        Ok(accepted.id)
    }
}
