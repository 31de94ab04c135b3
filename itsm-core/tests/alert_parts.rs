//! The correlator's state as keyed rows (issue 13): a "row store" that keeps
//! groups and seen alerts in two maps, loads only the rows each batch of
//! alerts (or each incident event) needs into a partial correlator, and
//! writes back only the changed rows, decides exactly as a reference that
//! keeps the whole correlator in memory; and deleting seen rows after their
//! expiry changes no decision of a stream that keeps the documented rule.
//!
//! Both sides drive one set of real incidents: the commands of each decision
//! run once through the incident machine, and every event is observed by both
//! correlators, as `Store::ingest_alerts` does.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use itsm_core::alert::{
    Alert, AlertSeverity, Correlator, Decision, Group, GroupBy, GroupStatus, GroupingPolicy, IgnoreReason,
    MaintenanceWindow, Seen, Topology,
};
use itsm_core::id::{ActorId, ChangeId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentEvent, ResolutionCode};
use itsm_core::service::ServiceModel;
use itsm_core::vocabulary::{Impact, ResolvedBy, Urgency};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn ts(secs: i64) -> Timestamp {
    // 2026-03-02T09:00:00Z
    Timestamp::from_unix_secs(1_772_442_000 + secs).expect("instant")
}

const SEVERITIES: [AlertSeverity; 5] =
    [AlertSeverity::Critical, AlertSeverity::Major, AlertSeverity::Minor, AlertSeverity::Warning, AlertSeverity::Info];

/// One generated step of the stream.
#[derive(Debug, Clone)]
enum Op {
    /// A new alert fires (`back` seconds before the clock: reordered delivery).
    Fire { object: u8, check: u8, severity: u8, team: Option<u8>, back: u16 },
    /// The recovery of a new alert arrives before its firing (which may be
    /// delivered later by `Redeliver`).
    RecoverFirst { object: u8, check: u8, severity: u8, team: Option<u8>, back: u16 },
    /// The recovery of an alert fired earlier (with its team label changed when
    /// `relabel` is set), at the clock.
    Recover { pick: usize, relabel: Option<u8> },
    /// A message seen before (or a firing not delivered yet) delivered again.
    Redeliver { pick: usize },
    /// A person acts on an incident the alerts opened.
    Person { pick: usize, action: u8 },
    /// The row store deletes the seen rows expired at the clock.
    Expire,
}

#[derive(Debug, Clone)]
struct Step {
    /// Seconds the clock advances before the step.
    gap: u32,
    op: Op,
    /// Whether the alert batch ends after this step.
    cut: bool,
}

fn gap() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 0u32..60, 2 => 60u32..700, 1 => 700u32..2500]
}

fn op(expire: bool) -> BoxedStrategy<Op> {
    let fire = (
        0u8..3,
        0u8..2,
        prop_oneof![3 => 0u8..3, 1 => 3u8..5],
        proptest::option::of(0u8..2),
        prop_oneof![
            4 => Just(0u16),
            1 => 0u16..900
        ],
    )
        .prop_map(|(object, check, severity, team, back)| Op::Fire { object, check, severity, team, back });
    let first = (0u8..4, 0u8..2, 0u8..5, proptest::option::of(0u8..2), 0u16..300)
        .prop_map(|(object, check, severity, team, back)| Op::RecoverFirst { object, check, severity, team, back });
    let recover = (any::<usize>(), prop_oneof![4 => Just(None), 1 => proptest::option::of(0u8..2)])
        .prop_map(|(pick, relabel)| Op::Recover { pick, relabel });
    let redeliver = any::<usize>().prop_map(|pick| Op::Redeliver { pick });
    let person = (any::<usize>(), 0u8..9).prop_map(|(pick, action)| Op::Person { pick, action });
    let ops = prop_oneof![8 => fire, 1 => first, 5 => recover, 4 => redeliver, 4 => person];
    if expire { prop_oneof![10 => ops, 1 => Just(Op::Expire)].boxed() } else { ops.boxed() }
}

