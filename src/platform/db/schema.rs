//! Reads back the tables and columns a database has, so the two migration streams can be
//! compared (`tests/api/schema.rs`) and an operator can see what is there.

use std::collections::BTreeMap;

use super::{Db, DbError, Pools};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ColumnInfo {
    pub name: String,
    pub not_null: bool,
}

/// Table name -> columns, sorted by name; the migrations bookkeeping table is left out.
pub type Schema = BTreeMap<String, Vec<ColumnInfo>>;

impl Db {
    pub async fn schema(&self) -> Result<Schema, DbError> {
        let rows: Vec<(String, String, bool)> = match &self.pools {
            // SQLite lets a PRIMARY KEY column hold NULL unless declared NOT NULL; count it as not null.
            Pools::Sqlite { reader, .. } => {
                sqlx::query_as(
                    "SELECT m.name, p.name, (p.\"notnull\" = 1 OR p.pk > 0) \
                     FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                     AND m.name <> '_sqlx_migrations'",
                )
                .fetch_all(reader)
                .await?
            }
            Pools::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT table_name::text, column_name::text, is_nullable = 'NO' \
                     FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
                )
                .fetch_all(pool)
                .await?
            }
        };
        let mut schema = Schema::new();
        for (table, name, not_null) in rows {
            schema
                .entry(table)
                .or_default()
                .push(ColumnInfo { name, not_null });
        }
        for columns in schema.values_mut() {
            columns.sort();
        }
        Ok(schema)
    }
}
