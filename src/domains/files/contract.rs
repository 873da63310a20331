//! What other domains may know of files: their metadata, and marking them in use so that a
//! file a product shows cannot be deleted from under it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FileInfo {
    pub id: Uuid,
    #[serde(skip)]
    pub owner_id: Uuid,
    /// Where the file is served, e.g. `/uploads/01a2...f3.png`.
    #[schema(example = "/uploads/01a20610a1b2c3d4.png")]
    pub url: String,
    /// The name the client uploaded it under (metadata only).
    #[schema(example = "shoe.png")]
    pub filename: String,
    /// Decided from the content, not from what the client said.
    #[schema(example = "image/png")]
    pub content_type: String,
    #[schema(example = 48213)]
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("no such file: {0}")]
    NotFound(Uuid),
    #[error("{0}")]
    TooLarge(String),
    /// Not an accepted type, or not the type it claims to be.
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    #[error("files are unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait FilesApi: Send + Sync + 'static {
    async fn get(&self, id: Uuid) -> Result<Option<FileInfo>, FilesError>;
    /// The file and its bytes (for attaching it to an email).
    async fn read(&self, id: Uuid) -> Result<Option<(FileInfo, Vec<u8>)>, FilesError>;
    /// Stores an upload for `owner`, checked as `POST /files` checks it.
    async fn upload(
        &self,
        owner: Uuid,
        filename: Option<&str>,
        declared_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<FileInfo, FilesError>;
    /// Records that `holder` (e.g. `product:<id>`) uses exactly `files` from now on.
    async fn set_usage(&self, holder: &str, files: &[Uuid]) -> Result<(), FilesError>;
}

/// A file's metadata between processes: `FileInfo` with its owner, which the public JSON
/// leaves out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub url: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
}

impl From<FileInfo> for FileRecord {
    fn from(f: FileInfo) -> Self {
        Self {
            id: f.id,
            owner_id: f.owner_id,
            url: f.url,
            filename: f.filename,
            content_type: f.content_type,
            size: f.size,
        }
    }
}

impl From<FileRecord> for FileInfo {
    fn from(f: FileRecord) -> Self {
        Self {
            id: f.id,
            owner_id: f.owner_id,
            url: f.url,
            filename: f.filename,
            content_type: f.content_type,
            size: f.size,
        }
    }
}

/// A file and its bytes (base64) between processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileContent {
    pub file: FileRecord,
    pub bytes: String,
}

/// `FilesApi::upload` between processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRequest {
    pub owner: Uuid,
    pub filename: Option<String>,
    pub declared_type: Option<String>,
    /// Base64 of the content.
    pub bytes: String,
}

/// `FilesApi::set_usage` between processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageRequest {
    pub holder: String,
    pub files: Vec<Uuid>,
}
