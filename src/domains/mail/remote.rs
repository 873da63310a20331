//! The `MailSender` port in a process without mail: calls to the mail process's internal
//! routes. Each email carries its own idempotency key, so calls may be retried.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::contract::{
    MailSender, Queued, SendRefusal, SystemEmail, SystemSendError, TemplateEmail,
};
use crate::platform::remote::{RemoteError, Retry, ServiceClient};

pub struct RemoteMail {
    client: Arc<ServiceClient>,
}

impl RemoteMail {
    pub fn new(client: Arc<ServiceClient>) -> Self {
        Self { client }
    }

    async fn send<B: serde::Serialize + Sync>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Uuid, SystemSendError> {
        let queued: Result<Option<Queued>, RemoteError> =
            self.client.post(path, body, Retry::Safe).await;
        match queued {
            Ok(Some(q)) => Ok(q.id),
            Ok(None) => Err(SystemSendError::Unavailable(anyhow::anyhow!(
                "the mail service has no {path} route"
            ))),
            Err(RemoteError::Rejected {
                status: 409, body, ..
            }) => match serde_json::from_value::<SendRefusal>(body) {
                Ok(SendRefusal::Refused { detail }) => Err(SystemSendError::Refused(detail)),
                Ok(SendRefusal::Template { detail }) => Err(SystemSendError::Template(detail)),
                Err(e) => Err(SystemSendError::Unavailable(e.into())),
            },
            Err(e) => Err(SystemSendError::Unavailable(e.into())),
        }
    }
}

#[async_trait]
impl MailSender for RemoteMail {
    async fn send_system(&self, email: SystemEmail) -> Result<Uuid, SystemSendError> {
        self.send("/mail/system", &email).await
    }

    async fn send_template(&self, email: TemplateEmail) -> Result<Uuid, SystemSendError> {
        self.send("/mail/template", &email).await
    }
}
