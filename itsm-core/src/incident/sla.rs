//! The SLA clock's view of an incident's events.

use super::IncidentEvent;

/// The SLA clock's view of an incident's history: the events that start,
/// pause, re-target or stop its clocks. Starting work counts as the first
/// response when nothing acknowledged it before (later responses change
/// nothing); a public note is an update to the caller.
pub fn sla_events(events: &[IncidentEvent]) -> Vec<crate::sla::SlaEvent> {
    use crate::sla::SlaEvent as E;
    events
        .iter()
        .filter_map(|event| match event {
            IncidentEvent::Opened { incident, priority, at, .. } => {
                Some(E::Opened { at: *at, kind: incident.kind, priority: *priority })
            }
            IncidentEvent::Acknowledged { at, .. } | IncidentEvent::Started { at, .. } => {
                Some(E::Acknowledged { at: *at })
            }
            IncidentEvent::Held { reason, at, .. } => Some(E::Held { at: *at, reason: *reason }),
            IncidentEvent::Resumed { at, .. } => Some(E::Resumed { at: *at }),
            IncidentEvent::Reprioritized { priority, at, .. } => {
                Some(E::PriorityChanged { at: *at, priority: *priority })
            }
            IncidentEvent::Resolved { at, .. } => Some(E::Resolved { at: *at }),
            IncidentEvent::ImpactRecorded { .. } => None,
            IncidentEvent::Reopened { at, .. } => Some(E::Reopened { at: *at }),
            IncidentEvent::Closed { at, .. } => Some(E::Closed { at: *at }),
            IncidentEvent::Cancelled { at, .. } => Some(E::Cancelled { at: *at }),
            IncidentEvent::NoteAdded { public: true, at, .. } => Some(E::Updated { at: *at }),
            IncidentEvent::NoteAdded { public: false, .. }
            | IncidentEvent::Assigned { .. }
            | IncidentEvent::TierEscalated { .. }
            | IncidentEvent::MajorProposed { .. }
            | IncidentEvent::MajorDeclined { .. }
            | IncidentEvent::MajorDeclared { .. }
            | IncidentEvent::ReviewRecorded { .. }
            | IncidentEvent::ActionCompleted { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::ChangeLinked { .. }
            | IncidentEvent::ParentSet { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::AlertCorrelated { .. } => None,
        })
        .collect()
}
