//! Outbox delivery under competing consumers: 4 consumers, each with its own
//! store (its own pool), drain 10,000 messages; each is acknowledged exactly
//! once. On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`; the SQLite run
//! uses the same code on one file.

use std::collections::BTreeMap;
use std::time::Duration;

use itsm_core::Timestamp;
use itsm_store::{ImportCommand, OnReject, Store};

use crate::common::{TestDb, actor, config, ts};
use crate::ticket::{Ticket, TicketCommand, open};

const MESSAGES: usize = 10_000;

async fn fill(store: &Store) {
    let a = actor("t1", "loader");
    let cfg = config();
    let ids: Vec<String> = (0..MESSAGES).map(|i| format!("OB-{i}")).collect();
    let cmds: Vec<(usize, TicketCommand)> =
        (0..MESSAGES).flat_map(|i| [(i, open(&ids[i], "x")), (i, TicketCommand::Close)]).collect();
    let batch: Vec<ImportCommand<'_, Ticket>> = cmds
        .iter()
        .map(|(i, c)| ImportCommand { actor: &a, now: ts(0), aggregate_id: &ids[*i], command: c.clone() })
        .collect();
    for chunk in batch.chunks(5_000) {
        store.import_batch(&cfg, chunk, OnReject::Abort).await.unwrap();
    }
}

/// Each consumer claims batches with a long lease and acks every item; the
/// clock advances on every claim so nothing expires mid-test.
async fn consume(store: Store, name: String, clock: std::sync::Arc<std::sync::atomic::AtomicI64>) -> Vec<i64> {
    let mut acked = Vec::new();
    let mut idle = 0;
    loop {
        let now = Timestamp::from_unix_micros(clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst)).unwrap();
        let items = store.claim(&name, Duration::from_secs(3600), 64, now).await.unwrap();
        if items.is_empty() {
            idle += 1;
            if idle > 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        idle = 0;
        for item in items {
            let now = Timestamp::from_unix_micros(clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst)).unwrap();
            if store.ack(item.id, &name, now).await.unwrap() {
                acked.push(item.id);
            }
        }
    }
    store.close().await;
    acked
}

async fn drain_with_four_consumers(db: &TestDb) {
    fill(&db.store).await;
    let clock = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(ts(10).unix_micros()));
    let mut tasks = Vec::new();
    for c in 0..4 {
        let options = itsm_store::ConnectOptions { max_connections: 2, ..Default::default() };
        let store = Store::connect_with(&db.url, &options).await.unwrap();
        tasks.push(tokio::spawn(consume(store, format!("consumer-{c}"), clock.clone())));
    }
    let mut delivered: BTreeMap<i64, usize> = BTreeMap::new();
    let mut per_consumer = Vec::new();
    for t in tasks {
        let acked = t.await.unwrap();
        per_consumer.push(acked.len());
        for id in acked {
            *delivered.entry(id).or_default() += 1;
        }
    }
    eprintln!("outbox {:?}: per consumer {per_consumer:?}", db.backend());
    assert_eq!(delivered.len(), MESSAGES, "every message delivered");
    assert!(delivered.values().all(|&n| n == 1), "each exactly once");
    assert!(db.store.claim("late", Duration::from_secs(1), 10, ts(100_000)).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_consumers_sqlite() {
    let db = crate::common::sqlite().await;
    drain_with_four_consumers(&db).await;
    db.cleanup().await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_consumers_postgres() {
    let Some(db) = crate::common::postgres().await else { return };
    drain_with_four_consumers(&db).await;
    db.cleanup().await;
}
