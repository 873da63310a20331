//! Maps driver errors to the few cases callers act on, once for both backends.
//! sqlx's `ErrorKind` already reads SQLite's extended codes (2067 unique, 1555 primary key,
//! 787 foreign key) and PostgreSQL's SQLSTATEs (23505, 23503, 23514).

use sqlx::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unique constraint violated: {constraint}")]
    UniqueViolation { constraint: String },
    #[error("foreign key violated: {constraint}")]
    ForeignKeyViolation { constraint: String },
    #[error("check constraint violated: {constraint}")]
    CheckViolation { constraint: String },
    /// The pool had no connection in time, or the server is unreachable.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        if let Some(db_err) = err.as_database_error() {
            // PostgreSQL names the constraint; SQLite names the columns in its message.
            let constraint = db_err
                .constraint()
                .map(str::to_string)
                .unwrap_or_else(|| db_err.message().to_string());
            match db_err.kind() {
                ErrorKind::UniqueViolation => return Self::UniqueViolation { constraint },
                ErrorKind::ForeignKeyViolation => return Self::ForeignKeyViolation { constraint },
                ErrorKind::CheckViolation => return Self::CheckViolation { constraint },
                _ => {}
            }
        }
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err)
            }
            other => Self::Other(other),
        }
    }
}
