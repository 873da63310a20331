//! What other domains may know of mail: the job that asks for an email's delivery.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Queued with every email accepted for delivery.
pub const SEND_REQUESTED: &str = "mail.send_requested";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendRequested {
    pub email_id: Uuid,
}
