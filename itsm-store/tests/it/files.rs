//! What `Store::connect` does with paths and URLs it must not use: another
//! application's SQLite file, a file that is not SQLite or a directory is
//! refused before anything is written to it (same bytes, same journal mode,
//! no side files); a path that cannot be opened says why; an unreachable
//! PostgreSQL server is reported at once, as unreachable, without the
//! password.

use std::path::Path;
use std::time::{Duration, Instant};

use itsm_store::{SqliteFile, Store, StoreError, redact_url};
use sqlx::Connection;

/// Creates a SQLite database in the default (rollback journal) mode with
/// `statements`, as another application would.
async fn foreign_db(path: &Path, statements: &[&str]) {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for s in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(s.to_string())).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
}

async fn journal_mode(path: &Path) -> String {
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    mode
}

fn side_files(path: &Path) -> Vec<String> {
    ["-wal", "-shm", "-journal"]
        .iter()
        .map(|s| format!("{}{s}", path.display()))
        .filter(|p| Path::new(p).exists())
        .collect()
}

/// Connects and expects a refusal naming the path; the file keeps its bytes.
async fn refused_untouched(path: &Path) -> StoreError {
    let before = std::fs::read(path).unwrap();
    let url = format!("sqlite://{}", path.display());
    let e = match Store::connect(&url).await {
        Ok(_) => panic!("{} was opened", path.display()),
        Err(e) => e,
    };
    assert!(e.to_string().contains(&path.display().to_string()), "the message names the path: {e}");
    assert_eq!(std::fs::read(path).unwrap(), before, "{} changed", path.display());
    assert_eq!(side_files(path), Vec::<String>::new(), "side files were created");
    e
}

#[tokio::test]
async fn another_applications_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    foreign_db(
        &path,
        &["CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO customers (name) VALUES ('Ada')"],
    )
    .await;
    assert_eq!(journal_mode(&path).await, "delete");
    let e = refused_untouched(&path).await;
    assert!(matches!(e, StoreError::ForeignDatabase { .. }), "{e:?}");
    assert!(e.to_string().contains("customers"), "the reason names what is there: {e}");
    assert_eq!(journal_mode(&path).await, "delete", "the journal mode is unchanged");
    assert!(matches!(Store::inspect_sqlite(&path).await, Err(StoreError::ForeignDatabase { .. })));
}

#[tokio::test]
async fn another_sqlx_applications_migrations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other-sqlx.db");
    foreign_db(
        &path,
        &[
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (1, 'init', 1, x'0102', 0)",
            "CREATE TABLE events (id INTEGER PRIMARY KEY)",
        ],
    )
    .await;
    let e = refused_untouched(&path).await;
    assert!(matches!(e, StoreError::ForeignDatabase { .. }), "{e:?}");
    assert!(e.to_string().contains("migration 1"), "{e}");
}

#[tokio::test]
async fn a_csv_an_empty_migrations_table_beside_tables_and_a_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("incidents.csv");
    std::fs::write(&csv, "id,opened_at\nINC-1,2026-01-01T00:00:00Z\n").unwrap();
    let e = refused_untouched(&csv).await;
    assert!(matches!(e, StoreError::ForeignDatabase { .. }) && e.to_string().contains("not a SQLite database"), "{e}");

    // What the old connect left behind in another application's file.
    let left = dir.path().join("left.db");
    foreign_db(
        &left,
        &[
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
            "CREATE TABLE notes (body TEXT)",
        ],
    )
    .await;
    assert!(matches!(refused_untouched(&left).await, StoreError::ForeignDatabase { .. }));

    let sub = dir.path().join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    match Store::connect(&format!("sqlite://{}", sub.display())).await {
        Err(e @ StoreError::ForeignDatabase { .. }) => assert!(e.to_string().contains("directory"), "{e}"),
        other => panic!("expected ForeignDatabase, got {other:?}"),
    }
    assert!(std::fs::read_dir(&sub).unwrap().next().is_none(), "nothing was created in the directory");
}

