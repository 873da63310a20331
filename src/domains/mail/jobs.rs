//! Delivery: each `mail.send_requested` job sends its email through the Mailer port, records
//! the attempt, and moves the email to `sent`, `retrying` (the queue retries with backoff) or
//! `failed` (SMTP 5xx at once, or attempts exhausted). A 5xx to a single recipient suppresses it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use uuid::Uuid;

use super::contract::{SendRequested, SEND_REQUESTED};
use super::journal::{self, DeliveryJournal};
use super::model::{address_of, Attempt, Email, EmailStatus};
use super::repo;
use super::settings::MailSettings;
use crate::domains::files::contract::FilesApi;
use crate::platform::budget::{Held, MemoryBudget};
use crate::platform::clock::Clock;
use crate::platform::db::{Db, DbError};
use crate::platform::Platform;
use crate::platform::mailer::{Attachment, HandOver, MailError, Mailer, OutgoingEmail, Sent};
use chrono::{DateTime, Utc};
use crate::platform::queue::{Consumer, HandlerError, Message};

pub struct Delivery {
    pub db: Db,
    pub mailer: Arc<dyn Mailer>,
    pub files: Option<Arc<dyn FilesApi>>,
    pub max_attempts: u32,
    /// Emails per second this replica hands to the relay, all senders together.
    relay_rate: DefaultDirectRateLimiter,
    processed: IntCounterVec,
    duration: HistogramVec,
    dead: IntCounter,
    clock: Clock,
    /// Attachments are loaded whole and encoded: at most this much of them at once.
    large_bodies: MemoryBudget,
    journal: Arc<DeliveryJournal>,
}

impl Delivery {
    /// Delivery through the platform's mailer, journalled in its data directory.
    pub fn new(
        platform: &Platform,
        files: Option<Arc<dyn FilesApi>>,
        settings: &MailSettings,
    ) -> anyhow::Result<Self> {
        let registry = &platform.metrics.registry;
        let journal = DeliveryJournal::open(&platform.settings.data_dir, &journal::host_name())?;
        let db = platform.db.clone();
        let processed = IntCounterVec::new(
            Opts::new(
                "emails_processed_total",
                "Email delivery attempts by resulting status",
            ),
            &["status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "email_processing_duration_seconds",
                "Time one delivery attempt took",
            ),
            &["transport"],
        )?;
        let dead = IntCounter::new("email_dead_letter_total", "Emails that failed for good")?;
        registry.register(Box::new(processed.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(dead.clone()))?;
        let per_second = NonZeroU32::new(settings.global_per_second).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            db,
            mailer: platform.mailer.clone(),
            files,
            max_attempts: settings.max_attempts,
            relay_rate: RateLimiter::direct(Quota::per_second(per_second)),
            processed,
            duration,
            dead,
            clock: platform.clock.clone(),
            large_bodies: platform.large_bodies.clone(),
            journal: Arc::new(journal),
        })
    }
}

impl Delivery {
    /// Room in the memory budget for the email's attachments: their bytes, their base64 in
    /// the message, and the message written out (about three times their size).
    async fn room_for(&self, ids: &[Uuid]) -> Result<Option<Held>, HandlerError> {
        let Some(files) = self.files.as_ref().filter(|_| !ids.is_empty()) else {
            return Ok(None);
        };
        let mut size = 0;
        for id in ids {
            match files.get(*id).await {
                Ok(info) => size += info.map_or(0, |i| i.size as usize),
                Err(e) => return Err(HandlerError::Retry(e.to_string())),
            }
        }
        Ok(Some(self.large_bodies.hold(3 * size).await))
    }

