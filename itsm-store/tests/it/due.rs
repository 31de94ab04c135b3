//! Due instants kept by the store, on both backends: over random command
//! sequences on a few incidents (acknowledge, start, hold, resume,
//! reprioritise, public notes, resolve, reopen, close, cancel), SLA policy
//! versions added over time (some back-dated), and the escalation runner
//! marking what it handled, the due instant the store keeps always equals
//! the pure clock's (`DomainConfigHistory::next_due_after` over the
//! incident's own events, kept by the test), and `due_before(T)` returns
//! exactly the open incidents whose clocks have something due before `T`;
//! and the breach instant kept with it (`ProjectionRow::breach_at`) is the
//! pure `DomainConfigHistory::breach_at`.

use std::collections::{BTreeMap, BTreeSet};

use itsm_core::calendar::Calendar;
use itsm_core::id::{ActorId, GroupId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentEvent, OpenIncident, ResolutionCode, sla_events};
use itsm_core::versioned::{DomainConfigHistory, Versioned};
use itsm_core::vocabulary::{DetectionSource, HoldReason, Impact, IncidentKind, ResolvedBy, Urgency};
use itsm_core::{Actor, Aggregate, AggregateKind, Context, DomainConfig, Role, Timestamp};
use itsm_store::{Request, Store};
use proptest::prelude::*;

use crate::common::{TestDb, scaled_policy, ts, unique};

const REASONS: [HoldReason; 3] = [HoldReason::AwaitingCaller, HoldReason::AwaitingVendor, HoldReason::AwaitingChange];
const LEVELS: [(Impact, Urgency); 4] = [
    (Impact::High, Urgency::High),
    (Impact::Medium, Urgency::Medium),
    (Impact::Low, Urgency::Low),
    (Impact::High, Urgency::Low),
];

fn open(id: &str, level: u8) -> IncidentCommand {
    let (impact, urgency) = LEVELS[usize::from(level) % LEVELS.len()];
    IncidentCommand::Open(OpenIncident {
        id: IncidentId::new(id).unwrap(),
        kind: IncidentKind::Production,
        service: ServiceId::new("payments").unwrap(),
        title: Text::new("card payments fail").unwrap(),
        category: None,
        impact,
        urgency,
        source: DetectionSource::User,
        tier: itsm_core::vocabulary::SupportTier::L1,
        impact_start: None,
        failure_class: itsm_core::vocabulary::FailureClass::Other,
        outage: false,
        caused_by_change: None,
    })
}

fn command(action: u8, arg: u8) -> IncidentCommand {
    match action % 12 {
        0 => IncidentCommand::Acknowledge,
        1 => IncidentCommand::Start,
        2 => IncidentCommand::Hold { reason: REASONS[usize::from(arg) % REASONS.len()] },
        3 => IncidentCommand::Resume,
        4 | 5 => {
            let (impact, urgency) = LEVELS[usize::from(arg) % LEVELS.len()];
            IncidentCommand::Reprioritize { impact, urgency }
        }
        6 => IncidentCommand::AddNote { text: Text::new("status update").unwrap(), public: arg.is_multiple_of(2) },
        7 => IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None },
        8 => IncidentCommand::Reopen { reason: Text::new("came back").unwrap() },
        9 => IncidentCommand::Assign { group: GroupId::new("service-desk").unwrap(), assignee: None },
        10 if arg.is_multiple_of(5) => IncidentCommand::Cancel { reason: Text::new("raised in error").unwrap() },
        _ => IncidentCommand::Close,
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// A command on incident `incident` (opened first if it does not exist).
    Command { incident: u8, action: u8, arg: u8 },
    /// A new SLA policy version effective `offset` seconds from now (negative:
    /// back-dated).
    Policy { scale: u8, new_cycle: bool, offset: i32 },
    /// The runner handled incident `incident` up to `back` seconds ago.
    Handled { incident: u8, back: u16 },
    /// `due_before(now + offset)`.
    Query { offset: i32 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u8..3, any::<u8>(), any::<u8>()).prop_map(|(incident, action, arg)| Step::Command { incident, action, arg }),
        1 => (10u8..200, any::<bool>(), -20_000i32..20_000).prop_map(|(scale, new_cycle, offset)| Step::Policy { scale, new_cycle, offset }),
        2 => (0u8..3, 0u16..10_000).prop_map(|(incident, back)| Step::Handled { incident, back }),
        2 => (-3_600i32..200_000).prop_map(|offset| Step::Query { offset }),
    ]
}