fn steps(expire: bool) -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (gap(), op(expire), proptest::bool::weighted(0.4)).prop_map(|(gap, op, cut)| Step { gap, op, cut }),
        1..70,
    )
}

fn policy() -> impl Strategy<Value = GroupingPolicy> {
    let by = prop_oneof![
        Just(GroupBy::Fingerprint),
        Just(GroupBy::Object),
        Just(GroupBy::Receiver { label: "team".to_owned() }),
    ];
    (
        by,
        prop_oneof![Just(0u64), Just(300), Just(1800)],
        prop_oneof![Just(0u64), Just(120), Just(600)],
        prop_oneof![Just(0u64), Just(600), Just(3600)],
    )
        .prop_map(|(group_by, window_seconds, flap_seconds, reopen_seconds)| GroupingPolicy {
            group_by,
            window_seconds,
            flap_seconds,
            reopen_seconds,
            ..GroupingPolicy::default()
        })
}

/// The row store: groups by key, seen alerts by clear key, and the expiry
/// instant written with each recovered seen row.
#[derive(Debug, Default)]
struct Rows {
    groups: BTreeMap<String, Group>,
    seen: BTreeMap<String, Seen>,
    expires: BTreeMap<String, Timestamp>,
}

impl Rows {
    /// A partial correlator with exactly the rows the batch's alerts need
    /// under `topology`: each alert's seen row and group, and the groups of
    /// its root items that may still be open (open or resolved, as a store
    /// whose rows lag a person's reopen must load them).
    fn load(&self, alerts: &[Alert], policy: &GroupingPolicy, topology: &Topology<'_>) -> Correlator {
        let (mut groups, mut seen) = (BTreeMap::new(), BTreeMap::new());
        for alert in alerts {
            let needs = Correlator::needs_in(alert, policy, topology);
            for (key, row) in &self.groups {
                let may_be_open = matches!(row.status, GroupStatus::Open | GroupStatus::Resolved { .. });
                if may_be_open && needs.roots.contains(&row.service) {
                    groups.insert(key.clone(), row.clone());
                }
            }
            let stored = self.seen.get(&needs.seen);
            if let Some(row) = stored {
                seen.insert(needs.seen.clone(), row.clone());
            }
            let key = needs.group_for(stored);
            if let Some(row) = self.groups.get(key) {
                groups.insert(key.to_owned(), row.clone());
            }
        }
        Correlator::from_parts(groups, seen)
    }

    /// A partial correlator with the group whose current incident is `id`
    /// (found by the incident column), and nothing else.
    fn load_incident(&self, id: &IncidentId) -> Correlator {
        let group = self.groups.iter().find(|(_, g)| &g.incident == id).map(|(k, g)| (k.clone(), g.clone()));
        Correlator::from_parts(group, [])
    }

    /// Writes back the partial correlator's changes, checking they are
    /// exactly the rows that differ from the stored ones.
    fn write(
        &mut self,
        partial: &mut Correlator,
        policy: &GroupingPolicy,
        now: Timestamp,
    ) -> Result<(), TestCaseError> {
        let changes = partial.take_changes();
        for (key, row) in partial.groups() {
            let differs = self.groups.get(key) != Some(row);
            prop_assert_eq!(differs, changes.groups.contains_key(key), "group {} listed iff changed", key);
        }
        for (key, row) in partial.seen_entries() {
            let differs = self.seen.get(key) != Some(row);
            prop_assert_eq!(differs, changes.seen.contains_key(key), "seen {} listed iff changed", key);
        }
        for (key, row) in changes.groups {
            prop_assert_eq!(partial.groups().get(&key), Some(&row));
            self.groups.insert(key, row);
        }
        for (key, row) in changes.seen {
            prop_assert_eq!(partial.seen_entries().get(&key), Some(&row));
            match policy.seen_expires_at(&row, now) {
                Some(at) => self.expires.insert(key.clone(), at),
                None => self.expires.remove(&key),
            };
            self.seen.insert(key, row);
        }
        prop_assert!(partial.take_changes().is_empty(), "changes are taken once");
        Ok(())
    }

