//! Auth's SQL, over sea-query. Writes take a transaction; plain reads take the pool.

use chrono::{DateTime, Utc};
use sea_query::{Alias, Cond, Expr, Func, Iden, LockType, Order, Query};
use uuid::Uuid;

use super::contract::Role;
use crate::platform::db::{contains, Db, DbError, Tx};

#[derive(Iden)]
pub enum AuthUsers {
    Table,
    Id,
    Email,
    Name,
    Phone,
    PasswordHash,
    Role,
    IsActive,
    EmailVerifiedAt,
    FailedLogins,
    Lockouts,
    LockedUntil,
    ValidAfter,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum AuthSessions {
    Table,
    Id,
    UserId,
    UserAgent,
    Ip,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    RevokedWhy,
}

#[derive(Iden)]
enum AuthRefreshTokens {
    Table,
    TokenHash,
    SessionId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    Successor,
}

#[derive(Iden)]
enum AuthTokens {
    Table,
    TokenHash,
    UserId,
    Purpose,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

use AuthRefreshTokens as R;
use AuthSessions as S;
use AuthUsers as U;

const USER_COLUMNS: [U; 13] = [
    U::Id,
    U::Email,
    U::Name,
    U::Phone,
    U::PasswordHash,
    U::Role,
    U::IsActive,
    U::EmailVerifiedAt,
    U::FailedLogins,
    U::Lockouts,
    U::LockedUntil,
    U::CreatedAt,
    U::UpdatedAt,
];

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub password_hash: String,
    pub role: String,
    pub is_active: bool,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub failed_logins: i32,
    pub lockouts: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub name: &'a str,
    pub phone: Option<&'a str>,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub verified: bool,
}

pub async fn insert_user(
    tx: &mut Tx,
    user: NewUser<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        Query::insert()
            .into_table(U::Table)
            .columns([
                U::Id,
                U::Email,
                U::Name,
                U::Phone,
                U::PasswordHash,
                U::Role,
                U::IsActive,
                U::EmailVerifiedAt,
                U::ValidAfter,
                U::CreatedAt,
                U::UpdatedAt,
            ])
            .values_panic([
                user.id.into(),
                user.email.into(),
                user.name.into(),
                user.phone.map(str::to_string).into(),
                user.password_hash.into(),
                user.role.into(),
                true.into(),
                user.verified.then_some(now).into(),
                now.into(),
                now.into(),
                now.into(),
            ]),
    )
    .await?;
    Ok(())
}

fn select_user() -> sea_query::SelectStatement {
    Query::select()
        .columns(USER_COLUMNS)
        .from(U::Table)
        .to_owned()
}

pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, DbError> {
    db.fetch_optional(select_user().and_where(Expr::col(U::Email).eq(email)))
        .await
}

pub async fn user_by_id(db: &Db, id: Uuid) -> Result<Option<UserRow>, DbError> {
    db.fetch_optional(select_user().and_where(Expr::col(U::Id).eq(id)))
        .await
}

/// Reads the user and holds its row until the transaction ends (PostgreSQL `FOR UPDATE`;
/// SQLite transactions already hold the write lock).
pub async fn lock_user(tx: &mut Tx, id: Uuid) -> Result<Option<UserRow>, DbError> {
    tx.fetch_optional(
        select_user()
            .and_where(Expr::col(U::Id).eq(id))
            .lock(LockType::Update),
    )
    .await
}

/// The active administrators, their rows held until the transaction ends, so two changes
/// that each remove one cannot both see the other still there.
pub async fn lock_active_admins(tx: &mut Tx) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = tx
        .fetch_all(
            Query::select()
                .column(U::Id)
                .from(U::Table)
                .and_where(Expr::col(U::Role).eq(Role::Admin.as_str()))
                .and_where(Expr::col(U::IsActive).eq(true))
                .lock(LockType::Update),
        )
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

pub async fn user_by_id_tx(tx: &mut Tx, id: Uuid) -> Result<Option<UserRow>, DbError> {
    tx.fetch_optional(select_user().and_where(Expr::col(U::Id).eq(id)))
        .await
}

