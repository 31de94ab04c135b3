//! The webhook sink against a local HTTP receiver that fails (500), times
//! out and succeeds at random (a seeded generator), and refuses (400) or
//! always fails some designated messages, on SQLite and PostgreSQL.
//!
//! Checked: every message that is not designated to fail is received with a
//! 2xx at least once; per stream the messages arrive in id order (a message
//! is never sent before the previous one of its stream was delivered or
//! dead); a message is received again only after a failed or timed-out
//! attempt; the designated messages are dead letters after exactly
//! `MAX_ATTEMPTS` attempts (always 500) or 1 (400); every request's
//! signature verifies and a tampered body's does not; nothing is left
//! pending.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use itsm_notify::{
    DELIVERY_HEADER, DispatchOptions, Dispatcher, SIGNATURE_HEADER, WebhookBody, WebhookSink, verify_signature,
};
use itsm_store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::{Db, tenant};

const SECRET: &[u8] = b"s3cret-webhook-key";
const MAX_ATTEMPTS: u32 = 5;
const TIMEOUT: Duration = Duration::from_millis(500);
const INCIDENTS: usize = 20;
const PER_INCIDENT: usize = 10;
const LOOSE: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Fail,
    Timeout,
    Refuse,
}

#[derive(Debug, Clone)]
struct Received {
    delivery: String,
    body: Vec<u8>,
    signature: String,
    parsed: WebhookBody,
    answer: Answer,
}

struct Receiver {
    rng: Mutex<StdRng>,
    log: Mutex<Vec<Received>>,
}

async fn hook(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let Ok(parsed) = serde_json::from_slice::<WebhookBody>(&body) else { return StatusCode::UNPROCESSABLE_ENTITY };
    let delivery = header(DELIVERY_HEADER);
    let answer = {
        let mut log = rx.log.lock().unwrap();
        let seen = log.iter().filter(|r| r.delivery == delivery).count();
        let answer = if parsed.dedup_key.starts_with("dead500") {
            Answer::Fail
        } else if parsed.dedup_key.starts_with("dead400") {
            Answer::Refuse
        } else if seen + 1 >= MAX_ATTEMPTS as usize {
            // The last attempt a message has succeeds: only the designated
            // messages become dead letters.
            Answer::Ok
        } else {
            match rx.rng.lock().unwrap().random_range(0..100) {
                0..25 => Answer::Fail,
                25..40 => Answer::Timeout,
                _ => Answer::Ok,
            }
        };
        log.push(Received { delivery, body: body.to_vec(), signature: header(SIGNATURE_HEADER), parsed, answer });
        answer
    };
    match answer {
        Answer::Ok => StatusCode::OK,
        Answer::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Answer::Refuse => StatusCode::BAD_REQUEST,
        Answer::Timeout => {
            tokio::time::sleep(TIMEOUT * 3).await;
            StatusCode::OK
        }
    }
}

/// Writes the messages: escalations of `INCIDENTS` incidents (each its own
/// stream), interleaved, and `LOOSE` without a stream. Returns each
/// message's dedup key and stream, in write (id) order.
async fn write_messages(store: &Store, t: &itsm_core::id::TenantId) -> Vec<(String, Option<String>)> {
    let mut written = Vec::new();
    let at = common::now();
    for j in 0..PER_INCIDENT {
        for k in 0..INCIDENTS {
            let key = match (k, j) {
                (3, 4) | (7, 0) => format!("dead500-{k}-{j}"),
                (11, 9) | (15, 5) => format!("dead400-{k}-{j}"),
                _ => format!("esc-{k}-{j}"),
            };
            let payload = serde_json::json!({ "incident": format!("INC-{k}"), "seq": j });
            assert!(store.record_escalation(t, &key, &payload, at).await.unwrap());
            written.push((key, Some(format!("incident/INC-{k}"))));
        }
        if j < LOOSE {
            let key = format!("loose-{j}");
            assert!(store.record_escalation(t, &key, &serde_json::json!({ "seq": j }), at).await.unwrap());
            written.push((key, None));
        }
    }
    written
}

