//! The database an example is pointed at with `--db PATH`: opened, never
//! deleted.
//!
//! Every example that writes a store goes through [`open`]. A path that holds
//! nothing (or an empty file) gets a new database. A path that holds a
//! database of this library is opened, or refused when the example needs a
//! fresh one ([`Existing`]), and is replaced only with `--replace`. Anything
//! else (a CSV, a directory, a device such as `/dev/null`, another
//! application's database) is refused with an error naming the path, and left
//! untouched, `--replace` or not: the check is [`Store::inspect_sqlite`]
//! (the SQLite header, then this library's `_sqlx_migrations` rows), which
//! reads and writes nothing else.

use std::path::{Path, PathBuf};

use itsm_store::{SqliteFile, Store, StoreError};

/// What an example does when `--db` already holds a database of this library
/// and `--replace` is not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse, suggesting `--replace`: the example writes records (fixed
    /// ids, a narrated history) that need a new database.
    Refuse,
    /// Open it and add to it.
    Append,
    /// Open it; the example only reads, so a missing or empty database is
    /// refused (there is nothing to read).
    Read,
}

/// The `sqlite://` URL of a path.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Opens the SQLite database at `path` for an example, as the module docs
/// say: `replace` is the example's `--replace` flag, `existing` what it does
/// with a database of this library when `replace` is not given.
pub async fn open(path: &Path, replace: bool, existing: Existing) -> Result<Store, String> {
    let found = Store::inspect_sqlite(path).await.map_err(|e| refusal(path, e))?;
    match found {
        SqliteFile::Missing | SqliteFile::Empty if existing == Existing::Read => {
            return Err(format!("{}: no database of this library there (nothing to read)", path.display()));
        }
        SqliteFile::Missing | SqliteFile::Empty => {}
        SqliteFile::Ours { .. } if replace => remove_database(path)?,
        SqliteFile::Ours { .. } => match existing {
            Existing::Refuse => {
                return Err(format!(
                    "{} already holds a database of this library; pass --replace to replace it, or choose another --db",
                    path.display()
                ));
            }
            Existing::Append | Existing::Read => {}
        },
    }
    Store::connect(&sqlite_url(path)).await.map_err(|e| refusal(path, e))
}

/// Opens a store URL (`--db-url`); messages never show its password.
pub async fn open_url(url: &str) -> Result<Store, String> {
    Store::connect(url).await.map_err(|e| match e {
        // These name the URL (redacted) or the path themselves.
        StoreError::Unreachable { .. }
        | StoreError::Refused { .. }
        | StoreError::ForeignDatabase { .. }
        | StoreError::CannotOpen { .. } => e.to_string(),
        other => format!("cannot open {}: {other}", itsm_store::redact_url(url)),
    })
}

/// A temporary database path for an example run without `--db`: unique to
/// this process, in the system temp directory. Remove it with
/// [`remove_temporary`].
pub fn temporary(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("itsm-{name}-{}-{nanos}.db", std::process::id()))
}

/// Removes a temporary database created by [`temporary`] and its side files.
pub fn remove_temporary(path: &Path) {
    for file in side_files(path) {
        let _ = std::fs::remove_file(file);
    }
}

fn side_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_path_buf(), with("-wal"), with("-shm")]
}

/// Removes a database of this library (checked by the caller) and its WAL
/// side files, which must be regular files if present.
fn remove_database(path: &Path) -> Result<(), String> {
    for file in side_files(path) {
        match std::fs::symlink_metadata(&file) {
            Ok(meta) if meta.is_file() || file == path => {
                std::fs::remove_file(&file).map_err(|e| format!("cannot replace {}: {e}", file.display()))?;
            }
            Ok(_) => {
                return Err(format!("cannot replace {}: {} is not a regular file", path.display(), file.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot replace {}: {}: {e}", path.display(), file.display())),
        }
    }
    Ok(())
}

fn refusal(path: &Path, e: StoreError) -> String {
    match e {
        StoreError::ForeignDatabase { .. } => {
            format!("{e}; --db only opens (and --replace only replaces) a database of this library")
        }
        StoreError::CannotOpen { .. } => e.to_string(),
        other => format!("cannot open {}: {other}", path.display()),
    }
}
