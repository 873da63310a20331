//! Auth's routes: `/auth/*` and `/users/*` under `/api/v1`, and `/.well-known/jwks.json`.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::contract::{Authenticator, Role};
use super::model::{AuthError, User};
use super::service::{AuthService, ClientInfo, Registration, Session, TokenPair, UserPatch};
use crate::domains::authn::{
    permissions::{ManageUsers, ReadUsers},
    Authenticated, RequirePermission,
};
use crate::platform::http::rate_limit::{rate_limit, RateLimit};
use crate::platform::http::{ApiError, ClientIp, FieldError, Json, Page, PageParams, Path, Query};

const TAG: &str = "auth";

#[derive(Clone)]
pub struct AuthState {
    pub svc: Arc<AuthService>,
    pub authenticator: Arc<dyn Authenticator>,
    pub refresh_cookie: RefreshCookie,
}

/// Name of the cookie that carries the refresh token when a client asks for it
/// (`?refresh_cookie=true`).
pub const REFRESH_COOKIE: &str = "agora_refresh";
/// The only route the cookie is sent to.
const REFRESH_COOKIE_PATH: &str = "/api/v1/auth/refresh";

/// How the refresh token is handed to browsers that ask for a cookie: `HttpOnly`, so page
/// scripts never read it, `SameSite=Strict` and scoped to the refresh route.
#[derive(Debug, Clone, Copy)]
pub struct RefreshCookie {
    /// `auth.refresh_cookie_secure`: only over HTTPS (browsers treat localhost as secure).
    pub secure: bool,
    pub max_age_secs: u64,
}

impl RefreshCookie {
    fn set(&self, token: &str) -> HeaderValue {
        self.header(token, self.max_age_secs)
    }

    fn clear(&self) -> HeaderValue {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{REFRESH_COOKIE}={value}; Path={REFRESH_COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        ))
        .expect("refresh tokens are URL-safe base64")
    }

    /// The pair as answered: in cookie mode the refresh token moves from the body into
    /// the cookie, and the body's `refresh_token` is empty.
    fn deliver(&self, mut tokens: TokenPair, as_cookie: bool) -> (Option<HeaderValue>, TokenPair) {
        if !as_cookie {
            return (None, tokens);
        }
        let cookie = self.set(&tokens.refresh_token);
        tokens.refresh_token.clear();
        (Some(cookie), tokens)
    }
}

/// `?refresh_cookie=true`: set the refresh token as an `HttpOnly` cookie instead of
/// returning it in the body (for browser clients such as the console).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenDelivery {
    /// Set the refresh token as the `agora_refresh` cookie (HttpOnly, SameSite=Strict, Path
    /// `/api/v1/auth/refresh`) and leave `refresh_token` in the body empty.
    #[serde(default)]
    pub refresh_cookie: bool,
}

fn with_cookie<T: IntoResponse>(cookie: Option<HeaderValue>, body: T) -> Response {
    let mut response = body.into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value)
}

impl FromRef<AuthState> for Arc<dyn Authenticator> {
    fn from_ref(state: &AuthState) -> Self {
        state.authenticator.clone()
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let message = err.to_string();
        match err {
            AuthError::Validation(errors) => ApiError::validation(errors),
            AuthError::Taken(field) => ApiError::conflict(message).with_errors(vec![FieldError {
                field: field.into(),
                message: "is already registered".into(),
            }]),
            AuthError::InvalidCredentials
            | AuthError::InvalidRefreshToken
            | AuthError::RefreshTokenReused => ApiError::unauthorized(message),
            AuthError::Locked { retry_after_secs } => ApiError::new(
                StatusCode::LOCKED,
                "account-locked",
                "Account locked",
                message,
            )
            .with_header(header::RETRY_AFTER, retry_after_secs.into()),
            AuthError::Unverified => ApiError::new(
                StatusCode::FORBIDDEN,
                "email-not-verified",
                "Email not verified",
                message,
            ),
            AuthError::Deactivated => ApiError::new(
                StatusCode::FORBIDDEN,
                "account-deactivated",
                "Account deactivated",
                message,
            ),
            AuthError::InvalidToken => ApiError::bad_request(message),
            AuthError::NotFound => ApiError::not_found("No such account or session"),
            AuthError::Forbidden(why) => ApiError::forbidden(why),
            AuthError::Conflict(why) => ApiError::conflict(why),
            AuthError::Db(e) => e.into(),
            AuthError::Internal(e) => ApiError::internal(e),
        }
    }
}

