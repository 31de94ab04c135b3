//! The emergency change machine (Table 9).
//!
//! Submitted -> Authorized (emergency CAB quorum) -> Implementing -> Completed
//! -> Reviewed (mandatory) -> Closed; cancellable before implementation. A
//! change made under pressure may be recorded after the fact: `Record` creates
//! it directly as completed (flagged retroactive), and it still needs the
//! emergency CAB's approval and a review before it can close.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::approval::{ApprovalError, ApprovalStep, check_approver, quorum_met};
use super::common::{ChangeSpec, Completion, Ended, Review, Stamp};
use super::error::{ChangeError, Refuse};
use super::tail::{self, Position, Stepped, TailStates, tail_command, tail_event};
use crate::actor::AggregateKind;
use crate::aggregate::Context;
use crate::id::{ActorId, GroupId, TenantId, Text};
use crate::machine::{Transition, t};
use crate::records::ChangeRecord;
use crate::time::Timestamp;
use crate::vocabulary::{ChangeOutcome, ChangeType, Remediation, Risk};

tail::change_status! {
    /// The emergency change's state without its data (one recorded after the
    /// fact starts completed).
    EmergencyStatus {
        /// Submitted to the emergency CAB.
        Submitted => "submitted",
        /// Authorized.
        Authorized => "authorized",
        /// Rejected; terminal.
        Rejected => "rejected",
    }
}

/// A completed emergency change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyDone {
    /// The first attempt's end.
    pub completion: Completion,
    /// Recorded after the fact rather than approved first.
    pub retroactive: bool,
    /// Who implemented it.
    pub implementer: ActorId,
}

/// The emergency change's state with its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EmergencyState {
    /// Waiting for the emergency CAB.
    Submitted,
    /// Authorized.
    Authorized,
    /// Rejected.
    Rejected(Ended),
    /// Implementing since `started_at`.
    Implementing {
        /// When implementation started.
        started_at: Timestamp,
        /// Who implements it.
        implementer: ActorId,
        /// Phased stages done.
        stages_done: usize,
    },
    /// Completed.
    Completed(EmergencyDone),
    /// Reviewed.
    Reviewed {
        /// The completion.
        done: EmergencyDone,
        /// The review.
        review: Review,
    },
    /// Closed.
    Closed {
        /// The completion.
        done: EmergencyDone,
        /// The review.
        review: Review,
    },
    /// Cancelled.
    Cancelled(Ended),
}

impl EmergencyState {
    /// The fieldless status.
    pub fn status(&self) -> EmergencyStatus {
        match self {
            EmergencyState::Submitted => EmergencyStatus::Submitted,
            EmergencyState::Authorized => EmergencyStatus::Authorized,
            EmergencyState::Rejected(_) => EmergencyStatus::Rejected,
            EmergencyState::Implementing { .. } => EmergencyStatus::Implementing,
            EmergencyState::Completed(_) => EmergencyStatus::Completed,
            EmergencyState::Reviewed { .. } => EmergencyStatus::Reviewed,
            EmergencyState::Closed { .. } => EmergencyStatus::Closed,
            EmergencyState::Cancelled(_) => EmergencyStatus::Cancelled,
        }
    }
}

/// The data of an after-the-fact record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfterTheFact {
    /// What was changed.
    pub spec: ChangeSpec,
    /// Risk class.
    pub risk: Risk,
    /// Why it could not wait.
    pub justification: Text,
    /// Who implemented it.
    pub implementer: ActorId,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub completed_at: Timestamp,
    /// Outcome.
    pub outcome: ChangeOutcome,
    /// Remediation.
    pub remediation: Remediation,
}

