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

/// Streams, retries and dead letters: a claim hands out only the first
/// pending message of each stream; a failure with a retry instant keeps the
/// stream blocked until the retry succeeds; a dead letter stops blocking.
async fn streams_retries_and_dead_letters(db: &TestDb) {
    let store = &db.store;
    let t = crate::common::tenant("ob_streams");
    let lease = Duration::from_secs(30);
    // Two incidents' streams (A: 3 messages, B: 2) and one message without a stream.
    for (n, incident) in ["A", "B", "A", "B", "A"].iter().enumerate() {
        let payload = serde_json::json!({ "incident": incident, "n": n });
        assert!(store.record_escalation(&t, &format!("E-{n}"), &payload, ts(0)).await.unwrap());
    }
    assert!(store.record_escalation(&t, "E-loose", &serde_json::json!({ "n": 5 }), ts(0)).await.unwrap());
    let keys = |items: &[itsm_store::OutboxItem]| items.iter().map(|i| i.dedup_key.clone()).collect::<Vec<_>>();

    let first = store.claim("c1", lease, 10, ts(1)).await.unwrap();
    assert_eq!(keys(&first), ["E-0", "E-1", "E-loose"], "one message per stream, in id order");
    assert_eq!(first[0].stream.as_deref(), Some("incident/A"));
    assert_eq!(first[2].stream, None);
    assert!(store.claim("c2", lease, 10, ts(2)).await.unwrap().is_empty(), "the rest wait for their heads");

    // A fails with a retry at ts(20): only the holder may record it, once.
    assert!(!store.fail(first[0].id, "c2", "not mine", Some(ts(20)), ts(3)).await.unwrap());
    assert!(store.fail(first[0].id, "c1", "HTTP 500", Some(ts(20)), ts(3)).await.unwrap());
    assert!(!store.fail(first[0].id, "c1", "again", Some(ts(20)), ts(3)).await.unwrap(), "the lease is released");
    assert!(!store.ack(first[0].id, "c1", ts(3)).await.unwrap());
    // B's head is delivered: B's next message comes; A stays blocked until ts(20).
    assert!(store.ack(first[1].id, "c1", ts(4)).await.unwrap());
    assert!(store.ack(first[2].id, "c1", ts(4)).await.unwrap());
    assert_eq!(keys(&store.claim("c2", lease, 10, ts(5)).await.unwrap()), ["E-3"]);
    let retried = store.claim("c2", lease, 10, ts(20)).await.unwrap();
    assert_eq!(keys(&retried), ["E-0"]);
    assert_eq!(retried[0].attempts, 2);

    // A's head becomes a dead letter: A's next message is handed out.
    assert!(store.fail(retried[0].id, "c2", "HTTP 400 \0 refused", None, ts(21)).await.unwrap());
    let next = store.claim("c3", lease, 10, ts(22)).await.unwrap();
    assert_eq!(keys(&next), ["E-2"], "a dead letter stops blocking its stream");
    let dead = store.dead_letters(&t, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].dedup_key, "E-0");
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].dead_at, ts(21));
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 400 \u{fffd} refused"));
    assert_eq!(dead[0].payload["incident"], "A");
    assert_eq!(dead[0].stream.as_deref(), Some("incident/A"));
    assert!(store.dead_letters(&crate::common::tenant("ob_other"), 10).await.unwrap().is_empty());
    // A dead letter is never claimed again, even after every lease expired.
    assert!(store.ack(next[0].id, "c3", ts(23)).await.unwrap());
    let rest = store.claim("c3", lease, 10, ts(10_000)).await.unwrap();
    assert!(rest.iter().all(|i| i.dedup_key != "E-0"));
    assert!(matches!(store.fail(1, "c\0", "x", None, ts(0)).await, Err(itsm_store::StoreError::Validation { .. })));
    // A long error is kept to 4096 bytes, cut on a character boundary.
    let long = format!("{}{}", "x".repeat(4095), "\u{e9}".repeat(10));
    let last = rest.last().unwrap();
    assert!(store.fail(last.id, "c3", &long, None, ts(10_001)).await.unwrap());
    let dead = store.dead_letters(&t, 10).await.unwrap();
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[1].last_error.as_deref(), Some("x".repeat(4095).as_str()));
}

#[tokio::test]
async fn streams_retries_and_dead_letters_sqlite() {
    let db = crate::common::sqlite().await;
    streams_retries_and_dead_letters(&db).await;
    db.cleanup().await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn streams_retries_and_dead_letters_postgres() {
    let Some(db) = crate::common::postgres().await else { return };
    streams_retries_and_dead_letters(&db).await;
    db.cleanup().await;
}