#[tokio::test]
async fn new_empty_and_own_files_open() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.db");
    assert_eq!(Store::inspect_sqlite(&fresh).await.unwrap(), SqliteFile::Missing);
    Store::connect(&format!("sqlite://{}", fresh.display())).await.unwrap().close().await;
    assert_eq!(Store::inspect_sqlite(&fresh).await.unwrap(), SqliteFile::Ours { version: 18 });
    Store::connect(&format!("sqlite://{}", fresh.display())).await.unwrap().close().await;

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(Store::inspect_sqlite(&empty).await.unwrap(), SqliteFile::Empty);
    Store::connect(&format!("sqlite://{}", empty.display())).await.unwrap().close().await;

    // A first open interrupted after creating the migrations table.
    let interrupted = dir.path().join("interrupted.db");
    foreign_db(
        &interrupted,
        &["CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)"],
    )
    .await;
    assert_eq!(Store::inspect_sqlite(&interrupted).await.unwrap(), SqliteFile::Empty);
    Store::connect(&format!("sqlite://{}", interrupted.display())).await.unwrap().close().await;
}

#[tokio::test]
async fn unopenable_paths_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("x.db");
    match Store::connect(&format!("sqlite://{}", missing.display())).await {
        Err(e @ StoreError::CannotOpen { .. }) => {
            let text = e.to_string();
            assert!(text.contains("does not exist") && text.contains("no-such-dir"), "{text}");
        }
        other => panic!("expected CannotOpen, got {other:?}"),
    }
    assert!(!dir.path().join("no-such-dir").exists());

    // A read-only file (meaningless for a privileged user, who may write anyway).
    let ro = dir.path().join("ro.db");
    Store::connect(&format!("sqlite://{}", ro.display())).await.unwrap().close().await;
    let mut perms = std::fs::metadata(&ro).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&ro, perms).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&ro).is_ok() {
        eprintln!("SKIPPED read-only check: this user may write read-only files");
        return;
    }
    match Store::connect(&format!("sqlite://{}", ro.display())).await {
        Err(e @ StoreError::CannotOpen { .. }) => assert!(e.to_string().contains("read-only"), "{e}"),
        other => panic!("expected CannotOpen, got {other:?}"),
    }
}

#[test]
fn urls_are_redacted() {
    assert_eq!(redact_url("postgres://u:p%40ss@h:5432/db"), "postgres://u:***@h:5432/db");
    assert_eq!(redact_url("postgres://u:pa/ss@h/db?x=1"), "postgres://u:***@h/db?x=1");
    assert_eq!(
        redact_url("postgresql://u@h/db?password=pw&sslmode=off"),
        "postgresql://u@h/db?password=***&sslmode=off"
    );
    assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    assert_eq!(redact_url("sqlite://a:b@c.db"), "sqlite://a:b@c.db");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_closed_port_is_unreachable_at_once_without_the_password() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://postgres:hunter2-secret@127.0.0.1:{port}/test");
    let started = Instant::now();
    let result = Store::connect(&url).await;
    let elapsed = started.elapsed();
    let e = match result {
        Ok(_) => panic!("connected to a closed port"),
        Err(e) => e,
    };
    assert!(matches!(e, StoreError::Unreachable { .. }), "{e:?}");
    let (text, debug) = (e.to_string(), format!("{e:?}"));
    assert!(text.contains("unreachable") && text.contains("refused"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2") && !debug.contains("hunter2"), "the password leaked: {text} / {debug}");
    assert!(elapsed < Duration::from_secs(10), "hang guard: took {elapsed:?}");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_refused_login_and_a_connected_store_never_show_the_password() {
    let Some(db) = crate::common::postgres().await else { return };
    let base = crate::common::pg_url();
    // The test server trusts local connections: a password is ignored, an
    // unknown database is refused.
    let with_password = base.replacen("postgres://postgres@", "postgres://postgres:hunter2-secret@", 1);
    if with_password != base {
        let (prefix, _) = with_password.rsplit_once('/').unwrap();
        let missing = format!("{prefix}/no_such_db_{}", std::process::id());
        match Store::connect(&missing).await {
            Err(e @ StoreError::Refused { .. }) => {
                let text = e.to_string();
                assert!(text.contains("refused") && text.contains("does not exist"), "{text}");
                assert!(!text.contains("hunter2") && !format!("{e:?}").contains("hunter2"), "{text}");
            }
            other => panic!("expected Refused, got {other:?}"),
        }
        let url = format!("{with_password}{}", db.url.strip_prefix(&base).unwrap_or(""));
        let store = Store::connect(&url).await.unwrap();
        assert!(!format!("{store:?}").contains("hunter2"), "{store:?}");
        store.close().await;
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_opened_together_on_a_new_file_all_open() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("together.db").display());
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::connect(&url).await })
        })
        .collect();
    for open in opens {
        let store = open.await.unwrap().unwrap_or_else(|e| panic!("a concurrent first open failed: {e}"));
        store.close().await;
    }
}
