//! `agora backup DIR` and `agora restore DIR`: the database, with the queue's messages in it,
//! and the directories the domains keep (signing keys, uploads), copied into a directory with
//! a manifest of every file's SHA-256.
//!
//! - SQLite: `VACUUM INTO`, a consistent copy taken while the server runs.
//! - PostgreSQL: `pg_dump --format=custom`, and `pg_restore` into an empty database; both
//!   must be on `PATH`, of the server's major version or newer.
//!
//! The database is copied first, the directories after: every file a row names was there
//! when the copy was taken (a file deleted in between would be missing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, ensure, Context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const SQLITE_FILE: &str = "agora.db";
const POSTGRES_FILE: &str = "agora.pgdump";

/// A directory a domain keeps beside the database, and its name inside a backup.
pub struct Directory {
    pub name: &'static str,
    pub path: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub agora_version: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// `sqlite` or `postgres`: a backup restores into the same kind of database.
    pub database: String,
    /// Every file, by its path inside the backup.
    pub files: BTreeMap<String, FileEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FileEntry {
    pub size: u64,
    pub sha256: String,
}

enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_string()));
        }
        let options = SqliteConnectOptions::from_str(url).context("reading the database URL")?;
        Ok(Database::Sqlite(options.get_filename().to_path_buf()))
    }

    fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }
}

/// Writes a backup into `into`, which must not exist or be empty.
pub async fn backup(
    database_url: &str,
    dirs: &[Directory],
    into: &Path,
) -> anyhow::Result<Manifest> {
    ensure_empty(into)?;
    std::fs::create_dir_all(into).with_context(|| format!("creating {}", into.display()))?;
    let database = Database::from_url(database_url)?;
    match &database {
        Database::Sqlite(path) => {
            let mut conn = SqliteConnectOptions::new()
                .filename(path)
                .read_only(true)
                .connect()
                .await
                .with_context(|| format!("opening {}", path.display()))?;
            let target = into.join(SQLITE_FILE);
            sqlx::query("VACUUM INTO ?")
                .bind(target.to_string_lossy().into_owned())
                .execute(&mut conn)
                .await
                .context("copying the SQLite database (VACUUM INTO)")?;
            conn.close().await?;
        }
        Database::Postgres(url) => {
            let target = into.join(POSTGRES_FILE);
            run(postgres_tool("pg_dump", url)?
                .arg("--format=custom")
                .arg("--no-owner")
                .arg("--no-privileges")
                .arg(format!("--file={}", target.display())))?;
        }
    }
    for dir in dirs {
        copy_tree(&dir.path, &into.join(dir.name))?;
    }
    let manifest = Manifest {
        format: FORMAT,
        agora_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: chrono::Utc::now(),
        database: database.kind().to_string(),
        files: checksums(into)?,
    };
    std::fs::write(into.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(manifest)
}

/// Restores the backup in `from` into an empty database and empty directories.
pub async fn restore(
    database_url: &str,
    dirs: &[Directory],
    from: &Path,
) -> anyhow::Result<Manifest> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(from.join(MANIFEST))
            .with_context(|| format!("{} has no {MANIFEST}: not a backup", from.display()))?,
    )
    .context("reading the manifest")?;
    ensure!(
        manifest.format == FORMAT,
        "backup format {} is not {FORMAT}",
        manifest.format
    );
    let found = checksums(from)?;
    for (name, entry) in &manifest.files {
        match found.get(name) {
            Some(f) if f.sha256 == entry.sha256 => {}
            Some(_) => bail!("{name} differs from the manifest: the backup is damaged"),
            None => bail!("{name} is missing from the backup"),
        }
    }
    let database = Database::from_url(database_url)?;
    ensure!(
        database.kind() == manifest.database,
        "the backup holds a {} database; this configuration uses {}",
        manifest.database,
        database.kind()
    );
    for dir in dirs {
        ensure_empty(&dir.path)?;
    }
    match &database {
        Database::Sqlite(path) => {
            if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
                bail!(
                    "{} already exists: restore into an empty data directory",
                    path.display()
                );
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(from.join(SQLITE_FILE), path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Database::Postgres(url) => {
            ensure_empty_postgres(url).await?;
            run(postgres_tool("pg_restore", url)?
                .arg("--no-owner")
                .arg("--no-privileges")
                .arg("--exit-on-error")
                .arg("--single-transaction")
                .arg(from.join(POSTGRES_FILE)))?;
        }
    }
    for dir in dirs {
        let source = from.join(dir.name);
        if source.exists() {
            copy_tree(&source, &dir.path)?;
        }
    }
    Ok(manifest)
}

async fn ensure_empty_postgres(url: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    ensure!(
        tables == 0,
        "the database has {tables} tables: restore into an empty database"
    );
    Ok(())
}

/// `pg_dump` or `pg_restore` for the database at `url`. The password goes in `PGPASSWORD`,
/// not on the command line, where any user of the machine could read it.
fn postgres_tool(program: &str, url: &str) -> anyhow::Result<std::process::Command> {
    let (url, password) = split_password(url)?;
    let mut command = std::process::Command::new(program);
    command.arg(format!("--dbname={url}"));
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    Ok(command)
}

/// The URL without its password, and the password (percent-decoded).
fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut parsed = reqwest::Url::parse(url).context("reading the database URL")?;
    let password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    let _ = parsed.set_password(None);
    Ok((parsed.to_string(), password))
}

fn ensure_empty(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => ensure!(entries.next().is_none(), "{} is not empty", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    }
    Ok(())
}

fn run(command: &mut std::process::Command) -> anyhow::Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .with_context(|| format!("running {program} (is it installed and on PATH?)"))?;
    ensure!(
        output.status.success(),
        "{program} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// Copies a directory tree; a missing source copies nothing.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    if !from.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Size and SHA-256 of every file under `root` but the manifest, by relative path.
fn checksums(root: &Path) -> anyhow::Result<BTreeMap<String, FileEntry>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            if name == MANIFEST {
                continue;
            }
            let mut hasher = Sha256::new();
            let size = std::io::copy(&mut std::fs::File::open(&path)?, &mut hasher)?;
            files.insert(
                name,
                FileEntry {
                    size,
                    sha256: format!("{:x}", hasher.finalize()),
                },
            );
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_password_stays_off_the_command_line() {
        let (url, password) =
            split_password("postgres://agora:s%40cret@db:5432/agora?sslmode=disable").unwrap();
        assert_eq!(url, "postgres://agora@db:5432/agora?sslmode=disable");
        assert_eq!(password.as_deref(), Some("s@cret"));
        let (url, password) = split_password("postgres://postgres@127.0.0.1/postgres").unwrap();
        assert_eq!(url, "postgres://postgres@127.0.0.1/postgres");
        assert_eq!(password, None);
    }

    #[test]
    fn a_damaged_or_foreign_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"one").unwrap();
        assert!(ensure_empty(dir.path()).is_err());
        assert!(ensure_empty(&dir.path().join("missing")).is_ok());
        let sums = checksums(dir.path()).unwrap();
        assert_eq!(sums["a.txt"].size, 3);
        assert_eq!(
            sums["a.txt"].sha256,
            "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
        );
    }
}
