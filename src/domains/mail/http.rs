//! Mail's routes under `/api/v1`.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::contacts::{Contact, ContactInput};
use super::model::{Email, EmailStatus, SendRequest};
use super::service::{Accepted, MailError, MailService, Stats, Suppression};
use super::templates::{Rendered, Template, TemplateInput};
use crate::domains::auth::contract::Authenticator;
use crate::domains::authn::permissions::ManageAnyResource;
use crate::domains::authn::{permissions::ManageUsers, Authenticated, RequirePermission};
use crate::platform::http::{
    mark_replayed, ApiError, IdempotencyKey, Json, Page, PageParams, Path, Problem, Query,
};

const TAG: &str = "mail";

#[derive(Clone)]
pub struct MailState {
    pub svc: Arc<MailService>,
    pub authenticator: Arc<dyn Authenticator>,
}

impl FromRef<MailState> for Arc<dyn Authenticator> {
    fn from_ref(state: &MailState) -> Self {
        state.authenticator.clone()
    }
}

impl From<MailError> for ApiError {
    fn from(err: MailError) -> Self {
        let message = err.to_string();
        match err {
            MailError::Validation(errors) => ApiError::validation(errors),
            MailError::NotFound(what) => ApiError::not_found(what),
            MailError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                message,
            ),
            MailError::NotFailed => ApiError::conflict(message),
            MailError::RateLimited { retry_after_secs } => {
                ApiError::too_many_requests(retry_after_secs).with_detail(message)
            }
            MailError::Db(e) => e.into(),
            MailError::Unavailable(e) => ApiError::internal(e),
        }
    }
}

pub fn routes() -> OpenApiRouter<MailState> {
    OpenApiRouter::new()
        .routes(routes!(send))
        .routes(routes!(list))
        .routes(routes!(stats))
        .routes(routes!(dead_letters))
        .routes(routes!(get_one))
        .routes(routes!(retry))
        .routes(routes!(list_suppressions))
        .routes(routes!(remove_suppression))
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, update_template, delete_template))
        .routes(routes!(preview_template))
        .routes(routes!(preview_draft))
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(get_contact, update_contact, delete_contact))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// Part of the name or email, any case.
    pub q: Option<String>,
}

/// The caller's contacts, by name.
#[utoipa::path(get, path = "/contacts", operation_id = "listContacts", tag = TAG, security(("bearer" = [])), params(PageParams, ContactQuery),
    responses((status = 200, body = Page<Contact>)))]
async fn list_contacts(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    Query(paging): Query<PageParams>,
    Query(q): Query<ContactQuery>,
) -> Result<Json<Page<Contact>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let (items, total) = state
        .svc
        .contacts(&principal, q.q.as_deref(), page, limit)
        .await?;
    Ok(Json(Page::new(items, page, limit, total)))
}

/// Add a contact.
#[utoipa::path(post, path = "/contacts", operation_id = "createContact", tag = TAG, security(("bearer" = [])), request_body = ContactInput,
    responses((status = 201, body = Contact), (status = 422, body = Problem)))]
async fn create_contact(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    Json(input): Json<ContactInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.svc.create_contact(&principal, input).await?),
    ))
}

/// One of the caller's contacts.
#[utoipa::path(get, path = "/contacts/{id}", operation_id = "getContact", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Contact), (status = 404, body = Problem)))]
async fn get_contact(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<Contact>, ApiError> {
    Ok(Json(state.svc.contact(&principal, id).await?))
}

/// Change a contact.
#[utoipa::path(put, path = "/contacts/{id}", operation_id = "updateContact", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ContactInput,
    responses((status = 200, body = Contact), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_contact(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    Json(input): Json<ContactInput>,
) -> Result<Json<Contact>, ApiError> {
    Ok(Json(state.svc.update_contact(&principal, id, input).await?))
}

/// Delete a contact.
#[utoipa::path(delete, path = "/contacts/{id}", operation_id = "deleteContact", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
async fn delete_contact(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.delete_contact(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Email templates, by name.
#[utoipa::path(get, path = "/email-templates", operation_id = "listEmailTemplates", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = Vec<Template>)))]
async fn list_templates(
    State(state): State<MailState>,
    _caller: Authenticated,
) -> Result<Json<Vec<Template>>, ApiError> {
    Ok(Json(state.svc.templates().await?))
}

/// Create a template (administrators). Parts that do not compile or render are refused.
#[utoipa::path(post, path = "/email-templates", operation_id = "createEmailTemplate", tag = TAG, security(("bearer" = [])), request_body = TemplateInput,
    responses((status = 201, body = Template), (status = 403, body = Problem), (status = 422, description = "With minijinja's error", body = Problem)))]
async fn create_template(
    State(state): State<MailState>,
    _: RequirePermission<ManageAnyResource>,
    Json(input): Json<TemplateInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.svc.create_template(input).await?),
    ))
}

