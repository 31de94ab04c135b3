//! Deciding incident commands: the rules of each state, the guards on the
//! commands' data, and the cascade of a resolution to the children.

use super::{
    Assignment, Incident, IncidentCommand, IncidentError, IncidentEvent, IncidentState, IncidentStatus, ResolutionCode,
};
use crate::actor::AggregateKind;
use crate::aggregate::{Context, Precheck};
use crate::id::IncidentId;

impl Incident {
    /// The commands that cascade this incident's resolution to its children:
    /// empty unless the incident is resolved. A child that is already resolved,
    /// closed or cancelled refuses its command with a typed error, which the
    /// executor may ignore.
    pub fn cascade_commands(&self) -> Vec<(IncidentId, IncidentCommand)> {
        match &self.state {
            IncidentState::Resolved(r) => self
                .children
                .iter()
                .map(|child| {
                    (
                        child.clone(),
                        IncidentCommand::CascadeResolve { parent: self.id.clone(), resolved_by: r.resolved_by },
                    )
                })
                .collect(),
            IncidentState::New
            | IncidentState::Assigned(_)
            | IncidentState::InProgress(_)
            | IncidentState::OnHold(_)
            | IncidentState::Closed(_)
            | IncidentState::Cancelled(_) => Vec::new(),
        }
    }

    fn reject(&self, command: &IncidentCommand) -> IncidentError {
        IncidentError::InvalidTransition { id: self.id.clone(), state: self.status(), command: command.name() }
    }

    fn invalid(&self, command: &IncidentCommand, reason: impl Into<String>) -> IncidentError {
        IncidentError::Invalid {
            id: self.id.clone(),
            state: self.status(),
            command: command.name(),
            reason: reason.into(),
        }
    }