/// An emergency change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyChange {
    spec: ChangeSpec,
    tenant: TenantId,
    requester: ActorId,
    risk: Risk,
    justification: Text,
    submitted_at: Timestamp,
    last_event_at: Timestamp,
    steps: Vec<ApprovalStep>,
    votes: BTreeMap<GroupId, BTreeSet<ActorId>>,
    authorized: bool,
    /// When the emergency CAB's quorum was met (`None` where no approval
    /// step was required: no ECAB met).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorized_at: Option<Timestamp>,
    state: EmergencyState,
}

super::change_aggregate!(EmergencyChange, EmergencyChange, EmergencyCommand, EmergencyEvent);

tail::change_commands! {
    [approvals]
    /// Commands an emergency change accepts.
    pub enum EmergencyCommand {
        /// Submit to the emergency CAB.
        Submit {
            /// What.
            spec: ChangeSpec,
            /// Risk class.
            risk: Risk,
            /// Why it cannot wait.
            justification: Text,
        } => "submit",
        /// Record a change already made.
        RecordAfterTheFact(AfterTheFact) => "record_after_the_fact",
    }
}

tail::change_events! {
    [approvals]
    /// Events an emergency change records.
    pub enum EmergencyEvent {
        /// Submitted.
        Submitted {
            /// Tenant.
            tenant: TenantId,
            /// What.
            spec: ChangeSpec,
            /// Risk.
            risk: Risk,
            /// Why.
            justification: Text,
            /// Steps required.
            steps: Vec<ApprovalStep>,
            /// When it was submitted.
            at: Timestamp,
            /// Requester.
            by: ActorId,
        } => "submitted",
        /// Recorded after the fact.
        Recorded {
            /// Tenant.
            tenant: TenantId,
            /// The record.
            record: AfterTheFact,
            /// Steps required.
            steps: Vec<ApprovalStep>,
            /// When it was recorded.
            at: Timestamp,
            /// Who recorded it (the requester).
            by: ActorId,
        } => "recorded",
    }
}

/// The emergency change machine's transition table.
pub const TRANSITIONS: &[Transition] = tail::transitions! {
    schedule: [],
    close: ["reviewed"],
    start: "authorized",
    cancel: ["submitted", "authorized"],
    own: [
        t("submitted", "approve", "submitted"),
        t("submitted", "approve", "authorized"),
        t("submitted", "reject", "rejected"),
        t("completed", "approve", "completed"),
    ],
};

/// The emergency change machine as a Mermaid state diagram.
pub fn diagram() -> String {
    crate::machine::mermaid(
        "Emergency change",
        &["submitted", "completed"],
        &["closed", "rejected", "cancelled"],
        TRANSITIONS,
    )
}

impl EmergencyChange {
    /// What is changed.
    pub fn spec(&self) -> &ChangeSpec {
        &self.spec
    }
    /// The state with its data.
    pub fn state(&self) -> &EmergencyState {
        &self.state
    }
    /// The fieldless status.
    pub fn status(&self) -> EmergencyStatus {
        self.state.status()
    }
    /// Whether the emergency CAB's quorum has been met.
    pub fn authorized(&self) -> bool {
        self.authorized
    }

    fn done(&self) -> Option<&EmergencyDone> {
        match &self.state {
            EmergencyState::Completed(d) => Some(d),
            EmergencyState::Reviewed { done, .. } | EmergencyState::Closed { done, .. } => Some(done),
            EmergencyState::Submitted
            | EmergencyState::Authorized
            | EmergencyState::Rejected(_)
            | EmergencyState::Implementing { .. }
            | EmergencyState::Cancelled(_) => None,
        }
    }

    fn implementer(&self) -> Option<&ActorId> {
        match &self.state {
            EmergencyState::Implementing { implementer, .. } => Some(implementer),
            EmergencyState::Submitted
            | EmergencyState::Authorized
            | EmergencyState::Rejected(_)
            | EmergencyState::Completed(_)
            | EmergencyState::Reviewed { .. }
            | EmergencyState::Closed { .. }
            | EmergencyState::Cancelled(_) => self.done().map(|d| &d.implementer),
        }
    }