/// One template.
#[utoipa::path(get, path = "/email-templates/{id}", operation_id = "getEmailTemplate", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Template), (status = 404, body = Problem)))]
async fn get_template(
    State(state): State<MailState>,
    _caller: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<Template>, ApiError> {
    Ok(Json(state.svc.template(id).await?))
}

/// Replace a template (administrators).
#[utoipa::path(put, path = "/email-templates/{id}", operation_id = "updateEmailTemplate", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = TemplateInput,
    responses((status = 200, body = Template), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_template(
    State(state): State<MailState>,
    _: RequirePermission<ManageAnyResource>,
    Path(id): Path<Uuid>,
    Json(input): Json<TemplateInput>,
) -> Result<Json<Template>, ApiError> {
    Ok(Json(state.svc.update_template(id, input).await?))
}

/// Delete a template (administrators).
#[utoipa::path(delete, path = "/email-templates/{id}", operation_id = "deleteEmailTemplate", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
async fn delete_template(
    State(state): State<MailState>,
    _: RequirePermission<ManageAnyResource>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.delete_template(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = EmailPreviewRequest)]
pub struct PreviewRequest {
    /// Sample values; a variable the template uses and this lacks is an error.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: serde_json::Value,
}

/// Render a template with sample variables, without sending.
#[utoipa::path(post, path = "/email-templates/{id}/preview", operation_id = "previewEmailTemplate", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = PreviewRequest,
    responses((status = 200, body = Rendered), (status = 404, body = Problem), (status = 422, description = "A variable is missing", body = Problem)))]
async fn preview_template(
    State(state): State<MailState>,
    _caller: Authenticated,
    Path(id): Path<Uuid>,
    Json(body): Json<PreviewRequest>,
) -> Result<Json<Rendered>, ApiError> {
    Ok(Json(state.svc.preview(id, body.variables).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = EmailTemplateDraft)]
pub struct DraftPreviewRequest {
    /// The template as edited, not yet saved (its `name` is not checked).
    pub template: DraftTemplate,
    /// Sample values; a variable the draft uses and this lacks renders empty.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DraftTemplate {
    #[serde(default)]
    #[schema(example = "Your order {{ order_ref }} shipped")]
    pub subject: String,
    pub html: Option<String>,
    pub text: Option<String>,
}

/// Render a template being edited, without saving it: what an editor shows as the author
/// types. Syntax errors come back per field (`subject`, `html`, `text`) with minijinja's
/// line and message.
#[utoipa::path(post, path = "/email-templates/preview", operation_id = "previewEmailTemplateDraft", tag = TAG, security(("bearer" = [])),
    request_body = DraftPreviewRequest,
    responses((status = 200, body = Rendered), (status = 401, body = Problem), (status = 422, description = "A part does not compile or render", body = Problem)))]
async fn preview_draft(
    _caller: Authenticated,
    Json(body): Json<DraftPreviewRequest>,
) -> Result<Json<Rendered>, ApiError> {
    let draft = body.template;
    super::templates::render(
        &draft.subject,
        draft.html.as_deref(),
        draft.text.as_deref(),
        &body.variables,
        false,
    )
    .map(Json)
    .map_err(ApiError::validation)
}

/// Queue an email. 202 with its id; delivery happens in the background. Send an
/// `Idempotency-Key` to retry safely.
#[utoipa::path(post, path = "/emails/send", operation_id = "sendEmail", tag = TAG, security(("bearer" = [])), request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 202, body = Accepted),
        (status = 422, description = "Invalid or suppressed addresses, per field", body = Problem),
        (status = 429, description = "Past mail.per_user_per_minute; see Retry-After", body = Problem),
    ))]
