//! Replaying imported interchange records through the domain machines, so an
//! imported record obeys the same rules as a live one.
//!
//! A record becomes the commands its facts imply, in time order
//! ([`replay_incident`], [`replay_change`]). The interchange format lists the
//! orders of instants that are contradictions (the parser rejects those
//! rows); every other order is history, and the mapping here places it so
//! that the machines accept every row the parser accepts. A refusal is a bug
//! in this mapping, and the property tests in `tests/` make it one.
//!
//! Mapping notes: the record's priority is given to the machine as the impact
//! x urgency pair the default matrix maps to it (P1 = high x high, P2 = high x
//! medium, P3 = medium x medium, P4 = medium x low, P5 = low x low); a missing
//! `resolved_by` is replayed as first line (the metrics still see it as
//! unknown, since they read the record itself); reopens cannot be placed in
//! time and are not replayed; links to problems and changes are checked by the
//! store, not here. A change outcome `successful` with a remediation other
//! than `none` is replayed as `successful_with_issues` (the machine refuses a
//! successful change that needed remediation; the metrics read the record,
//! where the remediation makes the first attempt a failure either way).

use itsm_core::change::{Assessment, ChangeSpec, EmergencyChange, EmergencyCommand, NormalChange, NormalCommand};
use itsm_core::change::{StandardChange, StandardCommand, Strategy, Window};
use itsm_core::id::{ActorId, GroupId, TemplateId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentEvent, OpenIncident, ResolutionCode};
use itsm_core::records::{ChangeRecord, IncidentRecord};
use itsm_core::vocabulary::{ChangeOutcome, ChangeType, Impact, Priority, Remediation, ResolvedBy, Risk, Urgency};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};

/// The importing actors: one with every role the replay needs, and a CAB
/// member (the requester may not approve its own change).
pub struct Importers {
    clerk: Actor,
    approver: Actor,
    undated: Timestamp,
    /// Texts and ids every replayed record uses, made once.
    incident_title: Text,
    change_title: Text,
    backout_plan: Text,
    cab: GroupId,
    ecab: GroupId,
    template: TemplateId,
}

impl Importers {
    /// Importers of `tenant`.
    pub fn new(tenant: &TenantId) -> Importers {
        let clerk = Actor::new(
            ActorId::new("csv-import").expect("literal id is valid"),
            tenant.clone(),
            [Role::Agent, Role::IncidentManager, Role::Requester, Role::ChangeManager, Role::Implementer],
        );
        let approver = Actor::new(
            ActorId::new("csv-import-approver").expect("literal id is valid"),
            tenant.clone(),
            [Role::CabMember, Role::EmergencyCabMember],
        )
        .with_groups(["cab", "ecab", "change-managers"].iter().filter_map(|g| GroupId::new(*g).ok()));
        let undated = Timestamp::from_unix_secs(0).unwrap_or_else(|| Timestamp::from_utc(chrono::DateTime::UNIX_EPOCH));
        Importers {
            clerk,
            approver,
            undated,
            incident_title: Text::new("imported incident").expect("literal text is valid"),
            change_title: Text::new("imported change").expect("literal text is valid"),
            backout_plan: Text::new("as recorded in the source system").expect("literal text is valid"),
            cab: GroupId::new("cab").expect("literal id is valid"),
            ecab: GroupId::new("ecab").expect("literal id is valid"),
            template: TemplateId::new("os-patch").expect("literal id is valid"),
        }
    }

    /// The instant at which a change record with no instant at all (a
    /// cancelled change exported without dates) is replayed; by default the
    /// Unix epoch. Such a record counts in no metric, but it is replayed.
    pub fn undated_at(mut self, at: Timestamp) -> Importers {
        self.undated = at;
        self
    }
}

fn impact_urgency(priority: Priority) -> (Impact, Urgency) {
    match priority {
        Priority::P1 => (Impact::High, Urgency::High),
        Priority::P2 => (Impact::High, Urgency::Medium),
        Priority::P3 => (Impact::Medium, Urgency::Medium),
        Priority::P4 => (Impact::Medium, Urgency::Low),
        Priority::P5 => (Impact::Low, Urgency::Low),
    }
}

