//! Uploads checked by content, stored under random names, served back; deletion guarded by use.

use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::contract::{FileInfo, FilesApi, FilesError};
use super::detect;
use super::repo::{self, FileRow};
use super::settings::FilesSettings;
use super::storage::Storage;
use crate::domains::auth::contract::{Permission, Principal};
use crate::platform::clock::Clock;
use crate::platform::db::{Db, DbError};

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the file is empty")]
    Empty,
    #[error("files of this kind are not accepted")]
    UnknownType,
    #[error("{0} files are not accepted")]
    NotAllowed(&'static str),
    #[error("the content is {detected}, not {claimed} as the upload says")]
    Spoofed {
        detected: &'static str,
        claimed: &'static str,
    },
    #[error("no such file")]
    NotFound,
    #[error("the file is in use by {0}")]
    InUse(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("storage: {0}")]
    Storage(#[from] std::io::Error),
}

/// A file to serve: its bytes and how to describe them.
pub struct Served {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub etag: String,
    pub filename: String,
}

pub struct FilesService {
    db: Db,
    storage: Arc<dyn Storage>,
    settings: FilesSettings,
    clock: Clock,
}

fn info(row: &FileRow) -> FileInfo {
    FileInfo {
        id: row.id,
        owner_id: row.owner_id,
        url: format!("/uploads/{}", row.stored_name),
        filename: row.original_name.clone(),
        content_type: row.content_type.clone(),
        size: row.size as u64,
    }
}

impl FilesService {
    pub fn new(db: Db, storage: Arc<dyn Storage>, settings: FilesSettings, clock: Clock) -> Self {
        Self {
            db,
            storage,
            settings,
            clock,
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.settings.max_bytes
    }

    pub async fn upload(
        &self,
        owner: Uuid,
        filename: Option<&str>,
        declared: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<FileInfo, UploadError> {
        if bytes.len() > self.settings.max_bytes {
            return Err(UploadError::TooLarge {
                max: self.settings.max_bytes,
            });
        }
        if bytes.is_empty() {
            return Err(UploadError::Empty);
        }
        let original: String = filename
            .unwrap_or("upload")
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("upload")
            .chars()
            .filter(|c| !c.is_control())
            .take(255)
            .collect();
        let detected = detect::sniff(&bytes).ok_or(UploadError::UnknownType)?;
        if let Some(claimed) = detect::claimed(declared, &original) {
            if claimed != detected {
                return Err(UploadError::Spoofed { detected, claimed });
            }
        }
        if !self.settings.allowed_types.iter().any(|t| t == detected) {
            return Err(UploadError::NotAllowed(detected));
        }
        let id = Uuid::now_v7();
        let row = FileRow {
            id,
            owner_id: owner,
            stored_name: format!("{}.{}", id.simple(), detect::extension(detected)),
            original_name: if original.is_empty() {
                "upload".into()
            } else {
                original
            },
            content_type: detected.to_string(),
            size: bytes.len() as i64,
            sha256: Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        };
        self.storage.put(&row.stored_name, &bytes).await?;
        if let Err(e) = repo::insert(&self.db, &row, self.clock.now()).await {
            // Nothing half-written: no row, no orphan bytes.
            let _ = self.storage.delete(&row.stored_name).await;
            return Err(e.into());
        }
        Ok(info(&row))
    }

    /// By its stored name (`/uploads/<id>.png`, the `url` an upload answers) or by its id
    /// alone (`/uploads/<id>`, for clients that hold only ids, such as a product's `images`).
    pub async fn serve(&self, name: &str) -> Result<Served, UploadError> {
        let row = match Uuid::try_parse(name) {
            Ok(id) => repo::by_id(&self.db, id).await?,
            Err(_) => repo::by_stored_name(&self.db, name).await?,
        }
        .ok_or(UploadError::NotFound)?;
        let bytes = self
            .storage
            .get(&row.stored_name)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => UploadError::NotFound,
                _ => UploadError::Storage(e),
            })?;
        Ok(Served {
            bytes,
            content_type: row.content_type,
            etag: format!("\"{}\"", row.sha256),
            filename: row.original_name,
        })
    }

    pub async fn delete(&self, principal: &Principal, id: Uuid) -> Result<(), UploadError> {
        let row = repo::by_id(&self.db, id)
            .await?
            .ok_or(UploadError::NotFound)?;
        if !principal.owns_or_can(row.owner_id, Permission::ManageAnyResource) {
            return Err(UploadError::NotFound);
        }
        let mut tx = self.db.begin().await?;
        if let Err(holders) = repo::delete_unused(&mut tx, id).await? {
            return Err(UploadError::InUse(holders.join(", ")));
        }
        tx.commit().await?;
        self.storage.delete(&row.stored_name).await?;
        Ok(())
    }
}

#[async_trait]
impl FilesApi for FilesService {
    async fn get(&self, id: Uuid) -> Result<Option<FileInfo>, FilesError> {
        let row = repo::by_id(&self.db, id)
            .await
            .map_err(|e| FilesError::Unavailable(e.to_string()))?;
        Ok(row.as_ref().map(info))
    }

    async fn read(&self, id: Uuid) -> Result<Option<(FileInfo, Vec<u8>)>, FilesError> {
        let row = repo::by_id(&self.db, id)
            .await
            .map_err(|e| FilesError::Unavailable(e.to_string()))?;
        let Some(row) = row else { return Ok(None) };
        match self.storage.get(&row.stored_name).await {
            Ok(bytes) => Ok(Some((info(&row), bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FilesError::Unavailable(e.to_string())),
        }
    }

    async fn upload(
        &self,
        owner: Uuid,
        filename: Option<&str>,
        declared_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<FileInfo, FilesError> {
        FilesService::upload(self, owner, filename, declared_type, bytes)
            .await
            .map_err(|e| match e {
                UploadError::TooLarge { .. } => FilesError::TooLarge(e.to_string()),
                UploadError::UnknownType
                | UploadError::NotAllowed(_)
                | UploadError::Spoofed { .. } => FilesError::Unsupported(e.to_string()),
                UploadError::Empty => FilesError::Invalid(e.to_string()),
                other => FilesError::Unavailable(other.to_string()),
            })
    }

    async fn set_usage(&self, holder: &str, files: &[Uuid]) -> Result<(), FilesError> {
        for id in files {
            if self.get(*id).await?.is_none() {
                return Err(FilesError::NotFound(*id));
            }
        }
        let unavailable = |e: DbError| FilesError::Unavailable(e.to_string());
        let mut tx = self.db.begin().await.map_err(unavailable)?;
        repo::set_usage(&mut tx, holder, files)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }
}
