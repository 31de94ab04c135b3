//! The service model: business services and the configuration items they
//! rest on, with typed dependencies and redundancy.
//!
//! A model is a set of [`Item`]s (a business service or a component, both
//! named by a [`ServiceId`], the identifier incidents, alerts and changes
//! carry) and [`Dependency`] edges between them. Each edge says which item
//! *needs* which:
//!
//! | edge | reads | the dependent (the one that fails with it) |
//! |---|---|---|
//! | `{"from": "app", "kind": "runs_on", "to": "vm-1"}` | app runs on vm-1 | `app` (`from`) |
//! | `{"from": "app", "kind": "depends_on", "to": "db"}` | app depends on db | `app` (`from`) |
//! | `{"from": "db", "kind": "part_of", "to": "payroll"}` | db is part of payroll | `payroll` (`to`) |
//!
//! **Redundancy.** An item needs every provider its edges name (all of
//! them), except providers it lists together in one of its
//! [`Item::any_of`] groups: a group is up while at least one of its members
//! is up (a cluster, a pair of load-balanced nodes).
//!
//! **Validation.** [`ServiceModel::new`] refuses, with a [`ServiceModelError`]
//! naming the item: a repeated item, an edge to an unknown item, an edge from
//! an item to itself, a redundancy group that is not made of at least two of
//! the item's own providers, a provider in two groups, and a dependency
//! cycle, named in full (`a → b → c → a`).
//!
//! **Questions the model answers.**
//! - [`ServiceModel::impacted_by`]: the business services an incident or
//!   alert on an item may affect (everything that needs it, directly or
//!   not, whatever the redundancy), most critical first.
//! - [`ServiceModel::down`]: which items are down when a set of items has
//!   failed, following the redundancy rules.
//! - [`ServiceModel::upstream`]: everything an item needs, directly or not
//!   (the candidates for a shared root cause).
//! - [`availability::roll_up`]: each business service's downtime over a
//!   window from the outages of its items, with planned maintenance kept out
//!   of the agreed service time.
//!
//! The model is configuration: versioned with effective dates
//! ([`crate::versioned::DomainConfigHistory::service_models`]) and kept by the
//! store like the SLA policies.
//!
//! ```
//! use itsm_core::id::ServiceId;
//! use itsm_core::service::ServiceModel;
//!
//! let model: ServiceModel = serde_json::from_str(r#"{
//!   "items": [
//!     {"id": "payroll", "kind": "business_service", "criticality": "high"},
//!     {"id": "payroll-app", "kind": "component", "any_of": [["vm-1", "vm-2"]]},
//!     {"id": "vm-1", "kind": "component"},
//!     {"id": "vm-2", "kind": "component"}
//!   ],
//!   "dependencies": [
//!     {"from": "payroll-app", "kind": "part_of", "to": "payroll"},
//!     {"from": "payroll-app", "kind": "runs_on", "to": "vm-1"},
//!     {"from": "payroll-app", "kind": "runs_on", "to": "vm-2"}
//!   ]
//! }"#).unwrap();
//! let id = |s: &str| ServiceId::new(s).unwrap();
//! // vm-1 may affect payroll ...
//! assert_eq!(model.impacted_by(&id("vm-1"))[0].service, id("payroll"));
//! // ... but payroll stays up while vm-2 runs.
//! assert!(!model.down([&id("vm-1")]).contains(&id("payroll")));
//! assert!(model.down([&id("vm-1"), &id("vm-2")]).contains(&id("payroll")));
//! ```

pub mod availability;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::id::ServiceId;

/// How much a business service matters: the order impact lists are sorted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    /// Core business: an outage stops the business.
    Critical,
    /// An outage hurts many users.
    High,
    /// An outage hurts some users.
    Medium,
    /// An outage is an inconvenience.
    Low,
}

impl Criticality {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Critical => "critical",
            Criticality::High => "high",
            Criticality::Medium => "medium",
            Criticality::Low => "low",
        }
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A service the business consumes and availability is agreed for.
    BusinessService {
        /// How much it matters.
        criticality: Criticality,
    },
    /// A configuration item: an application, a database, a host, a network
    /// device.
    Component,
}

