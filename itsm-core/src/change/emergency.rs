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
use super::common::{ChangeSpec, Completion, Review, ReviewVerdict};
use super::normal::{ChangeError, Ended};
use crate::actor::AggregateKind;
use crate::aggregate::{Aggregate, ApplyError, Context, OutboxMessage, Summary};
use crate::classify::{ChangeOutcome, ChangeType, Remediation, Risk, text_enum};
use crate::id::{ActorId, GroupId, TenantId, Text};
use crate::machine::{Transition, t};
use crate::records::ChangeRecord;
use crate::time::Timestamp;

text_enum!(
    /// The emergency change's state without its data.
    EmergencyStatus {
        /// Submitted to the emergency CAB.
        Submitted => "submitted",
        /// Authorized.
        Authorized => "authorized",
        /// Rejected; terminal.
        Rejected => "rejected",
        /// Being implemented.
        Implementing => "implementing",
        /// First attempt ended (or recorded after the fact).
        Completed => "completed",
        /// Reviewed.
        Reviewed => "reviewed",
        /// Closed; terminal.
        Closed => "closed",
        /// Cancelled; terminal.
        Cancelled => "cancelled",
    }
);

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
    state: EmergencyState,
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

/// Commands an emergency change accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum EmergencyCommand {
    /// Submit to the emergency CAB.
    Submit {
        /// What.
        spec: ChangeSpec,
        /// Risk class.
        risk: Risk,
        /// Why it cannot wait.
        justification: Text,
    },
    /// Record a change already made.
    RecordAfterTheFact(AfterTheFact),
    /// Approve for one emergency approver group.
    Approve {
        /// The group.
        group: GroupId,
    },
    /// Reject.
    Reject {
        /// The group.
        group: GroupId,
        /// Why.
        reason: Text,
    },
    /// Start implementing.
    Start,
    /// Finish one stage of a phased roll-out.
    AdvanceStage,
    /// End of the first attempt.
    Complete {
        /// Outcome.
        outcome: ChangeOutcome,
        /// Remediation.
        remediation: Remediation,
    },
    /// Mandatory review.
    Review {
        /// Verdict.
        verdict: ReviewVerdict,
        /// Notes.
        notes: Text,
    },
    /// Close.
    Close,
    /// Cancel before implementation.
    Cancel {
        /// Why.
        reason: Text,
    },
}

impl EmergencyCommand {
    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            EmergencyCommand::Submit { .. } => "submit",
            EmergencyCommand::RecordAfterTheFact(_) => "record_after_the_fact",
            EmergencyCommand::Approve { .. } => "approve",
            EmergencyCommand::Reject { .. } => "reject",
            EmergencyCommand::Start => "start",
            EmergencyCommand::AdvanceStage => "advance_stage",
            EmergencyCommand::Complete { .. } => "complete",
            EmergencyCommand::Review { .. } => "review",
            EmergencyCommand::Close => "close",
            EmergencyCommand::Cancel { .. } => "cancel",
        }
    }
}

