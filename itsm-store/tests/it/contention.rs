//! T1: many concurrent writers on one aggregate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use itsm_core::{Aggregate, Context};
use itsm_store::{ExecError, ExpectedVersion, Request, Store, StoreError};

use crate::common::{actor, config, ts, unique};
use crate::ticket::{Ticket, TicketCommand, open};

#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    conflict: usize,
    contention: usize,
    other: Vec<String>,
}

/// `writers` tasks issue `total` bump commands on one ticket; half of them
/// read the version first and expect it exactly, half expect any version.
/// Checks: no lost or duplicated event, contiguous versions, events == the
/// successful commands, every failure a typed `Conflict` or `Contention`.
pub async fn run(store: &Store, writers: usize, total: usize) {
    let id = unique("HOT");
    let a = actor("t1", "alice");
    let cfg = config();
    let cmd = open(&id, "hot");
    store.execute::<Ticket>(Request::new(Context::new(&a, ts(0), &cfg), &id, &cmd)).await.unwrap();
    let remaining = Arc::new(AtomicUsize::new(total));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let remaining = remaining.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let a = actor("t1", &format!("writer-{w}"));
            let cfg = config();
            let mut tally = Tally::default();
            let mut latencies = Vec::new();
            while remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                let t0 = Instant::now();
                let expected = if w % 2 == 0 {
                    ExpectedVersion::Any
                } else {
                    match store.load::<Ticket>(&a, &id).await {
                        Ok(l) => ExpectedVersion::Exact(l.version),
                        Err(e) => {
                            tally.other.push(format!("load: {e}"));
                            continue;
                        }
                    }
                };
                let bump = TicketCommand::Bump;
                let ctx = Context::new(&a, ts(1), &cfg);
                match store.execute::<Ticket>(Request::new(ctx, &id, &bump).if_version(expected)).await {
                    Ok(_) => tally.ok += 1,
                    Err(ExecError::Store(StoreError::Conflict { .. })) => tally.conflict += 1,
                    Err(ExecError::Store(StoreError::Contention { .. })) => tally.contention += 1,
                    Err(e) => tally.other.push(e.to_string()),
                }
                latencies.push(t0.elapsed());
            }
            (tally, latencies)
        }));
    }
    let mut total_tally = Tally::default();
    let mut latencies = Vec::new();
    for t in tasks {
        let (tally, lat) = t.await.unwrap();
        total_tally.ok += tally.ok;
        total_tally.conflict += tally.conflict;
        total_tally.contention += tally.contention;
        total_tally.other.extend(tally.other);
        latencies.extend(lat);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let p99 = latencies.get(latencies.len() * 99 / 100).copied().unwrap_or_default();
    eprintln!(
        "contention {:?}: {writers} writers, {total} commands in {elapsed:.2?}: {} ok, {} conflicts, {} contention, {} other; p99 {p99:.2?}",
        store.backend(),
        total_tally.ok,
        total_tally.conflict,
        total_tally.contention,
        total_tally.other.len()
    );
    assert!(
        total_tally.other.is_empty(),
        "untyped failures: {:?}",
        &total_tally.other[..total_tally.other.len().min(5)]
    );
    assert_eq!(total_tally.ok + total_tally.conflict + total_tally.contention, total);
    let history = store.history::<Ticket>(&a, &id).await.unwrap();
    assert_eq!(history.len(), total_tally.ok + 1, "events == successful commands + the open");
    for (i, r) in history.iter().enumerate() {
        assert_eq!(r.version, i as u64 + 1, "contiguous versions");
    }
    let positions: std::collections::BTreeSet<_> = history.iter().map(|r| r.position).collect();
    assert_eq!(positions.len(), history.len(), "no duplicated event");
    let loaded = store.load::<Ticket>(&a, &id).await.unwrap();
    assert_eq!(loaded.version, history.len() as u64);
    assert_eq!(loaded.state.counter, total_tally.ok as u64);
    assert_eq!(Some(loaded.state), Ticket::replay(history.iter().map(|r| &r.event)).unwrap());
    assert!(store.verify_chain(&crate::common::tenant("t1")).await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t1_sqlite_64_writers_10000_commands() {
    let db = crate::common::sqlite().await;
    run(&db.store, 64, 10_000).await;
    db.cleanup().await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t1_postgres_64_writers_10000_commands() {
    let options = itsm_store::ConnectOptions { max_connections: 16, ..Default::default() };
    let Some(db) = crate::common::postgres_with(&options).await else { return };
    run(&db.store, 64, 10_000).await;
    db.cleanup().await;
}
