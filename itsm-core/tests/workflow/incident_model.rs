//! Model-based property test of the incident machine: random command
//! sequences (every variant, in any state, by random actors of two tenants,
//! with the clock sometimes going backwards) against a reference model built
//! from the hand-written `rules::INCIDENT` plus the guards (acknowledged once, hold
//! reason changes, restore instant bounds, parent/child rules, no-op
//! re-prioritisation and escalation refused, alerts valid and correlated
//! once). Also checks that the reopen
//! count equals the number of accepted reopens and that priority follows the
//! matrix.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use itsm_core::alert::{AlertKey, AlertRef, AlertSeverity};
use itsm_core::id::{ChangeId, GroupId, IncidentId, ProblemId, ServiceId};
use itsm_core::incident::{
    Incident, IncidentCommand, IncidentError, IncidentStatus, OpenIncident, ResolutionCode, TRANSITIONS,
};
use itsm_core::machine::Transition;
use itsm_core::vocabulary::{
    DetectionSource, FailureClass, HoldReason, Impact, IncidentKind, ResolvedBy, SupportTier, Urgency,
};
use itsm_core::{Actor, Aggregate};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::prop_state_machine;

use crate::model::{Cmd, Machine, Runner, SEQUENCE, proptest_config};
use crate::rules;
use crate::support::{Kind, config, secs, text, text_strategy, ts};

/// The incident's reference model.
pub struct IncidentMachine;

/// Model data of an incident.
#[derive(Debug, Clone)]
pub struct Inc {
    acknowledged: bool,
    impact: Impact,
    urgency: Urgency,
    tier: SupportTier,
    major: bool,
    major_candidate: bool,
    /// The review's action items, done or not, once reviewed.
    review: Option<Vec<bool>>,
    parent: Option<IncidentId>,
    children: BTreeSet<IncidentId>,
    problem: Option<ProblemId>,
    change: Option<ChangeId>,
    impact_start: i64,
    restored: Option<i64>,
    hold: Option<HoldReason>,
    reopens: u32,
    alerts: BTreeSet<AlertKey>,
    alert_last_seen: Option<i64>,
}

fn incident_id() -> impl Strategy<Value = IncidentId> {
    select(&["INC-1", "INC-2", "INC-3"][..]).prop_map(|s| IncidentId::new(s).unwrap())
}

fn group() -> impl Strategy<Value = GroupId> {
    select(&["service-desk", "network", "dba"][..]).prop_map(|s| GroupId::new(s).unwrap())
}

/// Every incident command name.
pub const NAMES: &[&str] = &[
    "open",
    "assign",
    "acknowledge",
    "start",
    "hold",
    "resume",
    "resolve",
    "record_impact",
    "reopen",
    "close",
    "cancel",
    "reprioritize",
    "escalate_tier",
    "propose_major",
    "decline_major",
    "declare_major",
    "record_review",
    "complete_action",
    "link_problem",
    "link_change",
    "set_parent",
    "link_child",
    "cascade_resolve",
    "add_note",
    "correlate_alert",
];