/// One business service or configuration item.
///
/// JSON: `{"id", "kind": "business_service" | "component", "criticality"
/// (business services only), "any_of" (optional)}`; unknown fields are
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ItemDef", into = "ItemDef")]
pub struct Item {
    /// Its identifier (what incidents, alerts and changes name).
    pub id: ServiceId,
    /// Business service or component.
    pub kind: ItemKind,
    /// Groups of this item's providers of which one suffices.
    pub any_of: Vec<Vec<ServiceId>>,
}

/// What an item's kind is called in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindName {
    BusinessService,
    Component,
}

/// [`Item`] as written in JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemDef {
    id: ServiceId,
    kind: KindName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    criticality: Option<Criticality>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    any_of: Vec<Vec<ServiceId>>,
}

impl TryFrom<ItemDef> for Item {
    type Error = String;
    fn try_from(def: ItemDef) -> Result<Item, String> {
        let kind = match (def.kind, def.criticality) {
            (KindName::BusinessService, Some(criticality)) => ItemKind::BusinessService { criticality },
            (KindName::BusinessService, None) => {
                return Err(format!("business service {} has no criticality", def.id));
            }
            (KindName::Component, None) => ItemKind::Component,
            (KindName::Component, Some(_)) => {
                return Err(format!("component {} has a criticality; only business services have one", def.id));
            }
        };
        Ok(Item { id: def.id, kind, any_of: def.any_of })
    }
}

impl From<Item> for ItemDef {
    fn from(item: Item) -> ItemDef {
        let (kind, criticality) = match item.kind {
            ItemKind::BusinessService { criticality } => (KindName::BusinessService, Some(criticality)),
            ItemKind::Component => (KindName::Component, None),
        };
        ItemDef { id: item.id, kind, criticality, any_of: item.any_of }
    }
}

/// How one item needs another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyKind {
    /// `from` executes on `to` (an application on a host).
    RunsOn,
    /// `from` calls or uses `to` (an application and its database).
    DependsOn,
    /// `from` is a part of `to` (a component of a business service): `to`
    /// needs `from`.
    PartOf,
}

impl DependencyKind {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyKind::RunsOn => "runs_on",
            DependencyKind::DependsOn => "depends_on",
            DependencyKind::PartOf => "part_of",
        }
    }
}

/// A typed edge between two items.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// The item the sentence starts with.
    pub from: ServiceId,
    /// How.
    pub kind: DependencyKind,
    /// The item the sentence ends with.
    pub to: ServiceId,
}

impl Dependency {
    /// `(dependent, provider)`: the item that needs and the item needed.
    pub fn needs(&self) -> (&ServiceId, &ServiceId) {
        match self.kind {
            DependencyKind::RunsOn | DependencyKind::DependsOn => (&self.from, &self.to),
            DependencyKind::PartOf => (&self.to, &self.from),
        }
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.from, self.kind.as_str(), self.to)
    }
}

/// Why a service model was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceModelError {
    /// Two items share an id.
    #[error("service model: item {id} is listed twice")]
    DuplicateItem {
        /// The repeated id.
        id: ServiceId,
    },
    /// An edge names an item the model does not list.
    #[error("service model: dependency `{dependency}` names {missing}, which is not an item of the model")]
    UnknownItem {
        /// The edge.
        dependency: Dependency,
        /// The id not found.
        missing: ServiceId,
    },
    /// An edge from an item to itself.
    #[error("service model: dependency `{dependency}` makes {id} need itself")]
    SelfDependency {
        /// The edge.
        dependency: Dependency,
        /// The item.
        id: ServiceId,
    },
    /// A redundancy group of fewer than two members.
    #[error("service model: item {id} has an any_of group of {members} member(s); a group needs at least two")]
    GroupTooSmall {
        /// The item.
        id: ServiceId,
        /// Its size.
        members: usize,
    },
    /// A redundancy group member that is not one of the item's providers.
    #[error("service model: item {id} lists {member} in an any_of group, but no dependency makes {id} need {member}")]
    GroupMemberNotProvider {
        /// The item.
        id: ServiceId,
        /// The member.
        member: ServiceId,
    },
    /// A provider in two redundancy groups of one item.
    #[error("service model: item {id} lists {member} in two any_of groups")]
    MemberInTwoGroups {
        /// The item.
        id: ServiceId,
        /// The member.
        member: ServiceId,
    },
    /// The dependencies form a cycle.
    #[error("service model: dependency cycle {}", cycle_text(.cycle))]
    Cycle {
        /// The items of the cycle, each needing the next, the last needing
        /// the first.
        cycle: Vec<ServiceId>,
    },
}