    /// Deletes the seen rows expired at `now`; returns their keys.
    fn expire(&mut self, now: Timestamp) -> Vec<String> {
        let gone: Vec<String> = self.expires.iter().filter(|(_, at)| **at < now).map(|(k, _)| k.clone()).collect();
        for key in &gone {
            self.expires.remove(key);
            self.seen.remove(key);
        }
        gone
    }
}

/// The incidents, the reference correlator and the row store, fed one stream.
struct World {
    policy: GroupingPolicy,
    /// The service model and maintenance windows, when the stream runs under a topology.
    topology: Option<(ServiceModel, Vec<MaintenanceWindow>)>,
    reference: Correlator,
    rows: Rows,
    config: DomainConfig,
    bot: Actor,
    agent: Actor,
    incidents: BTreeMap<IncidentId, Incident>,
    opened: Vec<IncidentId>,
    clock: i64,
    next_id: usize,
    /// Firing messages created so far (delivered or not).
    fired: Vec<Alert>,
    /// Every message created so far (for redelivery).
    known: Vec<Alert>,
    /// Alerts in the current batch.
    batch: Vec<Alert>,
    /// Clear key -> the instant the ingestion that recorded its recovery was decided at.
    recovered_at: BTreeMap<String, Timestamp>,
    /// Seen rows the row store deleted.
    deleted: BTreeSet<String>,
    stats: Stats,
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    decided: usize,
    /// Messages dropped because they break the expiry rule (expiry test only).
    dropped: usize,
    deleted: usize,
    /// Duplicates answered by a recovered row (redeliveries inside the retention).
    recovered_duplicates: usize,
    batches_over_one: usize,
    person_events: usize,
    root_causes: usize,
    suppressed: usize,
}

/// The test's topology: db-0 hosts db-1, db-2 needs db-1 (so db-0 too), db-3
/// stands alone; db-1 is worked on from 600 s to 2400 s, db-0 from 5000 s
/// to 6000 s (the clock runs up to about 50,000 s).
fn test_topology() -> (ServiceModel, Vec<MaintenanceWindow>) {
    let model: ServiceModel = serde_json::from_value(serde_json::json!({
        "items": [
            {"id": "db-0", "kind": "component"},
            {"id": "db-1", "kind": "component"},
            {"id": "db-2", "kind": "component"},
            {"id": "db-3", "kind": "component"}
        ],
        "dependencies": [
            {"from": "db-1", "kind": "runs_on", "to": "db-0"},
            {"from": "db-2", "kind": "depends_on", "to": "db-1"}
        ]
    }))
    .expect("model");
    let window = |change: &str, item: &str, start: i64, end: i64| MaintenanceWindow {
        change: ChangeId::new(change).expect("id"),
        item: ServiceId::new(item).expect("id"),
        start: ts(start),
        end: ts(end),
    };
    (model, vec![window("CHG-1", "db-1", 600, 2400), window("CHG-2", "db-0", 5000, 6000)])
}

impl World {
    fn new(policy: GroupingPolicy, topology: bool) -> Self {
        let tenant = TenantId::new("acme").expect("id");
        World {
            policy,
            topology: topology.then(test_topology),
            reference: Correlator::new(),
            rows: Rows::default(),
            config: DomainConfig::default(),
            bot: Actor::new(ActorId::new("monitoring").expect("id"), tenant.clone(), [Role::Automation]),
            agent: Actor::new(ActorId::new("ann").expect("id"), tenant, [Role::Agent]),
            incidents: BTreeMap::new(),
            opened: Vec::new(),
            clock: 0,
            next_id: 0,
            fired: Vec::new(),
            known: Vec::new(),
            batch: Vec::new(),
            recovered_at: BTreeMap::new(),
            deleted: BTreeSet::new(),
            stats: Stats::default(),
        }
    }

    fn now(&self) -> Timestamp {
        ts(self.clock)
    }

