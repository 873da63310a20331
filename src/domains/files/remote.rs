//! The `FilesApi` port in a process without files: calls to the files process's internal
//! routes.

use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use uuid::Uuid;

use super::contract::{
    FileContent, FileInfo, FileRecord, FilesApi, FilesError, UploadRequest, UsageRequest,
};
use crate::platform::remote::{RemoteError, Retry, ServiceClient};

pub struct RemoteFiles {
    client: Arc<ServiceClient>,
}

impl RemoteFiles {
    pub fn new(client: Arc<ServiceClient>) -> Self {
        Self { client }
    }
}

fn files_error(e: RemoteError) -> FilesError {
    match e {
        RemoteError::Rejected {
            status: 413,
            detail,
            ..
        } => FilesError::TooLarge(detail),
        RemoteError::Rejected {
            status: 415,
            detail,
            ..
        } => FilesError::Unsupported(detail),
        RemoteError::Rejected {
            status: 400 | 422,
            detail,
            ..
        } => FilesError::Invalid(detail),
        other => FilesError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl FilesApi for RemoteFiles {
    async fn get(&self, id: Uuid) -> Result<Option<FileInfo>, FilesError> {
        let file: Option<FileRecord> = self
            .client
            .get(&format!("/files/{id}"))
            .await
            .map_err(files_error)?;
        Ok(file.map(Into::into))
    }

    async fn read(&self, id: Uuid) -> Result<Option<(FileInfo, Vec<u8>)>, FilesError> {
        let Some(content): Option<FileContent> = self
            .client
            .get(&format!("/files/{id}/content"))
            .await
            .map_err(files_error)?
        else {
            return Ok(None);
        };
        let bytes = STANDARD
            .decode(content.bytes)
            .map_err(|e| FilesError::Unavailable(format!("unreadable file content: {e}")))?;
        Ok(Some((content.file.into(), bytes)))
    }

    async fn upload(
        &self,
        owner: Uuid,
        filename: Option<&str>,
        declared_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<FileInfo, FilesError> {
        let request = UploadRequest {
            owner,
            filename: filename.map(str::to_string),
            declared_type: declared_type.map(str::to_string),
            bytes: STANDARD.encode(bytes),
        };
        // Not repeated: a lost answer would store the file twice.
        let file: FileRecord = self
            .client
            .post("/files", &request, Retry::Never)
            .await
            .map_err(files_error)?
            .ok_or_else(|| FilesError::Unavailable("files answered 404 to an upload".into()))?;
        Ok(file.into())
    }

    async fn set_usage(&self, holder: &str, files: &[Uuid]) -> Result<(), FilesError> {
        let request = UsageRequest {
            holder: holder.to_string(),
            files: files.to_vec(),
        };
        // Setting the same usage again changes nothing, so it may be repeated.
        let answer: Result<Option<serde_json::Value>, RemoteError> = self
            .client
            .post("/files/usage", &request, Retry::Safe)
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(RemoteError::Rejected {
                status: 422,
                detail,
                ..
            }) => Err(
                match detail
                    .strip_prefix("no such file: ")
                    .and_then(|id| id.parse().ok())
                {
                    Some(id) => FilesError::NotFound(id),
                    None => FilesError::Invalid(detail),
                },
            ),
            Err(e) => Err(files_error(e)),
        }
    }
}