    /// The metrics record.
    pub fn to_record(&self) -> ChangeRecord {
        let started = match &self.state {
            EmergencyState::Implementing { started_at, .. } => Some(*started_at),
            EmergencyState::Submitted
            | EmergencyState::Authorized
            | EmergencyState::Rejected(_)
            | EmergencyState::Completed(_)
            | EmergencyState::Reviewed { .. }
            | EmergencyState::Closed { .. }
            | EmergencyState::Cancelled(_) => None,
        };
        super::common::record(
            &self.spec,
            ChangeType::Emergency,
            Some(self.submitted_at),
            None,
            started,
            self.done().map(|d| &d.completion),
            self.authorized_at,
        )
    }

    /// What the projection lists: the implementer, the implementation's
    /// instants as the window, the submission.
    fn listed(&self) -> (Option<&ActorId>, Option<(Timestamp, Timestamp)>, Timestamp) {
        let window = self.done().map(|d| (d.completion.started_at, d.completion.completed_at));
        (self.implementer(), window, self.submitted_at)
    }

    /// Decides a command on a change not submitted or recorded yet.
    fn create(command: &EmergencyCommand, ctx: &Context<'_>) -> Result<Vec<EmergencyEvent>, ChangeError> {
        use EmergencyCommand as C;
        let (spec, name) = match command {
            C::Submit { spec, .. } => (spec, "submit"),
            C::RecordAfterTheFact(record) => (&record.spec, "record_after_the_fact"),
            C::Approve { .. } | C::Reject { .. } | tail_command!(C) => {
                return Err(ChangeError::NotFound { kind: AggregateKind::EmergencyChange, command: command.name() });
            }
        };
        let refuse = super::creating(AggregateKind::EmergencyChange, spec, name, ctx)?;
        let invalid = |reason: String| refuse.invalid(reason);
        spec.strategy.validate().map_err(invalid)?;
        let tenant = ctx.actor.tenant.clone();
        let Stamp { at, by } = Stamp::of(ctx);
        match command {
            C::Submit { spec, risk, justification } => Ok(vec![EmergencyEvent::Submitted {
                tenant,
                spec: spec.clone(),
                risk: *risk,
                justification: justification.clone(),
                steps: ctx.config.approvals.steps(ChangeType::Emergency, *risk).to_vec(),
                at,
                by,
            }]),
            C::RecordAfterTheFact(record) => {
                Completion::checked(record.started_at, record.completed_at, record.outcome, record.remediation)
                    .map_err(invalid)?;
                if record.completed_at > at {
                    return Err(invalid(format!("completed_at {} is in the future", record.completed_at)));
                }
                Ok(vec![EmergencyEvent::Recorded {
                    tenant,
                    record: record.clone(),
                    steps: ctx.config.approvals.steps(ChangeType::Emergency, record.risk).to_vec(),
                    at,
                    by,
                }])
            }
            C::Approve { .. } | C::Reject { .. } | tail_command!(C) => Err(refuse.not_found()),
        }
    }

    /// The change a creating event starts: submitted (authorized at once
    /// where no step is required), or recorded after the fact as completed
    /// (`None` for any other event).
    fn created(event: &EmergencyEvent) -> Option<Self> {
        let (tenant, spec, risk, justification, steps, at, by, state) = match event {
            EmergencyEvent::Submitted { tenant, spec, risk, justification, steps, at, by } => {
                let state = if steps.is_empty() { EmergencyState::Authorized } else { EmergencyState::Submitted };
                (tenant, spec, *risk, justification, steps, *at, by, state)
            }
            EmergencyEvent::Recorded { tenant, record, steps, at, by } => {
                let completion = Completion {
                    started_at: record.started_at,
                    completed_at: record.completed_at,
                    outcome: record.outcome,
                    remediation: record.remediation,
                    automatic: false,
                };
                let done = EmergencyDone { completion, retroactive: true, implementer: record.implementer.clone() };
                let state = EmergencyState::Completed(done);
                (tenant, &record.spec, record.risk, &record.justification, steps, *at, by, state)
            }
            EmergencyEvent::Approved { .. } | EmergencyEvent::Authorized { .. } | EmergencyEvent::Rejected { .. } => {
                return None;
            }
            tail_event!(EmergencyEvent) => return None,
        };
        Some(EmergencyChange {
            spec: spec.clone(),
            tenant: tenant.clone(),
            requester: by.clone(),
            risk,
            justification: justification.clone(),
            submitted_at: at,
            last_event_at: at,
            steps: steps.clone(),
            votes: BTreeMap::new(),
            authorized: steps.is_empty(),
            // No ECAB met for a change that needed no approval step.
            authorized_at: None,
            state,
        })
    }

