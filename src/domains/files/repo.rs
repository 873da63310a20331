//! Files' SQL, over sea-query.

use chrono::{DateTime, Utc};
use sea_query::{Expr, Iden, Query};
use uuid::Uuid;

use crate::platform::db::{Db, DbError, Tx};

#[derive(Iden)]
enum Files {
    Table,
    Id,
    OwnerId,
    StoredName,
    OriginalName,
    ContentType,
    Size,
    Sha256,
    CreatedAt,
}

#[derive(Iden)]
enum FileUsages {
    Table,
    FileId,
    Holder,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub stored_name: String,
    pub original_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

const COLUMNS: [Files; 7] = [
    Files::Id,
    Files::OwnerId,
    Files::StoredName,
    Files::OriginalName,
    Files::ContentType,
    Files::Size,
    Files::Sha256,
];

pub async fn insert(db: &Db, row: &FileRow, now: DateTime<Utc>) -> Result<(), DbError> {
    db.execute(
        Query::insert()
            .into_table(Files::Table)
            .columns(COLUMNS.into_iter().chain([Files::CreatedAt]))
            .values_panic([
                row.id.into(),
                row.owner_id.into(),
                row.stored_name.clone().into(),
                row.original_name.clone().into(),
                row.content_type.clone().into(),
                row.size.into(),
                row.sha256.clone().into(),
                now.into(),
            ]),
    )
    .await?;
    Ok(())
}

pub async fn by_id(db: &Db, id: Uuid) -> Result<Option<FileRow>, DbError> {
    db.fetch_optional(
        Query::select()
            .columns(COLUMNS)
            .from(Files::Table)
            .and_where(Expr::col(Files::Id).eq(id)),
    )
    .await
}

pub async fn by_stored_name(db: &Db, name: &str) -> Result<Option<FileRow>, DbError> {
    db.fetch_optional(
        Query::select()
            .columns(COLUMNS)
            .from(Files::Table)
            .and_where(Expr::col(Files::StoredName).eq(name)),
    )
    .await
}

/// Deletes the row unless something uses the file; the holders when it is in use.
pub async fn delete_unused(tx: &mut Tx, id: Uuid) -> Result<Result<(), Vec<String>>, DbError> {
    let holders: Vec<(String,)> = tx
        .fetch_all(
            Query::select()
                .column(FileUsages::Holder)
                .from(FileUsages::Table)
                .and_where(Expr::col(FileUsages::FileId).eq(id)),
        )
        .await?;
    if !holders.is_empty() {
        return Ok(Err(holders.into_iter().map(|(h,)| h).collect()));
    }
    tx.execute(
        Query::delete()
            .from_table(Files::Table)
            .and_where(Expr::col(Files::Id).eq(id)),
    )
    .await?;
    Ok(Ok(()))
}

/// `holder` uses exactly `files` from now on.
pub async fn set_usage(tx: &mut Tx, holder: &str, files: &[Uuid]) -> Result<(), DbError> {
    tx.execute(
        Query::delete()
            .from_table(FileUsages::Table)
            .and_where(Expr::col(FileUsages::Holder).eq(holder)),
    )
    .await?;
    if files.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert();
    insert
        .into_table(FileUsages::Table)
        .columns([FileUsages::FileId, FileUsages::Holder]);
    for file in files {
        insert.values_panic([(*file).into(), holder.into()]);
    }
    tx.execute(&insert).await?;
    Ok(())
}
