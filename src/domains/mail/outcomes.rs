//! Delivery outcomes written in groups: each finished email queues its outcome, and whoever
//! takes the writer's turn writes every outcome waiting at that moment in one transaction.
//! While one group commits the next gathers, so at full speed a commit carries many emails,
//! and a lone email is written at once.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::model::{Attempt, EmailStatus};
use super::repo;
use crate::platform::db::{Db, DbError};

/// An email's attempt, its new status and, for a hard bounce, the address to suppress: they
/// land together, so whoever sees the email failed also sees its address suppressed.
pub struct Outcome {
    pub email: Uuid,
    /// Only over one of these: an outcome another worker recorded first stays.
    pub from: &'static [EmailStatus],
    pub status: EmailStatus,
    pub error: Option<String>,
    pub attempt: Attempt,
    pub suppress: Option<(String, String)>,
    pub at: DateTime<Utc>,
}

type Waiting = (Outcome, oneshot::Sender<Result<bool, String>>);

pub struct OutcomeWriter {
    db: Db,
    waiting: Mutex<Vec<Waiting>>,
    turn: tokio::sync::Mutex<()>,
}

impl OutcomeWriter {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            waiting: Mutex::new(Vec::new()),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Writes `outcome` (with whatever else waits); false if the email had left `from`.
    pub async fn write(&self, outcome: Outcome) -> Result<bool, String> {
        let (done, written) = oneshot::channel();
        self.waiting.lock().expect("outcomes lock").push((outcome, done));
        {
            let _turn = self.turn.lock().await;
            let group = std::mem::take(&mut *self.waiting.lock().expect("outcomes lock"));
            // Empty when the previous turn took ours along.
            if !group.is_empty() {
                let (outcomes, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
                match write_all(&self.db, &outcomes).await {
                    Ok(changed) => {
                        for (reply, changed) in replies.into_iter().zip(changed) {
                            let _ = reply.send(Ok(changed));
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                }
            }
        }
        written
            .await
            .unwrap_or_else(|_| Err("the outcome writer stopped".into()))
    }
}

async fn write_all(db: &Db, outcomes: &[Outcome]) -> Result<Vec<bool>, DbError> {
    let mut tx = db.begin().await?;
    let mut changed = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        let moved = repo::set_status(
            &mut tx,
            o.email,
            o.from,
            o.status,
            o.error.as_deref(),
            None,
            o.at,
        )
        .await?;
        if moved {
            repo::record_attempt(&mut tx, o.email, &o.attempt).await?;
            if let Some((address, reason)) = &o.suppress {
                repo::suppress(&mut tx, address, reason, o.at).await?;
            }
        }
        changed.push(moved);
    }
    tx.commit().await?;
    Ok(changed)
}