async fn send(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    IdempotencyKey(key): IdempotencyKey,
    Json(request): Json<SendRequest>,
) -> Result<Response, ApiError> {
    let accepted = state.svc.send(&principal, key.as_deref(), request).await?;
    let replayed = accepted.replayed;
    let mut response = (StatusCode::ACCEPTED, Json(accepted)).into_response();
    if replayed {
        mark_replayed(&mut response);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailQuery {
    pub status: Option<EmailStatus>,
    /// Part of the subject or a recipient, any case.
    pub q: Option<String>,
    /// Administrators: one user's emails.
    pub user_id: Option<Uuid>,
}

/// The caller's emails, newest first (administrators: everyone's, or `user_id`'s).
#[utoipa::path(get, path = "/emails", operation_id = "listEmails", tag = TAG, security(("bearer" = [])), params(PageParams, EmailQuery),
    responses((status = 200, body = Page<Email>)))]
async fn list(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    Query(paging): Query<PageParams>,
    Query(q): Query<EmailQuery>,
) -> Result<Json<Page<Email>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let (items, total) = state
        .svc
        .list(&principal, q.user_id, q.status, q.q, page, limit)
        .await?;
    Ok(Json(Page::new(items, page, limit, total)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Administrators: one user's statistics.
    pub user_id: Option<Uuid>,
}

/// Counts by status, and for the last 24 h and 7 d: sent, failed, success rate, average and
/// p95 delivery latency.
#[utoipa::path(get, path = "/emails/stats", operation_id = "getEmailStats", tag = TAG, security(("bearer" = [])), params(StatsQuery),
    responses((status = 200, body = Stats)))]
async fn stats(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    Ok(Json(state.svc.stats(&principal, q.user_id).await?))
}

/// Failed emails (the dead-letter list), newest first.
#[utoipa::path(get, path = "/emails/dead-letters", operation_id = "listEmailDeadLetters", tag = TAG, security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<Email>)))]
async fn dead_letters(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    Query(paging): Query<PageParams>,
) -> Result<Json<Page<Email>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let (items, total) = state
        .svc
        .list(
            &principal,
            None,
            Some(EmailStatus::Failed),
            None,
            page,
            limit,
        )
        .await?;
    Ok(Json(Page::new(items, page, limit, total)))
}

/// One email with every delivery attempt (time, SMTP response, duration).
#[utoipa::path(get, path = "/emails/{id}", operation_id = "getEmail", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Email), (status = 404, body = Problem)))]
async fn get_one(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<Email>, ApiError> {
    Ok(Json(state.svc.get(&principal, id).await?))
}

/// Send a failed email again, with a fresh set of attempts (its owner or an administrator).
#[utoipa::path(post, path = "/emails/{id}/retry", operation_id = "retryEmail", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 202, body = Accepted), (status = 404, body = Problem), (status = 409, description = "Not failed", body = Problem)))]
async fn retry(
    State(state): State<MailState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(state.svc.retry(&principal, id).await?),
    ))
}

/// Addresses that hard-bounced and are refused as recipients (administrators).
#[utoipa::path(get, path = "/email-suppressions", operation_id = "listEmailSuppressions", tag = TAG, security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<Suppression>), (status = 403, body = Problem)))]
async fn list_suppressions(
    State(state): State<MailState>,
    _: RequirePermission<ManageUsers>,
    Query(paging): Query<PageParams>,
) -> Result<Json<Page<Suppression>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let (items, total) = state.svc.suppressions(page, limit).await?;
    Ok(Json(Page::new(items, page, limit, total)))
}

/// Accept an address again (administrators).
#[utoipa::path(delete, path = "/email-suppressions/{address}", operation_id = "deleteEmailSuppression", tag = TAG, security(("bearer" = [])), params(("address" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, body = Problem)))]
async fn remove_suppression(
    State(state): State<MailState>,
    _: RequirePermission<ManageUsers>,
    Path(address): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.svc.unsuppress(&address).await?;
    Ok(StatusCode::NO_CONTENT)
}