    fn new_alert(&mut self, object: u8, check: u8, severity: u8, team: Option<u8>, back: u16) -> Alert {
        self.next_id += 1;
        let checks = ["cpu", "disk"];
        let mut alert = Alert::new(
            "prom",
            format!("a-{}", self.next_id),
            ServiceId::new(format!("db-{object}")).expect("id"),
            checks[usize::from(check) % 2],
            SEVERITIES[usize::from(severity) % 5],
            ts(self.clock - i64::from(back)),
        );
        if let Some(team) = team {
            alert = alert.with_label("team", format!("t{team}"));
        }
        alert
    }

    /// Whether a message about this alert may still be decided under the
    /// documented rule: not recovered yet, or decided at most the retention
    /// after the ingestion that recorded its recovery.
    fn within_rule(&self, alert: &Alert) -> bool {
        let retention = self.policy.window_seconds.max(self.policy.flap_seconds).max(self.policy.reopen_seconds);
        let retention = i64::try_from(retention).expect("small");
        match self.recovered_at.get(&alert.key().clear_key()) {
            Some(at) => self.now() <= at.plus_seconds(retention).expect("instant"),
            None => true,
        }
    }

    fn run(&mut self, step: &Step, keep_rule: bool) -> Result<(), TestCaseError> {
        self.clock += i64::from(step.gap);
        let message = match &step.op {
            Op::Fire { object, check, severity, team, back } => {
                let alert = self.new_alert(*object, *check, *severity, *team, *back);
                self.fired.push(alert.clone());
                self.known.push(alert.clone());
                Some(alert)
            }
            Op::RecoverFirst { object, check, severity, team, back } => {
                let firing = self.new_alert(*object, *check, *severity, *team, *back);
                let recovery = firing.clone().recovered(self.now());
                self.fired.push(firing.clone());
                self.known.push(firing);
                self.known.push(recovery.clone());
                Some(recovery)
            }
            Op::Recover { pick, relabel } => match self.fired.get(pick % self.fired.len().max(1)) {
                Some(firing) => {
                    let mut recovery = firing.clone().recovered(self.now());
                    if let Some(team) = relabel {
                        recovery = recovery.with_label("team", format!("t{team}"));
                    }
                    self.known.push(recovery.clone());
                    Some(recovery)
                }
                None => None,
            },
            Op::Redeliver { pick } => self.known.get(pick % self.known.len().max(1)).cloned(),
            Op::Person { pick, action } => {
                self.flush()?;
                // Mostly a group's current incident, sometimes an earlier one.
                let current: Vec<IncidentId> = self.reference.groups().values().map(|g| g.incident.clone()).collect();
                let among = if pick % 4 == 0 { &self.opened } else { &current };
                if let Some(id) = among.get((pick / 4) % among.len().max(1)).cloned() {
                    self.person(&id, *action, *pick)?;
                }
                None
            }
            Op::Expire => {
                self.flush()?;
                let gone = self.rows.expire(self.now());
                self.stats.deleted += gone.len();
                self.deleted.extend(gone);
                None
            }
        };
        if let Some(alert) = message {
            if keep_rule && !self.within_rule(&alert) {
                self.stats.dropped += 1;
            } else {
                self.batch.push(alert);
            }
        }
        if step.cut {
            self.flush()?;
        }
        Ok(())
    }

