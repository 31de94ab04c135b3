//! Root-cause grouping and maintenance suppression (maturity model Table 4),
//! table-driven: each case is a stream of alerts, incident resolutions and
//! maintenance windows over a small service model, with the decision each
//! message must get written out by hand (the incident named by the alert
//! that opened it).
//!
//! The model: `db` runs on `net`, `app` depends on `db`, `web` needs `app`
//! or `app-b` (redundant), `mail` stands alone.

use std::collections::BTreeMap;

use itsm_core::Timestamp;
use itsm_core::alert::{Alert, AlertSeverity, Correlator, Decision, GroupingPolicy, MaintenanceWindow, Topology};
use itsm_core::id::{ChangeId, IncidentId, ServiceId};
use itsm_core::service::ServiceModel;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_442_000 + secs).expect("instant")
}

fn model() -> ServiceModel {
    serde_json::from_value(serde_json::json!({
        "items": [
            {"id": "net", "kind": "component"},
            {"id": "db", "kind": "component"},
            {"id": "app", "kind": "component"},
            {"id": "app-b", "kind": "component"},
            {"id": "web", "kind": "component", "any_of": [["app", "app-b"]]},
            {"id": "mail", "kind": "component"}
        ],
        "dependencies": [
            {"from": "db", "kind": "runs_on", "to": "net"},
            {"from": "app", "kind": "depends_on", "to": "db"},
            {"from": "web", "kind": "depends_on", "to": "app"},
            {"from": "web", "kind": "depends_on", "to": "app-b"}
        ]
    }))
    .expect("model")
}