/// Events an emergency change records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
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
        /// When.
        at: Timestamp,
        /// Requester.
        by: ActorId,
    },
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
    },
    /// One approval.
    Approved {
        /// Group.
        group: GroupId,
        /// When.
        at: Timestamp,
        /// Approver.
        by: ActorId,
    },
    /// Quorum met.
    Authorized {
        /// When.
        at: Timestamp,
    },
    /// Rejected.
    Rejected {
        /// Group.
        group: GroupId,
        /// Why.
        reason: Text,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Implementation started.
    Started {
        /// When.
        at: Timestamp,
        /// Implementer.
        by: ActorId,
    },
    /// A stage finished.
    StageAdvanced {
        /// Stages done.
        stages_done: usize,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// First attempt ended.
    Completed {
        /// The completion.
        completion: Completion,
        /// By whom.
        by: ActorId,
    },
    /// Reviewed.
    Reviewed {
        /// The review.
        review: Review,
    },
    /// Closed.
    Closed {
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Cancelled.
    Cancelled {
        /// Why.
        reason: Text,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
}

impl EmergencyEvent {
    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            EmergencyEvent::Submitted { .. } => "submitted",
            EmergencyEvent::Recorded { .. } => "recorded",
            EmergencyEvent::Approved { .. } => "approved",
            EmergencyEvent::Authorized { .. } => "authorized",
            EmergencyEvent::Rejected { .. } => "rejected",
            EmergencyEvent::Started { .. } => "started",
            EmergencyEvent::StageAdvanced { .. } => "stage_advanced",
            EmergencyEvent::Completed { .. } => "completed",
            EmergencyEvent::Reviewed { .. } => "reviewed",
            EmergencyEvent::Closed { .. } => "closed",
            EmergencyEvent::Cancelled { .. } => "cancelled",
        }
    }

    /// When it was recorded.
    pub fn at(&self) -> Timestamp {
        match self {
            EmergencyEvent::Submitted { at, .. }
            | EmergencyEvent::Recorded { at, .. }
            | EmergencyEvent::Approved { at, .. }
            | EmergencyEvent::Authorized { at }
            | EmergencyEvent::Rejected { at, .. }
            | EmergencyEvent::Started { at, .. }
            | EmergencyEvent::StageAdvanced { at, .. }
            | EmergencyEvent::Closed { at, .. }
            | EmergencyEvent::Cancelled { at, .. } => *at,
            EmergencyEvent::Completed { completion, .. } => completion.completed_at,
            EmergencyEvent::Reviewed { review } => review.at,
        }
    }
}

/// The emergency change machine's transition table.
pub const TRANSITIONS: &[Transition] = &[
    t("submitted", "approve", "submitted"),
    t("submitted", "approve", "authorized"),
    t("submitted", "reject", "rejected"),
    t("completed", "approve", "completed"),
    t("authorized", "start", "implementing"),
    t("implementing", "advance_stage", "implementing"),
    t("implementing", "complete", "completed"),
    t("completed", "review", "reviewed"),
    t("reviewed", "close", "closed"),
    t("submitted", "cancel", "cancelled"),
    t("authorized", "cancel", "cancelled"),
];

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
        )
    }

    fn reject(&self, command: &EmergencyCommand) -> ChangeError {
        ChangeError::InvalidTransition {
            kind: AggregateKind::EmergencyChange,
            id: self.spec.id.clone(),
            state: self.status().as_str(),
            command: command.name(),
        }
    }

    fn invalid(&self, command: &EmergencyCommand, reason: impl Into<String>) -> ChangeError {
        ChangeError::Invalid {
            kind: AggregateKind::EmergencyChange,
            id: self.spec.id.clone(),
            state: self.status().as_str(),
            command: command.name(),
            reason: reason.into(),
        }
    }

    fn approval_error(&self, command: &EmergencyCommand, source: ApprovalError) -> ChangeError {
        ChangeError::Approval {
            kind: AggregateKind::EmergencyChange,
            id: self.spec.id.clone(),
            state: self.status().as_str(),
            command: command.name(),
            source,
        }
    }

    fn check_vote(&self, command: &EmergencyCommand, ctx: &Context<'_>, group: &GroupId) -> Result<(), ChangeError> {
        check_approver(&ctx.config.approvals, ctx.actor, group, &self.steps, &self.requester, self.implementer())
            .map_err(|e| self.approval_error(command, e))?;
        if self.votes.get(group).is_some_and(|v| v.contains(&ctx.actor.id)) {
            return Err(self.approval_error(
                command,
                ApprovalError::AlreadyApproved { approver: ctx.actor.id.clone(), group: group.clone() },
            ));
        }
        Ok(())
    }

    fn vote(
        &self,
        command: &EmergencyCommand,
        ctx: &Context<'_>,
        group: &GroupId,
    ) -> Result<Vec<EmergencyEvent>, ChangeError> {
        if self.authorized {
            return Err(self.invalid(command, "already authorized"));
        }
        self.check_vote(command, ctx, group)?;
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
        use EmergencyState as S;
        super::precheck(
            ctx,
            AggregateKind::EmergencyChange,
            &self.spec.id,
            self.status().as_str(),
            &self.tenant,
            command.name(),
            self.last_event_at,
        )?;
        let at = ctx.now;
        let by = ctx.actor.id.clone();
        let events = match command {
            EmergencyCommand::Submit { .. } | EmergencyCommand::RecordAfterTheFact(_) => {
                return Err(ChangeError::AlreadyExists {
                    kind: AggregateKind::EmergencyChange,
                    command: command.name(),
                    id: self.spec.id.clone(),
                    state: self.status().as_str(),
                });
            }
            EmergencyCommand::Approve { group } => match &self.state {
                S::Submitted | S::Completed(_) => self.vote(command, ctx, group)?,
                S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            EmergencyCommand::Reject { group, reason } => match &self.state {
                S::Submitted => {
                    self.check_vote(command, ctx, group)?;
                    vec![EmergencyEvent::Rejected { group: group.clone(), reason: reason.clone(), at, by }]
                }
                S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            EmergencyCommand::Start => match &self.state {
                S::Authorized => {
                    if self.votes.values().any(|v| v.contains(&by)) {
                        return Err(
                            self.invalid(command, format!("{by} approved this change and may not implement it"))
                        );
                    }
                    vec![EmergencyEvent::Started { at, by }]
                }
                S::Submitted
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            EmergencyCommand::AdvanceStage => match &self.state {
                S::Implementing { stages_done, .. } => {
                    let stages_done =
                        self.spec.strategy.next_stage(*stages_done).map_err(|reason| self.invalid(command, reason))?;
                    vec![EmergencyEvent::StageAdvanced { stages_done, at, by }]
                }
                S::Submitted
                | S::Authorized
                | S::Rejected(_)
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            EmergencyCommand::Complete { outcome, remediation } => match &self.state {
                S::Implementing { started_at, .. } => {
                    let completion = Completion::checked(*started_at, at, *outcome, *remediation)
                        .map_err(|reason| self.invalid(command, reason))?;
                    vec![EmergencyEvent::Completed { completion, by }]
                }
                S::Submitted
                | S::Authorized
                | S::Rejected(_)
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            EmergencyCommand::Review { verdict, notes } => match &self.state {
                S::Completed(_) => {
                    if !self.authorized {
                        return Err(self.invalid(
                            command,
                            "a change recorded after the fact needs emergency CAB approval before review",
                        ));
                    }
                    vec![EmergencyEvent::Reviewed {
                        review: Review { verdict: *verdict, notes: notes.clone(), at, by },
                    }]
                }
                S::Submitted
                | S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            EmergencyCommand::Close => match &self.state {
                S::Reviewed { .. } => vec![EmergencyEvent::Closed { at, by }],
                S::Submitted
                | S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Closed { .. }
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            EmergencyCommand::Cancel { reason } => match &self.state {
                S::Submitted | S::Authorized => vec![EmergencyEvent::Cancelled { reason: reason.clone(), at, by }],
                S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
        };
        Ok(events)
    }

    /// Applies one event to an existing emergency change. The fold is strict:
    /// each event applies only in the states where `decide` emits it, and any
    /// other (state, event) pair is an [`ApplyError`] naming the kind, the
    /// state and the event.
    fn applied(mut self, event: &EmergencyEvent) -> Result<Self, ApplyError> {
        use EmergencyEvent as E;
        use EmergencyState as S;
        let status = self.status().as_str();
        let fail = || ApplyError { kind: AggregateKind::EmergencyChange, state: status, event: event.name() };
        self.last_event_at = self.last_event_at.max(event.at());
        self.state = match (self.state, event) {
            (
                S::Submitted
                | S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Submitted { .. } | E::Recorded { .. },
            ) => return Err(fail()),

            // A vote before implementation, or on a change recorded after the fact.
            (state @ (S::Submitted | S::Completed(_)), E::Approved { group, by, .. }) => {
                self.votes.entry(group.clone()).or_default().insert(by.clone());
                state
            }
            (
                S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Approved { .. },
            ) => return Err(fail()),

            (S::Submitted, E::Authorized { .. }) => {
                self.authorized = true;
                S::Authorized
            }
            // A change recorded after the fact stays completed once approved.
            (state @ S::Completed(_), E::Authorized { .. }) => {
                self.authorized = true;
                state
            }
            (
                S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Authorized { .. },
            ) => return Err(fail()),

            (S::Submitted, E::Rejected { reason, at, by, .. }) => {
                S::Rejected(Ended { reason: reason.clone(), at: *at, by: by.clone() })
            }
            (
                S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Rejected { .. },
            ) => return Err(fail()),

            (S::Authorized, E::Started { at, by }) => {
                S::Implementing { started_at: *at, implementer: by.clone(), stages_done: 0 }
            }
            (
                S::Submitted
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Started { .. },
            ) => return Err(fail()),

            (S::Implementing { started_at, implementer, .. }, E::StageAdvanced { stages_done, .. }) => {
                S::Implementing { started_at, implementer, stages_done: *stages_done }
            }
            (
                S::Submitted
                | S::Authorized
                | S::Rejected(_)
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::StageAdvanced { .. },
            ) => return Err(fail()),

            (S::Implementing { implementer, .. }, E::Completed { completion, .. }) => {
                S::Completed(EmergencyDone { completion: completion.clone(), retroactive: false, implementer })
            }
            (
                S::Submitted
                | S::Authorized
                | S::Rejected(_)
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Completed { .. },
            ) => return Err(fail()),

            (S::Completed(done), E::Reviewed { review }) => S::Reviewed { done, review: review.clone() },
            (
                S::Submitted
                | S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Reviewed { .. },
            ) => return Err(fail()),

            (S::Reviewed { done, review }, E::Closed { .. }) => S::Closed { done, review },
            (
                S::Submitted
                | S::Authorized
                | S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Closed { .. },
            ) => return Err(fail()),

            (S::Submitted | S::Authorized, E::Cancelled { reason, at, by }) => {
                S::Cancelled(Ended { reason: reason.clone(), at: *at, by: by.clone() })
            }
            (
                S::Rejected(_)
                | S::Implementing { .. }
                | S::Completed(_)
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Cancelled { .. },
            ) => return Err(fail()),
        };
        Ok(self)
    }
}

impl Aggregate for EmergencyChange {
    const KIND: AggregateKind = AggregateKind::EmergencyChange;
    type Command = EmergencyCommand;
    type Event = EmergencyEvent;
    type Error = ChangeError;

    fn decide(
        state: Option<&Self>,
        command: &EmergencyCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<EmergencyEvent>, ChangeError> {
        let (spec, name) = match (state, command) {
            (Some(change), command) => return change.decide_existing(command, ctx),
            (None, EmergencyCommand::Submit { spec, .. }) => (spec, "submit"),
            (None, EmergencyCommand::RecordAfterTheFact(record)) => (&record.spec, "record_after_the_fact"),
            (None, command) => {
                return Err(ChangeError::NotFound { kind: AggregateKind::EmergencyChange, command: command.name() });
            }
        };
        let invalid = |reason: String| ChangeError::Invalid {
            kind: AggregateKind::EmergencyChange,
            id: spec.id.clone(),
            state: "absent",
            command: name,
            reason,
        };
        if !ctx.config.permissions.permits(ctx.actor, AggregateKind::EmergencyChange, name) {
            return Err(ChangeError::Forbidden {
                kind: AggregateKind::EmergencyChange,
                id: spec.id.clone(),
                state: "absent",
                actor: ctx.actor.id.clone(),
                command: name,
            });
        }
        spec.strategy.validate().map_err(invalid)?;
        let tenant = ctx.actor.tenant.clone();
        let by = ctx.actor.id.clone();
        let at = ctx.now;
        match command {
            EmergencyCommand::Submit { spec, risk, justification } => Ok(vec![EmergencyEvent::Submitted {
                tenant,
                spec: spec.clone(),
                risk: *risk,
                justification: justification.clone(),
                steps: ctx.config.approvals.steps(ChangeType::Emergency, *risk).to_vec(),
                at,
                by,
            }]),
            EmergencyCommand::RecordAfterTheFact(record) => {
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
            EmergencyCommand::Approve { .. }
            | EmergencyCommand::Reject { .. }
            | EmergencyCommand::Start
            | EmergencyCommand::AdvanceStage
            | EmergencyCommand::Complete { .. }
            | EmergencyCommand::Review { .. }
            | EmergencyCommand::Close
            | EmergencyCommand::Cancel { .. } => {
                Err(ChangeError::NotFound { kind: AggregateKind::EmergencyChange, command: command.name() })
            }
        }
    }

    fn apply(state: Option<Self>, event: &EmergencyEvent) -> Result<Self, ApplyError> {
        match (state, event) {
            (None, EmergencyEvent::Submitted { tenant, spec, risk, justification, steps, at, by }) => {
                Ok(EmergencyChange {
                    spec: spec.clone(),
                    tenant: tenant.clone(),
                    requester: by.clone(),
                    risk: *risk,
                    justification: justification.clone(),
                    submitted_at: *at,
                    last_event_at: *at,
                    steps: steps.clone(),
                    votes: BTreeMap::new(),
                    authorized: steps.is_empty(),
                    state: if steps.is_empty() { EmergencyState::Authorized } else { EmergencyState::Submitted },
                })
            }
            (None, EmergencyEvent::Recorded { tenant, record, steps, at, by }) => Ok(EmergencyChange {
                spec: record.spec.clone(),
                tenant: tenant.clone(),
                requester: by.clone(),
                risk: record.risk,
                justification: record.justification.clone(),
                submitted_at: *at,
                last_event_at: *at,
                steps: steps.clone(),
                votes: BTreeMap::new(),
                authorized: steps.is_empty(),
                state: EmergencyState::Completed(EmergencyDone {
                    completion: Completion {
                        started_at: record.started_at,
                        completed_at: record.completed_at,
                        outcome: record.outcome,
                        remediation: record.remediation,
                    },
                    retroactive: true,
                    implementer: record.implementer.clone(),
                }),
            }),
            (None, other) => {
                Err(ApplyError { kind: AggregateKind::EmergencyChange, state: "absent", event: other.name() })
            }
            (Some(change), event) => change.applied(event),
        }
    }

    fn id(&self) -> &str {
        self.spec.id.as_str()
    }

    fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    fn record(&self) -> Option<crate::records::Record> {
        Some(crate::records::Record::Change(self.to_record()))
    }

    fn summary(&self) -> Summary {
        let window = self.done().map(|d| (d.completion.started_at, d.completion.completed_at));
        Summary {
            status: self.status().as_str(),
            terminal: matches!(
                self.state,
                EmergencyState::Closed { .. } | EmergencyState::Rejected(_) | EmergencyState::Cancelled(_)
            ),
            service: Some(self.spec.service.clone()),
            priority: None,
            assignee: self.implementer().cloned(),
            group: None,
            window,
            title: self.spec.title.as_str().to_owned(),
            requester: Some(self.requester.clone()),
            opened_at: self.submitted_at,
            major: false,
        }
    }

    fn event_name(event: &EmergencyEvent) -> &'static str {
        event.name()
    }

    fn command_name(command: &EmergencyCommand) -> &'static str {
        command.name()
    }

    fn outbox(state: &Self, events: &[EmergencyEvent]) -> Vec<OutboxMessage> {
        super::notifications(AggregateKind::EmergencyChange, &state.spec, events.iter().map(|e| (e.name(), e.at())))
    }
}
