//! Where upload bytes live. A local directory today; the port lets object storage follow.

use std::path::PathBuf;

use async_trait::async_trait;

#[async_trait]
pub trait Storage: Send + Sync + 'static {
    async fn put(&self, name: &str, bytes: &[u8]) -> std::io::Result<()>;
    async fn get(&self, name: &str) -> std::io::Result<Vec<u8>>;
    async fn delete(&self, name: &str) -> std::io::Result<()>;
}

pub struct LocalStorage {
    dir: PathBuf,
}

impl LocalStorage {
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// Stored names are generated (`<uuid>.<ext>`); anything else never reaches the disk.
    fn path(&self, name: &str) -> std::io::Result<PathBuf> {
        let safe = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
            && !name.starts_with('.');
        if safe {
            Ok(self.dir.join(name))
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            ))
        }
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn put(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(name)?;
        // Written aside, then renamed: a reader never sees half a file.
        let partial = self.dir.join(format!(".{name}.partial"));
        tokio::fs::write(&partial, bytes).await?;
        tokio::fs::rename(&partial, &path).await
    }

    async fn get(&self, name: &str) -> std::io::Result<Vec<u8>> {
        tokio::fs::read(self.path(name)?).await
    }

    async fn delete(&self, name: &str) -> std::io::Result<()> {
        match tokio::fs::remove_file(self.path(name)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