/// What the test knows of one incident.
struct Model {
    events: Vec<IncidentEvent>,
    terminal: bool,
    handled: Timestamp,
}

fn expected(history: &DomainConfigHistory, m: &Model, now: Timestamp) -> Option<Timestamp> {
    if m.terminal {
        return None;
    }
    history.next_due_after(&sla_events(&m.events), now, m.handled).unwrap()
}

async fn stored(store: &Store, actor: &Actor) -> BTreeMap<String, Timestamp> {
    let rows = store.due_before(actor, Timestamp::from_unix_secs(250_000_000_000).unwrap(), 1000).await.unwrap();
    rows.into_iter().map(|r| (r.id, r.due_at.unwrap())).collect()
}

async fn case(store: &Store, calendar_24x7: bool, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let tenant = TenantId::new(unique("due")).unwrap();
    let actor = Actor::new(ActorId::new("agent").unwrap(), tenant.clone(), Role::ALL.iter().copied());
    let config = DomainConfig::default();
    let mut now = ts(0);
    let mut history = DomainConfigHistory::default();
    let calendar = if calendar_24x7 {
        Calendar::twenty_four_seven(chrono_tz::UTC)
    } else {
        Calendar::five_by_eight(chrono_tz::Europe::Berlin)
    };
    let initial = Versioned::new(1, ts(-1_000_000), scaled_policy(1, 100, false));
    history.sla_policies.add(initial.clone()).unwrap();
    store.add_config_version(&tenant, initial, now).await.unwrap();
    let calendar = Versioned::new(1, ts(-1_000_000), calendar);
    history.calendars.add(calendar.clone()).unwrap();
    store.add_config_version(&tenant, calendar, now).await.unwrap();
    let mut incidents: BTreeMap<String, Model> = BTreeMap::new();
    let mut version = 1;
    for step in steps {
        now = now.plus_seconds(97).unwrap();
        match step {
            Step::Command { incident, action, arg } => {
                let id = format!("INC-{incident}");
                let command = if incidents.contains_key(&id) { command(action, arg) } else { open(&id, arg) };
                let ctx = Context::new(&actor, now, &config);
                if let Ok(c) = store.execute::<Incident>(Request::new(ctx, &id, &command)).await {
                    let m = incidents.entry(id).or_insert_with(|| Model {
                        events: Vec::new(),
                        terminal: false,
                        handled: now,
                    });
                    m.events.extend(c.events.into_iter().map(|r| r.event));
                    m.terminal = c.state.summary().terminal;
                }
            }
            Step::Policy { scale, new_cycle, offset } => {
                version += 1;
                let v = Versioned::new(
                    version,
                    now.plus_seconds(i64::from(offset)).unwrap(),
                    scaled_policy(version, scale, new_cycle),
                );
                history.sla_policies.add(v.clone()).unwrap();
                store.add_config_version(&tenant, v, now).await.unwrap();
            }
            Step::Handled { incident, back } => {
                let id = format!("INC-{incident}");
                let up_to = now.plus_seconds(-i64::from(back)).unwrap();
                let got = store.mark_due_handled(&actor, AggregateKind::Incident, &id, up_to, now).await;
                match incidents.get_mut(&id) {
                    Some(m) => {
                        m.handled = m.handled.max(up_to);
                        let due = got.unwrap();
                        if !m.terminal {
                            prop_assert_eq!(due, expected(&history, m, now), "mark_due_handled {}", id);
                        }
                    }
                    None => prop_assert!(got.is_err(), "{id} does not exist"),
                }
            }
            Step::Query { offset } => {
                let before = now.plus_seconds(i64::from(offset)).unwrap();
                let got: BTreeSet<String> =
                    store.due_before(&actor, before, 1000).await.unwrap().into_iter().map(|r| r.id).collect();
                let want: BTreeSet<String> = incidents
                    .iter()
                    .filter(|(_, m)| expected(&history, m, now).is_some_and(|d| d < before))
                    .map(|(id, _)| id.clone())
                    .collect();
                prop_assert_eq!(got, want, "due_before {}", before);
            }
        }
        let got = stored(store, &actor).await;
        let want: BTreeMap<String, Timestamp> =
            incidents.iter().filter_map(|(id, m)| Some((id.clone(), expected(&history, m, now)?))).collect();
        prop_assert_eq!(got, want, "after {} steps at {}", version, now);
        // The breach instant of every open incident is the pure clock's.
        let open = itsm_store::query::ListQuery { open: Some(true), ..Default::default() };
        let got: BTreeMap<String, Option<Timestamp>> = store
            .list(&actor, &open, None, 1000)
            .await
            .unwrap()
            .rows
            .into_iter()
            .map(|r| (r.id, r.breach_at))
            .collect();
        let want: BTreeMap<String, Option<Timestamp>> = incidents
            .iter()
            .filter(|(_, m)| !m.terminal)
            .map(|(id, m)| (id.clone(), history.breach_at(&sla_events(&m.events), now).unwrap()))
            .collect();
        prop_assert_eq!(got, want, "breach instants after {} steps at {}", version, now);
    }
    Ok(())
}