fn cycle_text(cycle: &[ServiceId]) -> String {
    let mut text: Vec<&str> = cycle.iter().map(ServiceId::as_str).collect();
    if let Some(first) = cycle.first() {
        text.push(first.as_str());
    }
    text.join(" → ")
}

/// One node of the checked model: what it is and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: ItemKind,
    /// Providers needed without redundancy (indices).
    all_of: Vec<usize>,
    /// Redundancy groups (indices).
    any_of: Vec<Vec<usize>>,
    /// Items that need this one (indices).
    dependents: Vec<usize>,
}

/// A business service an item may affect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Impact {
    /// The business service.
    pub service: ServiceId,
    /// How much it matters.
    pub criticality: Criticality,
}

/// A checked service model (see the [module documentation](self)).
///
/// Serialized as `{"items": [...], "dependencies": [...]}`; deserializing
/// checks it as [`ServiceModel::new`] does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceModel {
    items: Vec<Item>,
    dependencies: Vec<Dependency>,
    #[serde(skip)]
    index: BTreeMap<ServiceId, usize>,
    #[serde(skip)]
    nodes: Vec<Node>,
    /// Item indices, every provider before its dependents.
    #[serde(skip)]
    order: Vec<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceModelDef {
    items: Vec<Item>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

impl<'de> Deserialize<'de> for ServiceModel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let def = ServiceModelDef::deserialize(deserializer)?;
        ServiceModel::new(def.items, def.dependencies).map_err(serde::de::Error::custom)
    }
}

