//! The conformance suite: every `check_*` runs against SQLite and PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use itsm_core::id::{ActorId, GroupId, ServiceId};
use itsm_core::vocabulary::Priority;
use itsm_core::{Aggregate, AggregateKind, Context};
use itsm_store::{
    BreakReason, ExecError, ExpectedVersion, ImportCommand, OnReject, QueueFilter, Request, Store, StoreError,
};

use crate::common::{TestDb, actor, config, tenant, ts};
use crate::on_both_backends;
use crate::ticket::{Ticket, TicketCommand, TicketError, TicketEvent, open};

on_both_backends!(
    check_lifecycle,
    check_conflicts,
    check_rejection_writes_nothing,
    check_idempotency,
    check_concurrent_idempotency,
    check_references,
    check_outbox_leases,
    check_escalations,
    check_queries,
    check_stream,
    check_audit_chain_detects_tampering,
    check_append_only,
    check_import_batch,
    check_validation,
    check_schema_too_new,
    check_contention_small,
    check_external_writer,
);

async fn exec(
    store: &Store,
    actor: &itsm_core::Actor,
    at: i64,
    id: &str,
    expected: ExpectedVersion,
    command: TicketCommand,
) -> Result<itsm_store::Committed<Ticket>, ExecError<TicketError>> {
    let cfg = config();
    let ctx = Context::new(actor, ts(at), &cfg);
    store.execute::<Ticket>(Request::new(ctx, id, &command).if_version(expected)).await
}

