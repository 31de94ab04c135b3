//! The scorecard through the whole stack. Random sequences of incident
//! commands (opened on three services, some caused by a change, some outages,
//! acknowledged, held, re-prioritised, resolved at several tiers, reopened,
//! closed, cancelled, linked to changes) and standard-change commands run
//! through `Store::execute` as time passes, under an SLA policy and a
//! calendar stored as configuration versions. Then two ways to the scorecard
//! must agree exactly:
//!
//! - the store's metrics read model (`Store::incident_records`,
//!   `Store::change_records`) into `itsm-metrics`;
//! - the events the store holds (`Store::stream_events`), decoded, checked to
//!   be each aggregate's versions 1..n, replayed through the machines
//!   (`Aggregate::replay`) into records, each incident's SLA verdict judged by
//!   the pure clock under the configuration the test stored, into the same
//!   accumulator.
//!
//! The records themselves are compared too (in the scan's order), so a
//! disagreement names the record before the scorecard does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::TryStreamExt;
use itsm_core::calendar::Calendar;
use itsm_core::change::{ChangeSpec, ReviewVerdict, StandardChange, StandardCommand, Window};
use itsm_core::id::{ActorId, ChangeId, IncidentId, ServiceId, TemplateId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentEvent, OpenIncident, ResolutionCode, sla_events};
use itsm_core::records::{ChangeRecord, IncidentRecord};
use itsm_core::sla::SlaPolicy;
use itsm_core::versioned::{DomainConfigHistory, Versioned};
use itsm_core::vocabulary::{
    ChangeOutcome, DetectionSource, FailureClass, HoldReason, Impact, IncidentKind, Remediation, ResolvedBy, Urgency,
};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};
use itsm_metrics::scorecard::Scorecard;
use itsm_metrics::{Accumulator, ScorecardConfig, Thresholds};
use itsm_store::{Request, Store};
use proptest::prelude::*;

/// 2026-03-02T09:00:00Z plus `secs` seconds.
fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_442_000 + secs).expect("a representable instant")
}

fn text(s: &str) -> Text {
    Text::new(s).expect("valid text")
}

const SERVICES: [&str; 3] = ["mail", "payments", "vpn"];

/// One step of a history.
#[derive(Debug, Clone)]
enum Step {
    /// A command on incident `n` (opened by its first command).
    Incident { n: u8, action: u8, arg: u8 },
    /// A command on standard change `n` (created by its first command).
    Change { n: u8, action: u8 },
    /// Time passes.
    Wait { secs: u32 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u8..5, any::<u8>(), any::<u8>()).prop_map(|(n, action, arg)| Step::Incident { n, action, arg }),
        3 => (0u8..3, any::<u8>()).prop_map(|(n, action)| Step::Change { n, action }),
        2 => (60u32..200_000).prop_map(|secs| Step::Wait { secs }),
    ]
}

fn open(n: u8, arg: u8, at: Timestamp) -> IncidentCommand {
    let mut open = OpenIncident::new(
        IncidentId::new(format!("INC-{n}")).unwrap(),
        IncidentKind::Production,
        ServiceId::new(SERVICES[usize::from(n) % SERVICES.len()]).unwrap(),
        text("the service is failing"),
        Impact::ALL[usize::from(arg) % Impact::ALL.len()],
        Urgency::ALL[usize::from(arg / 3) % Urgency::ALL.len()],
        DetectionSource::ALL[usize::from(arg / 7) % DetectionSource::ALL.len()],
    );
    open.outage = arg.is_multiple_of(2);
    open.failure_class = FailureClass::ALL[usize::from(arg / 5) % FailureClass::ALL.len()];
    open.impact_start = Some(at.plus_seconds(-i64::from(arg) * 60).unwrap());
    open.caused_by_change = arg.is_multiple_of(3).then(|| ChangeId::new(format!("CHG-{}", arg % 3)).unwrap());
    IncidentCommand::Open(open)
}

