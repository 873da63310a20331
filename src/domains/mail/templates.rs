//! Email templates: stored, checked when saved (a part that does not compile or render is
//! refused with minijinja's error), previewed, and rendered for sends.

use chrono::{DateTime, Utc};
use sea_query::{Expr, Iden, Order, Query};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::db::{Db, DbError};
use crate::platform::http::FieldError;
use crate::platform::templating;

#[derive(Iden)]
enum MailTemplates {
    Table,
    Id,
    Name,
    Subject,
    Html,
    Text,
    CreatedAt,
    UpdatedAt,
}

use MailTemplates as T;

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[schema(as = EmailTemplate)]
pub struct Template {
    pub id: Uuid,
    #[schema(example = "order_shipped")]
    pub name: String,
    #[schema(example = "Your order {{ order_id }} shipped")]
    pub subject: String,
    pub html: Option<String>,
    #[schema(example = "Hello {{ name }}, it is on its way.")]
    pub text: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = EmailTemplateInput)]
pub struct TemplateInput {
    /// How sends name it (`order_shipped`).
    #[serde(default)]
    #[schema(required = true, min_length = 1, example = "order_shipped")]
    pub name: String,
    /// A minijinja template of the subject line.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        example = "Your order {{ order_ref }} shipped"
    )]
    pub subject: String,
    pub html: Option<String>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
#[schema(as = RenderedEmail)]
pub struct Rendered {
    pub subject: String,
    pub html: Option<String>,
    pub text: Option<String>,
}

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.into(),
        message: message.into(),
    }
}

/// Renders every part of a template with `vars`; all problems at once.
pub fn render(
    subject: &str,
    html: Option<&str>,
    text: Option<&str>,
    vars: &Value,
    strict: bool,
) -> Result<Rendered, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut part = |name: &str, source: Option<&str>| match source {
        None => None,
        Some(source) => templating::render(source, vars, strict)
            .map_err(|message| errors.push(field(name, message)))
            .ok(),
    };
    let subject = part("subject", Some(subject));
    let html = part("html", html);
    let text = part("text", text);
    match subject {
        Some(subject) if errors.is_empty() => Ok(Rendered {
            subject: subject.trim().to_string(),
            html,
            text,
        }),
        _ => Err(errors),
    }
}

impl TemplateInput {
    pub fn validate(mut self) -> Result<TemplateInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.name = self.name.trim().to_string();
        let valid_name = (1..=100).contains(&self.name.len())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
        if !valid_name {
            errors.push(field("name", "must be 1 to 100 of a-z, 0-9, `_`, `.`, `-`"));
        }
        if self.subject.trim().is_empty() {
            errors.push(field("subject", "is required"));
        }
        self.html = self.html.filter(|h| !h.trim().is_empty());
        self.text = self.text.filter(|t| !t.trim().is_empty());
        if self.html.is_none() && self.text.is_none() {
            errors.push(field("text", "text or html is required"));
        }
        if !self.subject.trim().is_empty() {
            // Compiles and renders with no variables (missing ones render empty here).
            if let Err(render_errors) = render(
                &self.subject,
                self.html.as_deref(),
                self.text.as_deref(),
                &Value::Null,
                false,
            ) {
                errors.extend(render_errors);
            }
        }
        errors.is_empty().then_some(self).ok_or(errors)
    }
}

fn select() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            T::Id,
            T::Name,
            T::Subject,
            T::Html,
            T::Text,
            T::CreatedAt,
            T::UpdatedAt,
        ])
        .from(T::Table)
        .to_owned()
}

pub async fn insert(db: &Db, input: &TemplateInput, now: DateTime<Utc>) -> Result<Uuid, DbError> {
    let id = Uuid::now_v7();
    db.execute(
        Query::insert()
            .into_table(T::Table)
            .columns([
                T::Id,
                T::Name,
                T::Subject,
                T::Html,
                T::Text,
                T::CreatedAt,
                T::UpdatedAt,
            ])
            .values_panic([
                id.into(),
                input.name.clone().into(),
                input.subject.clone().into(),
                input.html.clone().into(),
                input.text.clone().into(),
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
    input: &TemplateInput,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let changed = db
        .execute(
            Query::update()
                .table(T::Table)
                .value(T::Name, input.name.clone())
                .value(T::Subject, input.subject.clone())
                .value(T::Html, input.html.clone())
                .value(T::Text, input.text.clone())
                .value(T::UpdatedAt, now)
                .and_where(Expr::col(T::Id).eq(id)),
        )
        .await?;
    Ok(changed > 0)
}

pub async fn delete(db: &Db, id: Uuid) -> Result<bool, DbError> {
    Ok(db
        .execute(
            Query::delete()
                .from_table(T::Table)
                .and_where(Expr::col(T::Id).eq(id)),
        )
        .await?
        > 0)
}

pub async fn by_id(db: &Db, id: Uuid) -> Result<Option<Template>, DbError> {
    db.fetch_optional(select().and_where(Expr::col(T::Id).eq(id)))
        .await
}

pub async fn by_name(db: &Db, name: &str) -> Result<Option<Template>, DbError> {
    db.fetch_optional(select().and_where(Expr::col(T::Name).eq(name)))
        .await
}

pub async fn all(db: &Db) -> Result<Vec<Template>, DbError> {
    db.fetch_all(select().order_by(T::Name, Order::Asc)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked_when_saved() {
        let ok = TemplateInput {
            name: "order_shipped".into(),
            subject: "Order {{ id }}".into(),
            html: None,
            text: Some("Hi {{ name }}".into()),
        };
        assert!(ok.validate().is_ok());
        let broken = TemplateInput {
            name: "Bad Name".into(),
            subject: "{{ unclosed".into(),
            html: Some("{% if %}".into()),
            text: None,
        };
        let fields: Vec<String> = broken
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["name", "subject", "html"]);
    }

    #[test]
    fn strict_rendering_names_missing_variables() {
        let vars = serde_json::json!({"name": "Ada"});
        let done = render("Hi {{ name }}", None, Some("Dear {{ name }}"), &vars, true).unwrap();
        assert_eq!(done.text.as_deref(), Some("Dear Ada"));
        let missing = render("Order {{ order_id }}", None, Some("x"), &vars, true).unwrap_err();
        assert_eq!(missing[0].field, "subject");
    }
}
