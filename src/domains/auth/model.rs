//! Accounts as the domain sees them: validated inputs, the user, and what can go wrong.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::contract::Role;
use crate::platform::http::FieldError;
use crate::platform::text;

pub const MIN_PASSWORD_LEN: usize = 10;
const MAX_PASSWORD_LEN: usize = 256;

/// A small bundled list of passwords long enough to pass the length rule but too common to use.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.into(),
        message: message.into(),
    }
}

/// A normalised (trimmed, lower-case) and syntactically valid address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.parse::<lettre::Address>().is_ok()
            && email
                .rsplit_once('@')
                .is_some_and(|(_, domain)| domain.contains('.'));
        if valid {
            Ok(Email(email))
        } else {
            Err(field("email", "must be a valid email address"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn parse_name(raw: &str) -> Result<String, FieldError> {
    let mut errors = Vec::new();
    let name = text::single_line(&mut errors, "name", raw, 100);
    errors.pop().map_or(Ok(name), Err)
}

/// Digits with an optional leading `+`; spaces, dashes, dots and brackets are dropped.
pub fn parse_phone(raw: &str) -> Result<String, FieldError> {
    let phone: String = raw.chars().filter(|c| !" -.()".contains(*c)).collect();
    let digits = phone.strip_prefix('+').unwrap_or(&phone);
    if (7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(phone)
    } else {
        Err(field(
            "phone",
            "must be 7 to 15 digits, optionally starting with +",
        ))
    }
}

/// The password policy: length, not the email, not a common password.
pub fn check_password(
    password: &str,
    email: Option<&str>,
    field_name: &str,
) -> Result<(), FieldError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(field(
            field_name,
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(field(
            field_name,
            format!("must be at most {MAX_PASSWORD_LEN} characters"),
        ));
    }
    if email.is_some_and(|e| e.eq_ignore_ascii_case(password.trim())) {
        return Err(field(field_name, "must not be the email address"));
    }
    if COMMON_PASSWORDS.contains(password.to_lowercase().as_str()) {
        return Err(field(field_name, "is too common; choose another"));
    }
    Ok(())
}

/// An account as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    #[schema(example = "+441234567890")]
    pub phone: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub email_verified: bool,
    /// Set while the account is locked after too many failed logins.
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("an account with this {0} already exists")]
    Taken(&'static str),
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error(
        "the account is locked after too many failed logins; try again in {retry_after_secs} s"
    )]
    Locked { retry_after_secs: u64 },
    #[error("the email address is not verified yet")]
    Unverified,
    #[error("the account is deactivated")]
    Deactivated,
    #[error("invalid or expired refresh token")]
    InvalidRefreshToken,
    #[error("refresh token reuse detected; the session has been revoked")]
    RefreshTokenReused,
    #[error("invalid, used or expired token")]
    InvalidToken,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    /// A change the current state does not allow (the last administrator's demotion).
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Db(#[from] crate::platform::db::DbError),
    #[error("{0}")]
    Internal(String),
}

impl From<FieldError> for AuthError {
    fn from(e: FieldError) -> Self {
        AuthError::Validation(vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "a b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_policy() {
        assert!(check_password("correct horse battery", Some("a@b.co"), "password").is_ok());
        assert!(check_password("short", None, "password").is_err());
        assert!(
            check_password("Password123", None, "password").is_err(),
            "common, any case"
        );
        let e = check_password("ada@example.com", Some("ada@example.com"), "password").unwrap_err();
        assert_eq!(e.message, "must not be the email address");
    }

    #[test]
    fn phones_are_normalised() {
        assert_eq!(
            parse_phone("+44 (0) 1234-567 890").unwrap(),
            "+4401234567890"
        );
        assert!(parse_phone("12ab").is_err());
    }
}
