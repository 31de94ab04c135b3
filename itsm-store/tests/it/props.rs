//! Properties on both backends: random aggregates round-trip exactly
//! (emoji, 1 MB text), and a tenant-A actor can never read, reference or
//! change a tenant-B record, whatever the ids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::TryStreamExt;
use itsm_core::id::{ActorId, GroupId, ServiceId};
use itsm_core::vocabulary::Priority;
use itsm_core::{Aggregate, AggregateKind, Context};
use itsm_store::{ExecError, ExpectedVersion, QueueFilter, Request, Store, StoreError};
use proptest::prelude::*;

use crate::common::{TestDb, actor, config, tenant, ts};
use crate::ticket::{Ticket, TicketCommand};

static CASE: AtomicU64 = AtomicU64::new(0);

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "\\PC{0,40}",
        2 => Just("emoji 🚨💳👩‍💻 and RTL \u{202e}txet and \u{1F600}".to_owned()),
        2 => Just("<img src=x onerror=alert(1)> ' OR 1=1-- =HYPERLINK(\"x\")".to_owned()),
        1 => Just("é".repeat(512 * 1024)),
        1 => Just("a NUL \u{0} inside, escaped in JSON".to_owned()),
    ]
}

fn command() -> impl Strategy<Value = TicketCommand> {
    prop_oneof![
        3 => text().prop_map(|text| TicketCommand::Note { text }),
        1 => "[a-z]{1,8}".prop_map(|to| TicketCommand::Assign { to: ActorId::new(to).unwrap() }),
        1 => (0i64..100_000, 1i64..100_000).prop_map(|(s, d)| TicketCommand::Schedule { start: ts(s), end: ts(s + d) }),
        2 => Just(TicketCommand::Bump),
        1 => Just(TicketCommand::BumpTwice),
        1 => Just(TicketCommand::Close),
    ]
}

fn open_command() -> impl Strategy<Value = (String, Option<ServiceId>, Option<Priority>, Option<GroupId>)> {
    (
        text(),
        proptest::option::of("[a-z💳]{1,6}".prop_map(|s| ServiceId::new(s).unwrap())),
        proptest::option::of(proptest::sample::select(Priority::ALL)),
        proptest::option::of("[a-z0-9]{1,6}".prop_map(|s| GroupId::new(s).unwrap())),
    )
}

/// Micro-second instants, including sub-second parts.
fn instant() -> impl Strategy<Value = i64> {
    0i64..10_000_000_000
}

async fn roundtrip_case(
    store: &Store,
    opened: (String, Option<ServiceId>, Option<Priority>, Option<GroupId>),
    commands: Vec<TicketCommand>,
    micros: i64,
) -> Result<(), TestCaseError> {
    let n = CASE.fetch_add(1, Ordering::Relaxed);
    let id = format!("RT-{n}");
    let a = actor("t1", "alice");
    let cfg = config();
    let at = itsm_core::Timestamp::from_unix_micros(1_767_225_600_000_000 + micros).unwrap();
    let ctx = Context::new(&a, at, &cfg);
    let (title, service, priority, group) = opened;
    let mut state = None;
    let mut all = Vec::new();
    let first = TicketCommand::Open { id: id.clone(), title, service, priority, group };
    for command in std::iter::once(&first).chain(&commands) {
        // The pure reference: decide and apply in memory.
        let expected = Ticket::execute(state.clone(), command, &ctx);
        let stored = store.execute::<Ticket>(Request::new(ctx, &id, command)).await;
        match (expected, stored) {
            (Ok((next, events)), Ok(c)) => {
                prop_assert_eq!(&c.state, &next);
                prop_assert_eq!(c.events.iter().map(|r| r.event.clone()).collect::<Vec<_>>(), events.clone());
                all.extend(events);
                state = Some(next);
            }
            (Err(itsm_core::ExecuteError::Rejected(e)), Err(ExecError::Domain(got))) => prop_assert_eq!(e, got),
            (e, s) => prop_assert!(false, "reference {:?} vs store {:?}", e.map(|_| ()), s.map(|_| ())),
        }
    }
    let loaded = store.load::<Ticket>(&a, &id).await.unwrap();
    prop_assert_eq!(Some(&loaded.state), state.as_ref());
    prop_assert_eq!(loaded.version, all.len() as u64);
    prop_assert_eq!(loaded.updated_at, at);
    let history = store.history::<Ticket>(&a, &id).await.unwrap();
    prop_assert_eq!(history.iter().map(|r| r.event.clone()).collect::<Vec<_>>(), all);
    prop_assert!(history.iter().all(|r| r.recorded_at == at));
    Ok(())
}

