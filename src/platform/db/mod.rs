//! One database handle over SQLite or PostgreSQL. Repositories build statements with
//! sea-query and run them here; the SQL dialect is chosen by the backend.

mod error;
pub mod migrate;
mod schema;
mod signals;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_query::{
    DeleteStatement, InsertStatement, PostgresQueryBuilder, SelectStatement, SqliteQueryBuilder,
    UpdateStatement, WithQuery,
};
use sea_query_binder::SqlxBinder;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{FromRow, Postgres, Sqlite, Transaction};

pub use signals::TopicSignals;

pub use error::DbError;
pub use schema::{ColumnInfo, Schema};

use crate::platform::config::Settings;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A row type that decodes from both backends (derive `sqlx::FromRow`).
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// A sea-query statement. `WRITES` routes SQLite statements to its single writer connection.
pub trait Statement: SqlxBinder + Send + Sync {
    const WRITES: bool;
}
impl Statement for SelectStatement {
    const WRITES: bool = false;
}
impl Statement for InsertStatement {
    const WRITES: bool = true;
}
impl Statement for UpdateStatement {
    const WRITES: bool = true;
}
impl Statement for DeleteStatement {
    const WRITES: bool = true;
}
/// Only for statements that write (a `WITH` around an insert, update or delete).
impl Statement for WithQuery {
    const WRITES: bool = true;
}

#[derive(Clone)]
enum Pools {
    /// SQLite allows one writer at a time: one writer connection, several read-only readers.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// Cheap to clone: pools are shared.
#[derive(Clone)]
pub struct Db {
    pools: Pools,
    /// Rung when a transaction that published queue messages commits.
    signals: Arc<TopicSignals>,
}

/// Pool occupancy, exported as `db_pool_connections{pool,state}`.
pub struct PoolStats {
    pub pool: &'static str,
    pub size: u32,
    pub idle: u32,
    /// The most connections the pool may open (`database.max_connections`, or 1 for the
    /// SQLite writer).
    pub max: u32,
}

impl Db {
    /// Connects to `database.url`, or to `agora.db` in `data_dir` (created on first run).
    pub async fn connect(settings: &Settings) -> Result<Db, DbError> {
        let url = settings.database_url();
        let max = settings.database.max_connections;
        let acquire = Duration::from_secs(settings.database.acquire_timeout_secs);
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(&url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if let Some(parent) = options.get_filename().parent() {
                create_dir(parent)?;
            }
            // The writer connects first so the file and its WAL exist before readers open it.
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(acquire)
                .connect_with(options.clone())
                .await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire)
                .connect_with(options.read_only(true))
                .await?;
            Ok(Db {
                pools: Pools::Sqlite { writer, reader },
                signals: Arc::default(),
            })
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire)
                .connect(&url)
                .await?;
            Ok(Db {
                pools: Pools::Postgres(pool),
                signals: Arc::default(),
            })
        }
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres(_) => Backend::Postgres,
        }
    }

    fn exec(&self, writes: bool) -> Exec<'_> {
        match &self.pools {
            Pools::Sqlite { writer, .. } if writes => Exec::SqlitePool(writer),
            Pools::Sqlite { reader, .. } => Exec::SqlitePool(reader),
            Pools::Postgres(pool) => Exec::PgPool(pool),
        }
    }

    pub async fn fetch_all<T: Row, S: Statement>(&self, stmt: &S) -> Result<Vec<T>, DbError> {
        self.exec(S::WRITES).fetch_all(stmt).await
    }

    pub async fn fetch_optional<T: Row, S: Statement>(
        &self,
        stmt: &S,
    ) -> Result<Option<T>, DbError> {
        self.exec(S::WRITES).fetch_optional(stmt).await
    }

    pub async fn fetch_one<T: Row, S: Statement>(&self, stmt: &S) -> Result<T, DbError> {
        self.exec(S::WRITES).fetch_one(stmt).await
    }

    /// Runs a statement and returns the number of rows it affected.
    pub async fn execute<S: Statement>(&self, stmt: &S) -> Result<u64, DbError> {
        self.exec(S::WRITES).execute(stmt).await
    }

    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so a transaction never fails half-way because another writer got there first.
    pub async fn begin(&self) -> Result<Tx, DbError> {
        let conn = match &self.pools {
            Pools::Sqlite { writer, .. } => {
                TxConn::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?)
            }
            Pools::Postgres(pool) => TxConn::Postgres(pool.begin().await?),
        };
        Ok(Tx {
            conn,
            signals: self.signals.clone(),
            published: Vec::new(),
            for_other_processes: Vec::new(),
            after_commit: Vec::new(),
            _span: crate::platform::telemetry::transaction_span(self.backend().as_str()),
        })
    }

    /// Signals of commits that published queue messages, through any clone of this `Db`.
    pub fn signals(&self) -> &TopicSignals {
        &self.signals
    }

    /// Carries signals to and from the other processes on this database until `stop`
    /// (PostgreSQL; on SQLite other processes poll, and this returns at once).
    pub async fn relay_signals(&self, stop: CancellationToken) {
        if let Pools::Postgres(pool) = &self.pools {
            self.signals.clone().relay(pool.clone(), stop).await;
        }
    }

    /// Round trip to the server (readiness).
    pub async fn ping(&self) -> Result<(), DbError> {
        match &self.pools {
            Pools::Sqlite { reader, .. } => {
                sqlx::query("SELECT 1").execute(reader).await?;
            }
            Pools::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    pub fn pool_stats(&self) -> Vec<PoolStats> {
        fn stats<DB: sqlx::Database>(pool: &'static str, of: &sqlx::Pool<DB>) -> PoolStats {
            PoolStats {
                pool,
                size: of.size(),
                idle: of.num_idle() as u32,
                max: of.options().get_max_connections(),
            }
        }
        match &self.pools {
            Pools::Sqlite { writer, reader } => vec![
                stats("sqlite_writer", writer),
                stats("sqlite_reader", reader),
            ],
            Pools::Postgres(pool) => vec![stats("postgres", pool)],
        }
    }

    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

fn create_dir(dir: &Path) -> Result<(), DbError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| DbError::Unavailable(sqlx::Error::Io(e)))
}