async fn check_lifecycle(db: &TestDb) {
    let store = &db.store;
    let a = actor("t1", "alice");
    let c = exec(store, &a, 0, "T-1", ExpectedVersion::Absent, open("T-1", "disk full 💾")).await.unwrap();
    assert_eq!(c.version, 1);
    assert!(!c.replayed);
    assert_eq!(c.events.len(), 1);
    assert_eq!(c.events[0].version, 1);
    assert_eq!(c.events[0].recorded_at, ts(0));
    let c = exec(store, &a, 1, "T-1", ExpectedVersion::Exact(1), TicketCommand::BumpTwice).await.unwrap();
    assert_eq!(c.version, 3);
    assert_eq!(c.events.iter().map(|e| e.version).collect::<Vec<_>>(), vec![2, 3]);
    assert!(c.events[0].position < c.events[1].position);
    let c = exec(store, &a, 2, "T-1", ExpectedVersion::Any, TicketCommand::Assign { to: ActorId::new("bob").unwrap() })
        .await
        .unwrap();
    assert_eq!(c.state.assignee.as_ref().unwrap().as_str(), "bob");
    let loaded = store.load::<Ticket>(&a, "T-1").await.unwrap();
    assert_eq!(loaded.version, 4);
    assert_eq!(loaded.state, c.state);
    assert_eq!(loaded.updated_at, ts(2));
    let history = store.history::<Ticket>(&a, "T-1").await.unwrap();
    assert_eq!(history.iter().map(|r| r.version).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(history[3].actor, "alice");
    let folded = Ticket::replay(history.iter().map(|r| &r.event)).unwrap().unwrap();
    assert_eq!(folded, loaded.state);
    // Versions cross 9 -> 10 (text vs number ordering) correctly.
    for i in 0..8 {
        exec(store, &a, 3 + i, "T-1", ExpectedVersion::Exact(4 + i as u64), TicketCommand::Bump).await.unwrap();
    }
    let history = store.history::<Ticket>(&a, "T-1").await.unwrap();
    assert_eq!(history.iter().map(|r| r.version).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>());
    assert_eq!(store.load::<Ticket>(&a, "T-1").await.unwrap().state.counter, 10);
    assert!(matches!(store.load::<Ticket>(&a, "T-404").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.history::<Ticket>(&a, "T-404").await, Err(StoreError::NotFound { .. })));
}

async fn check_conflicts(db: &TestDb) {
    let store = &db.store;
    let a = actor("t1", "alice");
    exec(store, &a, 0, "T-1", ExpectedVersion::Absent, open("T-1", "x")).await.unwrap();
    // Two agents read v1; one commits v2, the other gets Conflict{1, 2}.
    let r1 = exec(store, &a, 1, "T-1", ExpectedVersion::Exact(1), TicketCommand::Bump).await;
    let r2 = exec(store, &a, 1, "T-1", ExpectedVersion::Exact(1), TicketCommand::Close).await;
    assert!(r1.is_ok());
    match r2 {
        Err(ExecError::Store(
            ref e @ StoreError::Conflict {
                kind: AggregateKind::Incident,
                ref id,
                expected: ExpectedVersion::Exact(1),
                actual: 2,
            },
        )) if id == "T-1" => {
            assert_eq!(e.kind(), itsm_store::ErrorKind::Conflict);
            assert_eq!(e.to_string(), "version conflict on incident T-1: expected version 1, found 2");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    match exec(store, &a, 2, "T-1", ExpectedVersion::Absent, open("T-1", "again")).await {
        Err(ExecError::Store(StoreError::Conflict { expected: ExpectedVersion::Absent, actual: 2, .. })) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    // A version expected of a missing aggregate: not found (as for one the actor may not read).
    match exec(store, &a, 2, "T-2", ExpectedVersion::Exact(3), TicketCommand::Bump).await {
        Err(ExecError::Store(StoreError::NotFound { ref id, .. })) if id == "T-2" => {}
        other => panic!("expected not found, got {other:?}"),
    }
    for v in [u64::MAX, i64::MAX as u64 + 1, 1 << 31] {
        match exec(store, &a, 2, "T-1", ExpectedVersion::Exact(v), TicketCommand::Bump).await {
            Err(ExecError::Store(StoreError::Conflict { actual: 2, .. })) => {}
            other => panic!("expected a conflict for {v}, got {other:?}"),
        }
    }
    assert_eq!(store.history::<Ticket>(&a, "T-1").await.unwrap().len(), 2);
}

async fn check_rejection_writes_nothing(db: &TestDb) {
    let store = &db.store;
    let a = actor("t1", "alice");
    exec(store, &a, 0, "T-1", ExpectedVersion::Absent, open("T-1", "x")).await.unwrap();
    exec(store, &a, 1, "T-1", ExpectedVersion::Any, TicketCommand::Close).await.unwrap();
    let err = exec(store, &a, 2, "T-1", ExpectedVersion::Any, TicketCommand::Bump).await.unwrap_err();
    assert_eq!(err.domain(), Some(&TicketError::Closed));
    assert_eq!(err.kind(), itsm_store::ErrorKind::Rules);
    match err.into_store() {
        e @ StoreError::Rejected { refusal: itsm_core::RefusalKind::Rules, .. } => {
            assert_eq!(e.kind(), itsm_store::ErrorKind::Rules);
            assert_eq!(e.to_string(), "command rejected: ticket is closed");
            let StoreError::Rejected { source, .. } = e else { unreachable!() };
            assert_eq!(source.downcast_ref::<TicketError>(), Some(&TicketError::Closed), "the typed error is kept");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let err = exec(store, &a, 2, "T-9", ExpectedVersion::Any, TicketCommand::Bump).await.unwrap_err();
    assert_eq!(err.domain(), Some(&TicketError::Absent));
    assert_eq!(err.kind(), itsm_store::ErrorKind::NotFound);
    let err = exec(store, &a, 2, "T-1", ExpectedVersion::Absent, open("T-1", "again")).await.unwrap_err();
    assert_eq!(err.kind(), itsm_store::ErrorKind::Conflict, "{err}");
    assert_eq!(store.history::<Ticket>(&a, "T-1").await.unwrap().len(), 2);
    assert!(store.history::<Ticket>(&a, "T-9").await.is_err());
    assert!(store.verify_chain(&tenant("t1")).await.unwrap().is_intact());
}

async fn check_idempotency(db: &TestDb) {
    let store = &db.store;
    let a = actor("t1", "monitor");
    let cfg = config();
    let cmd = open("ALERT-1", "cpu high");
    let ctx = Context::new(&a, ts(0), &cfg);
    let first = store.execute::<Ticket>(Request::new(ctx, "ALERT-1", &cmd).idempotency_key("alert-1")).await.unwrap();
    assert!(!first.replayed);
    let again = store
        .execute::<Ticket>(Request::new(Context::new(&a, ts(5), &cfg), "ALERT-1", &cmd).idempotency_key("alert-1"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.version, first.version);
    assert_eq!(again.events, first.events);
    assert_eq!(again.state, first.state);
    // Later commands do not change the replayed first result.
    exec(store, &a, 6, "ALERT-1", ExpectedVersion::Any, TicketCommand::Bump).await.unwrap();
    let third = store
        .execute::<Ticket>(Request::new(Context::new(&a, ts(7), &cfg), "ALERT-1", &cmd).idempotency_key("alert-1"))
        .await
        .unwrap();
    assert_eq!((third.version, third.state.counter), (1, 0));
    // Same key, different payload.
    let other = open("ALERT-1", "cpu very high");
    match store
        .execute::<Ticket>(Request::new(Context::new(&a, ts(8), &cfg), "ALERT-1", &other).idempotency_key("alert-1"))
        .await
    {
        Err(ExecError::Store(StoreError::IdempotencyKeyReused { key })) => assert_eq!(key, "alert-1"),
        other => panic!("expected IdempotencyKeyReused, got {other:?}"),
    }
    // Same key, same command, other aggregate.
    let moved = open("ALERT-2", "cpu high");
    assert!(matches!(
        store
            .execute::<Ticket>(
                Request::new(Context::new(&a, ts(8), &cfg), "ALERT-2", &moved).idempotency_key("alert-1")
            )
            .await,
        Err(ExecError::Store(StoreError::IdempotencyKeyReused { .. }))
    ));
    // Keys are per tenant.
    let b = actor("t2", "monitor");
    let theirs = store
        .execute::<Ticket>(Request::new(Context::new(&b, ts(9), &cfg), "ALERT-1", &cmd).idempotency_key("alert-1"))
        .await
        .unwrap();
    assert!(!theirs.replayed);
    // A refused keyed command stores no key: a corrected retry may use it.
    let bump = TicketCommand::Bump;
    assert!(
        store
            .execute::<Ticket>(Request::new(Context::new(&a, ts(10), &cfg), "NOPE", &bump).idempotency_key("k2"))
            .await
            .is_err()
    );
    let open2 = open("NOPE", "now it exists");
    store
        .execute::<Ticket>(Request::new(Context::new(&a, ts(11), &cfg), "NOPE", &open2).idempotency_key("k2"))
        .await
        .unwrap();
}

/// T2: 200 concurrent deliveries over 50 keys create exactly 50 aggregates.
async fn check_concurrent_idempotency(db: &TestDb) {
    let store = Arc::new(db.store.clone());
    let mut tasks = Vec::new();
    for delivery in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let key = delivery % 50;
            let a = actor("t1", "monitor");
            let cfg = config();
            let id = format!("ALERT-{key}");
            let cmd = open(&id, &format!("alert {key}"));
            let key = format!("alert-key-{key}");
            let ctx = Context::new(&a, ts(delivery as i64), &cfg);
            store.execute::<Ticket>(Request::new(ctx, &id, &cmd).idempotency_key(&key)).await
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        let c = t.await.unwrap().expect("every delivery succeeds");
        assert_eq!(c.version, 1);
        if !c.replayed {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 50);
    let events: Vec<_> = store.stream_events(&tenant("t1"), AggregateKind::Incident).try_collect().await.unwrap();
    assert_eq!(events.len(), 50);
    let ids: BTreeSet<_> = events.iter().map(|e| e.aggregate_id.clone()).collect();
    assert_eq!(ids.len(), 50);
}

async fn check_references(db: &TestDb) {
    let store = &db.store;
    let a = actor("ta", "alice");
    let b = actor("tb", "bob");
    exec(store, &a, 0, "A-1", ExpectedVersion::Absent, open("A-1", "x")).await.unwrap();
    exec(store, &b, 0, "B-1", ExpectedVersion::Absent, open("B-1", "theirs")).await.unwrap();
    let link = |other: &str| TicketCommand::Link { other: other.into() };
    // Missing and other-tenant references are refused the same way.
    let missing = exec(store, &a, 1, "A-1", ExpectedVersion::Any, link("X-404")).await.unwrap_err();
    let foreign = exec(store, &a, 1, "A-1", ExpectedVersion::Any, link("B-1")).await.unwrap_err();
    match (missing, foreign) {
        (
            ExecError::Store(StoreError::NotFound { kind: k1, id: i1 }),
            ExecError::Store(StoreError::NotFound { kind: k2, id: i2 }),
        ) => {
            assert_eq!((k1, k2), ("incident", "incident"));
            assert_eq!((i1.as_str(), i2.as_str()), ("X-404", "B-1"));
        }
        other => panic!("expected NotFound twice, got {other:?}"),
    }
    let nul = exec(store, &a, 1, "A-1", ExpectedVersion::Any, link("B\0-1")).await.unwrap_err();
    assert!(matches!(nul, ExecError::Store(StoreError::NotFound { .. })), "{nul:?}");
    assert_eq!(store.history::<Ticket>(&a, "A-1").await.unwrap().len(), 1);
    exec(store, &a, 1, "A-2", ExpectedVersion::Absent, open("A-2", "y")).await.unwrap();
    let c = exec(store, &a, 2, "A-1", ExpectedVersion::Any, link("A-2")).await.unwrap();
    assert_eq!(c.state.links, vec!["A-2".to_owned()]);
}

async fn check_outbox_leases(db: &TestDb) {
    let store = &db.store;
    let a = actor("t1", "alice");
    for i in 0..5 {
        let id = format!("T-{i}");
        exec(store, &a, 0, &id, ExpectedVersion::Absent, open(&id, "x")).await.unwrap();
        exec(store, &a, 1, &id, ExpectedVersion::Any, TicketCommand::Close).await.unwrap();
    }
    let lease = Duration::from_secs(30);
    let c1 = store.claim("c1", lease, 3, ts(10)).await.unwrap();
    assert_eq!(c1.len(), 3);
    assert!(c1.iter().all(|i| i.topic == "notify.stakeholders" && i.tenant == "t1" && i.attempts == 1));
    assert_eq!(c1[0].payload["ticket"], "T-0");
    assert_eq!(c1[0].lease_until, ts(40));
    let c2 = store.claim("c2", lease, 10, ts(11)).await.unwrap();
    assert_eq!(c2.len(), 2, "leased items are not claimed twice");
    assert!(store.claim("c3", lease, 10, ts(12)).await.unwrap().is_empty());
    assert!(!store.ack(c1[0].id, "c2", ts(12)).await.unwrap(), "only the lease holder acks");
    assert!(store.ack(c1[0].id, "c1", ts(12)).await.unwrap());
    assert!(!store.ack(c1[0].id, "c1", ts(13)).await.unwrap(), "acked once");
    for item in &c2 {
        assert!(store.ack(item.id, "c2", ts(13)).await.unwrap());
    }
    // c1's lease on the other two expires; c3 takes them over.
    let c3 = store.claim("c3", lease, 10, ts(41)).await.unwrap();
    assert_eq!(c3.iter().map(|i| i.id).collect::<Vec<_>>(), vec![c1[1].id, c1[2].id]);
    assert!(c3.iter().all(|i| i.attempts == 2));
    assert!(!store.ack(c1[1].id, "c1", ts(42)).await.unwrap(), "an expired lease cannot ack");
    assert!(!store.ack(c3[0].id, "c3", ts(72)).await.unwrap(), "nor after its own expiry");
    assert!(store.ack(c3[0].id, "c3", ts(42)).await.unwrap());
    assert!(store.ack(c3[1].id, "c3", ts(42)).await.unwrap());
    assert!(store.claim("c1", lease, 10, ts(1000)).await.unwrap().is_empty());
    // Closing the same ticket twice cannot happen, but dedup keys hold anyway.
    assert_eq!(store.claim("c1", lease, 10, ts(2000)).await.unwrap().len(), 0);
}

async fn check_escalations(db: &TestDb) {
    let store = &db.store;
    let t = tenant("t1");
    let payload = serde_json::json!({ "rule": "breach", "note": "nul \u{0} and emoji 🚨" });
    assert!(store.record_escalation(&t, "INC-1/breach", &payload, ts(0)).await.unwrap());
    assert!(!store.record_escalation(&t, "INC-1/breach", &payload, ts(1)).await.unwrap());
    assert!(store.record_escalation(&tenant("t2"), "INC-1/breach", &payload, ts(1)).await.unwrap());
    let items = store.claim("c", Duration::from_secs(5), 10, ts(2)).await.unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].topic, itsm_store::ESCALATION_TOPIC);
    assert_eq!(items[0].dedup_key, "INC-1/breach");
    assert_eq!(items[0].payload, payload, "a NUL inside JSON round-trips on every backend");
    assert!(matches!(
        store.record_escalation(&t, "bad\0id", &payload, ts(3)).await,
        Err(StoreError::Validation { .. })
    ));
    // Concurrent executors record each escalation once.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            store.record_escalation(&tenant("t1"), &format!("E-{}", i % 4), &payload, ts(10)).await.unwrap()
        }));
    }
    let mut newly = 0;
    for t in tasks {
        newly += usize::from(t.await.unwrap());
    }
    assert_eq!(newly, 4);
}

async fn check_queries(db: &TestDb) {
    let store = &db.store;
    let a = actor("ta", "alice");
    let b = actor("tb", "bob");
    let svc = ServiceId::new("payments").unwrap();
    let grp = GroupId::new("l2").unwrap();
    let opened = |id: &str, p: Priority| TicketCommand::Open {
        id: id.into(),
        title: "x".into(),
        service: Some(svc.clone()),
        priority: Some(p),
        group: Some(grp.clone()),
    };
    for (who, id, p) in
        [(&a, "A-1", Priority::P3), (&a, "A-2", Priority::P1), (&a, "A-3", Priority::P2), (&b, "B-1", Priority::P1)]
    {
        exec(store, who, 0, id, ExpectedVersion::Absent, opened(id, p)).await.unwrap();
        let to = TicketCommand::Assign { to: ActorId::new("carol").unwrap() };
        exec(store, who, 1, id, ExpectedVersion::Any, to).await.unwrap();
    }
    exec(store, &a, 2, "A-3", ExpectedVersion::Any, TicketCommand::Close).await.unwrap();
    let mine = store.queue(&a, &QueueFilter::Assignee(ActorId::new("carol").unwrap()), 10).await.unwrap();
    assert_eq!(mine.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["A-2", "A-1"], "P1 first, closed excluded");
    assert_eq!(mine[0].priority, Some(Priority::P1));
    assert_eq!(mine[0].status, "assigned");
    assert_eq!(mine[0].service.as_ref(), Some(&svc));
    let group = store.queue(&a, &QueueFilter::Group(grp.clone()), 1).await.unwrap();
    assert_eq!(group.len(), 1);
    // Windows: calendar and conflicts.
    let schedule = |s: i64, e: i64| TicketCommand::Schedule { start: ts(s), end: ts(e) };
    exec(store, &a, 4, "A-1", ExpectedVersion::Any, schedule(1000, 2000)).await.unwrap();
    exec(store, &a, 4, "A-2", ExpectedVersion::Any, schedule(1500, 2500)).await.unwrap();
    exec(store, &b, 4, "B-1", ExpectedVersion::Any, schedule(1000, 3000)).await.unwrap();
    exec(store, &a, 5, "A-4", ExpectedVersion::Absent, opened("A-4", Priority::P4)).await.unwrap();
    exec(store, &a, 5, "A-4", ExpectedVersion::Any, schedule(2500, 2600)).await.unwrap();
    let cal = store.change_calendar(&a, &svc, ts(0), ts(10_000)).await.unwrap();
    assert_eq!(cal.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["A-1", "A-2", "A-4"]);
    assert_eq!(cal[0].window, Some((ts(1000), ts(2000))));
    let cal = store.change_calendar(&a, &svc, ts(2000), ts(2500)).await.unwrap();
    assert_eq!(cal.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["A-2"], "half-open intervals");
    assert!(store.change_calendar(&a, &ServiceId::new("other").unwrap(), ts(0), ts(10_000)).await.unwrap().is_empty());
    let conflicts = store.conflicts(&a, &svc, ts(0), ts(10_000)).await.unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!((conflicts[0].first.id.as_str(), conflicts[0].second.id.as_str()), ("A-1", "A-2"));
    assert!(store.conflicts(&a, &svc, ts(2100), ts(2400)).await.unwrap().is_empty(), "only A-2 in range");
}

async fn check_stream(db: &TestDb) {
    let store = &db.store;
    let a = actor("t1", "alice");
    let b = actor("t2", "bob");
    let cfg = config();
    let mut commands = Vec::new();
    for i in 0..650 {
        let id = format!("S-{i}");
        commands.push((id.clone(), open(&id, "x")));
        commands.push((id, TicketCommand::Bump));
    }
    let batch: Vec<ImportCommand<'_, Ticket>> = commands
        .iter()
        .map(|(id, command)| ImportCommand { actor: &a, now: ts(0), aggregate_id: id, command: command.clone() })
        .collect();
    store.import_batch(&cfg, &batch, OnReject::Abort).await.unwrap();
    exec(store, &b, 0, "S-0", ExpectedVersion::Absent, open("S-0", "other tenant")).await.unwrap();
    let events: Vec<_> = store.stream_events(&tenant("t1"), AggregateKind::Incident).try_collect().await.unwrap();
    assert_eq!(events.len(), 1300);
    assert!(events.windows(2).all(|w| w[0].cursor() < w[1].cursor()), "ordered by aggregate, then version");
    let ids: BTreeSet<_> = events.iter().map(|e| e.aggregate_id.clone()).collect();
    assert_eq!(ids.len(), 650);
    assert!(events.iter().all(|e| e.tenant == "t1"));
    let first: TicketEvent = events[0].decode().unwrap();
    assert!(matches!(first, TicketEvent::Opened { .. }));
    assert!(
        store.stream_events(&tenant("t1"), AggregateKind::Problem).try_collect::<Vec<_>>().await.unwrap().is_empty()
    );
    let page = store.events_page(&tenant("t1"), AggregateKind::Incident, Some(&events[9].cursor()), 5).await.unwrap();
    assert_eq!(page, events[10..15].to_vec());
    let first = store.events_page(&tenant("t1"), AggregateKind::Incident, None, 3).await.unwrap();
    assert_eq!(first, events[..3].to_vec());
}

/// Writes tickets T-0..T-3 (open, "note a", "note b"), checkpoint 1, a
/// third note on T-0 and a new T-4, checkpoint 2, then a note on T-1 that no
/// checkpoint covers.
async fn audited(store: &Store, t: &str) {
    let a = actor(t, "alice");
    for i in 0..4 {
        let id = format!("T-{i}");
        exec(store, &a, i, &id, ExpectedVersion::Absent, open(&id, "x")).await.unwrap();
        for text in ["note a", "note b"] {
            exec(store, &a, i, &id, ExpectedVersion::Any, TicketCommand::Note { text: text.into() }).await.unwrap();
        }
    }
    assert_eq!(
        store.checkpoint(&tenant(t), ts(10)).await.unwrap().map(|c| (c.seq, c.aggregates, c.events)),
        Some((1, 4, 12))
    );
    exec(store, &a, 11, "T-0", ExpectedVersion::Any, TicketCommand::Note { text: "note c".into() }).await.unwrap();
    exec(store, &a, 11, "T-4", ExpectedVersion::Absent, open("T-4", "x")).await.unwrap();
    assert_eq!(
        store.checkpoint(&tenant(t), ts(12)).await.unwrap().map(|c| (c.seq, c.aggregates, c.events)),
        Some((2, 5, 14))
    );
    assert_eq!(store.checkpoint(&tenant(t), ts(13)).await.unwrap(), None, "nothing moved");
    exec(store, &a, 14, "T-1", ExpectedVersion::Any, TicketCommand::Note { text: "note d".into() }).await.unwrap();
}

async fn check_audit_chain_detects_tampering(db: &TestDb) {
    use itsm_store::BreakAt;
    let store = &db.store;
    for t in ["edit", "swap", "insert", "delete", "tail", "cp", "leaf"] {
        audited(store, t).await;
    }
    let report = store.verify_chain(&tenant("edit")).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.events, report.aggregates, report.checkpoints), (15, 5, 2));
    assert!(store.verify_chain(&tenant("nobody")).await.unwrap().is_intact());
    // The attacker drops the append-only triggers.
    let drop = match db.backend() {
        itsm_store::BackendKind::Sqlite => vec![
            "DROP TRIGGER events_no_update",
            "DROP TRIGGER events_no_delete",
            "DROP TRIGGER checkpoints_no_update",
            "DROP TRIGGER checkpoint_heads_no_update",
        ],
        itsm_store::BackendKind::Postgres => vec![
            "DROP TRIGGER events_no_update ON events",
            "DROP TRIGGER checkpoints_append_only ON checkpoints",
            "DROP TRIGGER checkpoint_heads_append_only ON checkpoint_heads",
        ],
    };
    db.raw(&drop).await.unwrap();
    let event = |id: &str, version: u64| itsm_store::ChainBreak {
        at: BreakAt::Event { kind: AggregateKind::Incident, id: id.into(), version },
        reason: BreakReason::HashMismatch,
    };
    let broken = |t: &'static str| async move { store.verify_chain(&tenant(t)).await.unwrap().broken };
    // 1. A one-byte edit of a payload.
    db.raw(&["UPDATE events SET payload = replace(payload, 'note a', 'note z') WHERE tenant = 'edit' AND aggregate_id = 'T-2' AND version = 2"])
        .await
        .unwrap();
    assert_eq!(broken("edit").await, Some(event("T-2", 2)));
    // 2. Two events of an aggregate trade places.
    db.raw(&[
        "UPDATE events SET version = 1000 WHERE tenant = 'swap' AND aggregate_id = 'T-3' AND version = 2",
        "UPDATE events SET version = 2 WHERE tenant = 'swap' AND aggregate_id = 'T-3' AND version = 3",
        "UPDATE events SET version = 3 WHERE tenant = 'swap' AND aggregate_id = 'T-3' AND version = 1000",
    ])
    .await
    .unwrap();
    assert_eq!(broken("swap").await, Some(event("T-3", 2)));
    // 3. An event inserted into an aggregate's history: a copy of T-0's
    //    second event inserted as T-0 version 2 after shifting the rest up.
    db.raw(&[
        "UPDATE events SET version = version + 100 WHERE tenant = 'insert' AND aggregate_id = 'T-0' AND version >= 2",
        "UPDATE events SET version = version - 99 WHERE tenant = 'insert' AND aggregate_id = 'T-0' AND version >= 102",
        "INSERT INTO events (tenant, aggregate_kind, aggregate_id, version, event_name, payload, actor, recorded_at, hash) \
         SELECT tenant, aggregate_kind, 'T-0', 2, event_name, replace(payload, 'note a', 'forged'), actor, recorded_at, hash \
         FROM events WHERE tenant = 'insert' AND aggregate_id = 'T-1' AND version = 2",
    ])
    .await
    .unwrap();
    assert_eq!(broken("insert").await, Some(event("T-0", 2)));
    // 4. A deleted event in the middle.
    db.raw(&["DELETE FROM events WHERE tenant = 'delete' AND aggregate_id = 'T-1' AND version = 2"]).await.unwrap();
    assert_eq!(
        broken("delete").await,
        Some(itsm_store::ChainBreak {
            at: BreakAt::Event { kind: AggregateKind::Incident, id: "T-1".into(), version: 2 },
            reason: BreakReason::Gap { found: 3 },
        })
    );
    //    A deleted last event (checkpointed), the projection left as it was.
    db.raw(&["DELETE FROM events WHERE tenant = 'tail' AND aggregate_id = 'T-3' AND version = 3"]).await.unwrap();
    assert_eq!(
        broken("tail").await,
        Some(itsm_store::ChainBreak {
            at: BreakAt::Aggregate { kind: AggregateKind::Incident, id: "T-3".into() },
            reason: BreakReason::ProjectionMismatch { events: 2, projection: 3 },
        })
    );
    //    ...and with the projection rolled back too: the checkpoint recorded it.
    db.raw(&["UPDATE aggregates SET version = 2, chain_hash = (SELECT hash FROM events e WHERE e.tenant = 'tail' \
              AND e.aggregate_id = 'T-3' AND e.version = 2) WHERE tenant = 'tail' AND id = 'T-3'"])
        .await
        .unwrap();
    assert_eq!(
        broken("tail").await,
        Some(itsm_store::ChainBreak {
            at: BreakAt::Event { kind: AggregateKind::Incident, id: "T-3".into(), version: 3 },
            reason: BreakReason::CheckpointMismatch,
        })
    );
    // 5. A rewritten checkpoint: its root, then a recorded head.
    db.raw(&["UPDATE checkpoints SET root = replace(root, substr(root, 1, 1), 'x') WHERE tenant = 'cp' AND seq = 1"])
        .await
        .unwrap();
    assert_eq!(
        broken("cp").await,
        Some(itsm_store::ChainBreak { at: BreakAt::Checkpoint { seq: 1 }, reason: BreakReason::CheckpointHash })
    );
    db.raw(&["UPDATE checkpoint_heads SET hash = replace(hash, substr(hash, 1, 1), 'x') WHERE tenant = 'leaf' AND seq = 2 AND id = 'T-4'"])
        .await
        .unwrap();
    assert_eq!(
        broken("leaf").await,
        Some(itsm_store::ChainBreak { at: BreakAt::Checkpoint { seq: 2 }, reason: BreakReason::RootMismatch })
    );
    assert!(store.verify_chain(&tenant("nobody")).await.unwrap().is_intact(), "other tenants unaffected");
}

