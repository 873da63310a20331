//! The files domain's configuration section, `[files]` (documented in
//! `config/default.toml`): read and checked by the domain itself.

use serde::{Deserialize, Serialize};

use crate::platform::config::{invalid, ConfigError};

/// Uploads.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSettings {
    pub max_bytes: usize,
    pub allowed_types: Vec<String>,
    pub dir: String,
}

impl FilesSettings {
    /// Checks what serde cannot: ranges, URLs, combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes == 0 {
            return Err(invalid("files.max_bytes", "expected at least 1"));
        }
        const KNOWN: [&str; 6] = [
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
        ];
        if let Some(unknown) = self
            .allowed_types
            .iter()
            .find(|t| !KNOWN.contains(&t.as_str()))
        {
            return Err(invalid(
                "files.allowed_types",
                format!("`{unknown}` is not one of {}", KNOWN.join(", ")),
            ));
        }
        Ok(())
    }

    /// Where uploads are stored: `files.dir`, or `uploads` inside `data_dir`.
    pub fn uploads_dir(&self, data_dir: &std::path::Path) -> std::path::PathBuf {
        if self.dir.is_empty() {
            data_dir.join("uploads")
        } else {
            std::path::PathBuf::from(&self.dir)
        }
    }
}