/// What a message must be decided as. Incidents are named by the id of the
/// alert that opened them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    Open,
    Merge(&'static str),
    RootCause { incident: &'static str, root: &'static str, raises: bool },
    Suppressed(&'static str),
    Recovery { incident: Option<&'static str>, all_clear: bool },
    Duplicate,
    NothingOpen,
}

#[derive(Debug, Clone)]
enum Step {
    /// Alert `id` on `object` with `check` fires at `at` (received then).
    Fire { id: &'static str, object: &'static str, check: &'static str, severity: AlertSeverity, at: i64, want: Want },
    /// Alert `id`'s recovery at `at`.
    Recover { id: &'static str, at: i64, want: Want },
    /// Alert `id`'s firing delivered again at `at`.
    Redeliver { id: &'static str, at: i64, want: Want },
    /// The incident opened by alert `id` is resolved at `at`.
    Resolve { id: &'static str, at: i64 },
}

use AlertSeverity::{Critical, Major, Minor, Warning};
use Step::{Fire, Recover, Redeliver, Resolve};

fn fire(
    id: &'static str,
    object: &'static str,
    check: &'static str,
    severity: AlertSeverity,
    at: i64,
    want: Want,
) -> Step {
    Fire { id, object, check, severity, at, want }
}

struct Case {
    name: &'static str,
    /// Maintenance windows: (change, item, start, end).
    windows: &'static [(&'static str, &'static str, i64, i64)],
    steps: Vec<Step>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "a symptom joins the open incident of the item it runs on",
            windows: &[],
            steps: vec![
                fire("d1", "db", "up", Major, 0, Want::Open),
                fire("a1", "app", "errors", Major, 60, Want::RootCause { incident: "d1", root: "db", raises: false }),
                // A second symptom of the same check joins the root again (its own group has no row).
                fire("a2", "app", "errors", Major, 90, Want::RootCause { incident: "d1", root: "db", raises: false }),
                // A more severe symptom raises the root incident's priority.
                fire(
                    "w1",
                    "web",
                    "latency",
                    Critical,
                    120,
                    Want::RootCause { incident: "d1", root: "db", raises: true },
                ),
                // An item that does not need db opens its own.
                fire("m1", "mail", "up", Major, 130, Want::Open),
            ],
        },
        Case {
            name: "the root must be open and its window must cover the symptom",
            windows: &[],
            steps: vec![
                fire("d1", "db", "up", Major, 0, Want::Open),
                // Thirty minutes after the root's last alert, inclusive.
                fire("a1", "app", "errors", Major, 1800, Want::RootCause { incident: "d1", root: "db", raises: false }),
                // a1 moved the root group's last firing to 1800.
                fire("a2", "app", "latency", Major, 3601, Want::Open),
                fire("d2", "db", "disk", Major, 4000, Want::Open),
                Resolve { id: "d2", at: 4100 },
                fire("a3", "app", "cpu", Major, 4200, Want::Open),
            ],
        },
        Case {
            name: "a symptom's own open incident comes first; the other order makes two incidents",
            windows: &[],
            steps: vec![
                fire("a1", "app", "errors", Major, 0, Want::Open),
                fire("d1", "db", "up", Major, 30, Want::Open),
                fire("a2", "app", "errors", Major, 60, Want::Merge("a1")),
                fire("a3", "app", "latency", Major, 90, Want::RootCause { incident: "d1", root: "db", raises: false }),
            ],
        },
        Case {
            name: "of several open roots, the furthest upstream",
            windows: &[],
            steps: vec![
                fire("d1", "db", "up", Major, 0, Want::Open),
                // net has nothing upstream: it opens its own.
                fire("n1", "net", "loss", Major, 10, Want::Open),
                fire("a1", "app", "errors", Major, 20, Want::RootCause { incident: "n1", root: "net", raises: false }),
            ],
        },
        Case {
            name: "an annotate-only symptom annotates the root and does not extend its window",
            windows: &[],
            steps: vec![
                fire("d1", "db", "up", Major, 0, Want::Open),
                fire(
                    "a1",
                    "app",
                    "errors",
                    Warning,
                    1000,
                    Want::RootCause { incident: "d1", root: "db", raises: false },
                ),
                fire("a2", "app", "latency", Major, 1801, Want::Open),
                fire("m1", "mail", "up", Warning, 1900, Want::NothingOpen),
            ],
        },
        Case {
            name: "a joined symptom belongs to the root's group: recoveries and redeliveries",
            windows: &[],
            steps: vec![
                fire("d1", "db", "up", Major, 0, Want::Open),
                fire("a1", "app", "errors", Minor, 60, Want::RootCause { incident: "d1", root: "db", raises: false }),
                Redeliver { id: "a1", at: 70, want: Want::Duplicate },
                Recover { id: "d1", at: 100, want: Want::Recovery { incident: Some("d1"), all_clear: false } },
                Recover { id: "a1", at: 120, want: Want::Recovery { incident: Some("d1"), all_clear: true } },
                Recover { id: "a1", at: 130, want: Want::Duplicate },
            ],
        },
        Case {
            name: "maintenance suppresses what its work takes down, while it runs",
            windows: &[("CHG-7", "db", 100, 200)],
            steps: vec![
                fire("d1", "db", "up", Major, 150, Want::Suppressed("CHG-7")),
                fire("a1", "app", "errors", Critical, 150, Want::Suppressed("CHG-7")),
                // net is not taken down by work on db.
                fire("n1", "net", "loss", Major, 160, Want::Open),
                // web still has app-b: not suppressed, and it needs net, whose incident is open.
                fire(
                    "w1",
                    "web",
                    "latency",
                    Major,
                    170,
                    Want::RootCause { incident: "n1", root: "net", raises: false },
                ),
                Redeliver { id: "d1", at: 180, want: Want::Duplicate },
                Recover { id: "d1", at: 190, want: Want::Recovery { incident: None, all_clear: false } },
                Recover { id: "d1", at: 195, want: Want::Duplicate },
                Redeliver { id: "d1", at: 196, want: Want::Duplicate },
                // The end is exclusive; a firing from before the start is not suppressed either.
                fire("d2", "db", "up", Major, 200, Want::RootCause { incident: "n1", root: "net", raises: false }),
                fire("a2", "app", "cpu", Major, 99, Want::RootCause { incident: "n1", root: "net", raises: false }),
            ],
        },
        Case {
            name: "work on both redundant members suppresses what needs either",
            windows: &[("CHG-1", "app", 0, 100), ("CHG-2", "app-b", 50, 150)],
            steps: vec![
                fire("w1", "web", "latency", Major, 40, Want::Open),
                fire("w2", "web", "errors", Major, 60, Want::Suppressed("CHG-1")),
                fire("b1", "app-b", "up", Major, 120, Want::Suppressed("CHG-2")),
                fire("w3", "web", "cpu", Major, 120, Want::Open),
            ],
        },
    ]
}

fn object_of(id: &str, alerts: &BTreeMap<&str, Alert>) -> Alert {
    alerts.get(id).cloned().unwrap_or_else(|| panic!("no alert {id} fired before"))
}

#[test]
fn root_cause_grouping_and_suppression_follow_the_table() {
    let policy = GroupingPolicy::default();
    let model = model();
    for case in cases() {
        let windows: Vec<MaintenanceWindow> = case
            .windows
            .iter()
            .map(|(change, item, start, end)| MaintenanceWindow {
                change: ChangeId::new(*change).expect("id"),
                item: ServiceId::new(*item).expect("id"),
                start: ts(*start),
                end: ts(*end),
            })
            .collect();
        let topology = Topology::new(Some(&model), &windows);
        let mut c = Correlator::new();
        let mut alerts: BTreeMap<&str, Alert> = BTreeMap::new();
        let mut incidents: BTreeMap<&str, IncidentId> = BTreeMap::new();
        for (n, step) in case.steps.iter().enumerate() {
            let (alert, at, want) = match step {
                Fire { id, object, check, severity, at, want } => {
                    let alert =
                        Alert::new("prom", *id, ServiceId::new(*object).expect("id"), *check, *severity, ts(*at));
                    alerts.insert(id, alert.clone());
                    (alert, *at, want)
                }
                Recover { id, at, want } => (object_of(id, &alerts).recovered(ts(*at)), *at, want),
                Redeliver { id, at, want } => (object_of(id, &alerts), *at, want),
                Resolve { id, at } => {
                    c.incident_resolved(&incidents[id], ts(*at));
                    continue;
                }
            };
            let decision = c.correlate_in(&alert, &policy, ts(at), &topology);
            let name =
                |id: &str| incidents.get(id).cloned().unwrap_or_else(|| panic!("{}: no incident {id}", case.name));
            let ok = match (want, &decision) {
                (Want::Open, Decision::Open { incident, .. }) => {
                    incidents.insert(alert_id(step), incident.clone());
                    true
                }
                (Want::Merge(i), Decision::Merge { incident, .. }) => *incident == name(i),
                (
                    Want::RootCause { incident: i, root, raises },
                    Decision::RootCause { incident, root: r, commands, .. },
                ) => *incident == name(i) && r.as_str() == *root && (commands.len() == 2) == *raises,
                (Want::Suppressed(change), Decision::Suppressed { maintenance }) => {
                    maintenance.change.as_str() == *change
                }
                (Want::Recovery { incident: i, all_clear }, Decision::Recovery { incident, all_clear: a }) => {
                    *incident == i.map(name) && a == all_clear
                }
                (Want::Duplicate, Decision::Duplicate) => true,
                (Want::NothingOpen, Decision::Ignore { reason }) => reason.name() == "nothing_open",
                _ => false,
            };
            assert!(ok, "{}: step {n} ({step:?}) wanted {want:?}, got {decision:?}", case.name);
        }
    }
}

fn alert_id(step: &Step) -> &'static str {
    match step {
        Fire { id, .. } | Recover { id, .. } | Redeliver { id, .. } | Resolve { id, .. } => id,
    }
}

/// Without a topology the same stream is decided by each alert's own group:
/// a symptom opens its own incident, and maintenance suppresses nothing.
#[test]
fn without_a_topology_nothing_is_grouped_by_root_or_suppressed() {
    let policy = GroupingPolicy::default();
    let mut c = Correlator::new();
    let db = Alert::new("prom", "d1", ServiceId::new("db").expect("id"), "up", Major, ts(0));
    let app = Alert::new("prom", "a1", ServiceId::new("app").expect("id"), "errors", Major, ts(60));
    assert!(matches!(c.correlate(&db, &policy, ts(0)), Decision::Open { .. }));
    assert!(matches!(c.correlate(&app, &policy, ts(60)), Decision::Open { .. }));
    // A model with no windows groups; windows with no model suppress their own item only.
    let model = model();
    let windows = [MaintenanceWindow {
        change: ChangeId::new("CHG-1").expect("id"),
        item: ServiceId::new("db").expect("id"),
        start: ts(0),
        end: ts(1000),
    }];
    let bare = Topology::new(None, &windows);
    let mut c = Correlator::new();
    assert!(matches!(c.correlate_in(&db, &policy, ts(0), &bare), Decision::Suppressed { .. }));
    assert!(matches!(c.correlate_in(&app, &policy, ts(60), &bare), Decision::Open { .. }));
    let grouped = Topology::new(Some(&model), &[]);
    let mut c = Correlator::new();
    assert!(matches!(c.correlate_in(&db, &policy, ts(0), &grouped), Decision::Open { .. }));
    assert!(matches!(c.correlate_in(&app, &policy, ts(60), &grouped), Decision::RootCause { .. }));
    // The decisions round-trip through JSON under their names.
    let suppressed = Correlator::new().decide_in(&db, &policy, ts(0), &bare);
    let json = serde_json::to_value(&suppressed).expect("json");
    assert_eq!(json["decision"], "suppressed");
    assert_eq!(serde_json::from_value::<Decision>(json).expect("back"), suppressed);
    let other = Alert::new("prom", "a2", ServiceId::new("app").expect("id"), "latency", Major, ts(61));
    let root = c.decide_in(&other, &policy, ts(61), &grouped);
    let json = serde_json::to_value(&root).expect("json");
    assert_eq!(json["decision"], "root_cause");
    assert_eq!(json["root"], "db");
    assert_eq!(serde_json::from_value::<Decision>(json).expect("back"), root);
}