impl ServiceModel {
    /// Checks and indexes a model (see the module's validation rules).
    pub fn new(items: Vec<Item>, dependencies: Vec<Dependency>) -> Result<ServiceModel, ServiceModelError> {
        let mut index = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            if index.insert(item.id.clone(), i).is_some() {
                return Err(ServiceModelError::DuplicateItem { id: item.id.clone() });
            }
        }
        let mut providers: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); items.len()];
        for dependency in &dependencies {
            let (dependent, provider) = dependency.needs();
            let find = |id: &ServiceId| {
                index.get(id).copied().ok_or_else(|| ServiceModelError::UnknownItem {
                    dependency: dependency.clone(),
                    missing: id.clone(),
                })
            };
            let (d, p) = (find(dependent)?, find(provider)?);
            if d == p {
                return Err(ServiceModelError::SelfDependency {
                    dependency: dependency.clone(),
                    id: dependent.clone(),
                });
            }
            providers[d].insert(p);
        }
        let mut nodes = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let mut grouped = BTreeSet::new();
            let mut any_of = Vec::with_capacity(item.any_of.len());
            for group in &item.any_of {
                let members: BTreeSet<&ServiceId> = group.iter().collect();
                if members.len() < 2 {
                    return Err(ServiceModelError::GroupTooSmall { id: item.id.clone(), members: members.len() });
                }
                let mut indices = Vec::with_capacity(members.len());
                for member in members {
                    let m = index.get(member).copied().filter(|m| providers[i].contains(m)).ok_or_else(|| {
                        ServiceModelError::GroupMemberNotProvider { id: item.id.clone(), member: member.clone() }
                    })?;
                    if !grouped.insert(m) {
                        return Err(ServiceModelError::MemberInTwoGroups {
                            id: item.id.clone(),
                            member: member.clone(),
                        });
                    }
                    indices.push(m);
                }
                any_of.push(indices);
            }
            let all_of = providers[i].iter().copied().filter(|p| !grouped.contains(p)).collect();
            nodes.push(Node { kind: item.kind, all_of, any_of, dependents: Vec::new() });
        }
        for (d, ps) in providers.iter().enumerate() {
            for &p in ps {
                nodes[p].dependents.push(d);
            }
        }
        let order = topological_order(&items, &providers)?;
        Ok(ServiceModel { items, dependencies, index, nodes, order })
    }

    /// The items, as given.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The dependencies, as given.
    pub fn dependencies(&self) -> &[Dependency] {
        &self.dependencies
    }

    /// The item with this id, if the model has it.
    pub fn item(&self, id: &ServiceId) -> Option<&Item> {
        self.index.get(id).map(|&i| &self.items[i])
    }

    /// The business services, in the order given.
    pub fn business_services(&self) -> impl Iterator<Item = (&ServiceId, Criticality)> {
        self.items.iter().filter_map(|item| match item.kind {
            ItemKind::BusinessService { criticality } => Some((&item.id, criticality)),
            ItemKind::Component => None,
        })
    }

    fn reach(&self, start: usize, next: impl Fn(&Node) -> Vec<usize>) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(i) = todo.pop() {
            for n in next(&self.nodes[i]) {
                if seen.insert(n) {
                    todo.push(n);
                }
            }
        }
        seen
    }

    /// Every item that needs `id`, directly or not (not `id` itself); empty
    /// for an id the model does not know.
    pub fn downstream(&self, id: &ServiceId) -> BTreeSet<&ServiceId> {
        let Some(&start) = self.index.get(id) else { return BTreeSet::new() };
        self.reach(start, |n| n.dependents.clone()).into_iter().map(|i| &self.items[i].id).collect()
    }

    /// Every item `id` needs, directly or not, redundant or not (not `id`
    /// itself); empty for an id the model does not know.
    pub fn upstream(&self, id: &ServiceId) -> BTreeSet<&ServiceId> {
        let Some(&start) = self.index.get(id) else { return BTreeSet::new() };
        self.reach(start, |n| n.all_of.iter().chain(n.any_of.iter().flatten()).copied().collect())
            .into_iter()
            .map(|i| &self.items[i].id)
            .collect()
    }

    /// The business services an incident or alert on `id` may affect: `id`
    /// itself when it is one, and every business service that needs it,
    /// directly or not, whatever the redundancy; most critical first, then
    /// by id. Empty for an id the model does not know.
    pub fn impacted_by(&self, id: &ServiceId) -> Vec<Impact> {
        let Some(&start) = self.index.get(id) else { return Vec::new() };
        let mut reached = self.reach(start, |n| n.dependents.clone());
        reached.insert(start);
        let mut impacts: Vec<Impact> = reached
            .into_iter()
            .filter_map(|i| match self.nodes[i].kind {
                ItemKind::BusinessService { criticality } => {
                    Some(Impact { service: self.items[i].id.clone(), criticality })
                }
                ItemKind::Component => None,
            })
            .collect();
        impacts.sort_by(|a, b| a.criticality.cmp(&b.criticality).then_with(|| a.service.cmp(&b.service)));
        impacts
    }

    /// Every other item of the business services `id` is part of: each
    /// business service `id` may affect ([`impacted_by`](Self::impacted_by))
    /// and everything it needs, redundant or not, without `id` itself. Work on
    /// any of them at the same time as work on `id` puts one business service
    /// at risk twice (change conflicts across dependencies). Empty for an id
    /// the model does not know.
    pub fn same_business_service(&self, id: &ServiceId) -> BTreeSet<&ServiceId> {
        let mut related = BTreeSet::new();
        for impact in self.impacted_by(id) {
            related.extend(self.upstream(&impact.service));
            if let Some(&i) = self.index.get(&impact.service) {
                related.insert(&self.items[i].id);
            }
        }
        related.remove(id);
        related
    }

    /// The items down when the items in `failed` have failed: the failed
    /// ones the model knows, and every item one of whose needs is not met
    /// (a provider it needs outright is down, or every member of one of its
    /// redundancy groups is). Ids the model does not know are ignored.
    pub fn down<'a>(&self, failed: impl IntoIterator<Item = &'a ServiceId>) -> BTreeSet<&ServiceId> {
        let mut is_down = vec![false; self.items.len()];
        for id in failed {
            if let Some(&i) = self.index.get(id) {
                is_down[i] = true;
            }
        }
        self.propagate(&mut is_down);
        is_down.iter().enumerate().filter(|(_, d)| **d).map(|(i, _)| &self.items[i].id).collect()
    }

    /// Marks every item down whose needs are not met, given `is_down` for
    /// the failed items (index order).
    fn propagate(&self, is_down: &mut [bool]) {
        for &i in &self.order {
            if is_down[i] {
                continue;
            }
            let node = &self.nodes[i];
            is_down[i] = node.all_of.iter().any(|&p| is_down[p])
                || node.any_of.iter().any(|group| group.iter().all(|&m| is_down[m]));
        }
    }

    fn index_of(&self, id: &ServiceId) -> Option<usize> {
        self.index.get(id).copied()
    }
}

