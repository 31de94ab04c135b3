//! The normal ("planned") change machine.
//!
//! Draft -> Submitted -> Assessed (risk, impact, backout plan mandatory) ->
//! Authorized (approval steps met) or Rejected -> Scheduled (window) ->
//! Implementing -> Completed(outcome) -> Reviewed -> Closed; cancellable
//! before implementation. The approval steps are taken from the policy at
//! assessment and kept with the change, so a later policy edit does not move
//! an approval in flight.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::approval::{ApprovalStep, check_approver, quorum_met};
use super::common::{Assessment, ChangeSpec, Completion, Review, Window, record};
use crate::actor::AggregateKind;
use crate::aggregate::{Aggregate, ApplyError, Context, OutboxMessage, Summary};
use crate::classify::{ChangeType, text_enum};
use crate::id::{ActorId, GroupId, TenantId, Text};
use crate::machine::{Transition, t};
use crate::records::ChangeRecord;
use crate::time::Timestamp;

text_enum!(
    /// The normal change's state without its data.
    NormalStatus {
        /// Being written.
        Draft => "draft",
        /// Submitted for assessment.
        Submitted => "submitted",
        /// Assessed; collecting approvals.
        Assessed => "assessed",
        /// Authorized.
        Authorized => "authorized",
        /// Rejected; terminal.
        Rejected => "rejected",
        /// Scheduled in a window.
        Scheduled => "scheduled",
        /// Being implemented.
        Implementing => "implementing",
        /// First attempt ended.
        Completed => "completed",
        /// Post-implementation review done.
        Reviewed => "reviewed",
        /// Closed; terminal.
        Closed => "closed",
        /// Cancelled; terminal.
        Cancelled => "cancelled",
    }
);

/// Approvals being collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approvals {
    /// The assessment.
    pub assessment: Assessment,
    /// Steps required (snapshot of the policy at assessment).
    pub steps: Vec<ApprovalStep>,
    /// Votes per group.
    pub votes: BTreeMap<GroupId, BTreeSet<ActorId>>,
}

/// An authorized, scheduled or implementing change's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The assessment.
    pub assessment: Assessment,
    /// Who approved, per group.
    pub approvals: BTreeMap<GroupId, BTreeSet<ActorId>>,
    /// The window, once scheduled.
    pub window: Option<Window>,
}

/// Implementation in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Implementation {
    /// The plan.
    pub plan: Plan,
    /// When implementation started.
    pub started_at: Timestamp,
    /// Stages completed so far (phased roll-outs).
    pub stages_done: usize,
}

/// A completed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// The plan.
    pub plan: Plan,
    /// The first attempt's end.
    pub completion: Completion,
}

/// A reviewed (or closed) change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewed {
    /// The completed change.
    pub done: Done,
    /// The review.
    pub review: Review,
}

/// An ending without implementation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// Why.
    pub reason: Text,
    /// When.
    pub at: Timestamp,
    /// By whom.
    pub by: ActorId,
}

/// The normal change's state with its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NormalState {
    /// Being written.
    Draft,
    /// Submitted.
    Submitted,
    /// Collecting approvals.
    Assessed(Approvals),
    /// Authorized.
    Authorized(Plan),
    /// Rejected.
    Rejected(Ended),
    /// Scheduled.
    Scheduled(Plan),
    /// Implementing.
    Implementing(Implementation),
    /// Completed.
    Completed(Done),
    /// Reviewed.
    Reviewed(Reviewed),
    /// Closed.
    Closed(Reviewed),
    /// Cancelled.
    Cancelled(Ended),
}

impl NormalState {
    /// The fieldless status.
    pub fn status(&self) -> NormalStatus {
        match self {
            NormalState::Draft => NormalStatus::Draft,
            NormalState::Submitted => NormalStatus::Submitted,
            NormalState::Assessed(_) => NormalStatus::Assessed,
            NormalState::Authorized(_) => NormalStatus::Authorized,
            NormalState::Rejected(_) => NormalStatus::Rejected,
            NormalState::Scheduled(_) => NormalStatus::Scheduled,
            NormalState::Implementing(_) => NormalStatus::Implementing,
            NormalState::Completed(_) => NormalStatus::Completed,
            NormalState::Reviewed(_) => NormalStatus::Reviewed,
            NormalState::Closed(_) => NormalStatus::Closed,
            NormalState::Cancelled(_) => NormalStatus::Cancelled,
        }
    }
}

