//! Notifications' routes under `/api/v1`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{AdminNotice, Channel, Notification, Preferences, PreferencesUpdate};
use super::repo::TemplateRow;
use super::service::{NotificationError, NotificationService, Sent};
use crate::domains::auth::contract::{AuthenticationError, Authenticator, Principal};
use crate::domains::authn::{permissions::ManageUsers, Authenticated, RequirePermission};
use crate::platform::http::{ApiError, Json, Page, PageParams, Path, Problem, Query};
use crate::platform::openapi::string_enum;

const TAG: &str = "notifications";

#[derive(Clone)]
pub struct NotificationsState {
    pub svc: Arc<NotificationService>,
    pub authenticator: Arc<dyn Authenticator>,
}

impl FromRef<NotificationsState> for Arc<dyn Authenticator> {
    fn from_ref(state: &NotificationsState) -> Self {
        state.authenticator.clone()
    }
}

impl From<NotificationError> for ApiError {
    fn from(err: NotificationError) -> Self {
        match err {
            NotificationError::Validation(errors) => ApiError::validation(errors),
            NotificationError::NotFound(what) => ApiError::not_found(what),
            NotificationError::Conflict(what) => ApiError::conflict(what),
            NotificationError::Db(e) => e.into(),
            NotificationError::Unavailable(e) => ApiError::internal(e),
        }
    }
}

pub fn routes() -> OpenApiRouter<NotificationsState> {
    OpenApiRouter::new()
        .routes(routes!(list, send))
        .routes(routes!(unread_count))
        .routes(routes!(read_all))
        .routes(routes!(stream))
        .routes(routes!(get_one, delete))
        .routes(routes!(read))
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(list_templates))
        .routes(routes!(put_template, delete_template))
        .routes(routes!(preview_template))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxFilter {
    /// Only unread ones.
    pub unread: Option<bool>,
}

/// The caller's in-app notifications, newest first, each with its per-channel deliveries.
#[utoipa::path(get, path = "/notifications", operation_id = "listNotifications", tag = TAG, security(("bearer" = [])), params(PageParams, InboxFilter),
    responses((status = 200, body = Page<Notification>), (status = 401, body = Problem)))]
async fn list(
    State(state): State<NotificationsState>,
    Authenticated(principal): Authenticated,
    Query(paging): Query<PageParams>,
    Query(filter): Query<InboxFilter>,
) -> Result<Json<Page<Notification>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let (items, total) = state
        .svc
        .list(&principal, filter.unread.unwrap_or(false), page, limit)
        .await?;
    Ok(Json(Page::new(items, page, limit, total)))
}

