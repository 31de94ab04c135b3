//! The escalation runner (`Store::run_due`, `runner::Runner`): on both
//! backends, every escalation that is due is recorded once, with one outbox
//! message, equal to what the pure `due_escalations` says for each incident's
//! own history; a second pass records nothing; due instants move past `now`.
//! On PostgreSQL, three runner processes (real OS processes: this test binary
//! started again) share 1,000 due incidents, one of them killed with SIGKILL
//! mid-run, and every escalation is still recorded and acknowledged exactly
//! once.

use std::collections::BTreeSet;
use std::time::Duration;

use itsm_core::calendar::Calendar;
use itsm_core::id::{ActorId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, OpenIncident, sla_events};
use itsm_core::sla::{EscalationRules, SlaPolicy, due_escalations};
use itsm_core::versioned::Versioned;
use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, Urgency};
use itsm_core::{Actor, Context, DomainConfig, Role, Timestamp};
use itsm_store::runner::{FixedClock, Runner, RunnerOptions};
use itsm_store::{ESCALATION_TOPIC, ImportCommand, OnReject, Request, Store};

use crate::common::{TestDb, ts, unique};

const LEVELS: [(Impact, Urgency); 3] =
    [(Impact::High, Urgency::High), (Impact::Medium, Urgency::Medium), (Impact::Low, Urgency::Low)];

fn open(id: &str, n: usize) -> IncidentCommand {
    let (impact, urgency) = LEVELS[n % LEVELS.len()];
    IncidentCommand::Open(OpenIncident::new(
        IncidentId::new(id).unwrap(),
        IncidentKind::Production,
        ServiceId::new("payments").unwrap(),
        Text::new("card payments fail").unwrap(),
        impact,
        urgency,
        DetectionSource::User,
    ))
}

fn automation(tenant: &TenantId) -> Actor {
    Actor::new(ActorId::new("runner-test").unwrap(), tenant.clone(), [Role::Automation, Role::IncidentManager])
}

/// The tenant's SLA configuration: default policy, escalation rules and a
/// 24x7 UTC calendar, in force from long before the incidents.
async fn configure(store: &Store, tenant: &TenantId) {
    let from = ts(-1_000_000);
    store.add_config_version(tenant, Versioned::new(1, from, SlaPolicy::default()), ts(-1)).await.unwrap();
    store
        .add_config_version(tenant, Versioned::new(1, from, Calendar::twenty_four_seven(chrono_tz::UTC)), ts(-1))
        .await
        .unwrap();
    store.add_config_version(tenant, Versioned::new(1, from, EscalationRules::default()), ts(-1)).await.unwrap();
}

/// Opens `n` incidents (ids `INC-{i}`) at ts(i), every fourth acknowledged
/// a minute later, through the bulk path.
async fn fill(store: &Store, tenant: &TenantId, n: usize) {
    let actor = automation(tenant);
    let config = DomainConfig::default();
    let ids: Vec<String> = (0..n).map(|i| format!("INC-{i}")).collect();
    let mut batch: Vec<ImportCommand<'_, Incident>> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        batch.push(ImportCommand { actor: &actor, now: ts(i as i64), aggregate_id: id, command: open(id, i) });
        if i % 4 == 0 {
            batch.push(ImportCommand {
                actor: &actor,
                now: ts(i as i64 + 60),
                aggregate_id: id,
                command: IncidentCommand::Acknowledge,
            });
        }
    }
    for chunk in batch.chunks(500) {
        store.import_batch(&config, chunk, OnReject::Abort).await.unwrap();
    }
}

/// The reference: every escalation the pure function says is due at `now`
/// on each incident's own history (read back as events), by id.
async fn reference(store: &Store, tenant: &TenantId, n: usize, now: Timestamp) -> BTreeSet<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("INC-{i}")).collect();
    reference_of(store, tenant, &ids, now).await
}

async fn reference_of(store: &Store, tenant: &TenantId, ids: &[String], now: Timestamp) -> BTreeSet<String> {
    let actor = automation(tenant);
    let mut out = BTreeSet::new();
    for id in ids {
        let id = id.clone();
        let history = store.history::<Incident>(&actor, &id).await.unwrap();
        let events: Vec<_> = history.into_iter().map(|r| r.event).collect();
        let due = due_escalations(
            &IncidentId::new(&id).unwrap(),
            &sla_events(&events),
            &SlaPolicy::default(),
            &EscalationRules::default(),
            &Calendar::twenty_four_seven(chrono_tz::UTC),
            now,
        )
        .unwrap();
        out.extend(due.into_iter().map(|d| d.id));
    }
    out
}