async fn check_append_only(db: &TestDb) {
    let store = &db.store;
    let a = actor("t1", "alice");
    exec(store, &a, 0, "T-1", ExpectedVersion::Absent, open("T-1", "x")).await.unwrap();
    assert!(db.raw(&["UPDATE events SET payload = '{}'"]).await.is_err());
    assert!(db.raw(&["DELETE FROM events"]).await.is_err());
    if db.backend() == itsm_store::BackendKind::Postgres {
        assert!(db.raw(&["TRUNCATE events"]).await.is_err());
    }
    assert_eq!(store.history::<Ticket>(&a, "T-1").await.unwrap().len(), 1);
    assert!(store.verify_chain(&tenant("t1")).await.unwrap().is_intact());
}

async fn check_import_batch(db: &TestDb) {
    let store = &db.store;
    let a = actor("t1", "alice");
    let b = actor("t2", "bob");
    let cfg = config();
    exec(store, &a, 0, "I-0", ExpectedVersion::Absent, open("I-0", "before")).await.unwrap();
    let mut cmds: Vec<(&itsm_core::Actor, String, TicketCommand)> = Vec::new();
    for i in 0..300 {
        let who = if i % 3 == 0 { &b } else { &a };
        let id = format!("I-{i}");
        if i != 0 {
            cmds.push((who, id.clone(), open(&id, "imported")));
        }
        cmds.push((who, id.clone(), TicketCommand::Bump));
        if i % 7 == 0 && who.tenant.as_str() == "t1" {
            cmds.push((who, id.clone(), TicketCommand::Link { other: "I-1".into() }));
        }
        if i % 10 == 0 {
            cmds.push((who, id.clone(), TicketCommand::Close));
        }
    }
    // I-0 in tenant t2 was never opened there: its Bump is refused.
    let batch: Vec<ImportCommand<'_, Ticket>> = cmds
        .iter()
        .enumerate()
        .map(|(n, (who, id, c))| ImportCommand { actor: who, now: ts(n as i64), aggregate_id: id, command: c.clone() })
        .collect();
    match store.import_batch(&cfg, &batch, OnReject::Abort).await {
        Err(ExecError::Domain(TicketError::Absent)) => {}
        other => panic!("expected the refusal, got {other:?}"),
    }
    let none: Vec<_> = store.stream_events(&tenant("t1"), AggregateKind::Incident).try_collect().await.unwrap();
    assert_eq!(none.len(), 1, "an aborted batch writes nothing");
    let report = store.import_batch(&cfg, &batch, OnReject::Skip).await.unwrap();
    assert_eq!(report.rejected.len(), 2, "I-0 bump and close in t2: {:?}", report.rejected);
    assert_eq!(report.committed + report.rejected.len(), batch.len());
    assert_eq!(report.events, report.committed);
    // Every aggregate equals the fold of its events, and the chain holds.
    for (who, t) in [(&a, "t1"), (&b, "t2")] {
        let events: Vec<_> = store.stream_events(&tenant(t), AggregateKind::Incident).try_collect().await.unwrap();
        let mut by_id: BTreeMap<String, Vec<TicketEvent>> = BTreeMap::new();
        for e in &events {
            by_id.entry(e.aggregate_id.clone()).or_default().push(e.decode().unwrap());
        }
        for (id, evs) in by_id {
            let loaded = store.load::<Ticket>(who, &id).await.unwrap();
            assert_eq!(Some(loaded.state), Ticket::replay(&evs).unwrap());
            assert_eq!(loaded.version, evs.len() as u64);
        }
        assert!(store.verify_chain(&tenant(t)).await.unwrap().is_intact());
    }
    let i0 = store.load::<Ticket>(&a, "I-0").await.unwrap();
    assert_eq!((i0.version, i0.state.counter), (1, 0), "t2's commands never touch t1's I-0");
    let i10 = store.load::<Ticket>(&a, "I-10").await.unwrap();
    assert_eq!((i10.version, i10.state.counter, i10.state.closed), (3, 1, true));
    assert_eq!(store.load::<Ticket>(&a, "I-7").await.unwrap().state.links, vec!["I-1".to_owned()]);
    // The batch's close commands queued outbox messages.
    let items = store.claim("c", Duration::from_secs(60), 1000, ts(10_000)).await.unwrap();
    assert_eq!(items.len(), 30 - 1);
    // A missing reference aborts the batch.
    let bad = [ImportCommand::<Ticket> {
        actor: &a,
        now: ts(0),
        aggregate_id: "I-2",
        command: TicketCommand::Link { other: "I-999".into() },
    }];
    assert!(matches!(
        store.import_batch(&cfg, &bad, OnReject::Skip).await,
        Err(ExecError::Store(StoreError::NotFound { .. }))
    ));
}