async fn deliver_through_a_flaky_receiver(db: &Db, seed: u64) {
    let t = tenant("notify-webhook");
    let written = write_messages(&db.store, &t).await;
    let designated = |key: &str| key.starts_with("dead");
    let expected_ok = written.iter().filter(|(k, _)| !designated(k)).count();

    let rx = Arc::new(Receiver { rng: Mutex::new(StdRng::seed_from_u64(seed)), log: Mutex::new(Vec::new()) });
    let app = Router::new().route("/hook", post(hook)).with_state(Arc::clone(&rx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let sink = WebhookSink::new(&format!("http://{addr}/hook"), SECRET, TIMEOUT).unwrap();
    let options = DispatchOptions {
        batch: 16,
        lease: Duration::from_secs(60),
        max_attempts: MAX_ATTEMPTS,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        idle: Duration::from_millis(10),
        concurrency: 8,
    };
    let dispatcher = Arc::new(Dispatcher::new(db.store.clone(), sink, "webhook-test", options));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = {
        let d = Arc::clone(&dispatcher);
        tokio::spawn(async move {
            d.run(async move {
                let _ = stopped.await;
            })
            .await
        })
    };

    // Until every message is delivered or dead.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let ok = {
            let log = rx.log.lock().unwrap();
            let mut ok: Vec<&str> =
                log.iter().filter(|r| r.answer == Answer::Ok).map(|r| r.delivery.as_str()).collect();
            ok.sort_unstable();
            ok.dedup();
            ok.len()
        };
        let dead = db.store.dead_letters(&t, 100).await.unwrap().len();
        if ok == expected_ok && dead == 4 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}: not done in time: {ok} delivered, {dead} dead", db.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    let report = running.await.unwrap();
    server.abort();
    eprintln!("{}: {report:?}", db.name);

    let log = rx.log.lock().unwrap().clone();
    // Nothing left pending.
    let later = common::now().as_utc() + chrono::TimeDelta::days(1);
    let rest =
        db.store.claim("check", Duration::from_secs(1), 100, itsm_core::Timestamp::from_utc(later)).await.unwrap();
    assert!(rest.is_empty(), "{}: still pending: {rest:?}", db.name);
    assert_eq!(report.delivered, expected_ok, "{}: each message acknowledged once", db.name);
    assert_eq!(report.dead, 4);
    assert_eq!(report.lease_lost, 0);

    // Signatures.
    for r in &log {
        assert!(verify_signature(SECRET, &r.body, &r.signature), "{}: signature of {}", db.name, r.delivery);
        let mut tampered = r.body.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 1;
        assert!(!verify_signature(SECRET, &tampered, &r.signature));
    }

    // Per message: attempts numbered 1.., every request but the last one
    // failed, and the last one succeeded unless the message is designated.
    let mut per_message: BTreeMap<i64, Vec<&Received>> = BTreeMap::new();
    for r in &log {
        per_message.entry(r.parsed.id).or_default().push(r);
    }
    assert_eq!(per_message.len(), written.len(), "{}: every message was sent", db.name);
    let mut by_id = per_message.iter();
    for ((key, stream), (_, requests)) in written.iter().zip(&mut by_id) {
        assert_eq!(&requests[0].parsed.dedup_key, key, "ids follow write order");
        assert_eq!(&requests[0].parsed.stream, stream);
        for (n, r) in requests.iter().enumerate() {
            assert_eq!(r.parsed.attempt as usize, n + 1, "{key}: attempt numbers");
            assert_eq!(r.delivery, requests[0].delivery, "{key}: one idempotency id");
        }
        let (last, before) = requests.split_last().unwrap();
        assert!(
            before.iter().all(|r| matches!(r.answer, Answer::Fail | Answer::Timeout)),
            "{}: {key} received again only after a failed attempt: {:?}",
            db.name,
            requests.iter().map(|r| r.answer).collect::<Vec<_>>()
        );
        match key.get(..7) {
            Some("dead500") => {
                assert_eq!(requests.len(), MAX_ATTEMPTS as usize, "{key}");
                assert_eq!(last.answer, Answer::Fail);
            }
            Some("dead400") => {
                assert_eq!(requests.len(), 1, "{key}: a refusal is not retried");
                assert_eq!(last.answer, Answer::Refuse);
            }
            _ => assert_eq!(last.answer, Answer::Ok, "{key}"),
        }
    }

    // Per stream: once a message is sent, no earlier one of its stream is
    // sent again, and the first successes are in id order.
    let mut stream_last: HashMap<&str, i64> = HashMap::new();
    let mut first_ok: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut seen_ok: std::collections::HashSet<i64> = std::collections::HashSet::new();
    for r in &log {
        let Some(stream) = r.parsed.stream.as_deref() else { continue };
        let last = stream_last.entry(stream).or_insert(r.parsed.id);
        assert!(r.parsed.id >= *last, "{}: {stream}: message {} sent after {}", db.name, r.parsed.id, last);
        *last = r.parsed.id;
        if r.answer == Answer::Ok && seen_ok.insert(r.parsed.id) {
            first_ok.entry(stream).or_default().push(r.parsed.id);
        }
    }
    assert_eq!(stream_last.len(), INCIDENTS);
    for (stream, ids) in &first_ok {
        assert!(ids.is_sorted(), "{stream}: {ids:?}");
    }

    // Dead letters: exactly the designated messages, with their attempts.
    let dead = db.store.dead_letters(&t, 100).await.unwrap();
    let dead: BTreeMap<&str, (u32, Option<&str>)> =
        dead.iter().map(|d| (d.dedup_key.as_str(), (d.attempts, d.last_error.as_deref()))).collect();
    assert_eq!(
        dead.keys().copied().collect::<Vec<_>>(),
        ["dead400-11-9", "dead400-15-5", "dead500-3-4", "dead500-7-0"]
    );
    for (key, (attempts, error)) in &dead {
        let expected = if key.starts_with("dead500") { MAX_ATTEMPTS } else { 1 };
        assert_eq!(*attempts, expected, "{key}");
        let error = error.unwrap_or_default();
        assert!(error.contains(if key.starts_with("dead500") { "500" } else { "400" }), "{key}: {error}");
    }
    let retries = log.iter().filter(|r| matches!(r.answer, Answer::Fail | Answer::Timeout)).count();
    eprintln!("{}: {} requests, {retries} failed or timed out", db.name, log.len());
    assert!(log.iter().any(|r| r.answer == Answer::Timeout), "the run exercised timeouts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_receiver_sqlite() {
    let db = common::sqlite().await;
    deliver_through_a_flaky_receiver(&db, 17).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_receiver_postgres() {
    let Some(db) = common::postgres().await else { return };
    deliver_through_a_flaky_receiver(&db, 23).await;
    db.cleanup().await;
}
