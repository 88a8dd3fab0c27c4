//! Database connection: SQLite (embedded default) or PostgreSQL, picked from `DATABASE_URL`.
//!
//! SQLite allows one writer at a time. Instead of letting concurrent transactions fail with
//! "database is locked", every write goes through a pool of exactly one connection (`write`),
//! so writers queue in the pool, while reads use a separate pool (`read`) that WAL mode lets
//! run beside the writer. On PostgreSQL both handles are the same pool.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

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

impl Db {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
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
            let read = connect_sqlite(url, 8).await?;
            Ok(Self { read, write })
        } else {
            let mut options = ConnectOptions::new(url);
            options
                .max_connections(32)
                .min_connections(1)
                .connect_timeout(ACQUIRE_TIMEOUT)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // A pooled connection is checked before use, so connections broken by a
                // database restart are replaced instead of failing a request.
                .test_before_acquire(true)
                .sqlx_logging(false);
            let conn = Database::connect(options).await?;
            Ok(Self {
                read: conn.clone(),
                write: conn,
            })
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.write.get_database_backend()
    }

    /// Applies pending migrations (idempotent).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.write, None).await?;
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
                .busy_timeout(Duration::from_secs(10))
        });
    Ok(Database::connect(options).await?)
}