/// Kahn's algorithm over the providers; on a cycle, finds one and names it.
fn topological_order(items: &[Item], providers: &[BTreeSet<usize>]) -> Result<Vec<usize>, ServiceModelError> {
    let n = items.len();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = providers.iter().map(BTreeSet::len).collect();
    for (d, ps) in providers.iter().enumerate() {
        for &p in ps {
            dependents[p].push(d);
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        order.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(d);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every item left waits on another item left: walk needs until one repeats.
    let left: Vec<bool> = waiting.iter().map(|&w| w > 0).collect();
    let Some(start) = (0..n).find(|&i| left[i]) else { return Ok(order) };
    let mut path = vec![start];
    let mut at_position = BTreeMap::from([(start, 0usize)]);
    let mut current = start;
    loop {
        let Some(&next) = providers[current].iter().find(|&&p| left[p]) else { return Ok(order) };
        if let Some(&from) = at_position.get(&next) {
            let cycle = path[from..].iter().map(|&i| items[i].id.clone()).collect();
            return Err(ServiceModelError::Cycle { cycle });
        }
        at_position.insert(next, path.len());
        path.push(next);
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ServiceId {
        ServiceId::new(s).unwrap()
    }

    fn component(s: &str) -> Item {
        Item { id: id(s), kind: ItemKind::Component, any_of: Vec::new() }
    }

    fn edge(from: &str, kind: DependencyKind, to: &str) -> Dependency {
        Dependency { from: id(from), kind, to: id(to) }
    }

    #[test]
    fn a_cycle_is_named_in_full() {
        let items = vec![component("a"), component("b"), component("c"), component("d")];
        let deps = vec![
            edge("a", DependencyKind::DependsOn, "b"),
            edge("b", DependencyKind::RunsOn, "c"),
            edge("a", DependencyKind::PartOf, "c"),
            edge("d", DependencyKind::DependsOn, "a"),
        ];
        let err = ServiceModel::new(items, deps).unwrap_err();
        assert_eq!(err, ServiceModelError::Cycle { cycle: vec![id("a"), id("b"), id("c")] });
        assert_eq!(err.to_string(), "service model: dependency cycle a → b → c → a");
    }

    #[test]
    fn bad_models_are_refused_naming_the_item() {
        let items = || vec![component("a"), component("b"), component("c")];
        let refused = |items: Vec<Item>, deps: Vec<Dependency>| ServiceModel::new(items, deps).unwrap_err().to_string();
        assert_eq!(refused(vec![component("a"), component("a")], vec![]), "service model: item a is listed twice");
        assert!(
            refused(items(), vec![edge("a", DependencyKind::RunsOn, "x")]).contains("names x, which is not an item")
        );
        assert!(refused(items(), vec![edge("a", DependencyKind::RunsOn, "a")]).contains("makes a need itself"));
        let mut grouped = items();
        grouped[0].any_of = vec![vec![id("b")]];
        assert!(refused(grouped.clone(), vec![edge("a", DependencyKind::RunsOn, "b")]).contains("at least two"));
        grouped[0].any_of = vec![vec![id("b"), id("c")]];
        assert!(
            refused(grouped.clone(), vec![edge("a", DependencyKind::RunsOn, "b")])
                .contains("item a lists c in an any_of group, but no dependency makes a need c")
        );
        grouped[0].any_of = vec![vec![id("b"), id("c")], vec![id("c"), id("b")]];
        let deps = vec![edge("a", DependencyKind::RunsOn, "b"), edge("a", DependencyKind::RunsOn, "c")];
        assert!(refused(grouped, deps).contains("in two any_of groups"));
    }

    #[test]
    fn json_round_trips_and_is_checked() {
        let json = r#"{"items":[{"id":"pay","kind":"business_service","criticality":"critical"},{"id":"db","kind":"component"}],"dependencies":[{"from":"db","kind":"part_of","to":"pay"}]}"#;
        let model: ServiceModel = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&model).unwrap(), json);
        assert_eq!(
            model.impacted_by(&id("db")),
            vec![Impact { service: id("pay"), criticality: Criticality::Critical }]
        );
        let cyclic = r#"{"items":[{"id":"a","kind":"component"},{"id":"b","kind":"component"}],"dependencies":[{"from":"a","kind":"runs_on","to":"b"},{"from":"b","kind":"runs_on","to":"a"}]}"#;
        let err = serde_json::from_str::<ServiceModel>(cyclic).unwrap_err().to_string();
        assert!(err.contains("dependency cycle"), "{err}");
    }
}
