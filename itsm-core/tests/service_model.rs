//! The service model against references written for this test: impact
//! analysis against plain reachability over the edges, cycle refusal against
//! a depth-first search, `down` against a recursive evaluation of the
//! redundancy rules, and the availability roll-up against a second-by-second
//! count.

use std::collections::{BTreeMap, BTreeSet};

use itsm_core::Timestamp;
use itsm_core::id::ServiceId;
use itsm_core::service::availability::{Outage, roll_up};
use itsm_core::service::{
    Criticality, Dependency, DependencyKind, Impact, Item, ItemKind, ServiceModel, ServiceModelError,
};
use proptest::prelude::*;

fn id(i: usize) -> ServiceId {
    ServiceId::new(format!("ci-{i:02}")).unwrap()
}

const KINDS: [DependencyKind; 3] = [DependencyKind::RunsOn, DependencyKind::DependsOn, DependencyKind::PartOf];
const LEVELS: [Criticality; 4] = [Criticality::Critical, Criticality::High, Criticality::Medium, Criticality::Low];

/// A generated model: items `0..n`, `needs` pairs `(dependent, provider)`
/// with the edge kind each was written with, redundancy groups per item.
#[derive(Debug, Clone)]
struct Spec {
    n: usize,
    business: BTreeMap<usize, Criticality>,
    needs: Vec<(usize, usize, DependencyKind)>,
    groups: BTreeMap<usize, Vec<Vec<usize>>>,
}

impl Spec {
    fn edge(&self, dependent: usize, provider: usize, kind: DependencyKind) -> Dependency {
        // The test's own reading of the edge kinds: part_of is stated from the part.
        match kind {
            DependencyKind::PartOf => Dependency { from: id(provider), kind, to: id(dependent) },
            _ => Dependency { from: id(dependent), kind, to: id(provider) },
        }
    }

    fn build(&self) -> Result<ServiceModel, ServiceModelError> {
        let items = (0..self.n)
            .map(|i| Item {
                id: id(i),
                kind: match self.business.get(&i) {
                    Some(&criticality) => ItemKind::BusinessService { criticality },
                    None => ItemKind::Component,
                },
                any_of: self
                    .groups
                    .get(&i)
                    .map_or_else(Vec::new, |gs| gs.iter().map(|g| g.iter().map(|&m| id(m)).collect()).collect()),
            })
            .collect();
        let deps = self.needs.iter().map(|&(d, p, k)| self.edge(d, p, k)).collect();
        ServiceModel::new(items, deps)
    }

    fn providers(&self, i: usize) -> BTreeSet<usize> {
        self.needs.iter().filter(|(d, _, _)| *d == i).map(|(_, p, _)| *p).collect()
    }

    /// Recursive evaluation: is `i` down when `failed` have failed?
    fn is_down(&self, i: usize, failed: &BTreeSet<usize>) -> bool {
        if failed.contains(&i) {
            return true;
        }
        let groups = self.groups.get(&i).cloned().unwrap_or_default();
        let grouped: BTreeSet<usize> = groups.iter().flatten().copied().collect();
        let outright = self.providers(i).into_iter().filter(|p| !grouped.contains(p)).any(|p| self.is_down(p, failed));
        outright || groups.iter().any(|g| g.iter().all(|&m| self.is_down(m, failed)))
    }
}