fn run<A: Aggregate>(
    steps: Vec<(&Actor, Timestamp, A::Command)>,
    config: &DomainConfig,
) -> Result<(A, Vec<A::Event>), String> {
    let mut state: Option<A> = None;
    let mut events = Vec::new();
    for (actor, at, command) in steps {
        // Decide, then apply in place (the state is moved once per event, not through `execute`'s result).
        let recorded =
            A::decide(state.as_ref(), &command, &Context::new(actor, at, config)).map_err(|e| e.to_string())?;
        for event in &recorded {
            state = Some(A::apply(state.take(), event).map_err(|e| e.to_string())?);
        }
        events.extend(recorded);
    }
    state.map(|s| (s, events)).ok_or_else(|| "no command was replayed".to_owned())
}

/// The command a fact of an incident record implies, ranked so that facts at
/// the same instant replay in a lifecycle order.
fn incident_fact(rank: u8, at: Timestamp, command: IncidentCommand) -> (Timestamp, u8, IncidentCommand) {
    (at, rank, command)
}

/// Replays an incident record: the incident and its events, or the machine's refusal.
///
/// Every fact becomes a command at its own instant, in time order, so facts
/// recorded late stay history: an acknowledgement after the resolution (or
/// the closure) is a late first response; an `impact_start` before opening
/// is given to `open`, one after opening is recorded when it happened; a
/// restore that the resolution cannot carry (after it, or with no resolution
/// at all) is recorded with `record_impact`. A major incident is declared at
/// opening. Only what the machine cannot place in time is left out: reopens
/// (the record has a count, not instants) and a `closed_at` without a
/// resolution (the machine closes resolved incidents only; the record, and
/// so the metrics, see it as unresolved).
pub fn replay_incident(
    record: &IncidentRecord,
    who: &Importers,
    config: &DomainConfig,
) -> Result<(Incident, Vec<IncidentEvent>), String> {
    let (impact, urgency) = impact_urgency(record.priority);
    let mut open = OpenIncident::new(
        record.id.clone(),
        record.kind,
        record.service.clone(),
        who.incident_title.clone(),
        impact,
        urgency,
        record.detected_by,
    );
    open.category = record.category.as_deref().and_then(|c| Text::new(c).ok());
    let late_start = record.impact_start > record.opened_at;
    open.impact_start = (!late_start).then_some(record.impact_start);
    open.failure_class = record.failure_class;
    open.outage = record.outage;
    open.caused_by_change = record.caused_by_change.clone();
    let mut facts = vec![incident_fact(0, record.opened_at, IncidentCommand::Open(open))];
    if record.major {
        facts.push(incident_fact(1, record.opened_at, IncidentCommand::DeclareMajor));
    }
    // The restore rides on the resolution when it is at or before it.
    let restore_on_resolve = match (record.resolved_at, record.restored_at) {
        (Some(resolved), Some(restored)) => restored <= resolved,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let separate_restore = if restore_on_resolve { None } else { record.restored_at };
    match (late_start, separate_restore) {
        (false, None) => {}
        (true, None) => facts.push(incident_fact(
            2,
            record.impact_start,
            IncidentCommand::RecordImpact { impact_start: Some(record.impact_start), restored_at: None },
        )),
        (late, Some(restored)) => facts.push(incident_fact(
            2,
            restored.max(record.opened_at),
            IncidentCommand::RecordImpact {
                impact_start: late.then_some(record.impact_start),
                restored_at: Some(restored),
            },
        )),
    }
    if let Some(ack) = record.acknowledged_at {
        facts.push(incident_fact(3, ack, IncidentCommand::Acknowledge));
    }
    if let Some(resolved) = record.resolved_at {
        let resolved_by = record.resolved_by.unwrap_or(ResolvedBy::L1);
        let restored_at = if restore_on_resolve { record.restored_at } else { None };
        facts.push(incident_fact(
            4,
            resolved,
            IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by, restored_at },
        ));
        if let Some(closed) = record.closed_at {
            facts.push(incident_fact(5, closed, IncidentCommand::Close));
        }
    }
    facts.sort_by_key(|(at, rank, _)| (*at, *rank));
    let clerk = &who.clerk;
    run::<Incident>(facts.into_iter().map(|(at, _, command)| (clerk, at, command)).collect(), config)
}