fn incident_command(action: u8, arg: u8) -> IncidentCommand {
    match action % 13 {
        0 => IncidentCommand::Acknowledge,
        1 => IncidentCommand::Start,
        2 => IncidentCommand::Hold { reason: HoldReason::AwaitingCaller },
        3 => IncidentCommand::Resume,
        4 => IncidentCommand::Reprioritize {
            impact: Impact::ALL[usize::from(arg) % Impact::ALL.len()],
            urgency: Urgency::ALL[usize::from(arg / 3) % Urgency::ALL.len()],
        },
        5..=7 => IncidentCommand::Resolve {
            code: ResolutionCode::Fixed,
            resolved_by: [ResolvedBy::L1, ResolvedBy::L2, ResolvedBy::Automation][usize::from(arg) % 3],
            restored_at: None,
        },
        8 | 9 => IncidentCommand::Reopen { reason: text("it came back") },
        10 => IncidentCommand::LinkChange { change: ChangeId::new(format!("CHG-{}", arg % 3)).unwrap() },
        _ if arg.is_multiple_of(5) => IncidentCommand::Cancel { reason: text("raised in error") },
        _ => IncidentCommand::Close,
    }
}

fn create_change(id: &str) -> StandardCommand {
    StandardCommand::Create {
        spec: ChangeSpec {
            id: ChangeId::new(id).unwrap(),
            service: ServiceId::new("payments").unwrap(),
            title: text("patch the gateway"),
            strategy: itsm_core::change::Strategy::BigBang,
            auto_rollback: false,
        },
        template: TemplateId::new("os-patch").unwrap(),
    }
}

fn change_command(action: u8, at: Timestamp) -> StandardCommand {
    match action % 8 {
        0 | 1 => StandardCommand::Schedule {
            window: Window::new(at.plus_seconds(600).unwrap(), at.plus_seconds(4_200).unwrap()).unwrap(),
            override_reason: None,
        },
        2 => StandardCommand::Start,
        3 | 4 => {
            let failed = action & 0x10 != 0;
            StandardCommand::Complete {
                outcome: if failed { ChangeOutcome::Failed } else { ChangeOutcome::Successful },
                remediation: if failed { Remediation::RolledBack } else { Remediation::None },
            }
        }
        5 => StandardCommand::Review { verdict: ReviewVerdict::ObjectivesMet, notes: text("fine") },
        6 => StandardCommand::Close,
        _ if action & 0x20 != 0 => StandardCommand::Cancel { reason: text("not needed") },
        _ => StandardCommand::AdvanceStage,
    }
}

/// The scorecard of a month around the histories, with record ids listed.
fn scorecard(incidents: &[IncidentRecord], changes: &[ChangeRecord]) -> Scorecard {
    let config = ScorecardConfig::new(ts(-86_400), ts(40 * 86_400)).unwrap().with_ids(true);
    let mut acc = Accumulator::new(config).unwrap();
    for r in incidents {
        acc.push_incident(r).unwrap();
    }
    acc.no_more_incidents();
    for c in changes {
        acc.push_change(c);
    }
    acc.finish(&Thresholds::default())
}

/// Every event of `kind` the store holds for `tenant`, by aggregate id, each
/// aggregate's events checked to be its versions 1..n in order.
async fn stored<A: Aggregate>(store: &Store, tenant: &TenantId) -> BTreeMap<String, Vec<A::Event>> {
    let mut out: BTreeMap<String, Vec<A::Event>> = BTreeMap::new();
    let mut stream = std::pin::pin!(store.stream_events(tenant, A::KIND));
    while let Some(event) = stream.try_next().await.expect("the store streams its events") {
        let events = out.entry(event.aggregate_id.clone()).or_default();
        assert_eq!(event.version, events.len() as u64 + 1, "{} {}: versions", A::KIND, event.aggregate_id);
        events.push(event.decode().expect("a stored event decodes"));
    }
    out
}