fn run_roundtrip(db: &TestDb, rt: &tokio::runtime::Runtime, cases: u32) {
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(opened in open_command(), commands in proptest::collection::vec(command(), 0..8), micros in instant())| {
        rt.block_on(roundtrip_case(&db.store, opened, commands, micros))?;
    });
    rt.block_on(async {
        assert!(db.store.verify_chain(&tenant("t1")).await.unwrap().is_intact());
    });
}

#[test]
fn roundtrip_sqlite() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(crate::common::sqlite());
    run_roundtrip(&db, &rt, 48);
    rt.block_on(db.cleanup());
}

#[cfg(feature = "postgres")]
#[test]
fn roundtrip_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(crate::common::postgres()) else { return };
    run_roundtrip(&db, &rt, 48);
    rt.block_on(db.cleanup());
}

/// Everything tenant A can observe about an id.
#[derive(Debug, PartialEq)]
enum Seen {
    NotFound,
    Domain(String),
    Conflict(u64),
    Other(String),
    Committed(u64),
}

fn seen<T>(r: Result<T, ExecError<crate::ticket::TicketError>>, version: impl Fn(&T) -> u64) -> Seen {
    match r {
        Ok(c) => Seen::Committed(version(&c)),
        Err(ExecError::Domain(e)) => Seen::Domain(e.to_string()),
        Err(ExecError::Store(StoreError::NotFound { .. })) => Seen::NotFound,
        Err(ExecError::Store(StoreError::Conflict { actual, .. })) => Seen::Conflict(actual),
        Err(e) => Seen::Other(e.to_string()),
    }
}

