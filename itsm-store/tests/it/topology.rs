//! Alert correlation under the tenant's topology (maturity model Table 4),
//! on both backends: the service model stored as configuration groups a
//! symptom under the open incident of the item it needs (also when the
//! root's group row lags a person's resolve and reopen, and within one
//! batch), and a change's maintenance window suppresses the alerts of what
//! its work takes down, recorded in `alert_suppressed` and listed by
//! `Store::suppressed_alerts`, with nothing opened.

use itsm_core::alert::{Alert, AlertSeverity, GroupingPolicy};
use itsm_core::change::standard::{StandardChange, StandardCommand};
use itsm_core::change::{ChangeSpec, Strategy, Window};
use itsm_core::id::{ChangeId, IncidentId, ServiceId, TemplateId, Text};
use itsm_core::incident::{Incident, IncidentCommand, ResolutionCode};
use itsm_core::vocabulary::ResolvedBy;
use itsm_core::{Actor, Aggregate, Context, Role};
use itsm_store::{Request, Store};

use crate::alerts::scalar;
use crate::common::{TestDb, config, tenant, ts, unique, who};
use crate::on_both_backends;

/// `db` runs on `net`, `app` depends on `db`, `mail` stands alone.
fn model() -> itsm_core::service::ServiceModel {
    serde_json::from_str(
        r#"{"items": [{"id": "net", "kind": "component"}, {"id": "db", "kind": "component"},
                      {"id": "app", "kind": "component"}, {"id": "mail", "kind": "component"}],
            "dependencies": [{"from": "db", "kind": "runs_on", "to": "net"},
                             {"from": "app", "kind": "depends_on", "to": "db"}]}"#,
    )
    .unwrap()
}

fn staff(t: &str) -> Actor {
    who(&tenant(t), "ops", &[Role::Agent, Role::Resolver, Role::Automation, Role::ChangeManager, Role::Implementer])
}

fn alert(id: &str, object: &str, check: &str, at: i64) -> Alert {
    Alert::new("prom", id, ServiceId::new(object).unwrap(), check, AlertSeverity::Major, ts(at))
}

async fn with_model(store: &Store, t: &str) {
    let version = itsm_core::versioned::Versioned::new(1, ts(0), model());
    store.add_config_version(&tenant(t), version, ts(0)).await.unwrap();
}

async fn person<A: Aggregate>(store: &Store, a: &Actor, at: i64, id: &str, command: A::Command) {
    let cfg = config();
    store.execute::<A>(Request::new(Context::new(a, ts(at), &cfg), id, &command)).await.unwrap();
}

async fn alerts_of(store: &Store, a: &Actor, id: &IncidentId) -> Vec<String> {
    let loaded = store.load::<Incident>(a, id.as_str()).await.unwrap();
    loaded.state.alerts().iter().map(|k| k.alert_id.clone()).collect()
}

async fn check_symptoms_join_the_root_cause_incident(db: &TestDb) {
    let store = &db.store;
    let t = unique("topo");
    let a = staff(&t);
    let (cfg, policy) = (config(), GroupingPolicy::default());
    // Without a model the symptom opens its own incident.
    let report = store.ingest_alerts(&a, &cfg, &policy, &[alert("d0", "db", "up", 10)], ts(20)).await.unwrap();
    assert_eq!(report.opened.len(), 1);
    let db_incident = report.opened[0].clone();
    let report = store.ingest_alerts(&a, &cfg, &policy, &[alert("a0", "app", "errors", 30)], ts(40)).await.unwrap();
    assert_eq!((report.opened.len(), report.root_caused), (1, 0));
    let d0 = store.ingest_alerts(&a, &cfg, &policy, &[alert("d0", "db", "up", 10)], ts(41)).await.unwrap();
    assert_eq!(d0.duplicates, 1);

    // With the model (effective from 0): a new symptom of the same stream joins db's open incident.
    with_model(store, &t).await;
    let report = store.ingest_alerts(&a, &cfg, &policy, &[alert("a1", "app", "latency", 60)], ts(70)).await.unwrap();
    assert_eq!((report.opened.len(), report.root_caused), (0, 1), "{report:?}");
    let opened = store.ingest_alerts(&a, &cfg, &policy, &[alert("n1", "net", "loss", 80)], ts(90)).await.unwrap();
    let net_incident = opened.opened[0].clone();
    // Root and symptoms in one batch: the mail alert opens, the db symptom joins net (furthest upstream).
    let batch = [alert("m1", "mail", "up", 100), alert("d1", "db", "disk", 101), alert("a2", "app", "cpu", 102)];
    let report = store.ingest_alerts(&a, &cfg, &policy, &batch, ts(110)).await.unwrap();
    assert_eq!((report.opened.len(), report.root_caused), (1, 2), "{report:?}");
    let mut joined = alerts_of(store, &a, &net_incident).await;
    joined.sort();
    assert_eq!(joined, ["a2", "d1", "n1"]);

    // A person resolves and reopens the net incident: the group row still says resolved until
    // the next ingestion catches up, and the symptom still finds its root.
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None };
    person::<Incident>(store, &a, 200, net_incident.as_str(), IncidentCommand::Acknowledge).await;
    person::<Incident>(store, &a, 210, net_incident.as_str(), resolve.clone()).await;
    person::<Incident>(
        store,
        &a,
        220,
        net_incident.as_str(),
        IncidentCommand::Reopen { reason: Text::new("still lossy").unwrap() },
    )
    .await;
    let report = store.ingest_alerts(&a, &cfg, &policy, &[alert("a3", "app", "disk", 230)], ts(240)).await.unwrap();
    assert_eq!((report.opened.len(), report.root_caused), (0, 1), "{report:?}");
    assert!(alerts_of(store, &a, &net_incident).await.contains(&"a3".to_owned()));

    // Closed, the net group leaves the root candidates (its `root_service` is cleared).
    let root_rows = |service: &str| {
        format!("SELECT COUNT(*) FROM alert_groups WHERE tenant = '{t}' AND root_service = '{service}'")
    };
    assert_eq!(scalar(db, &root_rows("net")).await, 1);
    person::<Incident>(store, &a, 300, net_incident.as_str(), resolve).await;
    person::<Incident>(store, &a, 310, net_incident.as_str(), IncidentCommand::Close).await;
    let report = store.ingest_alerts(&a, &cfg, &policy, &[alert("a4", "app", "mem", 320)], ts(330)).await.unwrap();
    // It joins db's incident instead, still open and within its window.
    assert_eq!((report.opened.len(), report.root_caused), (0, 1), "{report:?}");
    assert!(alerts_of(store, &a, &db_incident).await.contains(&"a4".to_owned()));
    assert!(!alerts_of(store, &a, &net_incident).await.contains(&"a4".to_owned()));
    // The closed group was read as a candidate, caught up and written back without its root service.
    assert_eq!(scalar(db, &root_rows("net")).await, 0);
}