/// Replays a change record of any type; `Err` carries the machine's refusal.
pub fn replay_change(record: &ChangeRecord, who: &Importers, config: &DomainConfig) -> Result<(), String> {
    let spec = ChangeSpec {
        id: record.id.clone(),
        service: record.service.clone(),
        title: who.change_title.clone(),
        strategy: Strategy::BigBang,
        auto_rollback: false,
    };
    let end = record
        .completed_at
        .or(record.started_at)
        .or(record.planned_end)
        .or(record.planned_start)
        .or(record.requested_at)
        .unwrap_or(who.undated);
    let started = record.started_at.unwrap_or(end);
    let requested = record.requested_at.unwrap_or(started).min(started);
    // A successful change that needed remediation is successful with issues to the machine.
    let outcome = match record.outcome {
        Some(ChangeOutcome::Successful) if record.remediation != Remediation::None => {
            Some(ChangeOutcome::SuccessfulWithIssues)
        }
        other => other,
    };
    let implemented = outcome.zip(record.completed_at);
    let (clerk, approver) = (&who.clerk, &who.approver);
    match record.change_type {
        ChangeType::Normal => {
            let window = Window::new(record.planned_start.unwrap_or(started), record.planned_end.unwrap_or(end))
                .or_else(|| Window::new(started, end))
                .or_else(|| started.plus_seconds(1).and_then(|e| Window::new(started, e)))
                .ok_or_else(|| "no usable window".to_owned())?;
            let mut steps = vec![
                (clerk, requested, NormalCommand::Create(spec)),
                (clerk, requested, NormalCommand::Submit),
                (
                    clerk,
                    requested,
                    NormalCommand::Assess(Assessment {
                        risk: Risk::Moderate,
                        impact: Text::default(),
                        backout_plan: who.backout_plan.clone(),
                        implementer: clerk.id.clone(),
                    }),
                ),
                (approver, requested, NormalCommand::Approve { group: who.cab.clone() }),
                (clerk, requested, NormalCommand::Schedule { window, override_reason: None }),
            ];
            match implemented {
                Some((outcome, completed)) => {
                    steps.push((clerk, started, NormalCommand::Start));
                    steps.push((
                        clerk,
                        completed,
                        NormalCommand::Complete { outcome, remediation: record.remediation },
                    ));
                }
                None => steps.push((clerk, requested, NormalCommand::Cancel { reason: Text::default() })),
            }
            run::<NormalChange>(steps, config).map(|_| ())
        }
        ChangeType::Standard => {
            let window = Window::new(started, end.max(started.plus_seconds(1).unwrap_or(end)))
                .ok_or_else(|| "no usable window".to_owned())?;
            let template = who.template.clone();
            let mut steps = vec![
                (clerk, requested, StandardCommand::Create { spec, template }),
                (clerk, requested, StandardCommand::Schedule { window, override_reason: None }),
            ];
            match implemented {
                Some((outcome, completed)) => {
                    steps.push((clerk, started, StandardCommand::Start));
                    steps.push((
                        clerk,
                        completed,
                        StandardCommand::Complete { outcome, remediation: record.remediation },
                    ));
                }
                None => steps.push((clerk, requested, StandardCommand::Cancel { reason: Text::default() })),
            }
            run::<StandardChange>(steps, config).map(|_| ())
        }
        ChangeType::Emergency => {
            let Some((outcome, completed)) = implemented else {
                let steps = vec![
                    (
                        clerk,
                        requested,
                        EmergencyCommand::Submit { spec, risk: Risk::High, justification: Text::default() },
                    ),
                    (clerk, requested, EmergencyCommand::Cancel { reason: Text::default() }),
                ];
                return run::<EmergencyChange>(steps, config).map(|_| ());
            };
            let steps = vec![
                (
                    clerk,
                    completed,
                    EmergencyCommand::RecordAfterTheFact(itsm_core::change::emergency::AfterTheFact {
                        spec,
                        risk: Risk::High,
                        justification: Text::default(),
                        implementer: clerk.id.clone(),
                        started_at: started,
                        completed_at: completed,
                        outcome,
                        remediation: record.remediation,
                    }),
                ),
                (approver, completed, EmergencyCommand::Approve { group: who.ecab.clone() }),
            ];
            run::<EmergencyChange>(steps, config).map(|_| ())
        }
    }
}