    /// Ingests the current batch on both sides: the row store loads the
    /// batch's rows once, decides every alert on the partial correlator, and
    /// writes the changes back at the end.
    fn flush(&mut self) -> Result<(), TestCaseError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        if batch.len() > 1 {
            self.stats.batches_over_one += 1;
        }
        let now = self.now();
        let shape = self.topology.clone();
        let topology = shape.as_ref().map_or_else(Topology::default, |(m, w)| Topology::new(Some(m), w));
        let mut partial = self.rows.load(&batch, &self.policy, &topology);
        for alert in &batch {
            let expected = self.reference.decide_in(alert, &self.policy, now, &topology);
            let decided = partial.decide_in(alert, &self.policy, now, &topology);
            prop_assert_eq!(&decided, &expected, "alert {:?}", alert);
            self.stats.decided += 1;
            match &expected {
                Decision::RootCause { .. } => self.stats.root_causes += 1,
                Decision::Suppressed { .. } => self.stats.suppressed += 1,
                _ => {}
            }
            if expected == Decision::Duplicate
                && self.reference.seen(&alert.key()).is_some_and(|s| s.recovered)
                && self.recovered_at.contains_key(&alert.key().clear_key())
            {
                self.stats.recovered_duplicates += 1;
            }
            // The commands run once; both correlators observe every event.
            let mut applies = true;
            for (i, (id, command)) in expected.commands().into_iter().enumerate() {
                match self.execute(&id, &command, false) {
                    Some(events) => {
                        for event in &events {
                            self.reference.observe(&id, event);
                            partial.observe(&id, event);
                        }
                        if let Some(opened) = expected.opened()
                            && matches!(command, IncidentCommand::Open(_))
                        {
                            self.opened.push(opened.clone());
                        }
                    }
                    None => {
                        applies = i > 0;
                        break;
                    }
                }
            }
            if applies {
                self.reference.apply(alert, &self.policy, &expected);
                partial.apply(alert, &self.policy, &decided);
                let recorded = matches!(expected, Decision::Recovery { .. })
                    || expected == Decision::Ignore { reason: IgnoreReason::UnknownRecovery };
                if recorded {
                    self.recovered_at.insert(alert.key().clear_key(), now);
                }
            }
        }
        self.rows.write(&mut partial, &self.policy, now)?;
        self.check_rows()
    }

    /// A person's command on an incident; its events reach the reference and
    /// a partial correlator holding the incident's group only.
    fn person(&mut self, id: &IncidentId, action: u8, pick: usize) -> Result<(), TestCaseError> {
        let reason = Text::new("by hand").expect("text");
        let command = match action {
            0..=2 => {
                IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None }
            }
            3 | 4 => IncidentCommand::Close,
            5 => IncidentCommand::Reopen { reason },
            6 => IncidentCommand::Cancel { reason },
            7 => IncidentCommand::Reprioritize {
                impact: [Impact::High, Impact::Medium, Impact::Low][pick % 3],
                urgency: [Urgency::High, Urgency::Medium, Urgency::Low][(pick / 3) % 3],
            },
            _ => IncidentCommand::Acknowledge,
        };
        let Some(events) = self.execute(id, &command, true) else { return Ok(()) };
        let now = self.now();
        let mut partial = self.rows.load_incident(id);
        for event in &events {
            self.stats.person_events += 1;
            // Half the time through the convenience calls (the same call on both sides).
            match event {
                IncidentEvent::Resolved { at, .. } if pick.is_multiple_of(2) => {
                    self.reference.incident_resolved(id, *at);
                    partial.incident_resolved(id, *at);
                }
                IncidentEvent::Closed { at, .. } if pick.is_multiple_of(2) => {
                    self.reference.incident_closed(id, *at);
                    partial.incident_closed(id, *at);
                }
                _ => {
                    self.reference.observe(id, event);
                    partial.observe(id, event);
                }
            }
        }
        self.rows.write(&mut partial, &self.policy, now)?;
        self.check_rows()
    }

    /// Runs a command at the clock; `None` when the incident machine refuses it.
    fn execute(&mut self, id: &IncidentId, command: &IncidentCommand, person: bool) -> Option<Vec<IncidentEvent>> {
        let actor = if person { &self.agent } else { &self.bot };
        let ctx = Context::new(actor, ts(self.clock), &self.config);
        let (next, events) = Incident::execute(self.incidents.get(id).cloned(), command, &ctx).ok()?;
        self.incidents.insert(id.clone(), next);
        Some(events)
    }

    /// The row store holds the reference's rows, but for the seen rows it
    /// deleted, each recovered and expired.
    fn check_rows(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(&self.rows.groups, self.reference.groups());
        for (key, row) in self.reference.seen_entries() {
            match self.rows.seen.get(key) {
                Some(stored) => prop_assert_eq!(stored, row, "seen row {}", key),
                None => {
                    prop_assert!(self.deleted.contains(key), "seen row {} missing but never deleted", key);
                    prop_assert!(row.recovered, "deleted row {} was not recovered", key);
                }
            }
        }
        for key in self.rows.seen.keys() {
            prop_assert!(self.reference.seen_entries().contains_key(key), "extra seen row {}", key);
        }
        Ok(())
    }
}

