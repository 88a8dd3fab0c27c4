//! `flowtrack backup <file>`: a consistent copy of a SQLite database while the server keeps
//! serving. Copying the file itself is unsafe (in WAL mode recent commits live in the
//! `-wal` file, and a copy taken during a write is torn); SQLite's `VACUUM INTO` instead
//! writes the database as one read transaction sees it — every commit before it began,
//! none after — into a new, compact, ordinary database file, while writers go on (WAL
//! lets them). The copy is written beside the target under a temporary name, checked with
//! `PRAGMA integrity_check`, flushed to disk, then renamed: the target appears complete or
//! not at all, and an existing file is never overwritten. PostgreSQL has `pg_dump`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbBackend, Statement};

/// What to tell someone who asks for a backup of a PostgreSQL database.
pub const POSTGRES_HINT: &str = "flowtrack backup copies SQLite databases; for PostgreSQL use \
pg_dump, e.g. `pg_dump --format=custom --file=flowtrack.dump \"$DATABASE_URL\"` (restore with \
pg_restore into an empty database)";

/// A written backup.
#[derive(Debug)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Writes a consistent copy of the SQLite database at `database_url` to `target`.
pub async fn sqlite(database_url: &str, target: &Path) -> anyhow::Result<Written> {
    if !database_url.starts_with("sqlite:") {
        bail!("{POSTGRES_HINT}");
    }
    let source = sqlite_path(database_url)?;
    if !source.is_file() {
        bail!("no SQLite database at {}", source.display());
    }
    if target.exists() {
        bail!(
            "{} already exists; a backup never overwrites a file",
            target.display()
        );
    }
    let partial = partial_path(target)?;
    let result = copy(&source, &partial, target).await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

async fn copy(source: &Path, partial: &Path, target: &Path) -> anyhow::Result<Written> {
    let db = open(source, false).await?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "VACUUM INTO ?",
        [partial.display().to_string().into()],
    ))
    .await
    .with_context(|| format!("copying {} failed", source.display()))?;
    let _ = db.close().await;

    let copy = open(partial, true).await?;
    let verdict = copy
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA integrity_check",
        ))
        .await?
        .map(|row| row.try_get_by_index::<String>(0))
        .transpose()?;
    let _ = copy.close().await;
    if verdict.as_deref() != Some("ok") {
        bail!("the copy failed its integrity check: {verdict:?}");
    }

    std::fs::File::open(partial)
        .and_then(|file| file.sync_all())
        .context("flushing the copy to disk failed")?;
    std::fs::rename(partial, target)
        .with_context(|| format!("naming the copy {} failed", target.display()))?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself is durable once the directory is flushed.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    let bytes = std::fs::metadata(target)?.len();
    Ok(Written {
        path: target.to_path_buf(),
        bytes,
    })
}

/// One connection to an existing SQLite file (never created), waiting for locks rather
/// than failing. The copy is opened in rollback-journal mode, so checking it leaves no
/// `-wal` file beside it.
async fn open(path: &Path, is_copy: bool) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let url = format!("sqlite://{}?mode=rw", path.display());
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |opts| {
            let opts = opts.busy_timeout(Duration::from_secs(30));
            if is_copy {
                opts.journal_mode(SqliteJournalMode::Delete)
            } else {
                opts
            }
        });
    Database::connect(options)
        .await
        .with_context(|| format!("cannot open {}", path.display()))
}

/// The file of a `sqlite://path?options` (or `sqlite:path`) URL.
fn sqlite_path(database_url: &str) -> anyhow::Result<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .unwrap_or(database_url);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || database_url.contains("mode=memory") {
        bail!("DATABASE_URL is an in-memory database: there is nothing to back up");
    }
    Ok(PathBuf::from(path))
}

/// A temporary name beside the target (same directory, so the final rename is atomic).
fn partial_path(target: &Path) -> anyhow::Result<PathBuf> {
    let name = target
        .file_name()
        .with_context(|| format!("{} is not a file name", target.display()))?;
    let mut partial = name.to_os_string();
    partial.push(format!(".partial-{}", uuid::Uuid::new_v4().simple()));
    Ok(target.with_file_name(partial))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_comes_from_the_url() {
        for (url, path) in [
            ("sqlite://flowtrack.db?mode=rwc", "flowtrack.db"),
            (
                "sqlite:///var/lib/flowtrack/flowtrack.db?mode=rwc",
                "/var/lib/flowtrack/flowtrack.db",
            ),
            ("sqlite:data.db", "data.db"),
        ] {
            assert_eq!(sqlite_path(url).expect(url), PathBuf::from(path));
        }
        assert!(sqlite_path("sqlite::memory:").is_err());
        assert!(sqlite_path("sqlite://x.db?mode=memory").is_err());
    }

    #[test]
    fn the_partial_copy_sits_beside_the_target() {
        let partial = partial_path(Path::new("/backups/ft.db")).expect("partial");
        assert_eq!(partial.parent(), Some(Path::new("/backups")));
        assert!(
            partial
                .display()
                .to_string()
                .starts_with("/backups/ft.db.partial-")
        );
    }
}
