//! Database connection: SQLite (embedded default) or PostgreSQL, picked from `DATABASE_URL`.
//!
//! SQLite allows one writer at a time. Instead of letting concurrent transactions fail with
//! "database is locked", every write goes through a pool of exactly one connection (`write`),
//! so writers queue in the pool, while reads use a separate pool (`read`) that WAL mode lets
//! run beside the writer. On PostgreSQL both handles are the same pool.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait,
};

#[derive(Clone)]
pub struct Db {
    /// For queries outside a write transaction.
    pub read: DatabaseConnection,
    /// For every transaction that writes.
    pub write: DatabaseConnection,
}

/// How long a request waits for a pooled PostgreSQL connection (including opening a new one
/// while the server is unreachable) before answering 503 `unavailable`: so during an outage
/// every request answers within about this time, and none hangs.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections of a PostgreSQL pool, and SQLite readers (besides the one writer), unless
/// `FLOWTRACK_DB_POOL_SIZE` says otherwise.
pub const DEFAULT_POSTGRES_POOL: u32 = 32;
/// PostgreSQL writes have a pool of their own, of at most this many connections (fewer if
/// `FLOWTRACK_DB_POOL_SIZE` is smaller). The writes of a project queue on its row lock, so
/// more connections only add PostgreSQL processes taking turns at it, and reads keep their
/// connections while writes queue. bench/: moves ÷ pgbench 0.74 with the 32 connections
/// shared, 0.81 with 8–10.
pub const POSTGRES_WRITERS: u32 = 8;
pub const DEFAULT_SQLITE_READERS: u32 = 8;

/// The key of the PostgreSQL advisory lock migrations run under (any constant shared by
/// every instance; this one spells "flowtrak" in ASCII).
const MIGRATION_LOCK: i64 = 0x666c_6f77_7472_616b;

/// PostgreSQL's pool options for `max` connections.
fn postgres_options(url: &str, max: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max)
        .min_connections(1)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A pooled connection idle for a second or more is checked before use, so
        // connections broken by a database restart are replaced instead of failing a
        // request. One in use moments ago is not: sqlx already checks every connection as it
        // goes back to the pool (a round trip of its own, closing broken ones), and a check
        // per use was one more round trip per request — per write, one in six of FlowTrack's
        // round trips (bench/README.md).
        .test_before_acquire_if_idle_for(Duration::from_secs(1))
        .sqlx_logging(false);
    options
}

impl Db {
    /// Connects to `url`; `pool_size` overrides the PostgreSQL pool size or the number of
    /// SQLite readers.
    pub async fn connect(url: &str, pool_size: Option<u32>) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            if in_memory {
                // Every connection to `:memory:` is its own database: use exactly one.
                let conn = connect_sqlite(url, 1).await?;
                return Ok(Self {
                    read: conn.clone(),
                    write: conn,
                });
            }
            let write = connect_sqlite(url, 1).await?;
            let readers = pool_size.unwrap_or(DEFAULT_SQLITE_READERS);
            let read = connect_sqlite(url, readers).await?;
            Ok(Self { read, write })
        } else {
            let readers = pool_size.unwrap_or(DEFAULT_POSTGRES_POOL);
            let read = Database::connect(postgres_options(url, readers)).await?;
            let write =
                Database::connect(postgres_options(url, readers.min(POSTGRES_WRITERS))).await?;
            Ok(Self { read, write })
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.write.get_database_backend()
    }

    /// Applies pending migrations (idempotent), in one transaction that first takes a
    /// lock: instances that start together on a new database wait for the first one, then
    /// find nothing left to apply (without it, each would try to apply the same migrations
    /// and all but one would fail to start). On PostgreSQL the lock is an advisory lock; on
    /// SQLite it is the database's write lock, taken by a first statement that writes (a
    /// transaction that read first could not wait for it).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let postgres = self.backend() == DbBackend::Postgres;
        if !postgres {
            self.write
                .execute_unprepared(
                    "CREATE TABLE IF NOT EXISTS flowtrack_migration_lock (id INTEGER PRIMARY KEY)",
                )
                .await?;
        }
        let txn = self.write.begin().await?;
        if postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK.into()],
            ))
            .await?;
        } else {
            txn.execute_unprepared("DELETE FROM flowtrack_migration_lock")
                .await?;
        }
        Migrator::up(&txn, None).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), sea_orm::DbErr> {
        self.read.ping().await
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

async fn connect_sqlite(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // Another process (e.g. `flowtrack user create`) may hold the write lock.
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
        });
    // Turning a new database file to WAL needs it to itself, and SQLite answers "database
    // is locked" at once (without the busy timeout) when another process is doing the same:
    // processes that start together on a new file retry until the first one is done.
    let started = tokio::time::Instant::now();
    loop {
        match Database::connect(options.clone()).await {
            Err(error) if is_sqlite_busy(&error) && started.elapsed() < SQLITE_BUSY_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            connected => return Ok(connected?),
        }
    }
}

/// How long SQLite waits for another process's lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether SQLite refused for a lock another connection holds (`SQLITE_BUSY`, code 5, or
/// one of its extended codes).
fn is_sqlite_busy(error: &sea_orm::DbErr) -> bool {
    let sqlx_error = match error {
        sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    sqlx_error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_database_file() -> (std::path::PathBuf, String) {
        let path =
            std::env::temp_dir().join(format!("flowtrack-db-{}.sqlite", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        (path, url)
    }

    /// Instances opening the same new database file together all start (turning it to WAL
    /// needs the file to itself, and SQLite refuses at once, without its busy timeout, the
    /// ones that lose that race).
    #[tokio::test]
    async fn instances_opening_a_new_database_together_all_start() {
        for _ in 0..30 {
            let (path, url) = new_database_file();
            let starts = (0..4).map(|_| async {
                let db = Db::connect(&url, Some(1)).await.expect("connects");
                db.migrate().await.expect("migrates");
                db
            });
            for db in futures_util::future::join_all(starts).await {
                db.close().await;
            }
            let _ = std::fs::remove_file(&path);
        }
    }

    #[tokio::test]
    async fn a_lock_held_elsewhere_is_recognised_as_busy() {
        let (path, url) = new_database_file();
        let holder = Database::connect(ConnectOptions::new(url.clone()))
            .await
            .expect("holder");
        holder
            .execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .expect("table");
        let mut locked = holder
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .expect("connection");
        sea_orm::sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut *locked)
            .await
            .expect("lock");
        let mut options = ConnectOptions::new(url.clone());
        options.map_sqlx_sqlite_opts(|opts| opts.busy_timeout(Duration::ZERO));
        let refused = Database::connect(options).await.expect_err("locked");
        assert!(is_sqlite_busy(&refused), "{refused:?}");
        sea_orm::sqlx::query("COMMIT")
            .execute(&mut *locked)
            .await
            .expect("unlock");
        drop(locked);
        let not_busy = holder
            .execute_unprepared("INSERT INTO missing (id) VALUES (1)")
            .await
            .expect_err("no such table");
        assert!(!is_sqlite_busy(&not_busy), "{not_busy:?}");
        holder.close().await.expect("close");
        let _ = std::fs::remove_file(&path);
    }
}