fn run_stream(policy: GroupingPolicy, steps: &[Step], keep_rule: bool) -> Result<Stats, TestCaseError> {
    run_stream_in(policy, steps, keep_rule, false)
}

fn run_stream_in(
    policy: GroupingPolicy,
    steps: &[Step],
    keep_rule: bool,
    topology: bool,
) -> Result<Stats, TestCaseError> {
    let mut world = World::new(policy, topology);
    for step in steps {
        world.run(step, keep_rule)?;
    }
    world.flush()?;
    if !keep_rule {
        prop_assert!(world.deleted.is_empty());
        prop_assert_eq!(&world.rows.seen, world.reference.seen_entries());
    }
    // The whole state rebuilt from the rows decides like the reference.
    let (groups, seen) = world.reference.clone().into_parts();
    prop_assert_eq!(Correlator::from_parts(groups, seen), world.reference.clone());
    Ok(world.stats)
}

proptest! {
    #![proptest_config(Config { cases: 512, ..Config::default() })]

    /// Random streams (several objects and checks, reordering, flapping,
    /// recoveries before firings, relabelled recoveries, redeliveries, people
    /// resolving, closing, reopening, cancelling and re-prioritising incidents)
    /// in random batches: the row store decides every alert like the whole
    /// correlator, writes back exactly the changed rows, and ends with the
    /// same rows.
    #[test]
    fn the_row_store_decides_like_the_whole_correlator(policy in policy(), steps in steps(false)) {
        run_stream(policy, &steps, false)?;
    }
}