async fn check_validation(db: &TestDb) {
    let store = &db.store;
    let a = actor("t1", "alice");
    let cfg = config();
    let cmd = open("A\0B", "x");
    let r = store.execute::<Ticket>(Request::new(Context::new(&a, ts(0), &cfg), "A\0B", &cmd)).await;
    assert!(matches!(r, Err(ExecError::Store(StoreError::Validation { field: "aggregate id", .. }))), "{r:?}");
    let cmd = open("A", "x");
    for key in ["", "k\0", &"k".repeat(256)] {
        let r =
            store.execute::<Ticket>(Request::new(Context::new(&a, ts(0), &cfg), "A", &cmd).idempotency_key(key)).await;
        assert!(matches!(r, Err(ExecError::Store(StoreError::Validation { .. }))), "{r:?}");
    }
    let far = itsm_core::Timestamp::parse_rfc3339("+10000-01-01T00:00:00Z");
    if let Ok(far) = far {
        let r = store.execute::<Ticket>(Request::new(Context::new(&a, far, &cfg), "A", &cmd)).await;
        assert!(matches!(r, Err(ExecError::Store(StoreError::Validation { .. }))), "{r:?}");
    }
    // The aggregate id must be the one the events build.
    let r = store.execute::<Ticket>(Request::new(Context::new(&a, ts(0), &cfg), "B", &cmd)).await;
    assert!(matches!(r, Err(ExecError::Store(StoreError::Validation { field: "aggregate id", .. }))), "{r:?}");
    // NUL inside event text is JSON-escaped: stored losslessly on both backends.
    let note = TicketCommand::Note { text: "nul \u{0} here".into() };
    exec(store, &a, 0, "A", ExpectedVersion::Absent, cmd.clone()).await.unwrap();
    exec(store, &a, 1, "A", ExpectedVersion::Any, note).await.unwrap();
    assert_eq!(store.load::<Ticket>(&a, "A").await.unwrap().state.notes, vec!["nul \u{0} here".to_owned()]);
    assert!(matches!(store.load::<Ticket>(&a, "A\0").await, Err(StoreError::NotFound { .. })));
    assert!(store.history::<Ticket>(&a, "").await.is_err());
    assert!(matches!(store.claim("c\0", Duration::from_secs(1), 1, ts(0)).await, Err(StoreError::Validation { .. })));
    assert!(matches!(Store::connect("mysql://x").await, Err(StoreError::Validation { .. })));
}

