//! Folding incident events into the incident.

use std::collections::BTreeSet;

use super::{
    Assignment, CancelledIncident, ClosedIncident, Incident, IncidentEvent, IncidentState, MajorDeclaration, OnHold,
    Resolution, Work,
};
use crate::actor::AggregateKind;
use crate::aggregate::ApplyError;

impl Incident {
    pub(super) fn fold(state: Option<Self>, event: &IncidentEvent) -> Result<Self, ApplyError> {
        match (state, event) {
            (None, IncidentEvent::Opened { tenant, incident, priority, at, by }) => Ok(Incident {
                id: incident.id.clone(),
                tenant: tenant.clone(),
                kind: incident.kind,
                service: incident.service.clone(),
                title: incident.title.clone(),
                category: incident.category.clone(),
                impact: incident.impact,
                urgency: incident.urgency,
                priority: *priority,
                source: incident.source,
                tier: incident.tier,
                failure_class: incident.failure_class,
                outage: incident.outage,
                opened_at: *at,
                opened_by: by.clone(),
                impact_start: incident.impact_start.unwrap_or(*at),
                acknowledged_at: None,
                restored_at: None,
                last_event_at: *at,
                major: None,
                parent: None,
                children: BTreeSet::new(),
                problem: None,
                caused_by_change: incident.caused_by_change.clone(),
                reopen_count: 0,
                first_resolved_at: None,
                alerts: BTreeSet::new(),
                alert_last_seen: None,
                state: IncidentState::New,
            }),
            (None, other) => Err(ApplyError { kind: AggregateKind::Incident, state: "absent", event: other.name() }),
            (Some(incident), event) => incident.applied(event),
        }
    }

    fn applied(mut self, event: &IncidentEvent) -> Result<Self, ApplyError> {
        use IncidentState as S;
        let fail = |state: &Incident| ApplyError {
            kind: AggregateKind::Incident,
            state: state.status().as_str(),
            event: event.name(),
        };
        self.last_event_at = self.last_event_at.max(event.at());
        match event {
            IncidentEvent::Opened { .. } => return Err(fail(&self)),
            IncidentEvent::Assigned { assignment, .. } => {
                self.state = match self.state {
                    S::New | S::Assigned(_) => S::Assigned(assignment.clone()),
                    S::InProgress(_) => S::InProgress(Work { assignment: Some(assignment.clone()) }),
                    S::OnHold(h) => S::OnHold(OnHold { assignment: Some(assignment.clone()), ..h }),
                    S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(fail(&self)),
                };
            }
            IncidentEvent::Acknowledged { at, .. } => self.acknowledged_at = Some(*at),
            IncidentEvent::Started { at, .. } => {
                self.state = S::InProgress(Work { assignment: self.current_assignment() });
                self.acknowledged_at.get_or_insert(*at);
            }
            IncidentEvent::Held { reason, at, .. } => {
                let since = match &self.state {
                    S::OnHold(h) => h.since,
                    S::New | S::Assigned(_) | S::InProgress(_) | S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => *at,
                };
                self.state = S::OnHold(OnHold { reason: *reason, since, assignment: self.current_assignment() });
            }
            IncidentEvent::Resumed { .. } => {
                let S::OnHold(h) = &self.state else { return Err(fail(&self)) };
                self.state = S::InProgress(Work { assignment: h.assignment.clone() });
            }
            IncidentEvent::Resolved { code, resolved_by, restored_at, cascaded_from, at, .. } => {
                self.first_resolved_at.get_or_insert(*at);
                self.restored_at = Some(*restored_at);
                self.state = S::Resolved(Resolution {
                    at: *at,
                    code: *code,
                    resolved_by: *resolved_by,
                    restored_at: *restored_at,
                    cascaded_from: cascaded_from.clone(),
                    assignment: self.current_assignment(),
                });
            }
            IncidentEvent::ImpactRecorded { impact_start, restored_at, .. } => {
                if matches!(self.state, S::Cancelled(_)) {
                    return Err(fail(&self));
                }
                if let Some(start) = impact_start {
                    self.impact_start = *start;
                }
                if let Some(restored) = restored_at {
                    self.restored_at = Some(*restored);
                    match &mut self.state {
                        S::Resolved(r) => r.restored_at = *restored,
                        S::Closed(c) => c.resolution.restored_at = *restored,
                        S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Cancelled(_) => {}
                    }
                }
            }
            IncidentEvent::Reopened { count, .. } => {
                let S::Resolved(r) = &self.state else { return Err(fail(&self)) };
                self.reopen_count = *count;
                self.restored_at = None;
                self.state = S::InProgress(Work { assignment: r.assignment.clone() });
            }
            IncidentEvent::Closed { at, .. } => {
                let S::Resolved(r) = &self.state else { return Err(fail(&self)) };
                self.state = S::Closed(ClosedIncident { at: *at, resolution: r.clone() });
            }
            IncidentEvent::Cancelled { reason, at, .. } => {
                self.state = S::Cancelled(CancelledIncident { at: *at, reason: reason.clone() });
            }
            IncidentEvent::Reprioritized { impact, urgency, priority, .. } => {
                self.impact = *impact;
                self.urgency = *urgency;
                self.priority = *priority;
            }
            IncidentEvent::TierEscalated { to, group, .. } => {
                self.tier = *to;
                let assignment = Assignment { group: group.clone(), assignee: None };
                self.state = match self.state {
                    S::New | S::Assigned(_) => S::Assigned(assignment),
                    S::InProgress(_) => S::InProgress(Work { assignment: Some(assignment) }),
                    S::OnHold(h) => S::OnHold(OnHold { assignment: Some(assignment), ..h }),
                    S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(fail(&self)),
                };
            }
            IncidentEvent::MajorDeclared { at, by } => {
                self.major = Some(MajorDeclaration { at: *at, by: by.clone() });
            }
            IncidentEvent::ProblemLinked { problem, .. } => self.problem = Some(problem.clone()),
            IncidentEvent::ChangeLinked { change, .. } => self.caused_by_change = Some(change.clone()),
            IncidentEvent::ParentSet { parent, .. } => self.parent = Some(parent.clone()),
            IncidentEvent::ChildLinked { child, .. } => {
                self.children.insert(child.clone());
            }
            IncidentEvent::NoteAdded { .. } => {}
            IncidentEvent::AlertCorrelated { alert, .. } => {
                self.alerts.insert(alert.key());
                self.alert_last_seen = Some(self.alert_last_seen.map_or(alert.fired_at, |t| t.max(alert.fired_at)));
            }
        }
        Ok(self)
    }
}