/// A strategy for incident commands of kind `name`, instants around `clock`.
pub fn incident_command(name: &'static str, clock: i64) -> BoxedStrategy<IncidentCommand> {
    use IncidentCommand as C;
    match name {
        "open" => (
            select(&["INC-1", "INC-1", "INC-7"][..]),
            select(IncidentKind::ALL),
            select(Impact::ALL),
            select(Urgency::ALL),
            select(DetectionSource::ALL),
            select(SupportTier::ALL),
            option::of(-7_200i64..=600),
            option::of(select(&["CHG-1", "CHG-2"][..])),
            select(FailureClass::ALL),
            any::<bool>(),
            option::of("[a-z]{1,6}"),
        )
            .prop_map(move |(id, kind, impact, urgency, source, tier, start, change, class, outage, category)| {
                let mut open = OpenIncident::new(
                    IncidentId::new(id).unwrap(),
                    kind,
                    ServiceId::new("payments").unwrap(),
                    text("card payments failing"),
                    impact,
                    urgency,
                    source,
                );
                open.tier = tier;
                open.impact_start = start.map(|s| ts(clock + s));
                open.caused_by_change = change.map(|c| ChangeId::new(c).unwrap());
                open.failure_class = class;
                open.outage = outage;
                open.category = category.map(|c| text(&c));
                C::Open(open)
            })
            .boxed(),
        "assign" => (group(), option::of(select(&["ann", "bob"][..])))
            .prop_map(|(group, who)| C::Assign { group, assignee: who.map(crate::support::aid) })
            .boxed(),
        "acknowledge" => Just(C::Acknowledge).boxed(),
        "start" => Just(C::Start).boxed(),
        "hold" => select(HoldReason::ALL).prop_map(|reason| C::Hold { reason }).boxed(),
        "resume" => Just(C::Resume).boxed(),
        "record_impact" => (option::of(-7_200i64..=600), option::of(-7_200i64..=600))
            .prop_map(move |(s, r)| C::RecordImpact {
                impact_start: s.map(|s| ts(clock + s)),
                restored_at: r.map(|r| ts(clock + r)),
            })
            .boxed(),
        "resolve" => (select(ResolutionCode::ALL), select(ResolvedBy::ALL), option::of(-7_200i64..=3_600))
            .prop_map(move |(code, by, restored)| C::Resolve {
                code,
                resolved_by: by,
                restored_at: restored.map(|r| ts(clock + r)),
            })
            .boxed(),
        "reopen" => text_strategy().prop_map(|reason| C::Reopen { reason }).boxed(),
        "close" => Just(C::Close).boxed(),
        "cancel" => text_strategy().prop_map(|reason| C::Cancel { reason }).boxed(),
        "reprioritize" => (select(Impact::ALL), select(Urgency::ALL))
            .prop_map(|(impact, urgency)| C::Reprioritize { impact, urgency })
            .boxed(),
        "escalate_tier" => {
            (select(SupportTier::ALL), group()).prop_map(|(tier, group)| C::EscalateTier { tier, group }).boxed()
        }
        "propose_major" => text_strategy().prop_map(|reason| C::ProposeMajor { reason }).boxed(),
        "decline_major" => text_strategy().prop_map(|reason| C::DeclineMajor { reason }).boxed(),
        "declare_major" => Just(C::DeclareMajor).boxed(),
        "record_review" => (text_strategy(), proptest::collection::vec(text_strategy(), 0..3))
            .prop_map(|(summary, actions)| C::RecordReview { summary, actions })
            .boxed(),
        "complete_action" => (0u32..3).prop_map(|action| C::CompleteAction { action }).boxed(),
        "link_problem" => {
            select(&["PRB-1", "PRB-2"][..]).prop_map(|p| C::LinkProblem { problem: ProblemId::new(p).unwrap() }).boxed()
        }
        "link_change" => {
            select(&["CHG-1", "CHG-2"][..]).prop_map(|c| C::LinkChange { change: ChangeId::new(c).unwrap() }).boxed()
        }
        "set_parent" => incident_id().prop_map(|parent| C::SetParent { parent }).boxed(),
        "link_child" => incident_id().prop_map(|child| C::LinkChild { child }).boxed(),
        "cascade_resolve" => (incident_id(), select(ResolvedBy::ALL))
            .prop_map(|(parent, by)| C::CascadeResolve { parent, resolved_by: by })
            .boxed(),
        "add_note" => (text_strategy(), any::<bool>()).prop_map(|(text, public)| C::AddNote { text, public }).boxed(),
        "correlate_alert" => (
            select(&["prometheus", "prometheus", "nagios", "", "bad\tsource"][..]),
            select(&["a-1", "a-2", "a-3", ""][..]),
            select(&["fp-1", "fp-2", ""][..]),
            select(AlertSeverity::ALL),
            -7_200i64..=600,
        )
            .prop_map(move |(source, alert_id, fingerprint, severity, fired)| C::CorrelateAlert {
                alert: AlertRef {
                    source: source.to_owned(),
                    alert_id: alert_id.to_owned(),
                    fingerprint: fingerprint.to_owned(),
                    severity,
                    fired_at: ts(clock + fired),
                },
            })
            .boxed(),
        other => panic!("unknown incident command {other}"),
    }
}

