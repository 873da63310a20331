//! Delivery outcomes, written in groups (`platform::db::group`): at full speed one commit
//! carries the outcomes of many emails.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{Attempt, EmailStatus};
use super::repo;
use crate::platform::db::group::{GroupCommit, GroupWrite};
use crate::platform::db::{DbError, Tx};

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

/// Outcomes in groups: see `platform::db::group`.
pub type OutcomeWriter = GroupCommit<Outcomes>;

pub struct Outcomes;

#[async_trait]
impl GroupWrite for Outcomes {
    type Item = Outcome;

    async fn write(&self, tx: &mut Tx, outcomes: &[Outcome]) -> Result<Vec<bool>, DbError> {
        let mut changed = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            let moved =
                repo::set_status(tx, o.email, o.from, o.status, o.error.as_deref(), None, o.at)
                    .await?;
            if moved {
                repo::record_attempt(tx, o.email, &o.attempt).await?;
                if let Some((address, reason)) = &o.suppress {
                    repo::suppress(tx, address, reason, o.at).await?;
                }
            }
            changed.push(moved);
        }
        Ok(changed)
    }
}