    /// The files to send along; one deleted since the email was accepted fails it for good.
    async fn attachments(&self, ids: &[Uuid]) -> Result<Vec<Attachment>, HandlerError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let files = self.files.as_ref().ok_or_else(|| {
                HandlerError::Permanent("attachments need the files domain".into())
            })?;
            match files.read(*id).await {
                Ok(Some((info, bytes))) => out.push(Attachment {
                    filename: info.filename,
                    content_type: info.content_type,
                    bytes,
                }),
                Ok(None) => {
                    return Err(HandlerError::Permanent(format!(
                        "attachment {id} was deleted"
                    )))
                }
                Err(e) => return Err(HandlerError::Retry(e.to_string())),
            }
        }
        Ok(out)
    }
}

/// The attempt's response when the relay had the whole message before a restart.
const UNSEEN_ANSWER: &str = "handed over whole before a restart; the relay's answer was not seen";

/// Not yet sent or failed: the states an outcome may be recorded over.
const PENDING: [EmailStatus; 3] = [
    EmailStatus::Queued,
    EmailStatus::Retrying,
    EmailStatus::Sending,
];

fn retry(e: DbError) -> HandlerError {
    HandlerError::Retry(e.to_string())
}

#[async_trait]
impl Consumer for Delivery {
    fn group(&self) -> &str {
        "mail-delivery"
    }

    fn topics(&self) -> Vec<String> {
        vec![SEND_REQUESTED.into()]
    }

    /// The queue keeps retrying while the email is `retrying`; the email decides when to stop.
    fn max_attempts(&self) -> Option<u32> {
        Some(self.max_attempts + 1)
    }

    async fn handle(&self, message: &Message) -> Result<(), HandlerError> {
        let job: SendRequested = message.payload_as()?;
        // Handed over whole in this very attempt before a restart (or before the database
        // failed us): the relay has it, so it is recorded, not sent again.
        if let Some(handed) = self.journal.unrecorded(job.email_id) {
            let Some(row) = repo::email(&self.db, job.email_id).await.map_err(retry)? else {
                self.journal.recorded(job.email_id);
                return Ok(());
            };
            let email = row.into_email();
            if email.status == EmailStatus::Sending && email.attempts == handed.attempt {
                let answer = handed.answer.unwrap_or_else(|| UNSEEN_ANSWER.into());
                let taken = Ok(Sent { response: answer });
                let now = self.clock.now();
                return self
                    .record(&email, handed.attempt, now, Duration::ZERO, taken)
                    .await;
            }
            self.journal.recorded(email.id);
        }
        let now = self.clock.now();
        // Gone, or sent or failed already (a redelivered job): nothing to do.
        let Some(row) = repo::start_attempt(&self.db, job.email_id, &PENDING, now)
            .await
            .map_err(retry)?
        else {
            return Ok(());
        };
        let email = row.into_email();
        let attempt = email.attempts;

        let parse = |list: &[String]| {
            list.iter()
                .filter_map(|m| m.parse().ok())
                .collect::<Vec<_>>()
        };
        let _room = self.room_for(&email.attachments).await?;
        let attachments = self.attachments(&email.attachments).await?;
        let outgoing = OutgoingEmail {
            message_id: email.message_id.clone(),
            from: None,
            to: parse(&email.recipients.to),
            cc: parse(&email.recipients.cc),
            bcc: parse(&email.recipients.bcc),
            subject: email.subject.clone(),
            text: email.text.clone(),
            html: email.html.clone(),
            attachments,
            hand_over: Some({
                let (journal, id) = (self.journal.clone(), email.id);
                HandOver::new(move || journal.handed_over(id, attempt))
            }),
        };
        self.relay_rate.until_ready().await;
        let started = Instant::now();
        let result = self.mailer.send(&outgoing).await;
        match &result {
            Ok(sent) => self.journal.accepted(email.id, &sent.response),
            Err(_) => {
                if let Err(e) = self.journal.refused(email.id) {
                    tracing::error!(email = %email.id, error = %e, "could not write the delivery journal");
                }
            }
        }
        let elapsed = started.elapsed();
        self.duration
            .with_label_values(&[self.mailer.transport()])
            .observe(elapsed.as_secs_f64());
        self.record(&email, attempt, now, elapsed, result).await
    }
}