/// A normal change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalChange {
    spec: ChangeSpec,
    tenant: TenantId,
    requester: ActorId,
    created_at: Timestamp,
    submitted_at: Option<Timestamp>,
    last_event_at: Timestamp,
    state: NormalState,
}

/// Commands a normal change accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum NormalCommand {
    /// Create a draft; the actor is the requester.
    Create(ChangeSpec),
    /// Submit for assessment.
    Submit,
    /// Assess: risk, impact, backout plan, implementer.
    Assess(Assessment),
    /// Approve for one approver group.
    Approve {
        /// The group approved for.
        group: GroupId,
    },
    /// Reject.
    Reject {
        /// The group rejecting.
        group: GroupId,
        /// Why.
        reason: Text,
    },
    /// Schedule in a window. Where the service's schedule enforces its
    /// maintenance windows or blackouts with an override
    /// ([`super::schedule::check_schedule`]), `override_reason` says why the
    /// change goes ahead anyway, and is recorded.
    Schedule {
        /// The window.
        window: Window,
        /// Why a conflict the schedule lets be overridden is overridden.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        override_reason: Option<Text>,
    },
    /// Start implementing.
    Start,
    /// Finish one stage of a phased roll-out.
    AdvanceStage,
    /// End of the first implementation attempt.
    Complete {
        /// The outcome.
        outcome: crate::classify::ChangeOutcome,
        /// The remediation.
        remediation: crate::classify::Remediation,
    },
    /// Post-implementation review.
    Review {
        /// Verdict.
        verdict: super::common::ReviewVerdict,
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

impl NormalCommand {
    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            NormalCommand::Create(_) => "create",
            NormalCommand::Submit => "submit",
            NormalCommand::Assess(_) => "assess",
            NormalCommand::Approve { .. } => "approve",
            NormalCommand::Reject { .. } => "reject",
            NormalCommand::Schedule { .. } => "schedule",
            NormalCommand::Start => "start",
            NormalCommand::AdvanceStage => "advance_stage",
            NormalCommand::Complete { .. } => "complete",
            NormalCommand::Review { .. } => "review",
            NormalCommand::Close => "close",
            NormalCommand::Cancel { .. } => "cancel",
        }
    }
}

