//! Conformance with the real aggregates of itsm-core: incidents, problems
//! and standard changes through the store, on both backends.

use std::collections::BTreeSet;
use std::time::Duration;

use itsm_core::change::standard::{StandardChange, StandardCommand};
use itsm_core::change::{ChangeSpec, Strategy, Window};
use itsm_core::id::{ActorId, ChangeId, GroupId, IncidentId, ProblemId, ServiceId, TemplateId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentError, OpenIncident, ResolutionCode};
use itsm_core::problem::{Problem, ProblemCommand};
use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, Priority, ResolvedBy, SupportTier, Urgency};
use itsm_core::{Actor, Aggregate, Context, Role};
use itsm_store::{ExecError, ExpectedVersion, QueueFilter, Request, Store, StoreError};

use crate::common::{TestDb, config, tenant, ts};
use crate::on_both_backends;

on_both_backends!(
    check_incident_lifecycle,
    check_incident_references,
    check_standard_change_calendar,
    check_conflicts_across_a_business_service,
    check_a_resolution_cascades_to_the_children
);

fn staff(tenant: &str, id: &str) -> Actor {
    Actor::new(
        ActorId::new(id).unwrap(),
        itsm_core::id::TenantId::new(tenant).unwrap(),
        [Role::Agent, Role::Resolver, Role::ProblemManager, Role::ChangeManager, Role::Implementer, Role::Automation],
    )
}

fn open_incident(id: &str, caused_by_change: Option<&str>) -> IncidentCommand {
    IncidentCommand::Open(OpenIncident {
        id: IncidentId::new(id).unwrap(),
        kind: IncidentKind::Production,
        service: ServiceId::new("payments").unwrap(),
        title: Text::new("checkout returns 502 🛒").unwrap(),
        category: None,
        impact: Impact::High,
        urgency: Urgency::High,
        source: DetectionSource::Monitoring,
        tier: SupportTier::L1,
        impact_start: None,
        failure_class: itsm_core::vocabulary::FailureClass::Other,
        outage: true,
        caused_by_change: caused_by_change.map(|c| ChangeId::new(c).unwrap()),
    })
}

async fn run<A: Aggregate>(
    store: &Store,
    actor: &Actor,
    at: i64,
    id: &str,
    command: A::Command,
) -> Result<itsm_store::Committed<A>, ExecError<A::Error>> {
    let cfg = config();
    store.execute::<A>(Request::new(Context::new(actor, ts(at), &cfg), id, &command)).await
}