impl Machine for IncidentMachine {
    type Agg = Incident;
    type Err = IncidentError;
    type Extra = Inc;
    fn table() -> &'static [Transition] {
        static TABLE: LazyLock<Vec<Transition>> = LazyLock::new(|| {
            rules::table(rules::INCIDENT, rules::INCIDENT_COMMANDS, IncidentStatus::ALL, IncidentStatus::as_str)
        });
        &TABLE
    }
    const TRANSITIONS: &'static [Transition] = TRANSITIONS;
    const CREATE: &'static [&'static str] = &["open"];
    const NAMES: &'static [&'static str] = NAMES;
    const RARE: &'static [&'static str] = &["cancel"];

    fn command(name: &'static str, clock: i64) -> BoxedStrategy<Cmd<Self>> {
        incident_command(name, clock)
    }

    fn command_for(x: Option<&Inc>, name: &'static str, clock: i64) -> BoxedStrategy<Cmd<Self>> {
        match (x.and_then(|x| x.parent.clone()), name) {
            (Some(parent), "cascade_resolve") => prop_oneof![
                3 => select(ResolvedBy::ALL)
                    .prop_map(move |resolved_by| IncidentCommand::CascadeResolve { parent: parent.clone(), resolved_by }),
                1 => incident_command(name, clock),
            ]
            .boxed(),
            _ => incident_command(name, clock),
        }
    }

    fn create(cmd: &IncidentCommand, _: &Actor, now: i64) -> Result<(String, &'static str, Inc), Kind> {
        let IncidentCommand::Open(open) = cmd else { unreachable!("only open creates") };
        let impact_start = open.impact_start.map_or(now, secs);
        if impact_start > now {
            return Err(Kind::Invalid);
        }
        let x = Inc {
            acknowledged: false,
            impact: open.impact,
            urgency: open.urgency,
            tier: open.tier,
            major: false,
            major_candidate: false,
            review: None,
            parent: None,
            children: BTreeSet::new(),
            problem: None,
            change: open.caused_by_change.clone(),
            impact_start,
            restored: None,
            hold: None,
            reopens: 0,
            alerts: BTreeSet::new(),
            alert_last_seen: None,
        };
        Ok((open.id.as_str().to_owned(), "new", x))
    }

    fn step(
        x: &mut Inc,
        status: &'static str,
        id: &str,
        cmd: &IncidentCommand,
        _: &Actor,
        now: i64,
    ) -> Result<Option<&'static str>, Kind> {
        use IncidentCommand as C;
        let refuse = |bad: bool| if bad { Err(Kind::Invalid) } else { Ok(()) };
        match cmd {
            C::Open(_) => unreachable!("creation is handled by the harness"),
            C::Acknowledge => {
                refuse(x.acknowledged)?;
                x.acknowledged = true;
            }
            C::Start => x.acknowledged = true,
            C::Hold { reason } => {
                refuse(status == "on_hold" && x.hold == Some(*reason))?;
                x.hold = Some(*reason);
            }
            C::Resolve { code, restored_at, .. } => {
                // Without its own instant, a resolution keeps a restore recorded before it.
                let restored = restored_at.map(secs).or(x.restored).unwrap_or(now);
                refuse(restored > now || restored < x.impact_start || *code == ResolutionCode::ParentResolved)?;
                x.restored = Some(restored);
            }
            C::RecordImpact { impact_start, restored_at } => {
                let (start, restored) = (impact_start.map(secs), restored_at.map(secs));
                refuse(start.is_some_and(|t| t > now) || restored.is_some_and(|t| t > now))?;
                let new_start = start.unwrap_or(x.impact_start);
                refuse(restored.or(x.restored).is_some_and(|r| r < new_start))?;
                let changes =
                    start.is_some_and(|t| t != x.impact_start) || restored.is_some_and(|r| Some(r) != x.restored);
                refuse(!changes)?;
                x.impact_start = new_start;
                x.restored = restored.or(x.restored);
            }
            C::CascadeResolve { parent, .. } => {
                refuse(x.parent.as_ref() != Some(parent))?;
                x.restored = Some(x.restored.unwrap_or(now));
            }
            C::Reopen { .. } => {
                x.reopens += 1;
                x.restored = None;
            }
            C::Reprioritize { impact, urgency } => {
                refuse(*impact == x.impact && *urgency == x.urgency)?;
                x.impact = *impact;
                x.urgency = *urgency;
            }
            C::EscalateTier { tier, .. } => {
                refuse(*tier == x.tier)?;
                x.tier = *tier;
            }
            C::ProposeMajor { .. } => {
                refuse(x.major || x.major_candidate)?;
                x.major_candidate = true;
            }
            C::DeclineMajor { .. } => {
                refuse(!x.major_candidate)?;
                x.major_candidate = false;
            }
            C::DeclareMajor => {
                refuse(x.major)?;
                x.major = true;
                x.major_candidate = false;
            }
            C::RecordReview { actions, .. } => {
                refuse(!x.major || x.review.is_some() || actions.len() > itsm_core::incident::MAX_REVIEW_ACTIONS)?;
                x.review = Some(vec![false; actions.len()]);
            }
            C::CompleteAction { action } => {
                let item = x.review.as_mut().and_then(|r| r.get_mut(*action as usize));
                refuse(item.as_ref().is_none_or(|done| **done))?;
                if let Some(done) = item {
                    *done = true;
                }
            }
            C::LinkProblem { problem } => {
                refuse(x.problem.as_ref() == Some(problem))?;
                x.problem = Some(problem.clone());
            }
            C::LinkChange { change } => {
                refuse(x.change.as_ref() == Some(change))?;
                x.change = Some(change.clone());
            }
            C::SetParent { parent } => {
                refuse(parent.as_str() == id || x.children.contains(parent) || x.parent.is_some())?;
                x.parent = Some(parent.clone());
            }
            C::LinkChild { child } => {
                refuse(child.as_str() == id || x.parent.as_ref() == Some(child) || x.children.contains(child))?;
                x.children.insert(child.clone());
            }
            C::CorrelateAlert { alert } => {
                let id_ok = |t: &str| !t.is_empty() && t.len() <= 255 && !t.chars().any(char::is_control);
                let valid = id_ok(&alert.source) && id_ok(&alert.alert_id) && !alert.fingerprint.is_empty();
                refuse(!valid || x.alerts.contains(&alert.key()))?;
                x.alerts.insert(alert.key());
                let fired = secs(alert.fired_at);
                x.alert_last_seen = Some(x.alert_last_seen.map_or(fired, |t| t.max(fired)));
            }
            C::Assign { .. } | C::Resume | C::Close | C::Cancel { .. } | C::AddNote { .. } => {}
        }
        Ok(None)
    }

    fn check(agg: &Incident, x: &Inc, accepted: &BTreeMap<&'static str, u32>) {
        let reopens = accepted.get("reopen").copied().unwrap_or(0);
        assert_eq!(agg.reopen_count(), reopens, "reopen count differs from the accepted reopens");
        assert_eq!(agg.reopen_count(), x.reopens);
        assert_eq!(agg.to_record().reopen_count, reopens);
        assert_eq!(agg.priority(), config().priority_matrix.priority(x.impact, x.urgency), "priority off the matrix");
        assert_eq!((agg.impact(), agg.urgency(), agg.tier()), (x.impact, x.urgency, x.tier));
        assert_eq!(agg.major().is_some(), x.major);
        assert_eq!(agg.major_candidate().is_some(), x.major_candidate);
        let review: Option<Vec<bool>> = agg.review().map(|r| r.actions.iter().map(|a| a.done.is_some()).collect());
        assert_eq!(review, x.review);
        assert_eq!(agg.acknowledged_at().is_some(), x.acknowledged);
        assert_eq!(secs(agg.to_record().impact_start), x.impact_start, "impact start differs from the model");
        assert_eq!(agg.to_record().restored_at.map(secs), x.restored, "restore instant differs from the model");
        assert_eq!(agg.parent(), x.parent.as_ref());
        assert_eq!(agg.children(), &x.children);
        assert_eq!(agg.problem(), x.problem.as_ref());
        assert_eq!(agg.caused_by_change(), x.change.as_ref());
        assert_eq!(agg.status().as_str(), agg.summary().status);
        assert_eq!(agg.alerts(), &x.alerts);
        assert_eq!(agg.alert_count(), x.alerts.len());
        assert_eq!(agg.alert_last_seen().map(secs), x.alert_last_seen);
    }
}

prop_state_machine! {
    #![proptest_config(proptest_config())]

    /// Random incident histories agree with the reference model.
    #[test]
    fn incident_follows_its_reference_model(sequential SEQUENCE => Runner<IncidentMachine>);
}

/// The generator reaches every row of the incident table.
#[test]
fn incident_generator_covers_the_table() {
    crate::model::assert_generator_covers_table::<IncidentMachine>(256);
}
