//! The SQLite backend's own parts: opening a file (inspected read-only first,
//! so another application's file is refused untouched), its pragmas, and the
//! migrations. Everything a command does is in [`crate::core`].
//!
//! One file in WAL mode, one writer connection per store (every write
//! transaction `BEGIN IMMEDIATE`, see [`crate::dialect`]), a pool of
//! `query_only` readers. `synchronous = FULL`: in WAL mode `NORMAL` may lose
//! the last commits on power loss, and the store promises that an
//! acknowledged command survives it. Instants are RFC 3339 UTC text with
//! microseconds.

use std::io::Read;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Sqlite, query_as};

use crate::core::{Core, migrate};
use crate::dialect::{Dialect, Pools};
use crate::error::{Backend, StoreError, classify};
use crate::model::{ConnectOptions, SqliteFile};
use crate::retry;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

const B: Backend = Backend::Sqlite;

/// Statements of the read-only inspection.
mod sql {
    pub const SCHEMA_OBJECTS: &str =
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
    pub const MIGRATION_ROWS: &str = "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version";
}

/// Opens (creating if missing) a SQLite database of this library.
pub(crate) async fn connect(url: &str, opts: &ConnectOptions) -> Result<Core<Sqlite>, StoreError> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::validation("url", "in-memory SQLite is not supported, use a file"));
    }
    let parsed = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::validation("url", e.to_string()))?;
    // Read-only, before any pragma or migration: another application's
    // file is refused untouched.
    let path = parsed.get_filename().to_path_buf();
    inspect(&path).await?;
    let base = parsed
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    // A larger page cache for the single writer (64 MiB; readers keep the
    // default), and a larger WAL before each automatic checkpoint (8,000
    // pages, 32 MiB instead of 4): a page that several commits dirty is
    // written back once (BENCHMARKS.md, alert ingestion).
    let writer = base.clone().pragma("cache_size", "-65536").pragma("wal_autocheckpoint", "8000");
    let write = retry::retry(|| async {
        SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(writer.clone())
            .await
            .map_err(|e| open_error(&path, e))
    })
    .await?;
    retry::retry(|| migrate(&write, &MIGRATOR)).await?;
    let read = SqlitePoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(opts.acquire_timeout)
        .connect_lazy_with(base.pragma("query_only", "ON"));
    Ok(Core::new(Pools { write, read }, url.to_owned()))
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What is at `path`, read-only: nothing is created, no pragma is set, no
/// side file is written for a database in rollback-journal mode.
pub(crate) async fn inspect(path: &Path) -> Result<SqliteFile, StoreError> {
    let cannot = |reason: String| StoreError::CannotOpen { path: path.to_path_buf(), reason };
    let foreign = |reason: String| StoreError::ForeignDatabase { path: path.to_path_buf(), reason };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            return match std::fs::metadata(parent) {
                Ok(m) if m.is_dir() => Ok(SqliteFile::Missing),
                Ok(_) => Err(cannot(format!("{} is not a directory", parent.display()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(cannot(format!("directory {} does not exist", parent.display())))
                }
                Err(e) => Err(cannot(io_reason(&e))),
            };
        }
        Err(e) => return Err(cannot(io_reason(&e))),
    };
    if meta.is_dir() {
        return Err(foreign("it is a directory".to_owned()));
    }
    if !meta.is_file() {
        return Err(foreign("it is not a regular file (a device, a pipe or a socket)".to_owned()));
    }
    let mut header = Vec::with_capacity(16);
    std::fs::File::open(path)
        .and_then(|f| f.take(16).read_to_end(&mut header))
        .map_err(|e| cannot(format!("cannot read it: {}", io_reason(&e))))?;
    if !header.is_empty() && header.as_slice() != SQLITE_MAGIC {
        return Err(foreign("it is not a SQLite database (no SQLite header)".to_owned()));
    }
    // Opening for writing neither truncates nor changes the file.
    if let Err(e) = std::fs::OpenOptions::new().write(true).open(path) {
        return Err(cannot(match e.kind() {
            std::io::ErrorKind::ReadOnlyFilesystem => "read-only: the file system is mounted read-only".to_owned(),
            std::io::ErrorKind::PermissionDenied => "read-only: permission denied for writing".to_owned(),
            _ => io_reason(&e),
        }));
    }
    if header.is_empty() {
        return Ok(SqliteFile::Empty);
    }
    let options = SqliteConnectOptions::new().filename(path).read_only(true).create_if_missing(false);
    let unreadable = |e: sqlx::Error| match classify(B, &e) {
        (_, Some(code)) if code == "26" || code == "11" => {
            foreign(format!("it is not a readable SQLite database: {e}"))
        }
        _ => cannot(e.to_string()),
    };
    let mut conn = SqliteConnection::connect_with(&options).await.map_err(unreadable)?;
    let found = classify_schema(&mut conn).await.map_err(unreadable);
    let _ = conn.close().await;
    match found? {
        Schema::Empty => Ok(SqliteFile::Empty),
        Schema::Ours(version) => Ok(SqliteFile::Ours { version }),
        Schema::Foreign(reason) => Err(foreign(reason)),
    }
}