async fn check_incident_lifecycle(db: &TestDb) {
    let store = &db.store;
    let a = staff("t1", "alice");
    let cfg = config();
    let open = open_incident("INC-1", None);
    let c = store
        .execute::<Incident>(
            Request::new(Context::new(&a, ts(0), &cfg), "INC-1", &open)
                .if_version(ExpectedVersion::Absent)
                .idempotency_key("alert-42"),
        )
        .await
        .unwrap();
    assert_eq!(c.version, 1);
    // The monitoring system delivers the same alert again.
    let again = store
        .execute::<Incident>(Request::new(Context::new(&a, ts(3), &cfg), "INC-1", &open).idempotency_key("alert-42"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.state, c.state);
    let assign =
        IncidentCommand::Assign { group: GroupId::new("l2").unwrap(), assignee: Some(ActorId::new("alice").unwrap()) };
    run::<Incident>(store, &a, 60, "INC-1", assign).await.unwrap();
    let queue = store.queue(&a, &QueueFilter::Assignee(ActorId::new("alice").unwrap()), 10).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].priority, Some(Priority::P1));
    assert_eq!(queue[0].group.as_ref().map(|g| g.as_str()), Some("l2"));
    // Wrong order is the domain's typed refusal, and writes nothing.
    match run::<Incident>(store, &a, 61, "INC-1", IncidentCommand::Close).await {
        Err(ExecError::Domain(IncidentError::InvalidTransition { command: "close", .. })) => {}
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
    run::<Incident>(store, &a, 120, "INC-1", IncidentCommand::Start).await.unwrap();
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None };
    run::<Incident>(store, &a, 600, "INC-1", resolve).await.unwrap();
    let closed = run::<Incident>(store, &a, 900, "INC-1", IncidentCommand::Close).await.unwrap();
    let loaded = store.load::<Incident>(&a, "INC-1").await.unwrap();
    assert_eq!(loaded.state, closed.state);
    let history = store.history::<Incident>(&a, "INC-1").await.unwrap();
    assert_eq!(loaded.version, history.len() as u64);
    assert_eq!(Some(loaded.state), Incident::replay(history.iter().map(|r| &r.event)).unwrap());
    assert!(store.queue(&a, &QueueFilter::Assignee(ActorId::new("alice").unwrap()), 10).await.unwrap().is_empty());
    // Resolution and closure notifications went to the outbox, once each, in
    // order: the incident's stream is handed out one message at a time.
    let mut topics = Vec::new();
    loop {
        let items = store.claim("notifier", Duration::from_secs(30), 100, ts(1000)).await.unwrap();
        if items.is_empty() {
            break;
        }
        assert_eq!(items.len(), 1, "one message of a stream at a time");
        let item = &items[0];
        assert_eq!(item.payload["incident"], "INC-1");
        assert_eq!(item.stream.as_deref(), Some("incident/INC-1"));
        assert!(store.ack(item.id, "notifier", ts(1000)).await.unwrap());
        topics.push(item.topic.clone());
    }
    let at = |topic: &str| topics.iter().position(|t| t == topic);
    assert!(at("incident.resolved") < at("incident.closed") && at("incident.resolved").is_some(), "{topics:?}");
    assert!(store.verify_chain(&tenant("t1")).await.unwrap().is_intact());
}

async fn check_incident_references(db: &TestDb) {
    let store = &db.store;
    let a = staff("ta", "alice");
    let b = staff("tb", "bob");
    run::<Incident>(store, &a, 0, "INC-1", open_incident("INC-1", None)).await.unwrap();
    let open_problem = |id: &str| ProblemCommand::Open {
        id: ProblemId::new(id).unwrap(),
        service: ServiceId::new("payments").unwrap(),
        title: Text::new("repeated 502s").unwrap(),
        incidents: BTreeSet::new(),
    };
    run::<Problem>(store, &b, 0, "PRB-B", open_problem("PRB-B")).await.unwrap();
    let link = |p: &str| IncidentCommand::LinkProblem { problem: ProblemId::new(p).unwrap() };
    for target in ["PRB-B", "PRB-404"] {
        match run::<Incident>(store, &a, 1, "INC-1", link(target)).await {
            Err(ExecError::Store(StoreError::NotFound { kind: "problem", id })) => assert_eq!(id, target),
            other => panic!("expected NotFound for {target}, got {other:?}"),
        }
    }
    run::<Problem>(store, &a, 1, "PRB-A", open_problem("PRB-A")).await.unwrap();
    let linked = run::<Incident>(store, &a, 2, "INC-1", link("PRB-A")).await.unwrap();
    assert_eq!(linked.version, 2);
    // A change of another tenant cannot be named as the cause.
    let spec = ChangeSpec {
        id: ChangeId::new("CHG-B").unwrap(),
        service: ServiceId::new("payments").unwrap(),
        title: Text::new("restart").unwrap(),
        strategy: Strategy::BigBang,
        auto_rollback: false,
    };
    let create = StandardCommand::Create { spec, template: TemplateId::new("restart-service").unwrap() };
    run::<StandardChange>(store, &b, 0, "CHG-B", create).await.unwrap();
    match run::<Incident>(store, &a, 3, "INC-2", open_incident("INC-2", Some("CHG-B"))).await {
        Err(ExecError::Store(StoreError::NotFound { kind: "change", .. })) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(store.load::<Incident>(&a, "INC-2").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.load::<Problem>(&a, "PRB-B").await, Err(StoreError::NotFound { .. })));
}

