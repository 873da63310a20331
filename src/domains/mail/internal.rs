//! Mail's service-to-service routes (`/internal/v1/mail/...`): the `MailSender` port for
//! processes without mail. Behind the service key; not in the OpenAPI document.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::contract::{
    MailSender, Queued, SendRefusal, SystemEmail, SystemSendError, TemplateEmail,
};
use crate::platform::http::ApiError;

type Sender = Arc<dyn MailSender>;

pub fn routes(sender: Sender) -> Router {
    Router::new()
        .route("/mail/system", post(system))
        .route("/mail/template", post(template))
        .with_state(sender)
}

fn answer(sent: Result<uuid::Uuid, SystemSendError>) -> Response {
    let refusal = match sent {
        Ok(id) => return Json(Queued { id }).into_response(),
        Err(SystemSendError::Refused(detail)) => SendRefusal::Refused { detail },
        Err(SystemSendError::Template(detail)) => SendRefusal::Template { detail },
        Err(SystemSendError::Unavailable(e)) => {
            return ApiError::unavailable(e.to_string()).into_response()
        }
    };
    (StatusCode::CONFLICT, Json(refusal)).into_response()
}

async fn system(State(sender): State<Sender>, Json(email): Json<SystemEmail>) -> Response {
    answer(sender.send_system(email).await)
}

async fn template(State(sender): State<Sender>, Json(email): Json<TemplateEmail>) -> Response {
    answer(sender.send_template(email).await)
}
