//! What the service model and the maintenance windows tell the correlator
//! (maturity model Table 4: "alerts with one root cause merged"): a
//! [`Topology`] gives the items upstream of an alert's object (where a root
//! cause may sit) and the [`MaintenanceWindow`] that suppresses an alert, if
//! any.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::id::{ChangeId, ServiceId};
use crate::service::ServiceModel;
use crate::time::Timestamp;

/// Planned work on one item over `[start, end)`: a change's scheduled
/// window. While it runs, alerts of the items the work takes down (the item
/// itself, and everything that needs it without a redundant path, per
/// [`ServiceModel::down`]) are suppressed: recorded, but they open,
/// reopen and join no incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceWindow {
    /// The change doing the work.
    pub change: ChangeId,
    /// The item worked on.
    pub item: ServiceId,
    /// When the window starts (inclusive).
    pub start: Timestamp,
    /// When it ends (exclusive).
    pub end: Timestamp,
}

impl MaintenanceWindow {
    /// Whether `at` is inside the window.
    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

/// The service model in force and the maintenance windows an alert batch may
/// fall in. The default knows no model and no window: every alert is then
/// decided by its own group alone, as without topology.
#[derive(Debug, Clone, Copy, Default)]
pub struct Topology<'a> {
    model: Option<&'a ServiceModel>,
    maintenance: &'a [MaintenanceWindow],
}

impl<'a> Topology<'a> {
    /// A topology over `model` (none: no root-cause grouping, and a window
    /// suppresses alerts of its own item only) and `maintenance`.
    pub fn new(model: Option<&'a ServiceModel>, maintenance: &'a [MaintenanceWindow]) -> Self {
        Topology { model, maintenance }
    }