fn client(ip: ClientIp, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.0.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// Routes under `/api/v1`. `auth_limit` is the tighter per-IP limit of `/auth/*`.
pub fn routes(auth_limit: Option<Arc<RateLimit>>) -> OpenApiRouter<AuthState> {
    let mut auth = OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(me))
        .routes(routes!(introspect))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(resend_verification))
        .routes(routes!(verify_email))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password));
    if let Some(limit) = auth_limit {
        auth = auth.layer(axum::middleware::from_fn_with_state(limit, rate_limit));
    }
    let users = OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, update_user))
        .routes(routes!(deactivate))
        .routes(routes!(activate))
        .routes(routes!(unlock));
    auth.merge(users)
}

/// Routes at the root.
pub fn root_routes() -> OpenApiRouter<AuthState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[serde(default)]
    #[schema(required = true, format = Email, max_length = 254, example = "ada@example.com")]
    pub email: String,
    /// At least 10 characters, not the email, not a common password.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 10,
        max_length = 256,
        example = "correct horse battery staple"
    )]
    pub password: String,
    /// What the account is called; no control or invisible formatting characters.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        example = "Ada Lovelace"
    )]
    pub name: String,
    /// 7 to 15 digits, optionally starting with `+`; spaces, dashes, dots and brackets are ignored.
    #[schema(example = "+441234567890")]
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub user: User,
    pub tokens: TokenPair,
}

/// Create an account. Queues a verification mail and publishes `auth.user_registered`.
#[utoipa::path(post, path = "/auth/register", operation_id = "registerUser", tag = TAG, request_body = RegisterRequest, params(TokenDelivery),
    responses(
        (status = 201, description = "Account created, logged in", body = RegisterResponse),
        (status = 409, description = "Email or phone already registered", body = crate::platform::http::Problem),
        (status = 422, description = "Invalid fields (per-field `errors`)", body = crate::platform::http::Problem),
    ))]
async fn register(
    State(state): State<AuthState>,
    ip: ClientIp,
    headers: HeaderMap,
    Query(delivery): Query<TokenDelivery>,
    Json(body): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    let input = Registration {
        email: body.email,
        password: body.password,
        name: body.name,
        phone: body.phone,
    };
    let (user, tokens) = state.svc.register(input, &client(ip, &headers)).await?;
    let (cookie, tokens) = state
        .refresh_cookie
        .deliver(tokens, delivery.refresh_cookie);
    Ok(with_cookie(
        cookie,
        (StatusCode::CREATED, Json(RegisterResponse { user, tokens })),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[serde(default)]
    #[schema(required = true, max_length = 254, example = "ada@example.com")]
    pub email: String,
    #[serde(default)]
    #[schema(
        required = true,
        max_length = 256,
        example = "correct horse battery staple"
    )]
    pub password: String,
}

/// Log in. Unknown email and wrong password get the same answer in the same time.
#[utoipa::path(post, path = "/auth/login", operation_id = "logIn", tag = TAG, request_body = LoginRequest, params(TokenDelivery),
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "Invalid email or password", body = crate::platform::http::Problem),
        (status = 403, description = "Deactivated, or email not verified when required", body = crate::platform::http::Problem),
        (status = 423, description = "Locked after too many failures; see Retry-After", body = crate::platform::http::Problem),
    ))]
async fn login(
    State(state): State<AuthState>,
    ip: ClientIp,
    headers: HeaderMap,
    Query(delivery): Query<TokenDelivery>,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let tokens = state
        .svc
        .login(&body.email, body.password, &client(ip, &headers))
        .await?;
    let (cookie, tokens) = state
        .refresh_cookie
        .deliver(tokens, delivery.refresh_cookie);
    Ok(with_cookie(cookie, Json(tokens)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token; may be left empty when the `agora_refresh` cookie carries it.
    #[serde(default)]
    #[schema(required = true)]
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair. Each refresh token works once; one used again
/// after the grace window revokes its whole session. The token is read from the body, or,
/// when the body's is empty, from the `agora_refresh` cookie.
#[utoipa::path(post, path = "/auth/refresh", operation_id = "refreshTokens", tag = TAG, request_body = RefreshRequest, params(TokenDelivery),
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        (status = 401, description = "Invalid, expired or reused refresh token", body = crate::platform::http::Problem),
        (status = 403, description = "The account is deactivated", body = crate::platform::http::Problem),
        (status = 423, description = "The account is locked after failed logins; see Retry-After", body = crate::platform::http::Problem),
    ))]