async fn check_schema_too_new(db: &TestDb) {
    let insert = match db.backend() {
        itsm_store::BackendKind::Sqlite => {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'future', 1, x'00', 0)"
        }
        itsm_store::BackendKind::Postgres => {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'future', true, '\\x00', 0)"
        }
    };
    db.raw(&[insert]).await.unwrap();
    match Store::connect(&db.url).await {
        Err(StoreError::SchemaTooNew { found: 9999, supported: 18 }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

/// A small contention run on every backend (the full T1 figure is in
/// `contention.rs`).
async fn check_contention_small(db: &TestDb) {
    crate::contention::run(&db.store, 16, 400).await;
}

/// Another connection (another process, say) holds the write lock for a
/// while: the command waits (BEGIN IMMEDIATE + busy timeout on SQLite, the
/// row lock on PostgreSQL) and then commits; nothing is lost.
async fn check_external_writer(db: &TestDb) {
    use sqlx::Connection;
    let store = &db.store;
    let a = actor("t1", "alice");
    exec(store, &a, 0, "T-1", ExpectedVersion::Absent, open("T-1", "x")).await.unwrap();
    let url = db.url.clone();
    let backend = db.backend();
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let holder = tokio::spawn(async move {
        match backend {
            itsm_store::BackendKind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                let tx = conn.begin_with("BEGIN IMMEDIATE").await.unwrap();
                locked_tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_millis(500)).await;
                tx.commit().await.unwrap();
            }
            itsm_store::BackendKind::Postgres => {
                #[cfg(feature = "postgres")]
                {
                    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                    let mut tx = conn.begin().await.unwrap();
                    sqlx::query("SELECT 1 FROM aggregates WHERE tenant = 't1' AND id = 'T-1' FOR UPDATE")
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    locked_tx.send(()).unwrap();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    tx.commit().await.unwrap();
                }
            }
        }
    });
    locked_rx.await.unwrap();
    let started = std::time::Instant::now();
    let c = exec(store, &a, 1, "T-1", ExpectedVersion::Exact(1), TicketCommand::Bump).await.unwrap();
    assert_eq!(c.version, 2);
    assert!(started.elapsed() >= Duration::from_millis(300), "the command waited for the lock");
    holder.await.unwrap();
}
