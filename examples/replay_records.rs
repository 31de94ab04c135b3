//! Replaying imported interchange records through the domain machines, so an
//! imported record obeys the same rules as a live one.
//!
//! Each incident record becomes the commands that would have produced it
//! (open, acknowledge, declare major, resolve, close) at the record's
//! instants; each change record becomes its type's path (normal: create,
//! submit, assess, approve, schedule, start, complete; standard: create from a
//! template, schedule, start, complete; emergency: recorded after the fact and
//! approved). A record the machines refuse is reported with the typed reason
//! and left out of the metrics.
//!
//! Mapping notes: the record's priority is given to the machine as the impact
//! x urgency pair the default matrix maps to it (P1 = high x high, P2 = high x
//! medium, P3 = medium x medium, P4 = medium x low, P5 = low x low); a missing
//! `resolved_by` is replayed as first line (the metrics still see it as
//! unknown, since they read the record itself); reopens cannot be placed in
//! time and are not replayed; links to problems and changes are checked by the
//! store, not here.

use itsm_core::change::{Assessment, ChangeSpec, EmergencyChange, EmergencyCommand, NormalChange, NormalCommand};
use itsm_core::change::{StandardChange, StandardCommand, Strategy, Window};
use itsm_core::classify::{ChangeType, Impact, Priority, ResolvedBy, Risk, Urgency};
use itsm_core::id::{ActorId, GroupId, TemplateId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentEvent, OpenIncident, ResolutionCode};
use itsm_core::records::{ChangeRecord, IncidentRecord};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, ExecuteError, Role, Timestamp};

/// The importing actors: one with every role the replay needs, and a CAB
/// member (the requester may not approve its own change).
pub struct Importers {
    clerk: Actor,
    approver: Actor,
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
        Importers { clerk, approver }
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
        match A::execute(state.take(), &command, &Context::new(actor, at, config)) {
            Ok((next, recorded)) => {
                state = Some(next);
                events.extend(recorded);
            }
            Err(ExecuteError::Rejected(e)) => return Err(e.to_string()),
            Err(other) => return Err(other.to_string()),
        }
    }
    state.map(|s| (s, events)).ok_or_else(|| "no command was replayed".to_owned())
}

/// Replays an incident record: the incident and its events, or the machine's refusal.
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
        Text::new(format!("imported incident {}", record.id)).map_err(|e| e.to_string())?,
        impact,
        urgency,
        record.detected_by,
    );
    open.category = record.category.as_deref().and_then(|c| Text::new(c).ok());
    open.impact_start = Some(record.impact_start);
    open.failure_class = record.failure_class;
    open.outage = record.outage;
    open.caused_by_change = record.caused_by_change.clone();
    let clerk = &who.clerk;
    let mut steps: Vec<(&Actor, Timestamp, IncidentCommand)> =
        vec![(clerk, record.opened_at, IncidentCommand::Open(open))];
    if let Some(ack) = record.acknowledged_at {
        steps.push((clerk, ack, IncidentCommand::Acknowledge));
    }
    if record.major {
        let at = record.acknowledged_at.unwrap_or(record.opened_at);
        steps.push((clerk, at, IncidentCommand::DeclareMajor));
    }
    if let Some(resolved) = record.resolved_at {
        let resolved_by = record.resolved_by.unwrap_or(ResolvedBy::L1);
        let restored_at = record.restored_at.or(Some(resolved));
        steps.push((
            clerk,
            resolved,
            IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by, restored_at },
        ));
        if let Some(closed) = record.closed_at {
            steps.push((clerk, closed, IncidentCommand::Close));
        }
    }
    run::<Incident>(steps, config)
}

/// Replays a change record of any type; `Err` carries the machine's refusal.
pub fn replay_change(record: &ChangeRecord, who: &Importers, config: &DomainConfig) -> Result<(), String> {
    let spec = ChangeSpec {
        id: record.id.clone(),
        service: record.service.clone(),
        title: Text::new(format!("imported change {}", record.id)).map_err(|e| e.to_string())?,
        strategy: Strategy::BigBang,
        auto_rollback: false,
    };
    let Some(end) = record.completed_at.or(record.started_at).or(record.planned_end).or(record.requested_at) else {
        return Err("the record has no instant at all".to_owned());
    };
    let started = record.started_at.unwrap_or(end);
    let requested = record.requested_at.unwrap_or(started).min(started);
    let implemented = record.outcome.zip(record.completed_at);
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
                        backout_plan: Text::new("as recorded in the source system").map_err(|e| e.to_string())?,
                        implementer: clerk.id.clone(),
                    }),
                ),
                (
                    approver,
                    requested,
                    NormalCommand::Approve { group: GroupId::new("cab").map_err(|e| e.to_string())? },
                ),
                (clerk, requested, NormalCommand::Schedule { window }),
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
            let template = TemplateId::new("os-patch").map_err(|e| e.to_string())?;
            let mut steps = vec![
                (clerk, requested, StandardCommand::Create { spec, template }),
                (clerk, requested, StandardCommand::Schedule { window }),
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
                (
                    approver,
                    completed,
                    EmergencyCommand::Approve { group: GroupId::new("ecab").map_err(|e| e.to_string())? },
                ),
            ];
            run::<EmergencyChange>(steps, config).map(|_| ())
        }
    }
}