/// Under a topology (a service model and maintenance windows) the row store,
/// loading also the groups of each alert's root items, decides like the
/// whole correlator; the streams do join root causes and suppress alerts.
#[test]
fn the_row_store_decides_like_the_whole_correlator_under_a_topology() {
    let mut runner = TestRunner::new(Config { cases: 512, ..Config::default() });
    let total = Cell::new(Stats::default());
    runner
        .run(&(policy(), steps(false)), |(policy, steps)| {
            let stats = run_stream_in(policy, &steps, false, true)?;
            let mut t = total.get();
            t.root_causes += stats.root_causes;
            t.suppressed += stats.suppressed;
            t.person_events += stats.person_events;
            total.set(t);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let t = total.get();
    assert!(t.root_causes > 100 && t.suppressed > 100 && t.person_events > 100, "{t:?}");
}

/// Deleting expired seen rows at random instants changes no decision of a
/// stream whose messages keep the rule (decided at most the retention after
/// their alert's recovery was recorded; the others are dropped from both
/// sides), and deletes only recovered rows.
#[test]
fn expiry_changes_no_decision_within_the_rule() {
    let mut runner = TestRunner::new(Config { cases: 512, ..Config::default() });
    let total = Cell::new(Stats::default());
    runner
        .run(&(policy(), steps(true)), |(policy, steps)| {
            let stats = run_stream(policy, &steps, true)?;
            let mut t = total.get();
            t.decided += stats.decided;
            t.dropped += stats.dropped;
            t.deleted += stats.deleted;
            t.recovered_duplicates += stats.recovered_duplicates;
            t.batches_over_one += stats.batches_over_one;
            t.person_events += stats.person_events;
            total.set(t);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let t = total.get();
    // The streams exercise what the rule is about.
    assert!(t.deleted > 100, "{t:?}");
    assert!(t.dropped > 10, "{t:?}");
    assert!(t.recovered_duplicates > 100, "{t:?}");
    assert!(t.batches_over_one > 100 && t.person_events > 100, "{t:?}");
}

/// The documented consequence: a message about an alert whose seen row was
/// deleted is decided as the alert's first message.
#[test]
fn a_redelivery_after_expiry_is_decided_as_a_first_message() {
    let policy =
        GroupingPolicy { window_seconds: 300, flap_seconds: 120, reopen_seconds: 600, ..GroupingPolicy::default() };
    assert_eq!(policy.seen_retention_seconds(), 600);
    let object = ServiceId::new("db-1").expect("id");
    let first = Alert::new("prom", "1", object.clone(), "cpu", AlertSeverity::Critical, ts(0));
    let second = Alert::new("prom", "2", object, "cpu", AlertSeverity::Critical, ts(10));
    let mut whole = Correlator::new();
    assert!(matches!(whole.correlate(&first, &policy, ts(0)), Decision::Open { .. }));
    assert!(matches!(whole.correlate(&second, &policy, ts(10)), Decision::Merge { .. }));
    whole.take_changes();
    let key = first.key().clear_key();
    // Not recovered: kept for ever.
    assert_eq!(policy.seen_expires_at(&whole.seen_entries()[&key], ts(20)), None);
    let recovery = first.clone().recovered(ts(30));
    assert_eq!(
        whole.correlate(&recovery, &policy, ts(30)),
        Decision::Recovery { incident: whole.seen(&first.key()).and_then(|s| s.incident.clone()), all_clear: false }
    );
    let changes = whole.take_changes();
    assert_eq!(changes.seen.keys().collect::<Vec<_>>(), [&key]);
    assert_eq!(changes.groups.len(), 1, "the recovery leaves the group's firing set");
    let expires = policy.seen_expires_at(&changes.seen[&key], ts(40)).expect("recovered");
    assert_eq!(expires, ts(640));
    // Within the retention the row answers redeliveries.
    assert_eq!(whole.decide(&first, &policy, expires), Decision::Duplicate);
    assert_eq!(whole.decide(&recovery, &policy, expires), Decision::Duplicate);
    // Deleted after it, the redelivered recovery is unknown, and the
    // redelivered firing is a new late alert (merged again into the open incident).
    let (groups, mut seen) = whole.clone().into_parts();
    seen.remove(&key);
    let mut forgetful = Correlator::from_parts(groups, seen);
    let later = ts(641);
    assert_eq!(forgetful.decide(&recovery, &policy, later), Decision::Ignore { reason: IgnoreReason::UnknownRecovery });
    let Decision::Merge { incident, .. } = forgetful.correlate(&first, &policy, later) else {
        panic!("a forgotten firing is decided as a new alert")
    };
    assert_eq!(Some(&incident), whole.seen(&first.key()).and_then(|s| s.incident.as_ref()));
    let changes = forgetful.take_changes();
    assert!(changes.groups.values().all(|g| g.firing.contains(&key)), "it counts as firing again");
    assert!(changes.seen.get(&key).is_some_and(|s| !s.recovered));
}

/// The change record is not state: JSON and equality ignore it, and a whole
/// correlator reports its changes too.
#[test]
fn the_change_record_is_neither_serialized_nor_compared() {
    let policy = GroupingPolicy::default();
    let object = ServiceId::new("db-1").expect("id");
    let mut c = Correlator::new();
    c.correlate(&Alert::new("prom", "1", object, "cpu", AlertSeverity::Minor, ts(0)), &policy, ts(0));
    let json = serde_json::to_value(&c).expect("json");
    let fields: BTreeSet<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(fields, BTreeSet::from(["current", "groups", "seen"]));
    let back: Correlator = serde_json::from_value(json).expect("back");
    assert_eq!(back, c);
    let mut back = back;
    assert!(back.take_changes().is_empty());
    let changes = c.take_changes();
    assert_eq!((changes.groups.len(), changes.seen.len()), (1, 1));
    assert!(c.take_changes().is_empty());
    // The index follows the rows it was rebuilt from.
    let (groups, seen) = c.clone().into_parts();
    let partial = Correlator::from_parts(groups.clone(), seen);
    for (key, group) in &groups {
        assert_eq!(partial.group_of(&group.incident).map(|(k, _)| k), Some(key.as_str()));
    }
}
