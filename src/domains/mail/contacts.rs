//! The address book: contacts per user, searchable, usable as recipients.

use chrono::{DateTime, Utc};
use sea_query::{Cond, Expr, Func, Iden, Order, Query};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::address_of;
use crate::platform::db::{contains, Db, DbError};
use crate::platform::http::FieldError;
use crate::platform::text;

#[derive(Iden)]
enum MailContacts {
    Table,
    Id,
    OwnerId,
    Name,
    Email,
    CreatedAt,
    UpdatedAt,
}

use MailContacts as C;

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Contact {
    pub id: Uuid,
    #[serde(skip)]
    pub owner_id: Uuid,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Contact {
    /// `"Name" <email>` for a recipient list.
    pub fn mailbox(&self) -> String {
        format!(
            "\"{}\" <{}>",
            self.name.replace(['"', '\\'], ""),
            self.email
        )
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ContactInput {
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 200,
        example = "Ada Lovelace"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(required = true, max_length = 254, example = "ada@example.com")]
    pub email: String,
}

impl ContactInput {
    pub fn validate(mut self) -> Result<ContactInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.name = text::single_line(&mut errors, "name", &self.name, 200);
        match address_of(self.email.trim()) {
            Some(email) => self.email = email,
            None => errors.push(FieldError {
                field: "email".into(),
                message: "is not a valid email address".into(),
            }),
        }
        errors.is_empty().then_some(self).ok_or(errors)
    }
}

fn select() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            C::Id,
            C::OwnerId,
            C::Name,
            C::Email,
            C::CreatedAt,
            C::UpdatedAt,
        ])
        .from(C::Table)
        .to_owned()
}

pub async fn insert(
    db: &Db,
    owner: Uuid,
    input: &ContactInput,
    now: DateTime<Utc>,
) -> Result<Uuid, DbError> {
    let id = Uuid::now_v7();
    db.execute(
        Query::insert()
            .into_table(C::Table)
            .columns([
                C::Id,
                C::OwnerId,
                C::Name,
                C::Email,
                C::CreatedAt,
                C::UpdatedAt,
            ])
            .values_panic([
                id.into(),
                owner.into(),
                input.name.clone().into(),
                input.email.clone().into(),
                now.into(),
                now.into(),
            ]),
    )
    .await?;
    Ok(id)
}

pub async fn update(
    db: &Db,
    id: Uuid,
    input: &ContactInput,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    db.execute(
        Query::update()
            .table(C::Table)
            .value(C::Name, input.name.clone())
            .value(C::Email, input.email.clone())
            .value(C::UpdatedAt, now)
            .and_where(Expr::col(C::Id).eq(id)),
    )
    .await?;
    Ok(())
}

pub async fn delete(db: &Db, id: Uuid) -> Result<(), DbError> {
    db.execute(
        Query::delete()
            .from_table(C::Table)
            .and_where(Expr::col(C::Id).eq(id)),
    )
    .await?;
    Ok(())
}

pub async fn by_id(db: &Db, id: Uuid) -> Result<Option<Contact>, DbError> {
    db.fetch_optional(select().and_where(Expr::col(C::Id).eq(id)))
        .await
}

pub async fn of_owner(db: &Db, owner: Uuid, ids: &[Uuid]) -> Result<Vec<Contact>, DbError> {
    db.fetch_all(
        select()
            .and_where(Expr::col(C::OwnerId).eq(owner))
            .and_where(Expr::col(C::Id).is_in(ids.iter().copied())),
    )
    .await
}

pub async fn search(
    db: &Db,
    owner: Uuid,
    q: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Contact>, u64), DbError> {
    let mut cond = Cond::all().add(Expr::col(C::OwnerId).eq(owner));
    if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
        cond = cond.add(
            Cond::any()
                .add(Expr::expr(Func::lower(Expr::col(C::Name))).like(contains(q)))
                .add(Expr::col(C::Email).like(contains(q))),
        );
    }
    let (total,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(C::Id).count())
                .from(C::Table)
                .cond_where(cond.clone()),
        )
        .await?;
    let rows = db
        .fetch_all(
            select()
                .cond_where(cond)
                .order_by(C::Name, Order::Asc)
                .limit(limit)
                .offset(offset),
        )
        .await?;
    Ok((rows, total as u64))
}
