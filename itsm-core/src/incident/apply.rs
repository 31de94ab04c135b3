//! Folding incident events into the incident. The fold is strict: an event
//! applies only in the states where `decide` emits it, so a history that no
//! sequence of commands could have produced does not replay.

use std::collections::BTreeSet;

use super::{ActionDone, PostIncidentReview, ReviewAction};
use super::{
    Assignment, CancelledIncident, ClosedIncident, Incident, IncidentEvent, IncidentState, MajorCandidate,
    MajorDeclaration, OnHold, Resolution, Work,
};
use crate::actor::AggregateKind;
use crate::aggregate::ApplyError;
use crate::time::Timestamp;

/// The open states, as a pattern: neither resolved nor terminal.
macro_rules! open {
    () => {
        IncidentState::New | IncidentState::Assigned(_) | IncidentState::InProgress(_) | IncidentState::OnHold(_)
    };
}

impl Incident {
    /// Applies one event: `Opened` creates the incident, every other event
    /// needs one.
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
                major_candidate: None,
                review: None,
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
            (Some(mut incident), event) => {
                incident.applied(event)?;
                Ok(incident)
            }
        }
    }

    /// Applies one event to an existing incident. The fold is strict: each
    /// event applies only in the states where `decide` emits it, and any other
    /// (state, event) pair is an [`ApplyError`] naming the kind, the state and
    /// the event. An event that keeps the state (a first response, a note, a
    /// link) is no exception.
    fn applied(&mut self, event: &IncidentEvent) -> Result<(), ApplyError> {
        use IncidentEvent as E;
        use IncidentState as S;
        self.last_event_at = self.last_event_at.max(event.at());
        // The new state, or `None` when the event keeps it.
        let next = match (&self.state, event) {
            (open!() | S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::Opened { .. }) => {
                return Err(self.refused(event));
            }

            (S::New | S::Assigned(_), E::Assigned { assignment, .. }) => Some(S::Assigned(assignment.clone())),
            (S::InProgress(_), E::Assigned { assignment, .. }) => {
                Some(S::InProgress(Work { assignment: Some(assignment.clone()) }))
            }
            (S::OnHold(h), E::Assigned { assignment, .. }) => {
                Some(S::OnHold(OnHold { assignment: Some(assignment.clone()), ..h.clone() }))
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::Assigned { .. }) => return Err(self.refused(event)),

            // A first response may be recorded after the resolution, even after the closure.
            (open!() | S::Resolved(_) | S::Closed(_), E::Acknowledged { at, .. }) => {
                self.acknowledged_at = Some(*at);
                None
            }
            (S::Cancelled(_), E::Acknowledged { .. }) => return Err(self.refused(event)),

            (S::New | S::Assigned(_), E::Started { at, .. }) => {
                self.acknowledged_at.get_or_insert(*at);
                Some(S::InProgress(Work { assignment: self.current_assignment() }))
            }
            (S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::Started { .. }) => {
                return Err(self.refused(event));
            }

            (S::New | S::Assigned(_) | S::InProgress(_), E::Held { reason, at, .. }) => {
                Some(S::OnHold(OnHold { reason: *reason, since: *at, assignment: self.current_assignment() }))
            }
            // Another reason: still waiting, since the first hold.
            (S::OnHold(h), E::Held { reason, .. }) => {
                Some(S::OnHold(OnHold { reason: *reason, since: h.since, assignment: h.assignment.clone() }))
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::Held { .. }) => return Err(self.refused(event)),

            (S::OnHold(h), E::Resumed { .. }) => Some(S::InProgress(Work { assignment: h.assignment.clone() })),
            (
                S::New | S::Assigned(_) | S::InProgress(_) | S::Resolved(_) | S::Closed(_) | S::Cancelled(_),
                E::Resumed { .. },
            ) => {
                return Err(self.refused(event));
            }

            // A resolution or a cascade from the parent.
            (open!(), E::Resolved { code, resolved_by, restored_at, cascaded_from, at, .. }) => {
                self.first_resolved_at.get_or_insert(*at);
                self.restored_at = Some(*restored_at);
                Some(S::Resolved(Resolution {
                    at: *at,
                    code: *code,
                    resolved_by: *resolved_by,
                    restored_at: *restored_at,
                    cascaded_from: cascaded_from.clone(),
                    assignment: self.current_assignment(),
                }))
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::Resolved { .. }) => return Err(self.refused(event)),

            (open!(), E::ImpactRecorded { impact_start, restored_at, .. }) => {
                self.record_impact(*impact_start, *restored_at);
                None
            }
            (S::Resolved(r), E::ImpactRecorded { impact_start, restored_at, .. }) => {
                let next = restored_at.map(|restored| S::Resolved(Resolution { restored_at: restored, ..r.clone() }));
                self.record_impact(*impact_start, *restored_at);
                next
            }
            (S::Closed(c), E::ImpactRecorded { impact_start, restored_at, .. }) => {
                let next = restored_at.map(|restored| {
                    let resolution = Resolution { restored_at: restored, ..c.resolution.clone() };
                    S::Closed(ClosedIncident { at: c.at, resolution })
                });
                self.record_impact(*impact_start, *restored_at);
                next
            }
            (S::Cancelled(_), E::ImpactRecorded { .. }) => return Err(self.refused(event)),

            (S::Resolved(r), E::Reopened { count, .. }) => {
                self.reopen_count = *count;
                self.restored_at = None;
                Some(S::InProgress(Work { assignment: r.assignment.clone() }))
            }
            (open!() | S::Closed(_) | S::Cancelled(_), E::Reopened { .. }) => return Err(self.refused(event)),

            (S::Resolved(r), E::Closed { at, .. }) => {
                Some(S::Closed(ClosedIncident { at: *at, resolution: r.clone() }))
            }
            (open!() | S::Closed(_) | S::Cancelled(_), E::Closed { .. }) => return Err(self.refused(event)),

            (open!(), E::Cancelled { reason, at, .. }) => {
                Some(S::Cancelled(CancelledIncident { at: *at, reason: reason.clone() }))
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::Cancelled { .. }) => return Err(self.refused(event)),

            (open!(), E::Reprioritized { impact, urgency, priority, .. }) => {
                self.impact = *impact;
                self.urgency = *urgency;
                self.priority = *priority;
                None
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::Reprioritized { .. }) => {
                return Err(self.refused(event));
            }

            // An escalation assigns the incident to the new tier's group.
            (S::New | S::Assigned(_), E::TierEscalated { to, group, .. }) => {
                self.tier = *to;
                Some(S::Assigned(Assignment { group: group.clone(), assignee: None }))
            }
            (S::InProgress(_), E::TierEscalated { to, group, .. }) => {
                self.tier = *to;
                Some(S::InProgress(Work { assignment: Some(Assignment { group: group.clone(), assignee: None }) }))
            }
            (S::OnHold(h), E::TierEscalated { to, group, .. }) => {
                let assignment = Assignment { group: group.clone(), assignee: None };
                let next = S::OnHold(OnHold { assignment: Some(assignment), ..h.clone() });
                self.tier = *to;
                Some(next)
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::TierEscalated { .. }) => {
                return Err(self.refused(event));
            }

            (open!(), E::MajorProposed { reason, at, by }) => {
                self.major_candidate = Some(MajorCandidate { at: *at, by: by.clone(), reason: reason.clone() });
                None
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::MajorProposed { .. }) => {
                return Err(self.refused(event));
            }
            (open!(), E::MajorDeclined { .. }) => {
                self.major_candidate = None;
                None
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::MajorDeclined { .. }) => {
                return Err(self.refused(event));
            }

            (S::Resolved(_) | S::Closed(_), E::ReviewRecorded { summary, actions, at, by }) => {
                let actions = actions.iter().map(|text| ReviewAction { text: text.clone(), done: None }).collect();
                self.review = Some(PostIncidentReview { at: *at, by: by.clone(), summary: summary.clone(), actions });
                None
            }
            (open!() | S::Cancelled(_), E::ReviewRecorded { .. }) => return Err(self.refused(event)),
            (S::Resolved(_) | S::Closed(_), E::ActionCompleted { action, at, by }) => {
                let item = self
                    .review
                    .as_mut()
                    .and_then(|r| r.actions.get_mut(usize::try_from(*action).unwrap_or(usize::MAX)));
                match item {
                    Some(item) => item.done = Some(ActionDone { at: *at, by: by.clone() }),
                    None => return Err(self.refused(event)),
                }
                None
            }
            (open!() | S::Cancelled(_), E::ActionCompleted { .. }) => return Err(self.refused(event)),

            (open!(), E::MajorDeclared { at, by }) => {
                self.major = Some(MajorDeclaration { at: *at, by: by.clone() });
                self.major_candidate = None;
                None
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::MajorDeclared { .. }) => {
                return Err(self.refused(event));
            }

            (open!() | S::Resolved(_) | S::Closed(_), E::ProblemLinked { problem, .. }) => {
                self.problem = Some(problem.clone());
                None
            }
            (S::Cancelled(_), E::ProblemLinked { .. }) => return Err(self.refused(event)),

            (open!() | S::Resolved(_) | S::Closed(_), E::ChangeLinked { change, .. }) => {
                self.caused_by_change = Some(change.clone());
                None
            }
            (S::Cancelled(_), E::ChangeLinked { .. }) => return Err(self.refused(event)),

            (open!(), E::ParentSet { parent, .. }) => {
                self.parent = Some(parent.clone());
                None
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::ParentSet { .. }) => return Err(self.refused(event)),

            (open!(), E::ChildLinked { child, .. }) => {
                self.children.insert(child.clone());
                None
            }
            (S::Resolved(_) | S::Closed(_) | S::Cancelled(_), E::ChildLinked { .. }) => return Err(self.refused(event)),

            (open!() | S::Resolved(_), E::NoteAdded { .. }) => None,
            (S::Closed(_) | S::Cancelled(_), E::NoteAdded { .. }) => return Err(self.refused(event)),

            // A late alert on a resolved incident is recorded (and cleared at once).
            (open!() | S::Resolved(_), E::AlertCorrelated { alert, .. }) => {
                self.alerts.insert(alert.key());
                self.alert_last_seen = Some(self.alert_last_seen.map_or(alert.fired_at, |t| t.max(alert.fired_at)));
                None
            }
            (S::Closed(_) | S::Cancelled(_), E::AlertCorrelated { .. }) => return Err(self.refused(event)),
        };
        if let Some(next) = next {
            self.state = next;
        }
        Ok(())
    }

    /// The refusal of `event` in the current state (built only when refused:
    /// replay applies every stored event).
    fn refused(&self, event: &IncidentEvent) -> ApplyError {
        ApplyError { kind: AggregateKind::Incident, state: self.status().as_str(), event: event.name() }
    }

    /// Records the service-impact interval: a new impact start, a restore.
    fn record_impact(&mut self, impact_start: Option<Timestamp>, restored_at: Option<Timestamp>) {
        if let Some(start) = impact_start {
            self.impact_start = start;
        }
        if let Some(restored) = restored_at {
            self.restored_at = Some(restored);
        }
    }
}