    pub(super) fn decide_existing(
        &self,
        command: &IncidentCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<IncidentEvent>, IncidentError> {
        use IncidentState as S;
        let at = ctx.now;
        let by = ctx.actor.id.clone();
        ctx.precheck(AggregateKind::Incident, &self.tenant, command.name(), self.last_event_at).map_err(
            |p| match p {
                Precheck::OtherTenant => IncidentError::NotFound { command: command.name() },
                Precheck::Forbidden => IncidentError::Forbidden {
                    id: self.id.clone(),
                    state: self.status().as_str(),
                    actor: ctx.actor.id.clone(),
                    command: command.name(),
                },
                Precheck::TimeWentBack(reason) => self.invalid(command, reason),
            },
        )?;
        let state = &self.state;
        let event = match command {
            IncidentCommand::Open(_) => {
                return Err(IncidentError::AlreadyExists { id: self.id.clone(), state: self.status() });
            }
            IncidentCommand::Assign { group, assignee } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => IncidentEvent::Assigned {
                    assignment: Assignment { group: group.clone(), assignee: assignee.clone() },
                    at,
                    by,
                },
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            // A first response recorded after the resolution (an auto-resolved
            // incident, a response logged late) is history, not a contradiction.
            IncidentCommand::Acknowledge => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) => {
                    if self.acknowledged_at.is_some() {
                        return Err(self.invalid(command, "already acknowledged"));
                    }
                    IncidentEvent::Acknowledged { at, by }
                }
                S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::RecordImpact { impact_start, restored_at } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) => {
                    for (name, instant) in [("impact_start", impact_start), ("restored_at", restored_at)] {
                        if let Some(t) = instant
                            && *t > at
                        {
                            return Err(self.invalid(command, format!("{name} {t} is after now {at}")));
                        }
                    }
                    let start = impact_start.unwrap_or(self.impact_start);
                    if let Some(restored) = restored_at.or(self.restored_at)
                        && restored < start
                    {
                        return Err(self
                            .invalid(command, format!("restored_at {restored} would be before impact start {start}")));
                    }
                    let changes_start = impact_start.is_some_and(|t| t != self.impact_start);
                    let changes_restore = restored_at.is_some_and(|t| Some(t) != self.restored_at);
                    if !changes_start && !changes_restore {
                        return Err(self.invalid(command, "the impact interval is unchanged"));
                    }
                    IncidentEvent::ImpactRecorded { impact_start: *impact_start, restored_at: *restored_at, at, by }
                }
                S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::Start => match state {
                S::New | S::Assigned(_) => IncidentEvent::Started { at, by },
                S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            IncidentCommand::Hold { reason } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) => IncidentEvent::Held { reason: *reason, at, by },
                S::OnHold(h) => {
                    if h.reason == *reason {
                        return Err(self.invalid(command, format!("already on hold for {reason}")));
                    }
                    IncidentEvent::Held { reason: *reason, at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::Resume => match state {
                S::OnHold(_) => IncidentEvent::Resumed { at, by },
                S::New | S::Assigned(_) | S::InProgress(_) | S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            IncidentCommand::Resolve { code, resolved_by, restored_at } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    let restored_at = restored_at.or(self.restored_at).unwrap_or(at);
                    if restored_at > at {
                        return Err(self.invalid(command, format!("restored_at {restored_at} is after now {at}")));
                    }
                    if restored_at < self.impact_start {
                        return Err(self.invalid(
                            command,
                            format!("restored_at {restored_at} is before impact start {}", self.impact_start),
                        ));
                    }
                    if *code == ResolutionCode::ParentResolved {
                        return Err(self.invalid(command, "parent_resolved is set only by a cascade"));
                    }
                    IncidentEvent::Resolved {
                        code: *code,
                        resolved_by: *resolved_by,
                        restored_at,
                        cascaded_from: None,
                        at,
                        by,
                    }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::CascadeResolve { parent, resolved_by } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if self.parent.as_ref() != Some(parent) {
                        return Err(self.invalid(command, format!("{parent} is not this incident's parent")));
                    }
                    IncidentEvent::Resolved {
                        code: ResolutionCode::ParentResolved,
                        resolved_by: *resolved_by,
                        restored_at: self.restored_at.unwrap_or(at),
                        cascaded_from: Some(parent.clone()),
                        at,
                        by,
                    }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::Reopen { reason } => match state {
                S::Resolved(_) => IncidentEvent::Reopened {
                    reason: reason.clone(),
                    count: self.reopen_count.saturating_add(1),
                    at,
                    by,
                },
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Closed(_) | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            IncidentCommand::Close => match state {
                S::Resolved(_) => IncidentEvent::Closed { at, by },
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Closed(_) | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            IncidentCommand::Cancel { reason } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    IncidentEvent::Cancelled { reason: reason.clone(), at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::Reprioritize { impact, urgency } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if *impact == self.impact && *urgency == self.urgency {
                        return Err(self.invalid(command, "impact and urgency are unchanged"));
                    }
                    IncidentEvent::Reprioritized {
                        impact: *impact,
                        urgency: *urgency,
                        priority: ctx.config.priority_matrix.priority(*impact, *urgency),
                        at,
                        by,
                    }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::EscalateTier { tier, group } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if *tier == self.tier {
                        return Err(self.invalid(command, format!("already at tier {tier}")));
                    }
                    IncidentEvent::TierEscalated { from: self.tier, to: *tier, group: group.clone(), at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::ProposeMajor { reason } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if self.major.is_some() {
                        return Err(self.invalid(command, "already a major incident"));
                    }
                    if self.major_candidate.is_some() {
                        return Err(self.invalid(command, "already proposed as a major incident"));
                    }
                    IncidentEvent::MajorProposed { reason: reason.clone(), at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::DeclineMajor { reason } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if self.major_candidate.is_none() {
                        return Err(self.invalid(command, "not proposed as a major incident"));
                    }
                    IncidentEvent::MajorDeclined { reason: reason.clone(), at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::RecordReview { summary, actions } => match state {
                S::Resolved(_) | S::Closed(_) => {
                    if self.major.is_none() {
                        return Err(self.invalid(command, "a post-incident review is for a major incident"));
                    }
                    if self.review.is_some() {
                        return Err(self.invalid(command, "the post-incident review is already recorded"));
                    }
                    if actions.len() > super::MAX_REVIEW_ACTIONS {
                        return Err(self.invalid(
                            command,
                            format!("{} action items, at most {}", actions.len(), super::MAX_REVIEW_ACTIONS),
                        ));
                    }
                    IncidentEvent::ReviewRecorded { summary: summary.clone(), actions: actions.clone(), at, by }
                }
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            IncidentCommand::CompleteAction { action } => match state {
                S::Resolved(_) | S::Closed(_) => {
                    let Some(review) = &self.review else {
                        return Err(self.invalid(command, "no post-incident review is recorded"));
                    };
                    match review.actions.get(usize::try_from(*action).unwrap_or(usize::MAX)) {
                        None => {
                            return Err(self.invalid(
                                command,
                                format!(
                                    "the review has {} action items; there is no item {action}",
                                    review.actions.len()
                                ),
                            ));
                        }
                        Some(item) if item.done.is_some() => {
                            return Err(self.invalid(command, format!("action item {action} is already done")));
                        }
                        Some(_) => IncidentEvent::ActionCompleted { action: *action, at, by },
                    }
                }
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            IncidentCommand::DeclareMajor => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if self.major.is_some() {
                        return Err(self.invalid(command, "already a major incident"));
                    }
                    IncidentEvent::MajorDeclared { at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::LinkProblem { problem } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) => {
                    if self.problem.as_ref() == Some(problem) {
                        return Err(self.invalid(command, format!("already linked to {problem}")));
                    }
                    IncidentEvent::ProblemLinked { problem: problem.clone(), at, by }
                }
                S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::LinkChange { change } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) => {
                    if self.caused_by_change.as_ref() == Some(change) {
                        return Err(self.invalid(command, format!("already linked to {change}")));
                    }
                    IncidentEvent::ChangeLinked { change: change.clone(), at, by }
                }
                S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::SetParent { parent } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if *parent == self.id {
                        return Err(self.invalid(command, "an incident cannot be its own parent"));
                    }
                    if self.children.contains(parent) {
                        return Err(self.invalid(command, format!("{parent} is a child of this incident")));
                    }
                    if self.parent.is_some() {
                        return Err(self.invalid(command, "already has a parent"));
                    }
                    IncidentEvent::ParentSet { parent: parent.clone(), at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::LinkChild { child } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if *child == self.id || self.parent.as_ref() == Some(child) {
                        return Err(self.invalid(command, format!("{child} cannot be a child of this incident")));
                    }
                    if self.children.contains(child) {
                        return Err(self.invalid(command, format!("{child} is already a child")));
                    }
                    IncidentEvent::ChildLinked { child: child.clone(), at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::AddNote { text, public } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) => {
                    IncidentEvent::NoteAdded { text: text.clone(), public: *public, at, by }
                }
                S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::CorrelateAlert { alert } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) => {
                    if let Err(reason) = alert.validate() {
                        return Err(self.invalid(command, reason.to_string()));
                    }
                    if self.alerts.contains(&alert.key()) {
                        return Err(self.invalid(command, format!("alert {} is already correlated", alert.key())));
                    }
                    IncidentEvent::AlertCorrelated { alert: alert.clone(), at, by }
                }
                S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
        };
        Ok(vec![event])
    }

    pub(super) fn decide_open(
        command: &IncidentCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<IncidentEvent>, IncidentError> {
        let IncidentCommand::Open(open) = command else {
            return Err(IncidentError::NotFound { command: command.name() });
        };
        if !ctx.config.permissions.permits(ctx.actor, AggregateKind::Incident, "open") {
            return Err(IncidentError::Forbidden {
                id: open.id.clone(),
                state: "absent",
                actor: ctx.actor.id.clone(),
                command: "open",
            });
        }
        if let Some(start) = open.impact_start
            && start > ctx.now
        {
            return Err(IncidentError::Invalid {
                id: open.id.clone(),
                state: IncidentStatus::New,
                command: "open",
                reason: format!("impact_start {start} is after now {}", ctx.now),
            });
        }
        Ok(vec![IncidentEvent::Opened {
            tenant: ctx.actor.tenant.clone(),
            incident: open.clone(),
            priority: ctx.config.priority_matrix.priority(open.impact, open.urgency),
            at: ctx.now,
            by: ctx.actor.id.clone(),
        }])
    }
}