async fn check_standard_change_calendar(db: &TestDb) {
    let store = &db.store;
    let a = staff("t1", "carol");
    let svc = ServiceId::new("payments").unwrap();
    for (id, start, end) in [("CHG-1", 3600, 7200), ("CHG-2", 5400, 9000), ("CHG-3", 10_000, 11_000)] {
        scheduled_patch(store, &a, id, "payments", (start, end), true).await;
    }
    let cal = store.change_calendar(&a, &svc, ts(0), ts(20_000)).await.unwrap();
    assert_eq!(cal.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["CHG-1", "CHG-2", "CHG-3"]);
    assert!(cal.iter().all(|r| r.kind == itsm_core::AggregateKind::StandardChange));
    let conflicts = store.conflicts(&a, &svc, ts(0), ts(20_000)).await.unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!((conflicts[0].first.id.as_str(), conflicts[0].second.id.as_str()), ("CHG-1", "CHG-2"));
    let loaded = store.load::<StandardChange>(&a, "CHG-2").await.unwrap();
    let history = store.history::<StandardChange>(&a, "CHG-2").await.unwrap();
    assert_eq!(Some(loaded.state), StandardChange::replay(history.iter().map(|r| &r.event)).unwrap());
}

/// Under the tenant's stored service model, a change of one item conflicts
/// with an overlapping change of another item of the same business service,
/// not with one of an unrelated item nor with one that does not overlap;
/// without a model in force at `from`, only same-service pairs count.
async fn check_conflicts_across_a_business_service(db: &TestDb) {
    let store = &db.store;
    let a = staff("t1", "carol");
    for (id, service, start, end) in [
        ("CHG-P", "payments", 3600, 7200),
        ("CHG-D", "pay-db", 5000, 6000),
        ("CHG-E", "pay-db", 8000, 9000),
        ("CHG-H", "hr-portal", 5000, 6000),
    ] {
        scheduled_patch(store, &a, id, service, (start, end), false).await;
    }
    let (payments, db_item) = (ServiceId::new("payments").unwrap(), ServiceId::new("pay-db").unwrap());
    let pairs = |found: Vec<itsm_store::ChangeConflict>| -> Vec<(String, String)> {
        found.into_iter().map(|c| (c.first.id, c.second.id)).collect()
    };
    // No model: each service alone, one change each in that span.
    assert!(store.conflicts(&a, &payments, ts(0), ts(20_000)).await.unwrap().is_empty());
    let model: itsm_core::service::ServiceModel = serde_json::from_str(
        r#"{"items": [{"id": "pay", "kind": "business_service", "criticality": "high"},
                      {"id": "people", "kind": "business_service", "criticality": "low"},
                      {"id": "payments", "kind": "component"}, {"id": "pay-db", "kind": "component"},
                      {"id": "hr-portal", "kind": "component"}],
            "dependencies": [{"from": "payments", "kind": "part_of", "to": "pay"},
                             {"from": "pay-db", "kind": "part_of", "to": "pay"},
                             {"from": "hr-portal", "kind": "part_of", "to": "people"}]}"#,
    )
    .unwrap();
    let tenant = itsm_core::id::TenantId::new("t1").unwrap();
    store.add_config_version(&tenant, itsm_core::versioned::Versioned::new(1, ts(100), model), ts(100)).await.unwrap();
    let want = vec![("CHG-P".to_owned(), "CHG-D".to_owned())];
    assert_eq!(pairs(store.conflicts(&a, &payments, ts(200), ts(20_000)).await.unwrap()), want);
    assert_eq!(pairs(store.conflicts(&a, &db_item, ts(200), ts(20_000)).await.unwrap()), want);
    // Outside the overlap, or before the model took effect: none.
    assert!(store.conflicts(&a, &db_item, ts(7500), ts(20_000)).await.unwrap().is_empty());
    assert!(store.conflicts(&a, &payments, ts(50), ts(20_000)).await.unwrap().is_empty());
}