fn run(db: &TestDb, rt: &tokio::runtime::Runtime, cases: u32) {
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(calendar_24x7 in any::<bool>(), steps in prop::collection::vec(step(), 1..40))| {
        rt.block_on(case(&db.store, calendar_24x7, steps))?;
    });
}

#[test]
fn due_instants_follow_the_clock_sqlite() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(crate::common::sqlite());
    run(&db, &rt, 48);
    rt.block_on(db.cleanup());
}

#[cfg(feature = "postgres")]
#[test]
fn due_instants_follow_the_clock_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(crate::common::postgres()) else { return };
    run(&db, &rt, 24);
    rt.block_on(db.cleanup());
}

/// A worked example: a P3 opened at 0 under the default 24x7 policy is due
/// at its first warning (50 % of 2 h response); the runner handles it and
/// the next mark is due; a back-dated policy version re-targets the clock.
#[test]
fn worked_example_sqlite() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = crate::common::sqlite().await;
        let store = &db.store;
        let tenant = TenantId::new("acme").unwrap();
        let actor = Actor::new(ActorId::new("agent").unwrap(), tenant.clone(), Role::ALL.iter().copied());
        let config = DomainConfig::default();
        // No SLA configured: nothing is due.
        let ctx = Context::new(&actor, ts(0), &config);
        store.execute::<Incident>(Request::new(ctx, "INC-0", &open("INC-0", 1))).await.unwrap();
        assert!(store.due_before(&actor, ts(1_000_000), 10).await.unwrap().is_empty());
        store
            .add_config_version(&tenant, Versioned::new(1, ts(-10), scaled_policy(1, 100, false)), ts(0))
            .await
            .unwrap();
        store
            .add_config_version(&tenant, Versioned::new(1, ts(-10), Calendar::twenty_four_seven(chrono_tz::UTC)), ts(0))
            .await
            .unwrap();
        // Adding the configuration recomputed the open incident: 50 % of 2 h.
        let due = store.due_before(&actor, ts(1_000_000), 10).await.unwrap();
        assert_eq!(due.iter().map(|r| (r.id.as_str(), r.due_at)).collect::<Vec<_>>(), vec![("INC-0", Some(ts(3600)))]);
        // A duplicate version is refused and changes nothing.
        let refused =
            store.add_config_version(&tenant, Versioned::new(1, ts(0), scaled_policy(1, 50, false)), ts(1)).await;
        assert_eq!(refused.unwrap_err().kind(), itsm_store::ErrorKind::Invalid);
        // The runner handled the 50 % warning: next is 75 % (1 h 30 min).
        let next = store.mark_due_handled(&actor, AggregateKind::Incident, "INC-0", ts(3600), ts(3700)).await.unwrap();
        assert_eq!(next, Some(ts(5400)));
        // Acknowledged at 1 h 23 min: the response clock stops before 75 %; the resolution
        // clock's 50 % (12 h) is next.
        let ctx = Context::new(&actor, ts(5000), &config);
        store.execute::<Incident>(Request::new(ctx, "INC-0", &IncidentCommand::Acknowledge)).await.unwrap();
        let due = store.due_before(&actor, ts(1_000_000), 10).await.unwrap();
        assert_eq!(due[0].due_at, Some(ts(12 * 3600)));
        // The service model is configuration too: stored, versioned, read back checked.
        let model: itsm_core::service::ServiceModel = serde_json::from_str(
            r#"{"items": [{"id": "pay", "kind": "business_service", "criticality": "high"}, {"id": "db", "kind": "component"}],
                "dependencies": [{"from": "db", "kind": "part_of", "to": "pay"}]}"#,
        )
        .unwrap();
        store.add_config_version(&tenant, Versioned::new(1, ts(-10), model.clone()), ts(6000)).await.unwrap();
        let history = store.config_history(&tenant).await.unwrap();
        assert_eq!(history.service_models.in_force_at(ts(0)).map(|v| &v.value), Some(&model));
        db.cleanup().await;
    });
}