/// Acyclic specs: item `i` only needs items with a higher index.
fn dag() -> impl Strategy<Value = Spec> {
    (2usize..10)
        .prop_flat_map(|n| {
            let pairs: Vec<(usize, usize)> = (0..n).flat_map(|d| (d + 1..n).map(move |p| (d, p))).collect();
            let len = pairs.len();
            (
                Just(n),
                proptest::collection::btree_map(0..n, 0usize..4, 0..=n.min(4)),
                proptest::sample::subsequence(pairs, 0..=len.min(14)),
                proptest::collection::vec(0usize..3, len.min(14)),
                any::<u64>(),
            )
        })
        .prop_map(|(n, business, pairs, kinds, seed)| {
            let needs: Vec<(usize, usize, DependencyKind)> =
                pairs.iter().zip(kinds.iter().cycle()).map(|(&(d, p), &k)| (d, p, KINDS[k])).collect();
            let mut spec = Spec {
                n,
                business: business.into_iter().map(|(i, c)| (i, LEVELS[c])).collect(),
                needs,
                groups: BTreeMap::new(),
            };
            // Groups: for some items with at least two providers, pair up
            // providers (chosen by the seed's bits).
            for i in 0..n {
                let providers: Vec<usize> = spec.providers(i).into_iter().collect();
                if providers.len() >= 2 && (seed >> (i % 64)) & 1 == 1 {
                    let take = 2 + (seed as usize >> 8) % (providers.len() - 1);
                    spec.groups.insert(i, vec![providers[..take].to_vec()]);
                }
            }
            spec
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn impact_is_reachability_over_the_edges(spec in dag()) {
        let model = spec.build().unwrap();
        for start in 0..spec.n {
            // Reference: walk from `start` to everything that needs it.
            let mut reached = BTreeSet::from([start]);
            let mut todo = vec![start];
            while let Some(i) = todo.pop() {
                for &(d, p, _) in &spec.needs {
                    if p == i && reached.insert(d) {
                        todo.push(d);
                    }
                }
            }
            let mut expected: Vec<Impact> = reached
                .iter()
                .filter_map(|i| spec.business.get(i).map(|&c| Impact { service: id(*i), criticality: c }))
                .collect();
            expected.sort_by(|a, b| (a.criticality, &a.service).cmp(&(b.criticality, &b.service)));
            prop_assert_eq!(model.impacted_by(&id(start)), expected);
            let downstream: BTreeSet<ServiceId> = reached.iter().filter(|&&i| i != start).map(|&i| id(i)).collect();
            prop_assert_eq!(model.downstream(&id(start)).into_iter().cloned().collect::<BTreeSet<_>>(), downstream);
        }
    }

    #[test]
    fn down_follows_the_redundancy_rules(spec in dag(), failed in proptest::collection::btree_set(0usize..10, 0..4)) {
        let model = spec.build().unwrap();
        let failed: BTreeSet<usize> = failed.into_iter().filter(|&f| f < spec.n).collect();
        let expected: BTreeSet<ServiceId> = (0..spec.n).filter(|&i| spec.is_down(i, &failed)).map(id).collect();
        let ids: Vec<ServiceId> = failed.iter().map(|&f| id(f)).collect();
        prop_assert_eq!(model.down(&ids).into_iter().cloned().collect::<BTreeSet<_>>(), expected);
    }

    #[test]
    fn a_cycle_is_always_refused(spec in dag(), pick in any::<prop::sample::Index>(), kind in 0usize..3) {
        // Close a cycle: some item `p` that something needs now needs that
        // something's ... walk down from a dependent to a provider and add the
        // edge back.
        prop_assume!(!spec.needs.is_empty());
        let (d, p, _) = spec.needs[pick.index(spec.needs.len())];
        let mut cyclic = spec.clone();
        cyclic.needs.push((p, d, KINDS[kind]));
        cyclic.groups.remove(&p);
        match cyclic.build() {
            Err(ServiceModelError::Cycle { cycle }) => {
                // The named cycle is real: each needs the next, the last the first.
                prop_assert!(cycle.len() >= 2);
                for (k, a) in cycle.iter().enumerate() {
                    let b = &cycle[(k + 1) % cycle.len()];
                    prop_assert!(
                        cyclic.needs.iter().any(|&(x, y, _)| id(x) == *a && id(y) == *b),
                        "{a} does not need {b} in {cycle:?}"
                    );
                }
            }
            other => prop_assert!(false, "expected a cycle, got {other:?}"),
        }
    }

    #[test]
    fn random_graphs_are_refused_exactly_when_cyclic(
        n in 2usize..7,
        pairs in proptest::collection::btree_set((0usize..7, 0usize..7), 0..12),
    ) {
        let needs: Vec<(usize, usize, DependencyKind)> =
            pairs.into_iter().filter(|&(d, p)| d < n && p < n && d != p).map(|(d, p)| (d, p, DependencyKind::DependsOn)).collect();
        let spec = Spec { n, business: BTreeMap::new(), needs, groups: BTreeMap::new() };
        // Reference: depth-first search with colours.
        fn visit(i: usize, spec: &Spec, colour: &mut [u8]) -> bool {
            colour[i] = 1;
            for p in spec.providers(i) {
                if colour[p] == 1 || (colour[p] == 0 && visit(p, spec, colour)) {
                    return true;
                }
            }
            colour[i] = 2;
            false
        }
        let mut colour = vec![0u8; n];
        let cyclic = (0..n).any(|i| colour[i] == 0 && visit(i, &spec, &mut colour));
        let result = spec.build();
        prop_assert_eq!(matches!(result, Err(ServiceModelError::Cycle { .. })), cyclic, "{:?}", result);
        prop_assert_eq!(result.is_ok(), !cyclic);
    }

    #[test]
    fn availability_equals_a_second_by_second_count(
        spec in dag(),
        outages in proptest::collection::vec((0usize..10, 0i64..130, 0i64..40, any::<bool>(), any::<bool>()), 0..8),
    ) {
        const WINDOW: i64 = 120;
        let model = spec.build().unwrap();
        let t0 = 1_800_000_000i64;
        let at = |s: i64| Timestamp::from_unix_secs(t0 + s).unwrap();
        let outages: Vec<(usize, i64, Option<i64>, bool)> = outages
            .into_iter()
            .filter(|o| o.0 < spec.n)
            .map(|(item, start, len, open, planned)| (item, start - 5, (!open).then_some(start - 5 + len), planned))
            .collect();
        let input: Vec<Outage> = outages
            .iter()
            .map(|&(item, from, to, planned)| Outage { item: id(item), from: at(from), to: to.map(at), planned })
            .collect();
        let rolled = roll_up(&model, at(0), at(WINDOW), &input).unwrap();
        let services: Vec<usize> = (0..spec.n).filter(|i| spec.business.contains_key(i)).collect();
        prop_assert_eq!(rolled.len(), services.len());
        for (got, &s) in rolled.iter().zip(&services) {
            prop_assert_eq!(&got.service, &id(s));
            // Reference: each second [k, k+1) on its own.
            let (mut planned, mut down) = (BTreeSet::new(), BTreeSet::new());
            for k in 0..WINDOW {
                let out = |want_planned: bool| -> BTreeSet<usize> {
                    outages
                        .iter()
                        .filter(|o| o.1 <= k && o.2.is_none_or(|end| k < end) && o.3 == want_planned)
                        .map(|o| o.0)
                        .collect()
                };
                let by_plan = out(true);
                let all: BTreeSet<usize> = by_plan.union(&out(false)).copied().collect();
                if spec.is_down(s, &by_plan) {
                    planned.insert(k);
                } else if spec.is_down(s, &all) {
                    down.insert(k);
                }
            }
            let seconds = |intervals: &[itsm_core::service::availability::Interval]| -> BTreeSet<i64> {
                intervals.iter().flat_map(|i| (i.from.unix_secs() - t0)..(i.to.unix_secs() - t0)).collect()
            };
            prop_assert_eq!(seconds(&got.planned), planned.clone());
            prop_assert_eq!(seconds(&got.down), down.clone());
            prop_assert_eq!(got.down_micros(), down.len() as i64 * 1_000_000);
            prop_assert_eq!(got.agreed_micros(), (WINDOW - planned.len() as i64) * 1_000_000);
            // Merged: no two intervals touch.
            for list in [&got.planned, &got.down] {
                prop_assert!(list.windows(2).all(|w| w[0].to < w[1].from), "{list:?}");
            }
        }
    }
}

#[test]
fn maintenance_on_one_node_and_a_failure_of_the_other_is_unplanned_downtime() {
    let model: ServiceModel = serde_json::from_str(
        r#"{"items": [
            {"id": "payroll", "kind": "business_service", "criticality": "critical"},
            {"id": "app", "kind": "component", "any_of": [["vm-1", "vm-2"]]},
            {"id": "vm-1", "kind": "component"}, {"id": "vm-2", "kind": "component"}],
          "dependencies": [
            {"from": "app", "kind": "part_of", "to": "payroll"},
            {"from": "app", "kind": "runs_on", "to": "vm-1"}, {"from": "app", "kind": "runs_on", "to": "vm-2"}]}"#,
    )
    .unwrap();
    let t = |h: i64| Timestamp::from_unix_secs(1_800_000_000 + h * 3600).unwrap();
    let sid = |s: &str| ServiceId::new(s).unwrap();
    let outages = [
        // vm-1 in maintenance 2h-6h; vm-2 fails 5h-7h: down 5h-6h only.
        Outage { item: sid("vm-1"), from: t(2), to: Some(t(6)), planned: true },
        Outage { item: sid("vm-2"), from: t(5), to: Some(t(7)), planned: false },
        // Both nodes in maintenance 10h-11h: planned, not agreed time.
        Outage { item: sid("vm-1"), from: t(10), to: Some(t(11)), planned: true },
        Outage { item: sid("vm-2"), from: t(10), to: Some(t(11)), planned: true },
        // The application itself fails from 20h and is still out at 24h.
        Outage { item: sid("app"), from: t(20), to: None, planned: false },
    ];
    let [payroll] = roll_up(&model, t(0), t(24), &outages).unwrap().try_into().unwrap();
    assert_eq!(payroll.down_micros(), 5 * 3_600_000_000);
    assert_eq!(payroll.planned_micros(), 3_600_000_000);
    assert_eq!(payroll.agreed_micros(), 23 * 3_600_000_000);
    assert_eq!(payroll.availability(), Some(18.0 / 23.0));
    let err = roll_up(&model, t(0), t(24), &[Outage { item: sid("nas"), from: t(1), to: None, planned: false }]);
    assert_eq!(
        err.unwrap_err().to_string(),
        format!("outage of nas from {}: nas is not an item of the service model", t(1))
    );
    let backwards =
        roll_up(&model, t(0), t(24), &[Outage { item: sid("app"), from: t(3), to: Some(t(2)), planned: false }]);
    assert!(backwards.unwrap_err().to_string().contains("before it starts"));
}