/// The records a fold of the stored events gives: incidents in the scan's
/// order (opening instant, then id), changes by id.
async fn folded(
    store: &Store,
    tenant: &TenantId,
    history: &DomainConfigHistory,
) -> (Vec<IncidentRecord>, Vec<ChangeRecord>) {
    let mut incidents: Vec<IncidentRecord> = stored::<Incident>(store, tenant)
        .await
        .values()
        .map(|events| {
            let incident = Incident::replay(events).expect("stored events replay").expect("an incident");
            let mut record = incident.to_record();
            // Judged as of the last event: every event has happened by then.
            let last = events.iter().map(IncidentEvent::at).max().expect("at least one event");
            record.resolution_target_met = history.resolution_met(&sla_events(events), last).expect("a verdict");
            record
        })
        .collect();
    incidents.sort_by(|a, b| (a.opened_at, a.id.as_str()).cmp(&(b.opened_at, b.id.as_str())));
    let changes = stored::<StandardChange>(store, tenant)
        .await
        .values()
        .map(|events| StandardChange::replay(events).expect("stored events replay").expect("a change").to_record())
        .collect();
    (incidents, changes)
}

/// Runs `steps` for a fresh tenant and compares the two scorecards.
async fn case(store: &Store, steps: &[Step]) -> Result<(), TestCaseError> {
    static TENANTS: AtomicU32 = AtomicU32::new(0);
    let tenant = TenantId::new(format!("t{}", TENANTS.fetch_add(1, Ordering::Relaxed))).unwrap();
    let actor = Actor::new(ActorId::new("agent").unwrap(), tenant.clone(), Role::ALL.iter().copied());
    let config = DomainConfig::default();
    let mut now = ts(0);
    let mut history = DomainConfigHistory::default();
    let policy = Versioned::new(1, ts(-1_000_000), SlaPolicy::default());
    history.sla_policies.add(policy.clone()).unwrap();
    store.add_config_version(&tenant, policy, now).await.unwrap();
    let calendar = Versioned::new(1, ts(-1_000_000), Calendar::twenty_four_seven(chrono_tz::UTC));
    history.calendars.add(calendar.clone()).unwrap();
    store.add_config_version(&tenant, calendar, now).await.unwrap();
    let (mut incidents, mut changes) = (BTreeSet::new(), BTreeSet::new());
    let mut accepted = 0usize;
    for step in steps {
        now = now.plus_seconds(61).unwrap();
        let ctx = Context::new(&actor, now, &config);
        match *step {
            Step::Incident { n, action, arg } => {
                let id = format!("INC-{n}");
                let command = if incidents.contains(&id) { incident_command(action, arg) } else { open(n, arg, now) };
                if store.execute::<Incident>(Request::new(ctx, &id, &command)).await.is_ok() {
                    incidents.insert(id);
                    accepted += 1;
                }
            }
            Step::Change { n, action } => {
                let id = format!("CHG-{n}");
                let command = if changes.contains(&id) { change_command(action, now) } else { create_change(&id) };
                if store.execute::<StandardChange>(Request::new(ctx, &id, &command)).await.is_ok() {
                    changes.insert(id);
                    accepted += 1;
                }
            }
            Step::Wait { secs } => now = now.plus_seconds(i64::from(secs)).unwrap(),
        }
    }
    let scanned_incidents: Vec<IncidentRecord> = store.incident_records(&tenant).try_collect().await.unwrap();
    let scanned_changes: Vec<ChangeRecord> = store.change_records(&tenant).try_collect().await.unwrap();
    let (want_incidents, want_changes) = folded(store, &tenant, &history).await;
    prop_assert_eq!(scanned_incidents.len(), incidents.len());
    prop_assert_eq!(&scanned_incidents, &want_incidents, "incident records");
    let mut sorted_changes = scanned_changes.clone();
    sorted_changes.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    prop_assert_eq!(&sorted_changes, &want_changes, "change records");
    let from_store = scorecard(&scanned_incidents, &scanned_changes);
    let from_events = scorecard(&want_incidents, &want_changes);
    prop_assert_eq!(from_store.inputs.incidents, incidents.len() as u64);
    prop_assert_eq!(from_store.inputs.changes, changes.len() as u64);
    prop_assert!(accepted >= incidents.len() + changes.len());
    prop_assert_eq!(from_store, from_events, "scorecards");
    Ok(())
}

#[test]
fn scorecard_from_the_read_model_equals_the_fold_of_stored_events() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = rt.block_on(Store::connect(&url)).unwrap();
    let config = ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(steps in prop::collection::vec(step(), 10..90))| {
        rt.block_on(case(&store, &steps))?;
    });
    rt.block_on(store.close());
}