async fn check_runner_records_each_escalation_once(db: &TestDb) {
    let store = &db.store;
    let tenant = TenantId::new(unique("runner")).unwrap();
    configure(store, &tenant).await;
    const N: usize = 40;
    fill(store, &tenant, N).await;
    // Two days on: every response and resolution level has come due.
    let now = ts(2 * 86_400);
    let expected = reference(store, &tenant, N, now).await;
    assert!(expected.len() > N, "the fixture should make several escalations per incident");

    // Half way first: what is due at the earlier instant only.
    let early = ts(1_800);
    let runner = Runner::new(store.clone(), FixedClock(early), RunnerOptions { batch: 7, ..RunnerOptions::default() });
    let first = runner.drain().await.unwrap();
    let early_expected = reference(store, &tenant, N, early).await;
    assert_eq!(first.executed as usize, early_expected.len());

    let runner = Runner::new(store.clone(), FixedClock(now), RunnerOptions { batch: 7, ..RunnerOptions::default() });
    let second = runner.drain().await.unwrap();
    assert_eq!((first.executed + second.executed) as usize, expected.len());
    assert_eq!(first.failed + second.failed, 0);
    // Nothing more at the same instant, and nothing due before it.
    assert_eq!(runner.drain().await.unwrap().executed, 0);
    let next = store.next_due().await.unwrap();
    assert!(next.is_none_or(|at| at > now), "a due instant left at or before now: {next:?}");

    // The outbox holds one message per escalation, keyed by its id, in the
    // incident's stream: claimed (one per stream at a time) and acknowledged
    // until none is left.
    let mut keys = Vec::new();
    loop {
        let claimed = store.claim("test", Duration::from_secs(60), 10_000, now).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        for m in &claimed {
            assert_eq!(m.stream.as_deref(), m.payload["incident"].as_str().map(|i| format!("incident/{i}")).as_deref());
            if m.tenant == tenant.as_str() && m.topic == ESCALATION_TOPIC {
                keys.push(m.dedup_key.clone());
            }
            assert!(store.ack(m.id, "test", now).await.unwrap());
        }
    }
    assert_eq!(keys.len(), expected.len(), "one message per escalation");
    assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), expected);
}

/// An escalation rule whose action is `propose_major_incident` (the default
/// rules' `p1-resolution-breach-major`) runs: each P1 incident whose
/// resolution target was breached becomes a major-incident candidate, by the
/// runner, once; the others do not.
async fn check_runner_proposes_major_incidents(db: &TestDb) {
    let store = &db.store;
    let tenant = TenantId::new(unique("propose")).unwrap();
    configure(store, &tenant).await;
    const N: usize = 12;
    fill(store, &tenant, N).await;
    let now = ts(2 * 86_400);
    let runner = Runner::new(store.clone(), FixedClock(now), RunnerOptions { batch: 5, ..RunnerOptions::default() });
    let totals = runner.drain().await.unwrap();
    let actor = automation(&tenant);
    let mut candidates = Vec::new();
    for i in 0..N {
        let id = format!("INC-{i}");
        let loaded = store.load::<Incident>(&actor, &id).await.unwrap();
        let p1 = i % LEVELS.len() == 0;
        match loaded.state.major_candidate() {
            Some(candidate) => {
                assert!(p1, "{id} is not P1 but was proposed");
                assert_eq!(candidate.by.as_str(), itsm_store::runner::RUNNER_ACTOR);
                assert!(candidate.reason.as_str().starts_with("escalation rule p1-resolution-breach-major"), "{id}");
                candidates.push(id);
            }
            None => assert!(!p1, "{id} is P1 and breached its resolution target, but was not proposed"),
        }
    }
    assert_eq!(candidates.len(), N.div_ceil(LEVELS.len()));
    assert_eq!(totals.proposed as usize, candidates.len());
    // Nothing is proposed twice.
    let later = Runner::new(store.clone(), FixedClock(ts(3 * 86_400)), RunnerOptions::default());
    assert_eq!(later.drain().await.unwrap().proposed, 0);
}