pub async fn list_users(
    db: &Db,
    search: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<(Vec<UserRow>, u64), DbError> {
    let mut filter = Cond::all();
    if let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) {
        filter = filter.add(
            Cond::any()
                .add(Expr::expr(Func::lower(Expr::col(U::Name))).like(contains(term)))
                .add(Expr::col(U::Email).like(contains(term))),
        );
    }
    let (total,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(U::Id).count())
                .from(U::Table)
                .cond_where(filter.clone()),
        )
        .await?;
    let rows = db
        .fetch_all(
            select_user()
                .cond_where(filter)
                .order_by(U::CreatedAt, Order::Asc)
                .order_by(U::Id, Order::Asc)
                .limit(limit)
                .offset(offset),
        )
        .await?;
    Ok((rows, total as u64))
}

/// Sets the given columns of one user (and `updated_at`); false if there is no such user.
pub async fn update_user(
    tx: &mut Tx,
    id: Uuid,
    values: Vec<(AuthUsers, sea_query::SimpleExpr)>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let mut update = Query::update();
    update
        .table(U::Table)
        .value(U::UpdatedAt, now)
        .and_where(Expr::col(U::Id).eq(id));
    for (column, value) in values {
        update.value(column, value);
    }
    Ok(tx.execute(&update).await? > 0)
}

pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_agent: Option<&'a str>,
    pub ip: Option<String>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_session(
    tx: &mut Tx,
    s: NewSession<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        Query::insert()
            .into_table(S::Table)
            .columns([
                S::Id,
                S::UserId,
                S::UserAgent,
                S::Ip,
                S::CreatedAt,
                S::LastUsedAt,
                S::ExpiresAt,
            ])
            .values_panic([
                s.id.into(),
                s.user_id.into(),
                s.user_agent
                    .map(|ua| ua.chars().take(512).collect::<String>())
                    .into(),
                s.ip.into(),
                now.into(),
                now.into(),
                s.expires_at.into(),
            ]),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn select_session() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            S::Id,
            S::UserId,
            S::UserAgent,
            S::Ip,
            S::CreatedAt,
            S::LastUsedAt,
            S::ExpiresAt,
            S::RevokedAt,
        ])
        .from(S::Table)
        .to_owned()
}

pub async fn session_tx(tx: &mut Tx, id: Uuid) -> Result<Option<SessionRow>, DbError> {
    tx.fetch_optional(select_session().and_where(Expr::col(S::Id).eq(id)))
        .await
}

pub async fn session(db: &Db, id: Uuid) -> Result<Option<SessionRow>, DbError> {
    db.fetch_optional(select_session().and_where(Expr::col(S::Id).eq(id)))
        .await
}

/// The user's sessions that can still be used, most recently used first.
pub async fn live_sessions(
    db: &Db,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<SessionRow>, DbError> {
    db.fetch_all(
        select_session()
            .and_where(Expr::col(S::UserId).eq(user_id))
            .and_where(Expr::col(S::RevokedAt).is_null())
            .and_where(Expr::col(S::ExpiresAt).gt(now))
            .order_by(S::LastUsedAt, Order::Desc),
    )
    .await
}

pub async fn touch_session(
    tx: &mut Tx,
    id: Uuid,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        Query::update()
            .table(S::Table)
            .value(S::LastUsedAt, now)
            .value(S::ExpiresAt, expires_at)
            .and_where(Expr::col(S::Id).eq(id)),
    )
    .await?;
    Ok(())
}