    fn check_vote(&self, refuse: &Refuse<'_>, ctx: &Context<'_>, group: &GroupId) -> Result<(), ChangeError> {
        check_approver(&ctx.config.approvals, ctx.actor, group, &self.steps, &self.requester, self.implementer())
            .map_err(|e| refuse.approval(e))?;
        if self.votes.get(group).is_some_and(|v| v.contains(&ctx.actor.id)) {
            return Err(refuse
                .approval(ApprovalError::AlreadyApproved { approver: ctx.actor.id.clone(), group: group.clone() }));
        }
        Ok(())
    }

    fn vote(
        &self,
        refuse: &Refuse<'_>,
        ctx: &Context<'_>,
        group: &GroupId,
    ) -> Result<Vec<EmergencyEvent>, ChangeError> {
        if self.authorized {
            return Err(refuse.invalid("already authorized"));
        }
        self.check_vote(refuse, ctx, group)?;
        let mut votes = self.votes.clone();
        votes.entry(group.clone()).or_default().insert(ctx.actor.id.clone());
        let mut events = vec![EmergencyEvent::Approved { group: group.clone(), at: ctx.now, by: ctx.actor.id.clone() }];
        if quorum_met(&ctx.config.approvals, &self.steps, &votes, &self.requester, self.implementer()) {
            events.push(EmergencyEvent::Authorized { at: ctx.now });
        }
        Ok(events)
    }

    fn decide_existing(
        &self,
        command: &EmergencyCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<EmergencyEvent>, ChangeError> {
        use EmergencyCommand as C;
        use EmergencyState as S;
        let refuse = self.refuse(command);
        super::precheck(ctx, &refuse, &self.tenant, self.last_event_at)?;
        let events = match command {
            C::Submit { .. } | C::RecordAfterTheFact(_) => return Err(refuse.exists()),
            C::Approve { group } => match &self.state {
                S::Submitted | S::Completed(_) => self.vote(&refuse, ctx, group)?,
                S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => return Err(refuse.transition()),
            },
            C::Reject { group, reason } => match &self.state {
                S::Submitted => {
                    self.check_vote(&refuse, ctx, group)?;
                    vec![EmergencyEvent::Rejected {
                        group: group.clone(),
                        reason: reason.clone(),
                        at: ctx.now,
                        by: ctx.actor.id.clone(),
                    }]
                }
                S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => return Err(refuse.transition()),
            },
            tail_command!(C) => vec![tail::decide(&self.tail(), command.tail(), &refuse, ctx)?.into()],
        };
        Ok(events)
    }

    /// Applies one event to an existing emergency change. The fold is strict:
    /// each event applies only in the states where `decide` emits it, and any
    /// other (state, event) pair is refused (`false`, reported as an
    /// `ApplyError` naming the kind, the state and the event). The execution tail's events (`started` on) are
    /// matched against the state's [`Position`] by [`tail::apply`].
    fn applied(&mut self, event: &EmergencyEvent) -> bool {
        use EmergencyEvent as E;
        use EmergencyState as S;
        match event {
            tail_event!(E) => tail::apply(&mut self.state, event.tail()),

            E::Submitted { .. } | E::Recorded { .. } => false,

            // A vote before implementation, or on a change recorded after the fact.
            E::Approved { group, by, .. } => match self.state {
                S::Submitted | S::Completed(_) => {
                    self.votes.entry(group.clone()).or_default().insert(by.clone());
                    true
                }
                S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => false,
            },

            E::Authorized { at } => match self.state {
                S::Submitted => {
                    self.authorized = true;
                    self.authorized_at = Some(*at);
                    self.state = S::Authorized;
                    true
                }
                // A change recorded after the fact stays completed once approved.
                S::Completed(_) => {
                    self.authorized = true;
                    self.authorized_at = Some(*at);
                    true
                }
                S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => false,
            },

            E::Rejected { reason, at, by, .. } => match self.state {
                S::Submitted => {
                    self.state = S::Rejected(Ended { reason: reason.clone(), at: *at, by: by.clone() });
                    true
                }
                S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => false,
            },
        }
    }

    /// The change as the execution tail's commands see it: its approvers may
    /// not implement it, and one recorded after the fact is reviewed only
    /// once the emergency CAB approved it.
    fn tail(&self) -> tail::View<'_> {
        let unreviewable =
            (!self.authorized).then_some("a change recorded after the fact needs emergency CAB approval before review");
        tail::View {
            spec: &self.spec,
            position: self.state.position(),
            review_required: EmergencyState::REVIEW_REQUIRED,
            votes: Some(&self.votes),
            unreviewable,
        }
    }
}

