//! The outbox messages incident events call for: stakeholder topics and the
//! `alert.clear` of each correlated alert.

use std::collections::BTreeSet;

use super::{Incident, IncidentEvent, IncidentState};
use crate::aggregate::OutboxMessage;
use crate::alert::AlertKey;

/// The outbox messages `events` call for, `state` being the incident after
/// them: one per resolution, reopening, major declaration and closure (the
/// incident topics), then the alert clears.
pub(super) fn messages(state: &Incident, events: &[IncidentEvent]) -> Vec<OutboxMessage> {
    let mut out = Vec::new();
    for event in events {
        let topic = match event {
            IncidentEvent::Resolved { .. } => Some("incident.resolved"),
            IncidentEvent::Reopened { .. } => Some("incident.reopened"),
            IncidentEvent::MajorProposed { .. } => Some("incident.major_proposed"),
            IncidentEvent::MajorDeclared { .. } => Some("incident.major_declared"),
            IncidentEvent::Closed { .. } => Some("incident.closed"),
            IncidentEvent::MajorDeclined { .. }
            | IncidentEvent::ReviewRecorded { .. }
            | IncidentEvent::ActionCompleted { .. }
            | IncidentEvent::Opened { .. }
            | IncidentEvent::Assigned { .. }
            | IncidentEvent::Acknowledged { .. }
            | IncidentEvent::Started { .. }
            | IncidentEvent::Held { .. }
            | IncidentEvent::Resumed { .. }
            | IncidentEvent::ImpactRecorded { .. }
            | IncidentEvent::Cancelled { .. }
            | IncidentEvent::Reprioritized { .. }
            | IncidentEvent::TierEscalated { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::ChangeLinked { .. }
            | IncidentEvent::ParentSet { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::NoteAdded { .. }
            | IncidentEvent::AlertCorrelated { .. } => None,
        };
        if let Some(topic) = topic {
            out.push(OutboxMessage {
                topic: topic.to_owned(),
                dedup_key: format!("{}:{}:{}", state.id, event.name(), event.at()),
                payload: serde_json::json!({
                    "incident": state.id,
                    "event": event.name(),
                    "at": event.at(),
                    "priority": state.priority,
                    "children": state.children,
                }),
            });
        }
    }
    out.extend(alert_clears(state, events));
    out
}

/// One `alert.clear` message per alert that `events` clear: every correlated
/// alert on a resolution or a closure, and an alert correlated while resolved.
/// Keyed by the alert, once per batch.
fn alert_clears(state: &Incident, events: &[IncidentEvent]) -> Vec<OutboxMessage> {
    let resolved = matches!(state.state, IncidentState::Resolved(_) | IncidentState::Closed(_));
    let mut cleared = BTreeSet::new();
    let mut out = Vec::new();
    for event in events {
        let keys: Vec<AlertKey> = match event {
            IncidentEvent::Resolved { .. } | IncidentEvent::Closed { .. } => state.alerts.iter().cloned().collect(),
            IncidentEvent::AlertCorrelated { alert, .. } if resolved => vec![alert.key()],
            IncidentEvent::Opened { .. }
            | IncidentEvent::Assigned { .. }
            | IncidentEvent::Acknowledged { .. }
            | IncidentEvent::Started { .. }
            | IncidentEvent::Held { .. }
            | IncidentEvent::Resumed { .. }
            | IncidentEvent::ImpactRecorded { .. }
            | IncidentEvent::Reopened { .. }
            | IncidentEvent::Cancelled { .. }
            | IncidentEvent::Reprioritized { .. }
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
            | IncidentEvent::NoteAdded { .. }
            | IncidentEvent::AlertCorrelated { .. } => Vec::new(),
        };
        for key in keys {
            let dedup_key = key.clear_key();
            if cleared.insert(dedup_key.clone()) {
                out.push(OutboxMessage {
                    topic: "alert.clear".to_owned(),
                    dedup_key,
                    payload: serde_json::json!({
                        "incident": state.id,
                        "source": key.source,
                        "alert_id": key.alert_id,
                        "event": event.name(),
                        "at": event.at(),
                    }),
                });
            }
        }
    }
    out
}