/// Resolving a parent incident resolves its open children, and theirs, in
/// the same transaction (`Aggregate::cascade`, run by the store); a child
/// already resolved is skipped, and an incident that is not a child is left
/// alone.
async fn check_a_resolution_cascades_to_the_children(db: &TestDb) {
    let store = &db.store;
    let a = staff("t-cascade", "alice");
    for id in ["P", "C1", "C2", "G", "LONE"] {
        run::<Incident>(store, &a, 0, id, open_incident(id, None)).await.unwrap();
    }
    for (parent, child) in [("P", "C1"), ("P", "C2"), ("C1", "G")] {
        let parent_id = IncidentId::new(parent).unwrap();
        run::<Incident>(store, &a, 10, child, IncidentCommand::SetParent { parent: parent_id }).await.unwrap();
        let child_id = IncidentId::new(child).unwrap();
        run::<Incident>(store, &a, 10, parent, IncidentCommand::LinkChild { child: child_id }).await.unwrap();
    }
    let resolve = |code| IncidentCommand::Resolve { code, resolved_by: ResolvedBy::L2, restored_at: None };
    run::<Incident>(store, &a, 20, "C2", resolve(ResolutionCode::Workaround)).await.unwrap();
    let c2_before = store.load::<Incident>(&a, "C2").await.unwrap().version;
    let done = run::<Incident>(store, &a, 30, "P", resolve(ResolutionCode::Fixed)).await.unwrap();
    assert_eq!(done.cascaded, ["C1", "G"]);
    for (id, parent) in [("C1", "P"), ("G", "C1")] {
        let loaded = store.load::<Incident>(&a, id).await.unwrap();
        assert_eq!(loaded.state.status(), itsm_core::incident::IncidentStatus::Resolved, "{id}");
        assert_eq!(loaded.updated_at, ts(30));
        let history = store.history::<Incident>(&a, id).await.unwrap();
        let last = history.last().unwrap();
        assert_eq!(last.actor, "alice");
        match &last.event {
            itsm_core::incident::IncidentEvent::Resolved { code, cascaded_from, .. } => {
                assert_eq!(*code, ResolutionCode::ParentResolved);
                assert_eq!(cascaded_from.as_ref().map(IncidentId::as_str), Some(parent));
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    assert_eq!(store.load::<Incident>(&a, "C2").await.unwrap().version, c2_before);
    assert_eq!(
        store.load::<Incident>(&a, "LONE").await.unwrap().state.status(),
        itsm_core::incident::IncidentStatus::New
    );
    // The children's metric records moved with them.
    use futures_util::TryStreamExt;
    let records: Vec<itsm_core::records::IncidentRecord> =
        store.incident_records(&a.tenant).try_collect().await.unwrap();
    let resolved: BTreeSet<(&str, i64)> =
        records.iter().filter_map(|r| r.resolved_at.map(|at| (r.id.as_str(), at.seconds_since(ts(0))))).collect();
    assert_eq!(resolved, BTreeSet::from([("C1", 30), ("C2", 20), ("G", 30), ("P", 30)]));
}

/// A standard `os-patch` change `id` of `service`, scheduled in the window
/// `(start, end)` (seconds from the tests' origin).
async fn scheduled_patch(store: &Store, a: &Actor, id: &str, service: &str, window: (i64, i64), auto_rollback: bool) {
    let spec = ChangeSpec {
        id: ChangeId::new(id).unwrap(),
        service: ServiceId::new(service).unwrap(),
        title: Text::new("patch").unwrap(),
        strategy: Strategy::BigBang,
        auto_rollback,
    };
    let create = StandardCommand::Create { spec, template: TemplateId::new("os-patch").unwrap() };
    run::<StandardChange>(store, a, 0, id, create).await.unwrap();
    let window = Window::new(ts(window.0), ts(window.1)).unwrap();
    run::<StandardChange>(store, a, 1, id, StandardCommand::Schedule { window, override_reason: None }).await.unwrap();
}