enum Schema {
    Empty,
    Ours(i64),
    Foreign(String),
}

async fn classify_schema(conn: &mut SqliteConnection) -> Result<Schema, sqlx::Error> {
    let objects: Vec<(String, String)> = query_as(sql::SCHEMA_OBJECTS).fetch_all(&mut *conn).await?;
    let has_migrations = objects.iter().any(|(kind, name)| kind == "table" && name == "_sqlx_migrations");
    if !has_migrations {
        if objects.is_empty() {
            return Ok(Schema::Empty);
        }
        let names: Vec<&str> = objects.iter().take(5).map(|(_, name)| name.as_str()).collect();
        let more = if objects.len() > 5 { ", ..." } else { "" };
        return Ok(Schema::Foreign(format!("it holds another application's schema: {}{more}", names.join(", "))));
    }
    let rows: Vec<(i64, Vec<u8>)> = query_as(sql::MIGRATION_ROWS).fetch_all(&mut *conn).await?;
    if rows.is_empty() {
        // The migrations table is created before the first migration runs:
        // an interrupted first open leaves it alone and empty.
        return Ok(if objects.len() == 1 {
            Schema::Empty
        } else {
            Schema::Foreign("it has an empty _sqlx_migrations table beside other tables".to_owned())
        });
    }
    let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    for (version, checksum) in &rows {
        if *version > supported {
            continue;
        }
        match MIGRATOR.iter().find(|m| m.version == *version) {
            Some(m) if m.checksum.as_ref() == checksum.as_slice() => {}
            _ => {
                return Ok(Schema::Foreign(format!(
                    "its migration {version} is not this library's (another application's _sqlx_migrations)"
                )));
            }
        }
    }
    if !rows.iter().any(|(v, _)| *v == 1) {
        return Ok(Schema::Foreign("its _sqlx_migrations has no migration 1 of this library".to_owned()));
    }
    Ok(Schema::Ours(rows.iter().map(|(v, _)| *v).max().unwrap_or(0)))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::ReadOnlyFilesystem => "read-only file system".to_owned(),
        std::io::ErrorKind::NotADirectory => "a component of the path is not a directory".to_owned(),
        _ => e.to_string(),
    }
}

/// A failure to open the writer connection, in the user's terms.
fn open_error(path: &Path, e: sqlx::Error) -> StoreError {
    let code = classify(B, &e).1.and_then(|c| c.parse::<i32>().ok());
    let cannot = |reason: String| StoreError::CannotOpen { path: path.to_path_buf(), reason };
    match code.map(|c| c & 0xff) {
        // SQLITE_CANTOPEN: for a new file, the directory refused its creation.
        Some(14) => cannot(format!("cannot create or open the file ({e}): permission denied or read-only directory")),
        // SQLITE_READONLY.
        Some(8) => cannot(format!("read-only ({e})")),
        // SQLITE_PERM, SQLITE_AUTH.
        Some(3 | 23) => cannot(format!("permission denied ({e})")),
        // SQLITE_NOTADB, SQLITE_CORRUPT.
        Some(26 | 11) => StoreError::ForeignDatabase { path: path.to_path_buf(), reason: e.to_string() },
        _ => Sqlite::error(e),
    }
}