async fn isolation_case(store: &Store, id: String, key: String) -> Result<(), TestCaseError> {
    let n = CASE.fetch_add(1, Ordering::Relaxed);
    let theirs = format!("{n}-{id}");
    let fresh = format!("{n}-fresh-{id}");
    let mine = format!("{n}-mine");
    let key = format!("{n}-{key}");
    let a = actor("ta", "alice");
    let b = actor("tb", "bob");
    let cfg = config();
    let svc = ServiceId::new("svc").unwrap();
    let grp = GroupId::new("grp").unwrap();
    let at = |s| Context::new(&b, ts(s), &cfg);
    // Tenant B's record, assigned, scheduled, due, keyed.
    let open_b = TicketCommand::Open {
        id: theirs.clone(),
        title: "secret".into(),
        service: Some(svc.clone()),
        priority: Some(Priority::P1),
        group: Some(grp.clone()),
    };
    store.execute::<Ticket>(Request::new(at(0), &theirs, &open_b).idempotency_key(&key)).await.unwrap();
    let assign = TicketCommand::Assign { to: ActorId::new("alice").unwrap() };
    store.execute::<Ticket>(Request::new(at(1), &theirs, &assign)).await.unwrap();
    let sched = TicketCommand::Schedule { start: ts(10), end: ts(20) };
    store.execute::<Ticket>(Request::new(at(2), &theirs, &sched)).await.unwrap();
    let before = store.load::<Ticket>(&b, &theirs).await.unwrap();
    // Tenant A has its own record.
    let ctx_a = Context::new(&a, ts(3), &cfg);
    store.execute::<Ticket>(Request::new(ctx_a, &mine, &crate::ticket::open(&mine, "mine"))).await.unwrap();

    // Reads.
    let not_found = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NotFound { .. }));
    prop_assert!(not_found(store.load::<Ticket>(&a, &theirs).await.map(|_| ())), "load");
    prop_assert!(not_found(store.history::<Ticket>(&a, &theirs).await.map(|_| ())), "history");
    let handled = store.mark_due_handled(&a, AggregateKind::Incident, &theirs, ts(4), ts(4)).await;
    prop_assert!(not_found(handled.map(|_| ())), "mark_due_handled");
    // Commands on B's id behave exactly as on an id nobody uses.
    for (expected, command) in [
        (ExpectedVersion::Any, TicketCommand::Bump),
        (ExpectedVersion::Any, TicketCommand::Close),
        (ExpectedVersion::Exact(3), TicketCommand::Bump),
        (ExpectedVersion::Absent, TicketCommand::Bump),
    ] {
        let on_theirs = store.execute::<Ticket>(Request::new(ctx_a, &theirs, &command).if_version(expected)).await;
        let on_fresh = store.execute::<Ticket>(Request::new(ctx_a, &fresh, &command).if_version(expected)).await;
        prop_assert_eq!(seen(on_theirs, |c| c.version), seen(on_fresh, |c| c.version));
    }
    // References to B's id are NotFound, like a missing one.
    let link = TicketCommand::Link { other: theirs.clone() };
    let r = store.execute::<Ticket>(Request::new(ctx_a, &mine, &link)).await;
    prop_assert_eq!(seen(r, |c| c.version), Seen::NotFound);
    // B's idempotency key means nothing in A's tenant.
    let bump = TicketCommand::Bump;
    let r = store.execute::<Ticket>(Request::new(ctx_a, &mine, &bump).idempotency_key(&key)).await.unwrap();
    prop_assert!(!r.replayed);
    // Queries never show B's rows.
    let lists = [
        store.queue(&a, &QueueFilter::Assignee(ActorId::new("alice").unwrap()), 1000).await.unwrap(),
        store.queue(&a, &QueueFilter::Group(grp.clone()), 1000).await.unwrap(),
        store.due_before(&a, ts(1_000_000), 1000).await.unwrap(),
        store.change_calendar(&a, &svc, ts(0), ts(1_000_000)).await.unwrap(),
    ];
    for list in lists {
        prop_assert!(list.iter().all(|r| r.id != theirs), "{:?}", list);
    }
    prop_assert!(store.conflicts(&a, &svc, ts(0), ts(1_000_000)).await.unwrap().is_empty());
    let events: Vec<_> = store.stream_events(&tenant("ta"), AggregateKind::Incident).try_collect().await.unwrap();
    prop_assert!(events.iter().all(|e| e.tenant == "ta" && e.aggregate_id != theirs));
    // And B's record is untouched.
    prop_assert_eq!(store.load::<Ticket>(&b, &theirs).await.unwrap(), before);
    Ok(())
}

fn run_isolation(db: &TestDb, rt: &tokio::runtime::Runtime, cases: u32) {
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(id in "[A-Za-z0-9._-]{1,16}", key in "[a-z0-9]{1,12}")| {
        rt.block_on(isolation_case(&db.store, id, key))?;
    });
    rt.block_on(async {
        assert!(db.store.verify_chain(&tenant("ta")).await.unwrap().is_intact());
        assert!(db.store.verify_chain(&tenant("tb")).await.unwrap().is_intact());
        // Outbox consumers see every tenant's messages by design; nothing here.
        let _ = db.store.claim("c", Duration::from_secs(1), 1, ts(0)).await.unwrap();
    });
}

#[test]
fn tenant_isolation_sqlite() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(crate::common::sqlite());
    run_isolation(&db, &rt, 32);
    rt.block_on(db.cleanup());
}

#[cfg(feature = "postgres")]
#[test]
fn tenant_isolation_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(crate::common::postgres()) else { return };
    run_isolation(&db, &rt, 32);
    rt.block_on(db.cleanup());
}