/// Send a notification to accounts (administrators). Preferences and quiet hours apply
/// unless `critical`.
#[utoipa::path(post, path = "/notifications", operation_id = "sendNotifications", tag = TAG, security(("bearer" = [])), request_body = AdminNotice,
    responses((status = 201, body = Sent), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn send(
    State(state): State<NotificationsState>,
    _admin: RequirePermission<ManageUsers>,
    Json(notice): Json<AdminNotice>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((StatusCode::CREATED, Json(state.svc.send(notice).await?)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    pub unread: u64,
}

#[utoipa::path(get, path = "/notifications/unread-count", operation_id = "getUnreadNotificationCount", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = UnreadCount), (status = 401, body = Problem)))]
async fn unread_count(
    State(state): State<NotificationsState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<UnreadCount>, ApiError> {
    Ok(Json(UnreadCount {
        unread: state.svc.unread_count(&principal).await?,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedRead {
    pub marked: u64,
}

/// Mark every notification of the caller read.
#[utoipa::path(post, path = "/notifications/read-all", operation_id = "markAllNotificationsRead", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = MarkedRead), (status = 401, body = Problem)))]
async fn read_all(
    State(state): State<NotificationsState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<MarkedRead>, ApiError> {
    Ok(Json(MarkedRead {
        marked: state.svc.mark_all_read(&principal).await?,
    }))
}

/// One notification with its deliveries (its user, or an administrator).
#[utoipa::path(get, path = "/notifications/{id}", operation_id = "getNotification", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Notification), (status = 404, body = Problem)))]
async fn get_one(
    State(state): State<NotificationsState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<Notification>, ApiError> {
    Ok(Json(state.svc.get(&principal, id).await?))
}

/// Take a notification out of the inbox (its history stays).
#[utoipa::path(delete, path = "/notifications/{id}", operation_id = "deleteNotification", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Removed"), (status = 404, body = Problem)))]
async fn delete(
    State(state): State<NotificationsState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.remove(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/notifications/{id}/read", operation_id = "markNotificationRead", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Read"), (status = 404, body = Problem)))]
async fn read(
    State(state): State<NotificationsState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.mark_read(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamAuth {
    /// For browsers' `EventSource`, which cannot send an `Authorization` header.
    pub access_token: Option<String>,
}

/// Who is calling: the bearer header, else the `access_token` parameter.
async fn stream_principal(
    authenticator: &dyn Authenticator,
    headers: &HeaderMap,
    query: &StreamAuth,
) -> Result<Principal, ApiError> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let token = from_header
        .or_else(|| query.access_token.clone())
        .ok_or(AuthenticationError::Missing)?;
    Ok(authenticator.authenticate(&token).await?)
}

/// Counts a connected stream while it lives.
struct ClientGuard(prometheus::IntGauge);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Server-Sent Events: `notification` events with the caller's new in-app notifications as
/// they arrive (from any replica), after a first `unread` event with the unread count.
#[utoipa::path(get, path = "/notifications/stream", operation_id = "streamNotifications", tag = TAG, security(("bearer" = [])), params(StreamAuth),
    responses((status = 200, content_type = "text/event-stream", description = "event: notification, data: a Notification"),
        (status = 401, body = Problem)))]
async fn stream(
    State(state): State<NotificationsState>,
    headers: HeaderMap,
    Query(auth): Query<StreamAuth>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let principal = stream_principal(state.authenticator.as_ref(), &headers, &auth).await?;
    // Subscribe before counting, so nothing written in between is missed.
    let receiver = state.svc.live.subscribe();
    let unread = state.svc.unread_count(&principal).await?;
    let gauge = state.svc.live.clients.clone();
    gauge.inc();
    let first = Event::default()
        .event("unread")
        .json_data(UnreadCount { unread })
        .unwrap_or_default();
    let user = principal.user_id;
    let live = futures::stream::unfold(
        (receiver, ClientGuard(gauge)),
        move |(mut receiver, guard)| async move {
            loop {
                match receiver.recv().await {
                    Ok(n) if n.user_id == user => {
                        let event = Event::default()
                            .event("notification")
                            .id(n.id.to_string())
                            .json_data(&n)
                            .unwrap_or_default();
                        return Some((Ok(event), (receiver, guard)));
                    }
                    Ok(_) => continue,
                    // Too slow a reader: tell it to fetch the list again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let event = Event::default().event("lagged").data("refetch");
                        return Some((Ok(event), (receiver, guard)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    let events = futures::StreamExt::chain(futures::stream::iter([Ok(first)]), live);
    let events = futures::StreamExt::take_until(events, state.svc.live.closing.clone().cancelled_owned());
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[utoipa::path(get, path = "/notification-preferences", operation_id = "getNotificationPreferences", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = Preferences), (status = 401, body = Problem)))]
async fn get_preferences(
    State(state): State<NotificationsState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Preferences>, ApiError> {
    Ok(Json(state.svc.preferences(&principal).await?))
}

/// Change channels per category and the quiet hours; what is left out stays as it was.
#[utoipa::path(put, path = "/notification-preferences", operation_id = "updateNotificationPreferences", tag = TAG, security(("bearer" = [])), request_body = PreferencesUpdate,
    responses((status = 200, body = Preferences), (status = 422, body = Problem)))]
async fn put_preferences(
    State(state): State<NotificationsState>,
    Authenticated(principal): Authenticated,
    Json(update): Json<PreferencesUpdate>,
) -> Result<Json<Preferences>, ApiError> {
    Ok(Json(
        state.svc.update_preferences(&principal, update).await?,
    ))
}

/// Every template (administrators).
#[utoipa::path(get, path = "/notification-templates", operation_id = "listNotificationTemplates", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = Vec<TemplateRow>), (status = 403, body = Problem)))]
async fn list_templates(
    State(state): State<NotificationsState>,
    _admin: RequirePermission<ManageUsers>,
) -> Result<Json<Vec<TemplateRow>>, ApiError> {
    Ok(Json(state.svc.templates().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NotificationTemplateInput)]
pub struct TemplateInput {
    #[schema(example = "Order {{ order_ref }} shipped")]
    pub title: String,
    #[schema(example = "It left our warehouse: {{ from }} -> {{ to }}.")]
    pub body: String,
}

/// The event type and channel a notification template is for.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct TemplateKey {
    #[param(schema_with = event_type_schema, example = "orders.status_changed")]
    event_type: String,
    /// A channel, or `*` for every channel without a template of its own.
    #[param(schema_with = template_channel_schema, example = "sms")]
    channel: String,
}

/// The event type and the one channel a preview renders.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct PreviewKey {
    #[param(schema_with = event_type_schema, example = "orders.status_changed")]
    event_type: String,
    channel: Channel,
}

fn event_type_schema() -> utoipa::openapi::Object {
    let events = super::templates::EVENT_TYPES.iter().map(|(name, _)| *name);
    string_enum(events, "An event type notifications render")
}

fn template_channel_schema() -> utoipa::openapi::Object {
    string_enum(
        ["email", "in_app", "sms", "push", "*"],
        "A channel, or `*` for all",
    )
}

/// Create or replace the template of an event type for a channel (`*`: every channel
/// without its own). Refused with the error if it does not render with the event's variables.
#[utoipa::path(put, path = "/notification-templates/{event_type}/{channel}", operation_id = "setNotificationTemplate", tag = TAG, security(("bearer" = [])),
    params(TemplateKey),
    request_body = TemplateInput,
    responses((status = 200, body = TemplateRow), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_template(
    State(state): State<NotificationsState>,
    _admin: RequirePermission<ManageUsers>,
    Path((event_type, channel)): Path<(String, String)>,
    Json(input): Json<TemplateInput>,
) -> Result<Json<TemplateRow>, ApiError> {
    Ok(Json(
        state
            .svc
            .put_template(&event_type, &channel, &input.title, &input.body)
            .await?,
    ))
}

/// Remove a channel's own template (the channel then uses `*`).
#[utoipa::path(delete, path = "/notification-templates/{event_type}/{channel}", operation_id = "deleteNotificationTemplate", tag = TAG, security(("bearer" = [])),
    params(TemplateKey),
    responses((status = 204, description = "Removed"), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_template(
    State(state): State<NotificationsState>,
    _admin: RequirePermission<ManageUsers>,
    Path((event_type, channel)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.svc.delete_template(&event_type, &channel).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NotificationPreview)]
pub struct Preview {
    pub title: String,
    pub body: String,
}

/// What the event's template for a channel renders with sample variables.
#[utoipa::path(post, path = "/notification-templates/{event_type}/{channel}/preview", operation_id = "previewNotificationTemplate", tag = TAG, security(("bearer" = [])),
    params(PreviewKey),
    responses((status = 200, body = Preview), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn preview_template(
    State(state): State<NotificationsState>,
    _admin: RequirePermission<ManageUsers>,
    Path((event_type, channel)): Path<(String, Channel)>,
) -> Result<Json<Preview>, ApiError> {
    let (title, body) = state.svc.preview(&event_type, channel).await?;
    Ok(Json(Preview { title, body }))
}
