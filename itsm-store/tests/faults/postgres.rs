//! PostgreSQL faults: a backend terminated mid-transaction, the server
//! restarted under load, a statement timeout. Every failure must be typed and
//! retryable, and the same `Store` must work after the fault.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use itsm_store::{ConnectOptions, Store};
use rand::Rng;
use sqlx::{Connection, PgConnection};

use crate::common::{pg_url, unique};
use crate::harness::{Load, guarded, is_root, serial, skip};

/// Errors a PostgreSQL fault may give: typed and retryable.
fn retryable(label: &str) -> bool {
    ["contention", "connection lost", "outcome unknown", "pool timeout"].iter().any(|p| label.starts_with(p))
}

/// A store on a fresh schema whose connections carry a unique
/// `application_name`, so the tests terminate only this store's backends.
struct Pg {
    store: Store,
    schema: String,
    app: String,
}

impl Pg {
    async fn new(test: &str, extra: &str) -> Option<Pg> {
        let base = pg_url();
        let mut conn = match PgConnection::connect(&base).await {
            Ok(conn) => conn,
            Err(e) => {
                skip(test, &format!("PostgreSQL at {base} is unreachable ({e}); set ITSM_PG_URL"));
                return None;
            }
        };
        let schema = unique("itsm_f");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        let app = unique("itsm_fault");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}&application_name={app}{extra}");
        let options = ConnectOptions { max_connections: 4, ..ConnectOptions::default() };
        let store = Store::connect_with(&url, &options).await.unwrap();
        Some(Pg { store, schema, app })
    }

    async fn cleanup(self) {
        self.store.close().await;
        let mut conn = PgConnection::connect(&pg_url()).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// Waits until the server accepts connections (at most a minute).
async fn wait_ready() {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match PgConnection::connect(&pg_url()).await {
            Ok(conn) => {
                let _ = conn.close().await;
                return;
            }
            Err(e) if Instant::now() > deadline => panic!("PostgreSQL did not come back within a minute: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[test]
fn pg_backend_terminated_mid_transaction() {
    serial(async {
        let Some(pg) = Pg::new("pg_backend_terminated_mid_transaction", "").await else { return };
        let load = Load::new(pg.store.clone(), 4, 64).await;
        let stop = Arc::new(AtomicBool::new(false));
        let writers = load.writers(4, &stop);
        let mut admin = PgConnection::connect(&pg_url()).await.unwrap();
        let mut kills = 0usize;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            // One of this store's backends inside a transaction (a statement
            // running or idle between statements, or committing).
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1 AND xact_start IS NOT NULL AND pid <> pg_backend_pid() \
                 ORDER BY random() LIMIT 1",
            )
            .bind(&pg.app)
            .fetch_all(&mut admin)
            .await
            .unwrap();
            kills += killed.into_iter().filter(|k| *k).count();
            let pause = rand::rng().random_range(5..40);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            guarded("writer", w).await.unwrap();
        }
        admin.close().await.unwrap();
        eprintln!("FAULT postgres backend terminated: {kills} backends terminated mid-transaction");
        assert!(kills > 0, "no backend was terminated: the fault did not happen");
        load.recover_and_check("postgres backend terminated mid-transaction", &pg.store, retryable).await;
        pg.cleanup().await;
    });
}

/// `(version, cluster)` of the server to restart.
fn cluster() -> Option<(String, String)> {
    if let Ok(named) = std::env::var("ITSM_PG_CLUSTER") {
        let mut parts = named.split_whitespace();
        return Some((parts.next()?.to_owned(), parts.next()?.to_owned()));
    }
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    versions.sort();
    Some((versions.into_iter().next()?, "main".to_owned()))
}

/// Starts the cluster again if a test stopped part-way (a panic during the
/// restart), and waits for it, so later tests find the server up.
struct EnsureRunning(String, String);

impl Drop for EnsureRunning {
    fn drop(&mut self) {
        let ready = || {
            std::process::Command::new("pg_isready").args(["-h", "127.0.0.1", "-q"]).status().is_ok_and(|s| s.success())
        };
        if ready() {
            return;
        }
        let _ = std::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &self.0, &self.1, "start"])
            .status();
        for _ in 0..600 {
            if ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn pg_server_restarted_under_load() {
    const TEST: &str = "pg_server_restarted_under_load";
    if !is_root() {
        return skip(TEST, "restarting PostgreSQL (pg_ctlcluster) needs root");
    }
    let Some((version, name)) = cluster() else {
        return skip(TEST, "no PostgreSQL cluster under /etc/postgresql (set ITSM_PG_CLUSTER)");
    };
    serial(async move {
        let Some(pg) = Pg::new(TEST, "").await else { return };
        let load = Load::new(pg.store.clone(), 4, 64).await;
        let stop = Arc::new(AtomicBool::new(false));
        let writers = load.writers(4, &stop);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _running = EnsureRunning(version.clone(), name.clone());
        let restart = tokio::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, &name, "restart"])
            .status();
        let status = guarded("pg_ctlcluster restart", restart).await.unwrap();
        assert!(status.success(), "pg_ctlcluster {version} {name} restart failed: {status}");
        // Writers keep going against the restarted server.
        tokio::time::sleep(Duration::from_millis(700)).await;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            guarded("writer", w).await.unwrap();
        }
        wait_ready().await;
        load.recover_and_check("postgres server restarted under load", &pg.store, retryable).await;
        pg.cleanup().await;
    });
}

