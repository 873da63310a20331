//! Embedded migrations, one stream per backend (`migrations/sqlite`, `migrations/postgres`),
//! files named `<version>_<owner>_<what>.sql` where the owner is `platform` or a domain. A
//! process applies the platform's and those of the domains it hosts, so processes that
//! share one database each add their own tables, and a process on a database of its own
//! holds only its domains' tables.

use std::borrow::Cow;

use sqlx::migrate::{MigrateError, Migration, Migrator};

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

    /// The migrations of `owners` (`platform` and domain names).
    fn migrations_of(&self, owners: &[&str]) -> Vec<Migration> {
        self.migrator()
            .iter()
            .filter(|m| owners.contains(&owner(m)))
            .cloned()
            .collect()
    }

    /// Applies pending migrations of `owners`. Migrations the database has from other
    /// processes' domains are left alone. On PostgreSQL an advisory lock lets many replicas
    /// (and processes) start at once.
    pub async fn migrate(&self, owners: &[&str]) -> Result<(), MigrateError> {
        // sqlx has no public constructor from a list of migrations; these fields are the
        // ones `migrate!` fills, at the version Cargo.lock pins.
        let migrator = Migrator {
            migrations: Cow::Owned(self.migrations_of(owners)),
            ignore_missing: true,
            ..Migrator::DEFAULT
        };
        match &self.pools {
            Pools::Sqlite { writer, .. } => migrator.run(writer).await,
            Pools::Postgres(pool) => migrator.run(pool).await,
        }
    }

    /// Versions of `owners`' migrations that the database has not applied successfully.
    pub async fn pending_migrations(&self, owners: &[&str]) -> Result<Vec<i64>, DbError> {
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
            .migrations_of(owners)
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.iter().any(|(a,)| a == v))
            .collect())
    }
}

/// `catalog` of `20261123000005_catalog_products.sql` (sqlx keeps the name after the version,
/// underscores as spaces).
fn owner(migration: &Migration) -> &str {
    migration
        .description
        .split([' ', '_'])
        .next()
        .unwrap_or_default()
}

/// Who the embedded migrations belong to (`platform` and domain names), on both backends.
pub fn owners() -> std::collections::BTreeSet<&'static str> {
    SQLITE.iter().chain(POSTGRES.iter()).map(owner).collect()
}