/// A transaction on either backend. Dropped without `commit`, it rolls back.
pub struct Tx {
    conn: TxConn,
    signals: Arc<TopicSignals>,
    /// Topics this transaction published to: their listeners are woken on commit.
    published: Vec<String>,
    /// Names told only to other processes on commit (this one acted on its own write).
    for_other_processes: Vec<String>,
    /// Run once the transaction has committed (e.g. a cache forgetting what it changed).
    after_commit: Vec<Box<dyn FnOnce() + Send>>,
    /// Open from `begin` to commit or drop: the transaction's time in a trace.
    _span: tracing::Span,
}

enum TxConn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    fn exec(&mut self) -> Exec<'_> {
        match &mut self.conn {
            TxConn::Sqlite(tx) => Exec::SqliteConn(tx),
            TxConn::Postgres(tx) => Exec::PgConn(tx),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.conn {
            TxConn::Sqlite(_) => Backend::Sqlite,
            TxConn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Wakes the listeners of queue topic `topic` (see `Db::signals`), in this process and
    /// others, once this transaction commits.
    pub fn mark_published(&mut self, topic: &str) {
        if !self.published.iter().any(|t| t == topic) {
            self.published.push(topic.to_string());
        }
    }

    /// Wakes the listeners of `name` in other processes once this transaction commits: for a
    /// write that this process acts on itself (drops its own cache, announces its own
    /// notification), so its own listeners are not woken to do it again.
    pub fn tell_other_processes(&mut self, name: &str) {
        if !self.for_other_processes.iter().any(|t| t == name) {
            self.for_other_processes.push(name.to_string());
        }
    }

    /// Runs `then` once this transaction commits (never if it rolls back), so whoever wrote
    /// in it, in whichever domain, can act on the committed state.
    pub fn on_commit(&mut self, then: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(then));
    }

    pub async fn fetch_all<T: Row, S: Statement>(&mut self, stmt: &S) -> Result<Vec<T>, DbError> {
        self.exec().fetch_all(stmt).await
    }

    pub async fn fetch_optional<T: Row, S: Statement>(
        &mut self,
        stmt: &S,
    ) -> Result<Option<T>, DbError> {
        self.exec().fetch_optional(stmt).await
    }

    pub async fn fetch_one<T: Row, S: Statement>(&mut self, stmt: &S) -> Result<T, DbError> {
        self.exec().fetch_one(stmt).await
    }

    pub async fn execute<S: Statement>(&mut self, stmt: &S) -> Result<u64, DbError> {
        self.exec().execute(stmt).await
    }

    pub async fn commit(self) -> Result<(), DbError> {
        match self.conn {
            TxConn::Sqlite(tx) => tx.commit().await?,
            TxConn::Postgres(tx) => tx.commit().await?,
        }
        if !self.published.is_empty() || !self.for_other_processes.is_empty() {
            self.signals
                .committed(&self.published, &self.for_other_processes);
        }
        for then in self.after_commit {
            then();
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), DbError> {
        match self.conn {
            TxConn::Sqlite(tx) => tx.rollback().await?,
            TxConn::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// Where a statement runs: a pool or a transaction's connection, on either backend.
enum Exec<'a> {
    SqlitePool(&'a SqlitePool),
    SqliteConn(&'a mut SqliteConnection),
    PgPool(&'a PgPool),
    PgConn(&'a mut PgConnection),
}

/// Renders `$stmt` in the executor's dialect and runs `$body` with the executor bound to
/// `$exec`, the SQL to `$sql` and the bound values to `$values`.
macro_rules! on_exec {
    ($target:expr, $stmt:expr, |$exec:ident, $sql:ident, $values:ident| $body:expr) => {
        match $target {
            Exec::SqlitePool($exec) => {
                let ($sql, $values) = $stmt.build_sqlx(SqliteQueryBuilder);
                $body
            }
            Exec::SqliteConn($exec) => {
                let ($sql, $values) = $stmt.build_sqlx(SqliteQueryBuilder);
                $body
            }
            Exec::PgPool($exec) => {
                let ($sql, $values) = $stmt.build_sqlx(PostgresQueryBuilder);
                $body
            }
            Exec::PgConn($exec) => {
                let ($sql, $values) = $stmt.build_sqlx(PostgresQueryBuilder);
                $body
            }
        }
    };
}

impl Exec<'_> {
    async fn fetch_all<T: Row, S: Statement>(self, stmt: &S) -> Result<Vec<T>, DbError> {
        on_exec!(self, stmt, |e, sql, values| Ok(sqlx::query_as_with(
            &sql, values
        )
        .fetch_all(e)
        .await?))
    }

    async fn fetch_optional<T: Row, S: Statement>(self, stmt: &S) -> Result<Option<T>, DbError> {
        on_exec!(self, stmt, |e, sql, values| Ok(sqlx::query_as_with(
            &sql, values
        )
        .fetch_optional(e)
        .await?))
    }

    async fn fetch_one<T: Row, S: Statement>(self, stmt: &S) -> Result<T, DbError> {
        on_exec!(self, stmt, |e, sql, values| Ok(sqlx::query_as_with(
            &sql, values
        )
        .fetch_one(e)
        .await?))
    }

    async fn execute<S: Statement>(self, stmt: &S) -> Result<u64, DbError> {
        on_exec!(self, stmt, |e, sql, values| Ok(sqlx::query_with(
            &sql, values
        )
        .execute(e)
        .await?
        .rows_affected()))
    }
}

/// `LIKE` pattern for "contains `term`", lower-cased, with `%`, `_` and `\` matched literally
/// (escaped with `\`, which both backends then honour).
pub fn contains(term: &str) -> sea_query::LikeExpr {
    let escaped = term
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')
}
