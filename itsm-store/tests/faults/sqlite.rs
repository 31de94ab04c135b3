//! SQLite faults: a full disk (a 1 MiB tmpfs), a read-only file, and a
//! database locked by another process. Each must give a typed error and leave
//! the database intact (`PRAGMA integrity_check`, the audit chain, every
//! acknowledged command present, nothing half-written).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use itsm_store::Store;
use sqlx::{Connection, SqliteConnection};

use crate::harness::{Load, guarded, is_root, serial, skip};

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// `PRAGMA integrity_check` on a separate connection, and the audit chain.
async fn intact(path: &Path, store: &Store, load: &Load) {
    let mut conn = SqliteConnection::connect(&url(path)).await.unwrap();
    let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    assert_eq!(check, ["ok"], "integrity_check of {}", path.display());
    let chain = guarded("verify_chain", store.verify_chain(&load.actor.tenant)).await.unwrap();
    assert_eq!(chain.broken, None, "audit chain of {}", path.display());
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?} failed: {status}");
}

/// Unmounts (lazily) when dropped, so a failing test leaves no mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn sqlite_disk_full() {
    const TEST: &str = "sqlite_disk_full";
    if !is_root() {
        return skip(TEST, "mounting a tmpfs needs root");
    }
    serial(async {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let mnt_s = mnt.to_str().unwrap();
        // 2 MiB: the empty store (18 migrations) and its WAL must fit, with room for tickets.
        run("mount", &["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt_s]);
        let _mounted = Mounted(mnt.clone());
        let path = mnt.join("store.db");
        let store = Store::connect(&url(&path)).await.unwrap();
        // 2 KiB notes: the 2 MiB file system fills after several hundred.
        let load = Load::new(store.clone(), 4, 2048).await;
        let mut sent = 0;
        while load.failures().values().sum::<usize>() < 10 {
            load.send_n(1).await;
            sent += 1;
            assert!(sent < 5000, "the 2 MiB file system never filled up");
        }
        // Still full: reads work, and the database is intact.
        intact(&path, &store, &load).await;
        // Lift the fault: grow the file system under the open store.
        run("mount", &["-o", "remount,size=16m", mnt_s]);
        load.recover_and_check("sqlite disk full", &store, |l| l.starts_with("storage: disk full")).await;
        intact(&path, &store, &load).await;
        store.close().await;
    });
}

#[test]
fn sqlite_read_only_file() {
    serial(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = Store::connect(&url(&path)).await.unwrap();
        let load = Load::new(store.clone(), 2, 64).await;
        load.send_n(5).await;
        store.close().await;
        // The fault: the file is made read-only (root ignores the mode bits,
        // so the store also opens it read-only, as a user without write
        // permission would get it).
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&path, perms.clone()).unwrap();
        let ro = Store::connect(&format!("{}?mode=ro", url(&path))).await.unwrap();
        let ro_load = load.with_store(ro.clone());
        ro_load.send_n(5).await;
        // Reads still work.
        assert_eq!(load.log(&ro).await.len(), 5);
        ro.close().await;
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).unwrap();
        let rw = Store::connect(&url(&path)).await.unwrap();
        intact(&path, &rw, &load).await;
        load.recover_and_check("sqlite read-only file", &rw, |l| l.starts_with("storage: read-only")).await;
        intact(&path, &rw, &load).await;
        rw.close().await;
    });
}

const LOCK_DB: &str = "ITSM_FAULT_LOCK_DB";
const LOCK_MS: &str = "ITSM_FAULT_LOCK_MS";

/// How long the other process holds the lock: past the store's whole retry
/// budget (5 attempts of the 5 s busy timeout), so a command gives up.
const HOLD: Duration = Duration::from_millis(26_500);

/// The other process of [`sqlite_locked_by_another_process`] (this binary
/// re-invoked with `ITSM_FAULT_LOCK_DB` set): holds `BEGIN EXCLUSIVE` on the
/// database, prints `LOCKED` (after libtest's `test ... `), waits, rolls back.
/// A no-op otherwise.
#[test]
fn lock_holder() {
    let Ok(path) = std::env::var(LOCK_DB) else { return };
    let ms: u64 = std::env::var(LOCK_MS).ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let mut conn = SqliteConnection::connect(&format!("sqlite://{path}")).await.unwrap();
        sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut conn).await.unwrap();
        println!("LOCKED");
        tokio::time::sleep(Duration::from_millis(ms)).await;
        sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    });
}

#[test]
fn sqlite_locked_by_another_process() {
    if std::env::var(LOCK_DB).is_ok() {
        return;
    }
    serial(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = Store::connect(&url(&path)).await.unwrap();
        let load = Load::new(store.clone(), 2, 64).await;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "sqlite::lock_holder", "--nocapture", "--test-threads=1"])
            .env(LOCK_DB, &path)
            .env(LOCK_MS, HOLD.as_millis().to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let locked = tokio::task::spawn_blocking(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let found = lines.by_ref().map_while(Result::ok).any(|l| l.ends_with("LOCKED"));
            (found, lines)
        });
        let (found, rest) = guarded("lock holder", locked).await.unwrap();
        assert!(found, "the other process did not take the lock");
        // One writer while the other process holds the lock; reads go on.
        let stop = Arc::new(AtomicBool::new(false));
        let writers = load.writers(1, &stop);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(guarded("read", load.log(&store)).await.len(), 0, "reads work while the database is locked");
        let holder = tokio::task::spawn_blocking(move || {
            rest.for_each(drop);
            child.wait()
        });
        let status = guarded("lock holder", holder).await.unwrap().unwrap();
        assert!(status.success(), "the lock holder failed: {status}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            guarded("writer", w).await.unwrap();
        }
        assert!(load.failures().contains_key("contention"), "no command gave up while the database was locked");
        load.recover_and_check("sqlite locked by another process", &store, |l| l == "contention").await;
        intact(&path, &store, &load).await;
        store.close().await;
    });
}