/// A standard `os-patch` change of `service`, scheduled over `(start, end)`.
async fn scheduled(store: &Store, a: &Actor, id: &str, service: &str, window: (i64, i64)) {
    let spec = ChangeSpec {
        id: ChangeId::new(id).unwrap(),
        service: ServiceId::new(service).unwrap(),
        title: Text::new("patch").unwrap(),
        strategy: Strategy::BigBang,
        auto_rollback: false,
    };
    let create = StandardCommand::Create { spec, template: TemplateId::new("os-patch").unwrap() };
    person::<StandardChange>(store, a, 0, id, create).await;
    let window = Window::new(ts(window.0), ts(window.1)).unwrap();
    person::<StandardChange>(store, a, 1, id, StandardCommand::Schedule { window, override_reason: None }).await;
}

async fn check_maintenance_suppresses_and_records(db: &TestDb) {
    let store = &db.store;
    let t = unique("maint");
    let a = staff(&t);
    let (cfg, policy) = (config(), GroupingPolicy::default());
    with_model(store, &t).await;
    scheduled(store, &a, "CHG-DB", "db", (1_000, 2_000)).await;
    scheduled(store, &a, "CHG-MAIL", "mail", (1_500, 1_600)).await;
    // A cancelled change suppresses nothing.
    scheduled(store, &a, "CHG-NET", "net", (1_000, 2_000)).await;
    let cancel = StandardCommand::Cancel { reason: Text::new("not needed").unwrap() };
    person::<StandardChange>(store, &a, 2, "CHG-NET", cancel).await;

    let batch = [
        alert("d1", "db", "up", 1_100),
        alert("a1", "app", "errors", 1_200),
        alert("n1", "net", "loss", 1_300),
        alert("m1", "mail", "up", 1_550),
        alert("m0", "mail", "up", 999).with_label("x", "1"),
        alert("d2", "db", "up", 2_000),
    ];
    let report = store.ingest_alerts(&a, &cfg, &policy, &batch, ts(2_100)).await.unwrap();
    let suppressed: Vec<(&str, &str)> =
        report.suppressed.iter().map(|s| (s.alert.alert_id.as_str(), s.change.as_str())).collect();
    assert_eq!(suppressed, [("d1", "CHG-DB"), ("a1", "CHG-DB"), ("m1", "CHG-MAIL")]);
    // n1 opens; m0 (before its window) opens; d2 (at the window's exclusive end) joins net's incident.
    assert_eq!((report.opened.len(), report.root_caused), (2, 1), "{report:?}");
    // Redelivered, the suppressed alerts are duplicates and are recorded once.
    let again = store.ingest_alerts(&a, &cfg, &policy, &batch[..2], ts(2_200)).await.unwrap();
    assert_eq!((again.duplicates, again.suppressed.len()), (2, 0));
    let recovery = alert("d1", "db", "up", 1_100).recovered(ts(2_300));
    let rec = store.ingest_alerts(&a, &cfg, &policy, &[recovery], ts(2_300)).await.unwrap();
    assert_eq!((rec.recoveries, rec.events), (1, 0));
    let listed = store.suppressed_alerts(&tenant(&t), ts(0), ts(10_000), 100).await.unwrap();
    let got: Vec<(String, String, String, i64)> = listed
        .iter()
        .map(|s| {
            (s.alert.alert_id.clone(), s.object.to_string(), s.change.to_string(), s.recorded_at.seconds_since(ts(0)))
        })
        .collect();
    assert_eq!(
        got,
        [
            ("d1".into(), "db".into(), "CHG-DB".into(), 2_100),
            ("a1".into(), "app".into(), "CHG-DB".into(), 2_100),
            ("m1".into(), "mail".into(), "CHG-MAIL".into(), 2_100)
        ]
    );
    assert_eq!(listed[0].fired_at, ts(1_100));
    // Bounded by firing instant and by the limit; another tenant sees none.
    assert_eq!(store.suppressed_alerts(&tenant(&t), ts(1_150), ts(1_600), 100).await.unwrap().len(), 2);
    assert_eq!(store.suppressed_alerts(&tenant(&t), ts(0), ts(10_000), 1).await.unwrap().len(), 1);
    assert!(store.suppressed_alerts(&tenant(&unique("maint_other")), ts(0), ts(10_000), 100).await.unwrap().is_empty());
}

on_both_backends!(check_symptoms_join_the_root_cause_incident, check_maintenance_suppresses_and_records);