async fn refresh(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Query(delivery): Query<TokenDelivery>,
    Json(body): Json<RefreshRequest>,
) -> Result<Response, ApiError> {
    let token = match body.refresh_token.as_str() {
        "" => cookie_value(&headers, REFRESH_COOKIE).unwrap_or_default(),
        token => token,
    };
    let tokens = state.svc.refresh(token).await?;
    let (cookie, tokens) = state
        .refresh_cookie
        .deliver(tokens, delivery.refresh_cookie);
    Ok(with_cookie(cookie, Json(tokens)))
}

/// The caller's account.
#[utoipa::path(get, path = "/auth/me", operation_id = "getCurrentUser", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = crate::platform::http::Problem)))]
async fn me(
    State(state): State<AuthState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.svc.user(&principal, principal.user_id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Introspection {
    pub valid: bool,
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
}

/// Token introspection: is the bearer token valid now, and whose is it.
#[utoipa::path(get, path = "/auth/verify", operation_id = "introspectToken", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = Introspection), (status = 401, description = "Invalid, expired or revoked", body = crate::platform::http::Problem)))]
async fn introspect(Authenticated(principal): Authenticated) -> Json<Introspection> {
    Json(Introspection {
        valid: true,
        user_id: principal.user_id,
        session_id: principal.session_id,
        role: principal.role,
    })
}

/// End this session: its refresh token stops working at once, its access tokens within
/// `auth.revocation_check_secs`. Clears the `agora_refresh` cookie.
#[utoipa::path(post, path = "/auth/logout", operation_id = "logOut", tag = TAG, security(("bearer" = [])),
    responses((status = 204, description = "Logged out"), (status = 401, body = crate::platform::http::Problem)))]
async fn logout(
    State(state): State<AuthState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    state.svc.logout(&principal).await?;
    Ok(with_cookie(
        Some(state.refresh_cookie.clear()),
        StatusCode::NO_CONTENT,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutAll {
    /// Sessions ended.
    pub revoked: usize,
}

/// End every session of the caller.
#[utoipa::path(post, path = "/auth/logout-all", operation_id = "logOutEverywhere", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = LogoutAll), (status = 401, body = crate::platform::http::Problem)))]
async fn logout_all(
    State(state): State<AuthState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<LogoutAll>, ApiError> {
    let revoked = state
        .svc
        .logout_all(principal.user_id, "logout-all")
        .await?;
    Ok(Json(LogoutAll { revoked }))
}

/// The caller's live sessions, most recently used first.
#[utoipa::path(get, path = "/auth/sessions", operation_id = "listSessions", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = Vec<Session>), (status = 401, body = crate::platform::http::Problem)))]
async fn sessions(
    State(state): State<AuthState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(state.svc.sessions(&principal).await?))
}

/// End one session (the caller's own; administrators any).
#[utoipa::path(delete, path = "/auth/sessions/{id}", operation_id = "revokeSession", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = crate::platform::http::Problem)))]
async fn revoke_session(
    State(state): State<AuthState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.revoke_session(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send the verification mail again (nothing is sent when already verified).
#[utoipa::path(post, path = "/auth/resend-verification", operation_id = "resendVerificationEmail", tag = TAG, security(("bearer" = [])),
    responses((status = 202, description = "Queued, or nothing to do"), (status = 401, body = crate::platform::http::Problem)))]
async fn resend_verification(
    State(state): State<AuthState>,
    Authenticated(principal): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.svc.resend_verification(&principal).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The token from the mail.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    pub token: String,
}

/// Confirm the email address with the token from the verification mail (single use).
#[utoipa::path(post, path = "/auth/verify-email", operation_id = "verifyEmail", tag = TAG, request_body = TokenRequest,
    responses((status = 200, body = User), (status = 400, description = "Invalid, used or expired token", body = crate::platform::http::Problem)))]
async fn verify_email(
    State(state): State<AuthState>,
    Json(body): Json<TokenRequest>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.svc.verify_email(&body.token).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[serde(default)]
    #[schema(required = true, max_length = 254, example = "ada@example.com")]
    pub email: String,
}

/// Ask for a password-reset mail. Always 202, whether or not the account exists.
#[utoipa::path(post, path = "/auth/forgot-password", operation_id = "requestPasswordReset", tag = TAG, request_body = ForgotPasswordRequest,
    responses((status = 202, description = "A mail is on its way if the account exists")))]
async fn forgot_password(
    State(state): State<AuthState>,
    Json(body): Json<ForgotPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state.svc.forgot_password(&body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The token from the reset mail.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    pub token: String,
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 10,
        max_length = 256,
        example = "a new long passphrase"
    )]
    pub password: String,
}