/// Where each state stands on the execution tail, and how the tail's events
/// move its data: the implementer goes along, the review is mandatory.
impl TailStates for EmergencyState {
    const REVIEW_REQUIRED: bool = true;
    const PARKED: Self = EmergencyState::Submitted;

    fn position(&self) -> Position {
        match self {
            EmergencyState::Submitted => Position::Preparing,
            EmergencyState::Authorized => Position::Ready,
            EmergencyState::Implementing { started_at, stages_done, .. } => {
                Position::Implementing { started_at: *started_at, stages_done: *stages_done }
            }
            EmergencyState::Completed(_) => Position::Completed,
            EmergencyState::Reviewed { .. } => Position::Reviewed,
            EmergencyState::Closed { .. } => Position::Closed,
            EmergencyState::Rejected(_) | EmergencyState::Cancelled(_) => Position::Ended,
        }
    }

    fn started(&mut self, at: Timestamp, by: &ActorId) -> bool {
        let EmergencyState::Authorized = self else { return false };
        *self = EmergencyState::Implementing { started_at: at, implementer: by.clone(), stages_done: 0 };
        true
    }

    fn stage_advanced(&mut self, stages_done: usize) -> bool {
        let EmergencyState::Implementing { stages_done: done, .. } = self else { return false };
        *done = stages_done;
        true
    }

    fn completed(&mut self, completion: &Completion) -> bool {
        tail::step(self, |state| {
            let EmergencyState::Implementing { implementer, .. } = state else { return Stepped::Back(state) };
            Stepped::Next(EmergencyState::Completed(EmergencyDone {
                completion: completion.clone(),
                retroactive: false,
                implementer,
            }))
        })
    }

    fn reviewed(&mut self, review: &Review) -> bool {
        tail::step(self, |state| {
            let EmergencyState::Completed(done) = state else { return Stepped::Back(state) };
            Stepped::Next(EmergencyState::Reviewed { done, review: review.clone() })
        })
    }

    fn closed(&mut self) -> bool {
        tail::step(self, |state| {
            let EmergencyState::Reviewed { done, review } = state else { return Stepped::Back(state) };
            Stepped::Next(EmergencyState::Closed { done, review })
        })
    }

    fn cancelled(&mut self, ended: Ended) -> bool {
        *self = EmergencyState::Cancelled(ended);
        true
    }
}