async fn check_runner_task_wakes_and_stops(db: &TestDb) {
    let store = &db.store;
    let tenant = TenantId::new(unique("runner_task")).unwrap();
    configure(store, &tenant).await;
    fill(store, &tenant, 3).await;
    let now = ts(2 * 86_400);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = Runner::new(store.clone(), FixedClock(now), RunnerOptions::default());
    let task = tokio::spawn(runner.run(async move {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let settled = || async {
        while store.next_due().await.unwrap().is_some_and(|at| at <= now) {
            assert!(std::time::Instant::now() < deadline, "the runner task did not work through what was due");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // The task works through what is due, then sleeps (up to 30 s); a new
    // incident's commit wakes it at once.
    settled().await;
    let actor = automation(&tenant);
    let config = DomainConfig::default();
    store
        .execute::<Incident>(Request::new(Context::new(&actor, ts(10), &config), "INC-late", &open("INC-late", 0)))
        .await
        .unwrap();
    settled().await;
    stop.send(()).unwrap();
    let totals = tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap().unwrap();
    let ids = ["INC-0", "INC-1", "INC-2", "INC-late"].map(str::to_owned);
    assert_eq!(totals.executed as usize, reference_of(store, &tenant, &ids, now).await.len());
    assert_eq!(totals.errors, 0);
}

crate::on_both_backends!(
    check_runner_records_each_escalation_once,
    check_runner_task_wakes_and_stops,
    check_runner_proposes_major_incidents
);

/// A child process of [`three_runner_processes_one_killed`]: runs a
/// [`Runner`] task and a delivery loop (claim, record the delivery in the
/// receiver's table, ack) against the database named by the environment,
/// until nothing is due or undelivered; does nothing as a normal test.
#[test]
fn runner_child() {
    let (Ok(url), Ok(now), Ok(name)) =
        (std::env::var("ITSM_RUNNER_URL"), std::env::var("ITSM_RUNNER_NOW"), std::env::var("ITSM_RUNNER_NAME"))
    else {
        return;
    };
    let now = Timestamp::from_unix_secs(now.parse().unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let store = Store::connect(&url).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runner =
            Runner::new(store.clone(), FixedClock(now), RunnerOptions { batch: 5, ..RunnerOptions::default() });
        let task = tokio::spawn(runner.run(async move {
            let _ = stopped.await;
        }));
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            // Leases are taken on the wall clock, so a killed process's
            // leases expire for the others.
            let at = Timestamp::from_utc(chrono::Utc::now());
            let claimed = store.claim(&name, Duration::from_secs(2), 10, at).await.unwrap();
            for item in &claimed {
                // The receiver counts escalations (the incidents' own messages, a
                // major-incident proposal among them, are checked in the outbox).
                if item.topic == ESCALATION_TOPIC {
                    receive(&url, &item.dedup_key, &name).await;
                }
                assert!(store.ack(item.id, &name, Timestamp::from_utc(chrono::Utc::now())).await.unwrap());
            }
            if claimed.is_empty() {
                if pending(&store, &url, now).await == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(std::time::Instant::now() < deadline, "{name} did not finish");
        }
        stop.send(()).unwrap();
        let totals = task.await.unwrap().unwrap();
        eprintln!("{name}: {totals:?}");
        store.close().await;
    });
}

/// The receiver: one row per delivery attempt that reached it.
async fn receive(url: &str, key: &str, consumer: &str) {
    raw(url, "INSERT INTO test_deliveries (dedup_key, consumer) VALUES ($1, $2)", &[key, consumer]).await;
}

/// Undelivered messages plus aggregates due at `now`.
async fn pending(store: &Store, url: &str, now: Timestamp) -> i64 {
    let undelivered = count(url, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL").await;
    undelivered + i64::from(store.next_due().await.unwrap().is_some_and(|at| at <= now))
}

#[cfg(feature = "postgres")]
async fn raw(url: &str, sql: &str, binds: &[&str]) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

#[cfg(feature = "postgres")]
async fn count(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    n
}

#[cfg(not(feature = "postgres"))]
async fn raw(_url: &str, _sql: &str, _binds: &[&str]) {}

#[cfg(not(feature = "postgres"))]
async fn count(_url: &str, _sql: &str) -> i64 {
    0
}

/// Three runner processes on 1,000 due incidents, one killed with SIGKILL
/// while it works: every escalation recorded once (equal to the pure
/// reference), one outbox message each, each acknowledged once; a message
/// reaches the receiver more than once only when the killed process had
/// taken it.
#[cfg(feature = "postgres")]
#[test]
fn three_runner_processes_one_killed() {
    use std::process::{Command, Stdio};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(crate::common::postgres()) else { return };
    const N: usize = 1_000;
    let now = ts(2 * 86_400);
    let tenant = TenantId::new(unique("runner_procs")).unwrap();
    let expected = rt.block_on(async {
        db.raw(&[
            "CREATE TABLE test_deliveries (n BIGSERIAL PRIMARY KEY, dedup_key TEXT NOT NULL, consumer TEXT NOT NULL)",
        ])
        .await
        .unwrap();
        configure(&db.store, &tenant).await;
        fill(&db.store, &tenant, N).await;
        reference(&db.store, &tenant, N, now).await
    });
    assert!(expected.len() >= 2 * N);
    let exe = std::env::current_exe().unwrap();
    let spawn = |name: &str| {
        Command::new(&exe)
            .args(["--exact", "runner::runner_child", "--nocapture", "--test-threads=1"])
            .env("ITSM_RUNNER_URL", &db.url)
            .env("ITSM_RUNNER_NOW", now.unix_secs().to_string())
            .env("ITSM_RUNNER_NAME", name)
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut victim = spawn("runner-a");
    let others = [spawn("runner-b"), spawn("runner-c")];
    // Kill the first once the work is under way (some escalations recorded).
    let started = std::time::Instant::now();
    while rt.block_on(count(&db.url, "SELECT count(*) FROM executed_escalations")) < (expected.len() / 10) as i64 {
        assert!(started.elapsed() < Duration::from_secs(120), "the runners never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    victim.kill().unwrap();
    let _ = victim.wait();
    for mut child in others {
        let status = child.wait().unwrap();
        assert!(status.success(), "a surviving runner failed: {status}");
    }
    rt.block_on(async {
        let (store, url) = (&db.store, db.url.as_str());
        let recorded = count(url, "SELECT count(*) FROM executed_escalations").await;
        let distinct = count(url, "SELECT count(DISTINCT escalation_id) FROM executed_escalations").await;
        assert_eq!((recorded, distinct), (expected.len() as i64, expected.len() as i64));
        let claimed = store.claim("final-check", Duration::from_secs(60), 100_000, now).await.unwrap();
        assert!(claimed.is_empty(), "undelivered messages left: {}", claimed.len());
        let messages =
            count(url, "SELECT count(*) FROM outbox WHERE topic = 'escalation' AND delivered_at IS NOT NULL").await;
        assert_eq!(messages, expected.len() as i64, "one delivered outbox message per escalation");
        // Each P1 incident was proposed as a major incident once, whichever runner took it.
        let proposals = count(
            url,
            "SELECT count(*) FROM outbox WHERE topic = 'incident.major_proposed' AND delivered_at IS NOT NULL",
        )
        .await;
        assert_eq!(proposals, N.div_ceil(LEVELS.len()) as i64, "one major-incident proposal per P1 incident");
        // Every escalation reached the receiver; repeats only of messages
        // the killed process took and never acknowledged.
        let repeats = count(
            url,
            "SELECT count(*) FROM (SELECT dedup_key FROM test_deliveries GROUP BY dedup_key HAVING count(*) > 1) r",
        )
        .await;
        let repeats_not_by_victim = count(
            url,
            "SELECT count(*) FROM (SELECT dedup_key FROM test_deliveries GROUP BY dedup_key HAVING count(*) > 1 \
             AND NOT bool_or(consumer = 'runner-a')) r",
        )
        .await;
        let received = count(url, "SELECT count(DISTINCT dedup_key) FROM test_deliveries").await;
        assert_eq!(received, expected.len() as i64, "an escalation never reached the receiver");
        assert_eq!(repeats_not_by_victim, 0, "a repeat delivery without a failure");
        assert!(repeats <= 10, "more repeats than the killed process could hold: {repeats}");
    });
    rt.block_on(db.cleanup());
}