/// Events a normal change records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NormalEvent {
    /// Draft created.
    Created {
        /// Tenant.
        tenant: TenantId,
        /// What.
        spec: ChangeSpec,
        /// When.
        at: Timestamp,
        /// Requester.
        by: ActorId,
    },
    /// Submitted.
    Submitted {
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Assessed, with the approval steps required.
    Assessed {
        /// The assessment.
        assessment: Assessment,
        /// Steps required.
        steps: Vec<ApprovalStep>,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// One approval cast.
    Approved {
        /// For which group.
        group: GroupId,
        /// When.
        at: Timestamp,
        /// Approver.
        by: ActorId,
    },
    /// Every step's quorum met.
    Authorized {
        /// When.
        at: Timestamp,
    },
    /// Rejected.
    Rejected {
        /// Group rejecting.
        group: GroupId,
        /// Why.
        reason: Text,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Scheduled.
    Scheduled {
        /// The window.
        window: Window,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
        /// The schedule conflicts overridden, and why.
        #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
        overridden: Option<super::schedule::ScheduleOverride>,
    },
    /// Implementation started.
    Started {
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// A phased stage finished.
    StageAdvanced {
        /// Stages done after this one.
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

impl NormalEvent {
    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            NormalEvent::Created { .. } => "created",
            NormalEvent::Submitted { .. } => "submitted",
            NormalEvent::Assessed { .. } => "assessed",
            NormalEvent::Approved { .. } => "approved",
            NormalEvent::Authorized { .. } => "authorized",
            NormalEvent::Rejected { .. } => "rejected",
            NormalEvent::Scheduled { .. } => "scheduled",
            NormalEvent::Started { .. } => "started",
            NormalEvent::StageAdvanced { .. } => "stage_advanced",
            NormalEvent::Completed { .. } => "completed",
            NormalEvent::Reviewed { .. } => "reviewed",
            NormalEvent::Closed { .. } => "closed",
            NormalEvent::Cancelled { .. } => "cancelled",
        }
    }

    /// When it happened.
    pub fn at(&self) -> Timestamp {
        match self {
            NormalEvent::Created { at, .. }
            | NormalEvent::Submitted { at, .. }
            | NormalEvent::Assessed { at, .. }
            | NormalEvent::Approved { at, .. }
            | NormalEvent::Authorized { at }
            | NormalEvent::Rejected { at, .. }
            | NormalEvent::Scheduled { at, .. }
            | NormalEvent::Started { at, .. }
            | NormalEvent::StageAdvanced { at, .. }
            | NormalEvent::Closed { at, .. }
            | NormalEvent::Cancelled { at, .. } => *at,
            NormalEvent::Completed { completion, .. } => completion.completed_at,
            NormalEvent::Reviewed { review } => review.at,
        }
    }
}

/// Why a change command was refused (all three change machines share it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// Not allowed in this state.
    #[error("cannot {command} {kind} {id}: it is {state}")]
    InvalidTransition {
        /// Which machine.
        kind: AggregateKind,
        /// The change.
        id: crate::id::ChangeId,
        /// Its state.
        state: &'static str,
        /// The command.
        command: &'static str,
    },
    /// Allowed in this state, but the data is not.
    #[error("cannot {command} {kind} {id} ({state}): {reason}")]
    Invalid {
        /// Which machine.
        kind: AggregateKind,
        /// The change.
        id: crate::id::ChangeId,
        /// Its state.
        state: &'static str,
        /// The command.
        command: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Separation of duties or group membership refused an approval.
    #[error("cannot {command} {kind} {id} ({state}): {source}")]
    Approval {
        /// Which machine.
        kind: AggregateKind,
        /// The change.
        id: crate::id::ChangeId,
        /// Its state.
        state: &'static str,
        /// The command.
        command: &'static str,
        /// The refusal.
        source: super::approval::ApprovalError,
    },
    /// No role permits it.
    #[error("{actor} may not {command} {kind} {id} ({state}): no role permits it")]
    Forbidden {
        /// Which machine.
        kind: AggregateKind,
        /// The change.
        id: crate::id::ChangeId,
        /// Its state (`absent` before creation).
        state: &'static str,
        /// Who asked.
        actor: ActorId,
        /// The command.
        command: &'static str,
    },
    /// Missing (or another tenant's).
    #[error("cannot {command}: {kind} does not exist")]
    NotFound {
        /// Which machine.
        kind: AggregateKind,
        /// The command.
        command: &'static str,
    },
    /// The service's schedule refused the window, or asks for an override
    /// reason ([`super::schedule::check_schedule`]).
    #[error("cannot {command} {kind} {id} ({state}): {refusal}")]
    Schedule {
        /// Which machine.
        kind: AggregateKind,
        /// The change.
        id: crate::id::ChangeId,
        /// Its state.
        state: &'static str,
        /// The command.
        command: &'static str,
        /// The refusal, naming the conflicts.
        refusal: super::schedule::ScheduleRefusal,
    },
    /// A creation command on an existing change.
    #[error("cannot {command} {kind} {id}: it already exists ({state})")]
    AlreadyExists {
        /// Which machine.
        kind: AggregateKind,
        /// The creation command.
        command: &'static str,
        /// The change.
        id: crate::id::ChangeId,
        /// Its state.
        state: &'static str,
    },
}

/// The normal change machine's transition table.
pub const TRANSITIONS: &[Transition] = &[
    t("draft", "submit", "submitted"),
    t("submitted", "assess", "assessed"),
    t("submitted", "assess", "authorized"),
    t("assessed", "approve", "assessed"),
    t("assessed", "approve", "authorized"),
    t("assessed", "reject", "rejected"),
    t("authorized", "schedule", "scheduled"),
    t("scheduled", "schedule", "scheduled"),
    t("scheduled", "start", "implementing"),
    t("implementing", "advance_stage", "implementing"),
    t("implementing", "complete", "completed"),
    t("completed", "review", "reviewed"),
    t("reviewed", "close", "closed"),
    t("draft", "cancel", "cancelled"),
    t("submitted", "cancel", "cancelled"),
    t("assessed", "cancel", "cancelled"),
    t("authorized", "cancel", "cancelled"),
    t("scheduled", "cancel", "cancelled"),
];

/// The normal change machine as a Mermaid state diagram.
pub fn diagram() -> String {
    crate::machine::mermaid("Normal change", &["draft"], &["closed", "rejected", "cancelled"], TRANSITIONS)
}

impl NormalChange {
    /// What is changed.
    pub fn spec(&self) -> &ChangeSpec {
        &self.spec
    }
    /// Who requested it.
    pub fn requester(&self) -> &ActorId {
        &self.requester
    }
    /// The state with its data.
    pub fn state(&self) -> &NormalState {
        &self.state
    }
    /// The fieldless status.
    pub fn status(&self) -> NormalStatus {
        self.state.status()
    }

    /// The implementer, once assessed.
    pub fn implementer(&self) -> Option<&ActorId> {
        self.assessment().map(|a| &a.implementer)
    }

    /// The assessment, once assessed.
    pub fn assessment(&self) -> Option<&Assessment> {
        match &self.state {
            NormalState::Assessed(a) => Some(&a.assessment),
            NormalState::Authorized(p) | NormalState::Scheduled(p) => Some(&p.assessment),
            NormalState::Implementing(i) => Some(&i.plan.assessment),
            NormalState::Completed(d) => Some(&d.plan.assessment),
            NormalState::Reviewed(r) | NormalState::Closed(r) => Some(&r.done.plan.assessment),
            NormalState::Draft | NormalState::Submitted | NormalState::Rejected(_) | NormalState::Cancelled(_) => None,
        }
    }

    /// The scheduled window, once scheduled.
    pub fn window(&self) -> Option<Window> {
        match &self.state {
            NormalState::Authorized(p) | NormalState::Scheduled(p) => p.window,
            NormalState::Implementing(i) => i.plan.window,
            NormalState::Completed(d) => d.plan.window,
            NormalState::Reviewed(r) | NormalState::Closed(r) => r.done.plan.window,
            NormalState::Draft
            | NormalState::Submitted
            | NormalState::Assessed(_)
            | NormalState::Rejected(_)
            | NormalState::Cancelled(_) => None,
        }
    }

    /// The completion, once completed.
    pub fn completion(&self) -> Option<&Completion> {
        match &self.state {
            NormalState::Completed(d) => Some(&d.completion),
            NormalState::Reviewed(r) | NormalState::Closed(r) => Some(&r.done.completion),
            NormalState::Draft
            | NormalState::Submitted
            | NormalState::Assessed(_)
            | NormalState::Authorized(_)
            | NormalState::Rejected(_)
            | NormalState::Scheduled(_)
            | NormalState::Implementing(_)
            | NormalState::Cancelled(_) => None,
        }
    }

    /// The metrics record.
    pub fn to_record(&self) -> ChangeRecord {
        let started = match &self.state {
            NormalState::Implementing(i) => Some(i.started_at),
            NormalState::Draft
            | NormalState::Submitted
            | NormalState::Assessed(_)
            | NormalState::Authorized(_)
            | NormalState::Rejected(_)
            | NormalState::Scheduled(_)
            | NormalState::Completed(_)
            | NormalState::Reviewed(_)
            | NormalState::Closed(_)
            | NormalState::Cancelled(_) => None,
        };
        record(&self.spec, ChangeType::Normal, self.submitted_at, self.window(), started, self.completion())
    }

    fn reject(&self, command: &NormalCommand) -> ChangeError {
        ChangeError::InvalidTransition {
            kind: AggregateKind::NormalChange,
            id: self.spec.id.clone(),
            state: self.status().as_str(),
            command: command.name(),
        }
    }

    fn invalid(&self, command: &NormalCommand, reason: impl Into<String>) -> ChangeError {
        ChangeError::Invalid {
            kind: AggregateKind::NormalChange,
            id: self.spec.id.clone(),
            state: self.status().as_str(),
            command: command.name(),
            reason: reason.into(),
        }
    }

    fn schedule_refused(&self, command: &NormalCommand, refusal: super::schedule::ScheduleRefusal) -> ChangeError {
        ChangeError::Schedule {
            kind: AggregateKind::NormalChange,
            id: self.spec.id.clone(),
            state: self.status().as_str(),
            command: command.name(),
            refusal,
        }
    }

    fn decide_existing(&self, command: &NormalCommand, ctx: &Context<'_>) -> Result<Vec<NormalEvent>, ChangeError> {
        use NormalState as S;
        super::precheck(
            ctx,
            AggregateKind::NormalChange,
            &self.spec.id,
            self.status().as_str(),
            &self.tenant,
            command.name(),
            self.last_event_at,
        )?;
        let at = ctx.now;
        let by = ctx.actor.id.clone();
        let state = &self.state;
        let events = match command {
            NormalCommand::Create(_) => {
                return Err(ChangeError::AlreadyExists {
                    kind: AggregateKind::NormalChange,
                    command: command.name(),
                    id: self.spec.id.clone(),
                    state: self.status().as_str(),
                });
            }
            NormalCommand::Submit => match state {
                S::Draft => vec![NormalEvent::Submitted { at, by }],
                S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            NormalCommand::Assess(assessment) => match state {
                S::Submitted => {
                    if assessment.backout_plan.as_str().trim().is_empty() {
                        return Err(self.invalid(command, "a backout plan is mandatory before authorization"));
                    }
                    let steps = ctx.config.approvals.steps(ChangeType::Normal, assessment.risk).to_vec();
                    let mut events =
                        vec![NormalEvent::Assessed { assessment: assessment.clone(), steps: steps.clone(), at, by }];
                    if steps.is_empty() {
                        events.push(NormalEvent::Authorized { at });
                    }
                    events
                }
                S::Draft
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            NormalCommand::Approve { group } => match state {
                S::Assessed(approvals) => {
                    self.check_vote(command, ctx, group, approvals)?;
                    let mut votes = approvals.votes.clone();
                    votes.entry(group.clone()).or_default().insert(by.clone());
                    let mut events = vec![NormalEvent::Approved { group: group.clone(), at, by }];
                    if quorum_met(
                        &ctx.config.approvals,
                        &approvals.steps,
                        &votes,
                        &self.requester,
                        Some(&approvals.assessment.implementer),
                    ) {
                        events.push(NormalEvent::Authorized { at });
                    }
                    events
                }
                S::Draft
                | S::Submitted
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            NormalCommand::Reject { group, reason } => match state {
                S::Assessed(approvals) => {
                    self.check_vote(command, ctx, group, approvals)?;
                    vec![NormalEvent::Rejected { group: group.clone(), reason: reason.clone(), at, by }]
                }
                S::Draft
                | S::Submitted
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            NormalCommand::Schedule { window, override_reason } => match state {
                S::Authorized(_) | S::Scheduled(_) => {
                    if window.end <= window.start {
                        return Err(self.invalid(command, "the window must end after it starts"));
                    }
                    let overridden = super::schedule::check_schedule(
                        &self.spec.service,
                        window,
                        &ctx.config.schedules,
                        override_reason.as_ref(),
                    )
                    .map_err(|refusal| self.schedule_refused(command, refusal))?;
                    vec![NormalEvent::Scheduled { window: *window, at, by, overridden }]
                }
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Rejected(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            NormalCommand::Start => match state {
                S::Scheduled(plan) => {
                    if plan.approvals.values().any(|voters| voters.contains(&by)) {
                        return Err(
                            self.invalid(command, format!("{by} approved this change and may not implement it"))
                        );
                    }
                    vec![NormalEvent::Started { at, by }]
                }
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            NormalCommand::AdvanceStage => match state {
                S::Implementing(implementation) => {
                    let stages_done = self
                        .spec
                        .strategy
                        .next_stage(implementation.stages_done)
                        .map_err(|reason| self.invalid(command, reason))?;
                    vec![NormalEvent::StageAdvanced { stages_done, at, by }]
                }
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            NormalCommand::Complete { outcome, remediation } => match state {
                S::Implementing(implementation) => {
                    let completion = Completion::checked(implementation.started_at, at, *outcome, *remediation)
                        .map_err(|reason| self.invalid(command, reason))?;
                    vec![NormalEvent::Completed { completion, by }]
                }
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            NormalCommand::Review { verdict, notes } => match state {
                S::Completed(_) => {
                    vec![NormalEvent::Reviewed { review: Review { verdict: *verdict, notes: notes.clone(), at, by } }]
                }
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            NormalCommand::Close => match state {
                S::Reviewed(_) => vec![NormalEvent::Closed { at, by }],
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Closed(_)
                | S::Cancelled(_) => return Err(self.reject(command)),
            },
            NormalCommand::Cancel { reason } => match state {
                S::Draft | S::Submitted | S::Assessed(_) | S::Authorized(_) | S::Scheduled(_) => {
                    vec![NormalEvent::Cancelled { reason: reason.clone(), at, by }]
                }
                S::Rejected(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
        };
        Ok(events)
    }

    fn check_vote(
        &self,
        command: &NormalCommand,
        ctx: &Context<'_>,
        group: &GroupId,
        approvals: &Approvals,
    ) -> Result<(), ChangeError> {
        check_approver(
            &ctx.config.approvals,
            ctx.actor,
            group,
            &approvals.steps,
            &self.requester,
            Some(&approvals.assessment.implementer),
        )
        .map_err(|source| ChangeError::Approval {
            kind: AggregateKind::NormalChange,
            id: self.spec.id.clone(),
            state: self.status().as_str(),
            command: command.name(),
            source,
        })?;
        if approvals.votes.get(group).is_some_and(|v| v.contains(&ctx.actor.id)) {
            return Err(ChangeError::Approval {
                kind: AggregateKind::NormalChange,
                id: self.spec.id.clone(),
                state: self.status().as_str(),
                command: command.name(),
                source: super::approval::ApprovalError::AlreadyApproved {
                    approver: ctx.actor.id.clone(),
                    group: group.clone(),
                },
            });
        }
        Ok(())
    }

    /// Applies one event to an existing normal change. The fold is strict:
    /// each event applies only in the states where `decide` emits it, and any
    /// other (state, event) pair is an [`ApplyError`] naming the kind, the
    /// state and the event.
    fn applied(mut self, event: &NormalEvent) -> Result<Self, ApplyError> {
        use NormalEvent as E;
        use NormalState as S;
        let status = self.status().as_str();
        let fail = || ApplyError { kind: AggregateKind::NormalChange, state: status, event: event.name() };
        self.last_event_at = self.last_event_at.max(event.at());
        self.state = match (self.state, event) {
            (
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Created { .. },
            ) => return Err(fail()),

            (S::Draft, E::Submitted { at, .. }) => {
                self.submitted_at = Some(*at);
                S::Submitted
            }
            (
                S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Submitted { .. },
            ) => return Err(fail()),

            (S::Submitted, E::Assessed { assessment, steps, .. }) => {
                S::Assessed(Approvals { assessment: assessment.clone(), steps: steps.clone(), votes: BTreeMap::new() })
            }
            (
                S::Draft
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Assessed { .. },
            ) => return Err(fail()),

            (S::Assessed(mut a), E::Approved { group, by, .. }) => {
                a.votes.entry(group.clone()).or_default().insert(by.clone());
                S::Assessed(a)
            }
            (
                S::Draft
                | S::Submitted
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Approved { .. },
            ) => return Err(fail()),

            // Follows the assessment (no step required) or the vote meeting the quorum.
            (S::Assessed(a), E::Authorized { .. }) => {
                S::Authorized(Plan { assessment: a.assessment, approvals: a.votes, window: None })
            }
            (
                S::Draft
                | S::Submitted
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Authorized { .. },
            ) => return Err(fail()),

            (S::Assessed(_), E::Rejected { reason, at, by, .. }) => {
                S::Rejected(Ended { reason: reason.clone(), at: *at, by: by.clone() })
            }
            (
                S::Draft
                | S::Submitted
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Rejected { .. },
            ) => return Err(fail()),

            // A first window, or another one.
            (S::Authorized(mut p) | S::Scheduled(mut p), E::Scheduled { window, .. }) => {
                p.window = Some(*window);
                S::Scheduled(p)
            }
            (
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Rejected(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Scheduled { .. },
            ) => return Err(fail()),

            (S::Scheduled(plan), E::Started { at, .. }) => {
                S::Implementing(Implementation { plan, started_at: *at, stages_done: 0 })
            }
            (
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Started { .. },
            ) => return Err(fail()),

            (S::Implementing(mut i), E::StageAdvanced { stages_done, .. }) => {
                i.stages_done = *stages_done;
                S::Implementing(i)
            }
            (
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::StageAdvanced { .. },
            ) => return Err(fail()),

            (S::Implementing(i), E::Completed { completion, .. }) => {
                S::Completed(Done { plan: i.plan, completion: completion.clone() })
            }
            (
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Completed { .. },
            ) => return Err(fail()),

            (S::Completed(done), E::Reviewed { review }) => S::Reviewed(Reviewed { done, review: review.clone() }),
            (
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Reviewed { .. },
            ) => return Err(fail()),

            (S::Reviewed(r), E::Closed { .. }) => S::Closed(r),
            (
                S::Draft
                | S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Closed(_)
                | S::Cancelled(_),
                E::Closed { .. },
            ) => return Err(fail()),

            (
                S::Draft | S::Submitted | S::Assessed(_) | S::Authorized(_) | S::Scheduled(_),
                E::Cancelled { reason, at, by },
            ) => S::Cancelled(Ended { reason: reason.clone(), at: *at, by: by.clone() }),
            (
                S::Rejected(_) | S::Implementing(_) | S::Completed(_) | S::Reviewed(_) | S::Closed(_) | S::Cancelled(_),
                E::Cancelled { .. },
            ) => return Err(fail()),
        };
        Ok(self)
    }
}

impl Aggregate for NormalChange {
    const KIND: AggregateKind = AggregateKind::NormalChange;
    type Command = NormalCommand;
    type Event = NormalEvent;
    type Error = ChangeError;

    fn decide(
        state: Option<&Self>,
        command: &NormalCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<NormalEvent>, ChangeError> {
        match (state, command) {
            (Some(change), command) => change.decide_existing(command, ctx),
            (None, NormalCommand::Create(spec)) => {
                if !ctx.config.permissions.permits(ctx.actor, AggregateKind::NormalChange, "create") {
                    return Err(ChangeError::Forbidden {
                        kind: AggregateKind::NormalChange,
                        id: spec.id.clone(),
                        state: "absent",
                        actor: ctx.actor.id.clone(),
                        command: "create",
                    });
                }
                spec.strategy.validate().map_err(|reason| ChangeError::Invalid {
                    kind: AggregateKind::NormalChange,
                    id: spec.id.clone(),
                    state: "absent",
                    command: "create",
                    reason,
                })?;
                Ok(vec![NormalEvent::Created {
                    tenant: ctx.actor.tenant.clone(),
                    spec: spec.clone(),
                    at: ctx.now,
                    by: ctx.actor.id.clone(),
                }])
            }
            (None, command) => {
                Err(ChangeError::NotFound { kind: AggregateKind::NormalChange, command: command.name() })
            }
        }
    }

    fn apply(state: Option<Self>, event: &NormalEvent) -> Result<Self, ApplyError> {
        match (state, event) {
            (None, NormalEvent::Created { tenant, spec, at, by }) => Ok(NormalChange {
                spec: spec.clone(),
                tenant: tenant.clone(),
                requester: by.clone(),
                created_at: *at,
                submitted_at: None,
                last_event_at: *at,
                state: NormalState::Draft,
            }),
            (None, other) => {
                Err(ApplyError { kind: AggregateKind::NormalChange, state: "absent", event: other.name() })
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
        Summary {
            status: self.status().as_str(),
            terminal: matches!(
                self.state,
                NormalState::Closed(_) | NormalState::Rejected(_) | NormalState::Cancelled(_)
            ),
            service: Some(self.spec.service.clone()),
            priority: None,
            assignee: self.implementer().cloned(),
            group: None,
            window: self.window().map(|w| (w.start, w.end)),
            title: self.spec.title.as_str().to_owned(),
            requester: Some(self.requester.clone()),
            opened_at: self.created_at,
            major: false,
        }
    }

    fn event_name(event: &NormalEvent) -> &'static str {
        event.name()
    }

    fn command_name(command: &NormalCommand) -> &'static str {
        command.name()
    }

    fn outbox(state: &Self, events: &[NormalEvent]) -> Vec<OutboxMessage> {
        super::notifications(AggregateKind::NormalChange, &state.spec, events.iter().map(|e| (e.name(), e.at())))
    }
}

impl crate::aggregate::Refusal for ChangeError {
    fn refusal(&self) -> crate::aggregate::RefusalKind {
        use crate::aggregate::RefusalKind;
        match self {
            ChangeError::InvalidTransition { .. } | ChangeError::Approval { .. } | ChangeError::Schedule { .. } => {
                RefusalKind::Rules
            }
            ChangeError::Invalid { .. } => RefusalKind::Invalid,
            ChangeError::Forbidden { .. } => RefusalKind::Forbidden,
            ChangeError::NotFound { .. } => RefusalKind::NotFound,
            ChangeError::AlreadyExists { .. } => RefusalKind::AlreadyExists,
        }
    }
}
