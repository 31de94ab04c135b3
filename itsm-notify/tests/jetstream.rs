//! The JetStream sink against the NATS server at `ITSM_NATS_URL` (default
//! `nats://127.0.0.1:4222`): outbox items delivered, then redelivered after
//! their lease expired without an acknowledgement, are stored once per item
//! (the server deduplicates by `Nats-Msg-Id`). Unreachable NATS fails the
//! test under `CI=true` and skips it (with a message) otherwise.

#![cfg(feature = "jetstream")]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream;
use itsm_core::Timestamp;
use itsm_notify::{DispatchOptions, Dispatcher, JetStreamSink, Sink, delivery_id};

fn nats_url() -> String {
    std::env::var("ITSM_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

async fn connect() -> Option<async_nats::Client> {
    let url = nats_url();
    let options = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5));
    match options.connect(&url).await {
        Ok(client) => Some(client),
        Err(e) => {
            if common::ci() {
                panic!("NATS at {url} is unreachable under CI=true: {e}");
            }
            eprintln!("SKIPPED: NATS at {url} is unreachable ({e}); set ITSM_NATS_URL to run the JetStream tests");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_items_are_stored_once() {
    let Some(client) = connect().await else { return };
    let js = jetstream::new(client);
    let name = common::unique("itsmnotify").replace('_', "x");
    let prefix = format!("{name}.out");
    let mut stream = js
        .create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("{prefix}.>")],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .unwrap();

    let db = common::sqlite().await;
    let t = common::tenant("notify-js");
    let at = common::now();
    let mut keys = Vec::new();
    for j in 0..5 {
        for k in 0..4 {
            let key = format!("esc-{k}-{j}");
            let payload = serde_json::json!({ "incident": format!("INC-{k}"), "seq": j });
            assert!(db.store.record_escalation(&t, &key, &payload, at).await.unwrap());
            keys.push(key);
        }
        let key = format!("loose-{j}");
        assert!(db.store.record_escalation(&t, &key, &serde_json::json!({ "seq": j }), at).await.unwrap());
        keys.push(key);
    }

    let sink = JetStreamSink::new(js.clone(), &prefix).unwrap();
    // A consumer claims, publishes and dies before acknowledging.
    let lease = Duration::from_secs(5);
    let t0 = common::now();
    let lost = db.store.claim("lost", lease, 100, t0).await.unwrap();
    assert_eq!(lost.len(), 4 + 5, "the head of each incident's stream and every loose message");
    for item in &lost {
        sink.deliver(item).await.unwrap();
    }
    // After the lease, a dispatcher delivers everything, those again.
    let t1 = Timestamp::from_utc(t0.as_utc() + chrono::TimeDelta::seconds(10));
    let options = DispatchOptions { batch: 8, ..DispatchOptions::default() };
    let dispatcher = Dispatcher::new(db.store.clone(), sink, "dispatcher", options).with_clock(move || t1);
    let mut total = itsm_notify::DispatchReport::default();
    loop {
        let report = dispatcher.run_once(t1).await.unwrap();
        if report.claimed == 0 {
            break;
        }
        total += report;
    }
    assert_eq!(total.delivered, keys.len(), "{total:?}");
    assert_eq!(total.claimed, keys.len());
    assert_eq!((total.dead, total.retried, total.lease_lost), (0, 0, 0));

    // One stored message per item, each with its id.
    let info = stream.info().await.unwrap();
    assert_eq!(info.state.messages, keys.len() as u64, "duplicates were dropped");
    let mut ids = BTreeSet::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let m = stream.get_raw_message(seq).await.unwrap();
        let body: itsm_notify::WebhookBody = serde_json::from_slice(&m.payload).unwrap();
        let id = format!("{}/{}/{}", body.tenant, body.topic, body.dedup_key);
        assert!(m.subject.as_str().starts_with(&format!("{prefix}.notify-js.escalation")), "{}", m.subject);
        ids.insert(id);
    }
    let expected: BTreeSet<String> =
        lost.iter().map(delivery_id).chain(keys.iter().map(|k| format!("notify-js/escalation/{k}"))).collect();
    assert_eq!(ids, expected);
    js.delete_stream(&name).await.unwrap();
    db.cleanup().await;
}