    /// The service model, if any.
    pub fn model(&self) -> Option<&'a ServiceModel> {
        self.model
    }

    /// The maintenance windows.
    pub fn maintenance(&self) -> &'a [MaintenanceWindow] {
        self.maintenance
    }

    /// The items an alert on `object` may have its root cause on: every item
    /// `object` needs, directly or not, redundant or not
    /// ([`ServiceModel::upstream`]); empty without a model or for an item
    /// the model does not know.
    pub fn upstream(&self, object: &ServiceId) -> BTreeSet<&'a ServiceId> {
        self.model.map(|m| m.upstream(object)).unwrap_or_default()
    }

    /// The window suppressing an alert on `object` that fired at `at`, if the
    /// work of the windows containing `at` takes `object` down: the first
    /// (by start, then change id) whose work alone takes it down, else, when
    /// only their work together does (both members of a redundancy group),
    /// the first of them all. Without a model, or when the model does not
    /// know a window's item, that work takes down its item only.
    pub fn suppressing(&self, object: &ServiceId, at: Timestamp) -> Option<&'a MaintenanceWindow> {
        let mut active: Vec<&'a MaintenanceWindow> = self.maintenance.iter().filter(|w| w.contains(at)).collect();
        active.sort_by(|a, b| (a.start, &a.change).cmp(&(b.start, &b.change)));
        if let Some(alone) = active.iter().find(|w| self.takes_down(w, object)) {
            return Some(alone);
        }
        let first = active.first()?;
        let model = self.model?;
        model.down(active.iter().map(|w| &w.item)).contains(object).then_some(*first)
    }

    fn takes_down(&self, window: &MaintenanceWindow, object: &ServiceId) -> bool {
        if &window.item == object {
            return true;
        }
        match self.model {
            Some(model) if model.item(&window.item).is_some() => model.down([&window.item]).contains(object),
            Some(_) | None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::test_support::ts;

    fn model() -> ServiceModel {
        serde_json::from_value(serde_json::json!({
            "items": [
                {"id": "shop", "kind": "business_service", "criticality": "high"},
                {"id": "web", "kind": "component", "any_of": [["db-a", "db-b"]]},
                {"id": "app", "kind": "component"},
                {"id": "db-a", "kind": "component"},
                {"id": "db-b", "kind": "component"},
                {"id": "net", "kind": "component"}
            ],
            "dependencies": [
                {"from": "web", "kind": "part_of", "to": "shop"},
                {"from": "web", "kind": "depends_on", "to": "db-a"},
                {"from": "web", "kind": "depends_on", "to": "db-b"},
                {"from": "app", "kind": "runs_on", "to": "net"},
                {"from": "db-a", "kind": "runs_on", "to": "net"}
            ]
        }))
        .unwrap()
    }

    fn id(s: &str) -> ServiceId {
        ServiceId::new(s).unwrap()
    }

    fn window(change: &str, item: &str, start: i64, end: i64) -> MaintenanceWindow {
        MaintenanceWindow { change: ChangeId::new(change).unwrap(), item: id(item), start: ts(start), end: ts(end) }
    }

    #[test]
    fn upstream_follows_the_model_and_is_empty_without_one() {
        let m = model();
        let t = Topology::new(Some(&m), &[]);
        let names: Vec<&str> = t.upstream(&id("web")).iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["db-a", "db-b", "net"]);
        assert!(t.upstream(&id("app")).contains(&id("net")));
        assert!(!t.upstream(&id("net")).contains(&id("app")));
        assert!(t.upstream(&id("unknown")).is_empty());
        assert!(Topology::default().upstream(&id("web")).is_empty());
    }

    #[test]
    fn a_window_suppresses_what_its_work_takes_down_while_it_runs() {
        let m = model();
        let windows = [window("CHG-2", "net", 100, 200), window("CHG-1", "db-b", 0, 300)];
        let t = Topology::new(Some(&m), &windows);
        // net down takes app and db-a down; web still has db-b.
        assert_eq!(t.suppressing(&id("app"), ts(150)).map(|w| w.change.as_str()), Some("CHG-2"));
        assert_eq!(t.suppressing(&id("db-a"), ts(100)).map(|w| w.change.as_str()), Some("CHG-2"));
        assert_eq!(t.suppressing(&id("app"), ts(200)), None, "the end is exclusive");
        assert_eq!(t.suppressing(&id("app"), ts(99)), None);
        assert_eq!(t.suppressing(&id("db-b"), ts(150)).map(|w| w.change.as_str()), Some("CHG-1"));
        // Together the two windows take web (and its business service) down: the first to start is named.
        assert_eq!(t.suppressing(&id("web"), ts(150)).map(|w| w.change.as_str()), Some("CHG-1"));
        assert_eq!(t.suppressing(&id("shop"), ts(150)).map(|w| w.change.as_str()), Some("CHG-1"));
        assert_eq!(t.suppressing(&id("web"), ts(250)), None, "only db-b is worked on then");
        // Without a model a window covers its own item only.
        let bare = Topology::new(None, &windows);
        assert_eq!(bare.suppressing(&id("app"), ts(150)), None);
        assert_eq!(bare.suppressing(&id("net"), ts(150)).map(|w| w.change.as_str()), Some("CHG-2"));
        // An item the model does not know is still covered by its own window.
        let odd = [window("CHG-3", "printer", 0, 10)];
        let t = Topology::new(Some(&m), &odd);
        assert_eq!(t.suppressing(&id("printer"), ts(5)).map(|w| w.change.as_str()), Some("CHG-3"));
    }

    #[test]
    fn overlapping_windows_name_the_earliest_start_then_the_change() {
        let windows = [window("CHG-9", "net", 10, 100), window("CHG-8", "net", 10, 50), window("CHG-1", "net", 20, 90)];
        let t = Topology::new(None, &windows);
        assert_eq!(t.suppressing(&id("net"), ts(30)).map(|w| w.change.as_str()), Some("CHG-8"));
        assert_eq!(t.suppressing(&id("net"), ts(60)).map(|w| w.change.as_str()), Some("CHG-9"));
    }
}