/// Revokes live sessions: one (`session`) or all of `user_id`'s. Returns the revoked ids.
pub async fn revoke_sessions(
    tx: &mut Tx,
    user_id: Uuid,
    session: Option<Uuid>,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbError> {
    let mut update = Query::update();
    update
        .table(S::Table)
        .value(S::RevokedAt, now)
        .value(S::RevokedWhy, why)
        .and_where(Expr::col(S::UserId).eq(user_id))
        .and_where(Expr::col(S::RevokedAt).is_null())
        .returning(Query::returning().column(S::Id));
    if let Some(id) = session {
        update.and_where(Expr::col(S::Id).eq(id));
    }
    let rows: Vec<(Uuid,)> = tx.fetch_all(&update).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// What `authenticate` checks besides the signature, for one session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionState {
    pub user_id: Uuid,
    pub role: String,
    pub is_active: bool,
    pub locked_until: Option<DateTime<Utc>>,
    pub valid_after: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

pub async fn session_state(db: &Db, session_id: Uuid) -> Result<Option<SessionState>, DbError> {
    db.fetch_optional(
        Query::select()
            .expr_as(Expr::col((U::Table, U::Id)), Alias::new("user_id"))
            .column((U::Table, U::Role))
            .column((U::Table, U::IsActive))
            .column((U::Table, U::LockedUntil))
            .column((U::Table, U::ValidAfter))
            .column((S::Table, S::RevokedAt))
            .column((S::Table, S::ExpiresAt))
            .from(S::Table)
            .inner_join(
                U::Table,
                Expr::col((U::Table, U::Id)).equals((S::Table, S::UserId)),
            )
            .and_where(Expr::col((S::Table, S::Id)).eq(session_id)),
    )
    .await
}

pub async fn insert_refresh_token(
    tx: &mut Tx,
    token_hash: &str,
    session_id: Uuid,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        Query::insert()
            .into_table(R::Table)
            .columns([R::TokenHash, R::SessionId, R::CreatedAt, R::ExpiresAt])
            .values_panic([
                token_hash.into(),
                session_id.into(),
                now.into(),
                expires_at.into(),
            ]),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub session_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub successor: Option<String>,
}

pub async fn refresh_token(tx: &mut Tx, token_hash: &str) -> Result<Option<RefreshRow>, DbError> {
    tx.fetch_optional(
        Query::select()
            .columns([R::SessionId, R::ExpiresAt, R::UsedAt, R::Successor])
            .from(R::Table)
            .and_where(Expr::col(R::TokenHash).eq(token_hash)),
    )
    .await
}

/// Marks the token used, recording its (encrypted) successor; false if it already was.
pub async fn use_refresh_token(
    tx: &mut Tx,
    token_hash: &str,
    successor: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let changed = tx
        .execute(
            Query::update()
                .table(R::Table)
                .value(R::UsedAt, now)
                .value(R::Successor, successor)
                .and_where(Expr::col(R::TokenHash).eq(token_hash))
                .and_where(Expr::col(R::UsedAt).is_null()),
        )
        .await?;
    Ok(changed == 1)
}

pub async fn insert_one_time_token(
    tx: &mut Tx,
    token_hash: &str,
    user_id: Uuid,
    purpose: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        Query::insert()
            .into_table(AuthTokens::Table)
            .columns([
                AuthTokens::TokenHash,
                AuthTokens::UserId,
                AuthTokens::Purpose,
                AuthTokens::CreatedAt,
                AuthTokens::ExpiresAt,
            ])
            .values_panic([
                token_hash.into(),
                user_id.into(),
                purpose.into(),
                now.into(),
                expires_at.into(),
            ]),
    )
    .await?;
    Ok(())
}

/// Uses a single-use token: the user it was for, if it exists, is unused and unexpired.
pub async fn consume_one_time_token(
    tx: &mut Tx,
    token_hash: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, DbError> {
    let row: Option<(Uuid,)> = tx
        .fetch_optional(
            Query::update()
                .table(AuthTokens::Table)
                .value(AuthTokens::UsedAt, now)
                .and_where(Expr::col(AuthTokens::TokenHash).eq(token_hash))
                .and_where(Expr::col(AuthTokens::Purpose).eq(purpose))
                .and_where(Expr::col(AuthTokens::UsedAt).is_null())
                .and_where(Expr::col(AuthTokens::ExpiresAt).gt(now))
                .returning(Query::returning().column(AuthTokens::UserId)),
        )
        .await?;
    Ok(row.map(|(id,)| id))
}
