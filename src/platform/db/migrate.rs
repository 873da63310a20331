//! Embedded migrations, one stream per backend (`migrations/sqlite`, `migrations/postgres`).
//! Every migration is applied whatever features are built, so a database serves any build.

use sqlx::migrate::{MigrateError, Migrator};

use super::{Db, DbError, Pools};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    fn migrator(&self) -> &'static Migrator {
        match self.pools {
            Pools::Sqlite { .. } => &SQLITE,
            Pools::Postgres(_) => &POSTGRES,
        }
    }

    /// Applies pending migrations. On PostgreSQL an advisory lock lets many replicas start at once.
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => SQLITE.run(writer).await,
            Pools::Postgres(pool) => POSTGRES.run(pool).await,
        }
    }

    /// Versions the binary knows of that the database has not applied successfully.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, DbError> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success = TRUE";
        let applied: Vec<(i64,)> = match &self.pools {
            Pools::Sqlite { reader, .. } => sqlx::query_as(sql).fetch_all(reader).await,
            Pools::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .or_else(|e| match e {
            // No table yet: nothing applied.
            sqlx::Error::Database(_) => Ok(Vec::new()),
            other => Err(other),
        })?;
        Ok(self
            .migrator()
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.iter().any(|(a,)| a == v))
            .collect())
    }
}