impl Delivery {
    /// The attempt, the email's new status and a suppression land together: whoever sees
    /// the email failed also sees its address suppressed. Nothing is written when another
    /// worker recorded the email's outcome first.
    async fn record(
        &self,
        email: &Email,
        attempt: i32,
        started_at: DateTime<Utc>,
        elapsed: Duration,
        result: Result<Sent, MailError>,
    ) -> Result<(), HandlerError> {
        let (outcome, response) = match &result {
            Ok(sent) => ("sent", sent.response.clone()),
            Err(MailError::Transient(e)) => ("temporary_failure", e.clone()),
            Err(e) => ("permanent_failure", e.to_string()),
        };
        let record = Attempt {
            attempt,
            started_at,
            duration_ms: elapsed.as_millis() as i64,
            outcome: outcome.into(),
            response: response.clone(),
        };
        let done = self.clock.now();
        let mut suppress = None;
        let (status, error, outcome) = match &result {
            Ok(_) => (EmailStatus::Sent, None, Ok(())),
            Err(MailError::Transient(e)) if (attempt as u32) < self.max_attempts => (
                EmailStatus::Retrying,
                Some(e.clone()),
                Err(HandlerError::Retry(e.clone())),
            ),
            Err(e) => {
                let permanent = !matches!(e, MailError::Transient(_));
                let reason = if permanent {
                    response
                } else {
                    format!("attempts exhausted: {response}")
                };
                let recipients: Vec<String> = email
                    .recipients
                    .all()
                    .filter_map(|m| address_of(m))
                    .collect();
                if permanent && recipients.len() == 1 {
                    suppress = Some((recipients[0].clone(), reason.clone()));
                }
                (EmailStatus::Failed, Some(reason), Ok(()))
            }
        };
        let changed = repo::record_outcome(
            &self.db,
            email.id,
            &PENDING,
            status,
            error.as_deref(),
            &record,
            suppress.as_ref().map(|(a, r)| (a.as_str(), r.as_str())),
            done,
        )
        .await
        .map_err(retry)?;
        if !changed {
            self.journal.recorded(email.id);
            return Ok(());
        }
        self.journal.recorded(email.id);
        self.processed.with_label_values(&[status.as_str()]).inc();
        if status == EmailStatus::Failed {
            self.dead.inc();
        }
        outcome
    }

    /// Records what the journal says the relay accepted before the last stop: at once, so
    /// every replica sees those emails sent, not only this one when their jobs come back.
    pub async fn record_journal(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        // Only emails still `sending` can be the journal's: one read of those (as many as
        // were in flight at the stop), not one per line of the file.
        let sending = match repo::emails_with_status(&self.db, EmailStatus::Sending).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the emails in flight; their jobs will record them");
                return;
            }
        };
        let mut unrecorded = std::collections::HashSet::new();
        for row in sending {
            if stop.is_cancelled() {
                return;
            }
            let email = row.into_email();
            let Some(handed) = self.journal.unrecorded(email.id) else {
                continue;
            };
            if email.attempts != handed.attempt {
                continue;
            }
            let answer = handed.answer.unwrap_or_else(|| UNSEEN_ANSWER.into());
            let taken = Ok(Sent { response: answer });
            if let Err(e) = self
                .record(&email, handed.attempt, self.clock.now(), Duration::ZERO, taken)
                .await
            {
                unrecorded.insert(email.id);
                tracing::warn!(email = %email.id, error = %e, "could not record a journalled email; its job will");
            }
        }
        self.journal.keep_recovered(&unrecorded);
    }
}

/// Keeps `email_retry_queue_depth` (emails waiting for another attempt) current.
pub async fn watch_retry_depth(
    db: Db,
    gauge: prometheus::IntGauge,
    every: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        match repo::count_with_status(&db, EmailStatus::Retrying).await {
            Ok(n) => gauge.set(n),
            Err(e) => tracing::debug!(error = %e, "could not count retrying emails"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