/// Set a new password with the token from the reset mail (single use). Ends every session.
#[utoipa::path(post, path = "/auth/reset-password", operation_id = "resetPassword", tag = TAG, request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "Invalid, used or expired token", body = crate::platform::http::Problem),
        (status = 422, description = "Password refused by the policy", body = crate::platform::http::Problem),
    ))]
async fn reset_password(
    State(state): State<AuthState>,
    Json(body): Json<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state.svc.reset_password(&body.token, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Part of the name or email, any case.
    pub search: Option<String>,
}

/// List accounts (administrators).
#[utoipa::path(get, path = "/users", operation_id = "listUsers", tag = TAG, security(("bearer" = [])), params(PageParams, UserSearch),
    responses(
        (status = 200, body = Page<User>),
        (status = 401, body = crate::platform::http::Problem),
        (status = 403, body = crate::platform::http::Problem),
    ))]
async fn list_users(
    State(state): State<AuthState>,
    _: RequirePermission<ReadUsers>,
    Query(paging): Query<PageParams>,
    Query(search): Query<UserSearch>,
) -> Result<Json<Page<User>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let (users, total) = state
        .svc
        .list_users(search.search.as_deref(), page, limit)
        .await?;
    Ok(Json(Page::new(users, page, limit, total)))
}

/// One account (the caller's own, or any for administrators).
#[utoipa::path(get, path = "/users/{id}", operation_id = "getUser", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 403, body = crate::platform::http::Problem), (status = 404, body = crate::platform::http::Problem)))]
async fn get_user(
    State(state): State<AuthState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.svc.user(&principal, id).await?))
}

/// `null` and absent differ: `"phone": null` clears it, no `phone` leaves it.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserRequest {
    #[schema(min_length = 1, max_length = 100, example = "Ada King")]
    pub name: Option<String>,
    /// `null` removes the phone number.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "+441234567890")]
    pub phone: Option<Option<String>>,
    /// Administrators only.
    pub role: Option<Role>,
}

/// Change an account (the caller's own, or any for administrators; only they may change `role`).
#[utoipa::path(patch, path = "/users/{id}", operation_id = "updateUser", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PatchUserRequest,
    responses(
        (status = 200, body = User),
        (status = 403, body = crate::platform::http::Problem),
        (status = 404, body = crate::platform::http::Problem),
        (status = 409, description = "Phone already registered, or an administrator's own demotion or the last administrator's", body = crate::platform::http::Problem),
        (status = 422, body = crate::platform::http::Problem),
    ))]
async fn update_user(
    State(state): State<AuthState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    Json(body): Json<PatchUserRequest>,
) -> Result<Json<User>, ApiError> {
    let patch = UserPatch {
        name: body.name,
        phone: body.phone,
        role: body.role,
    };
    Ok(Json(state.svc.update_user(&principal, id, patch).await?))
}

/// Deactivate an account and end its sessions (administrators).
#[utoipa::path(post, path = "/users/{id}/deactivate", operation_id = "deactivateUser", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 403, body = crate::platform::http::Problem), (status = 404, body = crate::platform::http::Problem),
        (status = 409, description = "The caller's own account, or the last active administrator", body = crate::platform::http::Problem)))]
async fn deactivate(
    State(state): State<AuthState>,
    admin: RequirePermission<ManageUsers>,
    Path(id): Path<Uuid>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.svc.set_active(&admin.0, id, false).await?))
}

/// Activate an account again (administrators).
#[utoipa::path(post, path = "/users/{id}/activate", operation_id = "activateUser", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 403, body = crate::platform::http::Problem), (status = 404, body = crate::platform::http::Problem)))]
async fn activate(
    State(state): State<AuthState>,
    admin: RequirePermission<ManageUsers>,
    Path(id): Path<Uuid>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.svc.set_active(&admin.0, id, true).await?))
}

/// Lift a lockout and reset the failure count (administrators).
#[utoipa::path(post, path = "/users/{id}/unlock", operation_id = "unlockUser", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 403, body = crate::platform::http::Problem), (status = 404, body = crate::platform::http::Problem)))]
async fn unlock(
    State(state): State<AuthState>,
    _: RequirePermission<ManageUsers>,
    Path(id): Path<Uuid>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.svc.unlock(id).await?))
}

/// Public keys that verify access tokens (JSON Web Key Set, Ed25519).
#[utoipa::path(get, path = "/.well-known/jwks.json", operation_id = "getJwks", tag = TAG,
    responses((status = 200, description = "JWK Set", body = Object)))]
async fn jwks(State(state): State<AuthState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.svc.jwks()),
    )
}