#[test]
fn pg_statement_timeout() {
    serial(async {
        // Each of the store's sessions times statements out at 300 ms (below
        // its own 5 s lock timeout); another session holds the rows of the
        // tenant's aggregates, which every command locks first.
        let extra = "&options[statement_timeout]=300ms";
        let Some(pg) = Pg::new("pg_statement_timeout", extra).await else { return };
        let load = Load::new(pg.store.clone(), 2, 64).await;
        let mut holder = PgConnection::connect(&pg_url()).await.unwrap();
        sqlx::raw_sql("BEGIN").execute(&mut holder).await.unwrap();
        let locked: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT tenant FROM {}.aggregates WHERE tenant = $1 FOR UPDATE",
            pg.schema
        )))
        .bind(load.actor.tenant.as_str())
        .fetch_all(&mut holder)
        .await
        .unwrap();
        assert!(!locked.is_empty(), "the tickets' rows exist after they were opened");
        let stop = Arc::new(AtomicBool::new(false));
        let writers = load.writers(2, &stop);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let during = load.failures().values().sum::<usize>();
        sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
        holder.close().await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            guarded("writer", w).await.unwrap();
        }
        assert!(during > 0, "no command timed out while the lock was held");
        load.recover_and_check("postgres statement timeout", &pg.store, |l| l == "contention").await;
        pg.cleanup().await;
    });
}

/// Terminates this store's backends while they run `COMMIT` (each commit
/// once, with probability `p`) until `stop`; returns how many.
async fn kill_commits(app: String, p: f64, stop: Arc<AtomicBool>) -> usize {
    let mut admin = PgConnection::connect(&pg_url()).await.unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut kills = 0;
    while !stop.load(Ordering::Relaxed) {
        let active: Vec<(i32, String)> = sqlx::query_as(
            "SELECT pid, query_start::text FROM pg_stat_activity \
             WHERE application_name = $1 AND state = 'active' AND query ILIKE 'commit%'",
        )
        .bind(&app)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        for commit in active {
            if seen.insert(commit.clone()) && rand::rng().random_bool(p) {
                let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
                    .bind(commit.0)
                    .fetch_one(&mut admin)
                    .await
                    .unwrap();
                kills += usize::from(done);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    admin.close().await.unwrap();
    kills
}

#[test]
fn pg_connection_lost_during_commit() {
    const TEST: &str = "pg_connection_lost_during_commit";
    serial(async {
        let Some(pg) = Pg::new(TEST, "").await else { return };
        let load = Load::new(pg.store.clone(), 2, 64).await;
        // Every COMMIT that appended an event now waits 150 ms in a deferred
        // trigger: a window in which to lose the connection.
        let mut admin = PgConnection::connect(&pg_url()).await.unwrap();
        let s = &pg.schema;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE FUNCTION {s}.slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(0.15); RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON {s}.events \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {s}.slow_commit();"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        // With an idempotency key the store re-runs a command whose COMMIT
        // was cut off (the re-run returns the first result had it committed).
        let stop = Arc::new(AtomicBool::new(false));
        let killer = tokio::spawn(kill_commits(pg.app.clone(), 0.5, stop.clone()));
        load.send_n(12).await;
        stop.store(true, Ordering::Relaxed);
        let kills = guarded("killer", killer).await.unwrap();
        eprintln!("FAULT postgres connection lost during commit: {kills} backends terminated in COMMIT");
        assert!(kills > 0, "no COMMIT was cut off: the fault did not happen");
        // Without a key the store cannot tell: it says so, and does not retry.
        let stop = Arc::new(AtomicBool::new(false));
        let killer = tokio::spawn(kill_commits(pg.app.clone(), 1.0, stop.clone()));
        let cfg = crate::common::config();
        let marker = format!("{}/unkeyed", load.run);
        let cmd = crate::ticket::TicketCommand::Note { text: marker.clone() };
        let ctx = itsm_core::Context::new(&load.actor, crate::common::ts(1), &cfg);
        let req = itsm_store::Request::<crate::ticket::Ticket>::new(ctx, &load.tickets[0], &cmd);
        let unkeyed = guarded("unkeyed", pg.store.execute(req)).await;
        stop.store(true, Ordering::Relaxed);
        guarded("killer", killer).await.unwrap();
        match unkeyed {
            Err(itsm_store::ExecError::Store(e @ itsm_store::StoreError::OutcomeUnknown { .. })) => {
                assert!(e.is_retryable());
            }
            other => panic!("a COMMIT cut off without an idempotency key gave {other:?}"),
        }
        // (It was cut off before the commit record: not applied.)
        assert_eq!(load.log(&pg.store).await.get(&marker), None);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TRIGGER slow_commit ON {s}.events")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        load.recover_and_check("postgres connection lost during commit", &pg.store, retryable).await;
        pg.cleanup().await;
    });
}
