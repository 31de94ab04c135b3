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
pub use super::common::Ended;
use super::common::{Assessment, ChangeSpec, Completion, Review, Stamp, Window, record};
pub use super::error::ChangeError;
use super::error::Refuse;
use super::tail::{self, Position, Stepped, TailStates, tail_command, tail_event};
use crate::actor::AggregateKind;
use crate::aggregate::Context;
use crate::id::{ActorId, GroupId, TenantId};
use crate::machine::{Transition, t};
use crate::records::ChangeRecord;
use crate::time::Timestamp;
use crate::vocabulary::ChangeType;

tail::change_status! {
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
    }
}

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
    /// When every approval step's quorum was met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorized_at: Option<Timestamp>,
    last_event_at: Timestamp,
    state: NormalState,
}

super::change_aggregate!(NormalChange, NormalChange, NormalCommand, NormalEvent);

tail::change_commands! {
    [approvals, scheduled]
    /// Commands a normal change accepts.
    pub enum NormalCommand {
        /// Create a draft; the actor is the requester.
        Create(ChangeSpec) => "create",
        /// Submit for assessment.
        Submit => "submit",
        /// Assess: risk, impact, backout plan, implementer.
        Assess(Assessment) => "assess",
    }
}

tail::change_events! {
    [approvals, scheduled]
    /// Events a normal change records.
    pub enum NormalEvent {
        /// Draft created.
        Created {
            /// Tenant.
            tenant: TenantId,
            /// What.
            spec: ChangeSpec,
            /// When it was created.
            at: Timestamp,
            /// Requester.
            by: ActorId,
        } => "created",
        /// Submitted.
        Submitted {
            /// When it was submitted.
            at: Timestamp,
            /// Who submitted it.
            by: ActorId,
        } => "submitted",
        /// Assessed, with the approval steps required.
        Assessed {
            /// The assessment.
            assessment: Assessment,
            /// Steps required.
            steps: Vec<ApprovalStep>,
            /// When it was assessed.
            at: Timestamp,
            /// Who assessed it.
            by: ActorId,
        } => "assessed",
    }
}

/// The normal change machine's transition table.
pub const TRANSITIONS: &[Transition] = tail::transitions! {
    schedule: ["authorized", "scheduled"],
    close: ["reviewed"],
    start: "scheduled",
    cancel: ["draft", "submitted", "assessed", "authorized", "scheduled"],
    own: [
        t("draft", "submit", "submitted"),
        t("submitted", "assess", "assessed"),
        t("submitted", "assess", "authorized"),
        t("assessed", "approve", "assessed"),
        t("assessed", "approve", "authorized"),
        t("assessed", "reject", "rejected"),
    ],
};

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
        record(
            &self.spec,
            ChangeType::Normal,
            self.submitted_at,
            self.window(),
            started,
            self.completion(),
            self.authorized_at,
        )
    }

    /// What the projection lists: the implementer, the window, the opening.
    fn listed(&self) -> (Option<&ActorId>, Option<(Timestamp, Timestamp)>, Timestamp) {
        (self.implementer(), self.window().map(|w| (w.start, w.end)), self.created_at)
    }

    /// Decides a command on a change not created yet.
    fn create(command: &NormalCommand, ctx: &Context<'_>) -> Result<Vec<NormalEvent>, ChangeError> {
        let NormalCommand::Create(spec) = command else {
            return Err(ChangeError::NotFound { kind: AggregateKind::NormalChange, command: command.name() });
        };
        let refuse = super::creating(AggregateKind::NormalChange, spec, "create", ctx)?;
        spec.strategy.validate().map_err(|reason| refuse.invalid(reason))?;
        let Stamp { at, by } = Stamp::of(ctx);
        Ok(vec![NormalEvent::Created { tenant: ctx.actor.tenant.clone(), spec: spec.clone(), at, by }])
    }

    /// The change a creating event starts (`None` for any other event).
    fn created(event: &NormalEvent) -> Option<Self> {
        let NormalEvent::Created { tenant, spec, at, by } = event else { return None };
        Some(NormalChange {
            spec: spec.clone(),
            tenant: tenant.clone(),
            requester: by.clone(),
            created_at: *at,
            submitted_at: None,
            authorized_at: None,
            last_event_at: *at,
            state: NormalState::Draft,
        })
    }

    fn decide_existing(&self, command: &NormalCommand, ctx: &Context<'_>) -> Result<Vec<NormalEvent>, ChangeError> {
        use NormalCommand as C;
        use NormalState as S;
        let refuse = self.refuse(command);
        super::precheck(ctx, &refuse, &self.tenant, self.last_event_at)?;
        let at = ctx.now;
        let by = ctx.actor.id.clone();
        let state = &self.state;
        let events = match command {
            C::Create(_) => return Err(refuse.exists()),
            C::Submit => match state {
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
                | S::Cancelled(_) => return Err(refuse.transition()),
            },
            C::Assess(assessment) => match state {
                S::Submitted => {
                    if assessment.backout_plan.as_str().trim().is_empty() {
                        return Err(refuse.invalid("a backout plan is mandatory before authorization"));
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
                | S::Cancelled(_) => return Err(refuse.transition()),
            },
            C::Approve { group } => match state {
                S::Assessed(approvals) => {
                    self.check_vote(&refuse, ctx, group, approvals)?;
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
                | S::Cancelled(_) => return Err(refuse.transition()),
            },
            C::Reject { group, reason } => match state {
                S::Assessed(approvals) => {
                    self.check_vote(&refuse, ctx, group, approvals)?;
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
                | S::Cancelled(_) => return Err(refuse.transition()),
            },
            C::Schedule { window, override_reason } => {
                vec![tail::schedule(&self.tail(), window, override_reason.as_ref(), &refuse, ctx)?.into()]
            }
            tail_command!(C) => vec![tail::decide(&self.tail(), command.tail(), &refuse, ctx)?.into()],
        };
        Ok(events)
    }

    fn check_vote(
        &self,
        refuse: &Refuse<'_>,
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
        .map_err(|source| refuse.approval(source))?;
        if approvals.votes.get(group).is_some_and(|v| v.contains(&ctx.actor.id)) {
            return Err(refuse.approval(super::approval::ApprovalError::AlreadyApproved {
                approver: ctx.actor.id.clone(),
                group: group.clone(),
            }));
        }
        Ok(())
    }

    /// Applies one event to an existing normal change. The fold is strict:
    /// each event applies only in the states where `decide` emits it, and any
    /// other (state, event) pair is refused (`false`, reported as an
    /// `ApplyError` naming the kind, the state and the event). The execution tail's events (`scheduled` on) are
    /// matched against the state's [`Position`] by [`tail::apply`].
    fn applied(&mut self, event: &NormalEvent) -> bool {
        use NormalEvent as E;
        use NormalState as S;
        match event {
            E::Scheduled { window, .. } => tail::scheduled(&mut self.state, *window),
            tail_event!(E) => tail::apply(&mut self.state, event.tail()),

            E::Created { .. } => false,

            E::Submitted { at, .. } => match self.state {
                S::Draft => {
                    self.submitted_at = Some(*at);
                    self.state = S::Submitted;
                    true
                }
                S::Submitted
                | S::Assessed(_)
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_) => false,
            },

            E::Assessed { assessment, steps, .. } => match self.state {
                S::Submitted => {
                    self.state = S::Assessed(Approvals {
                        assessment: assessment.clone(),
                        steps: steps.clone(),
                        votes: BTreeMap::new(),
                    });
                    true
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
                | S::Cancelled(_) => false,
            },

            E::Approved { group, by, .. } => match &mut self.state {
                S::Assessed(a) => {
                    a.votes.entry(group.clone()).or_default().insert(by.clone());
                    true
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
                | S::Cancelled(_) => false,
            },

            // Follows the assessment (no step required) or the vote meeting the quorum.
            E::Authorized { at } => match std::mem::replace(&mut self.state, S::Draft) {
                S::Assessed(a) => {
                    self.state = S::Authorized(Plan { assessment: a.assessment, approvals: a.votes, window: None });
                    self.authorized_at = Some(*at);
                    true
                }
                other @ (S::Draft
                | S::Submitted
                | S::Authorized(_)
                | S::Rejected(_)
                | S::Scheduled(_)
                | S::Implementing(_)
                | S::Completed(_)
                | S::Reviewed(_)
                | S::Closed(_)
                | S::Cancelled(_)) => {
                    self.state = other;
                    false
                }
            },

            E::Rejected { reason, at, by, .. } => match self.state {
                S::Assessed(_) => {
                    self.state = S::Rejected(Ended { reason: reason.clone(), at: *at, by: by.clone() });
                    true
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
                | S::Cancelled(_) => false,
            },
        }
    }

    /// The change as the execution tail's commands see it: a scheduled
    /// change's approvers may not implement it.
    fn tail(&self) -> tail::View<'_> {
        let votes = match &self.state {
            NormalState::Scheduled(plan) => Some(&plan.approvals),
            NormalState::Draft
            | NormalState::Submitted
            | NormalState::Assessed(_)
            | NormalState::Authorized(_)
            | NormalState::Rejected(_)
            | NormalState::Implementing(_)
            | NormalState::Completed(_)
            | NormalState::Reviewed(_)
            | NormalState::Closed(_)
            | NormalState::Cancelled(_) => None,
        };
        tail::View {
            spec: &self.spec,
            position: self.state.position(),
            review_required: NormalState::REVIEW_REQUIRED,
            votes,
            unreviewable: None,
        }
    }
}

/// Where each state stands on the execution tail, and how the tail's events
/// move its data: the plan goes along, the review is mandatory.
impl TailStates for NormalState {
    const REVIEW_REQUIRED: bool = true;
    const PARKED: Self = NormalState::Draft;

    fn position(&self) -> Position {
        match self {
            NormalState::Draft | NormalState::Submitted | NormalState::Assessed(_) => Position::Preparing,
            NormalState::Authorized(_) => Position::Schedulable,
            NormalState::Scheduled(_) => Position::Ready,
            NormalState::Implementing(i) => {
                Position::Implementing { started_at: i.started_at, stages_done: i.stages_done }
            }
            NormalState::Completed(_) => Position::Completed,
            NormalState::Reviewed(_) => Position::Reviewed,
            NormalState::Closed(_) => Position::Closed,
            NormalState::Rejected(_) | NormalState::Cancelled(_) => Position::Ended,
        }
    }

    /// A first window, or another one.
    fn scheduled(&mut self, window: Window) -> bool {
        tail::step(self, |state| {
            let (NormalState::Authorized(mut plan) | NormalState::Scheduled(mut plan)) = state else {
                return Stepped::Back(state);
            };
            plan.window = Some(window);
            Stepped::Next(NormalState::Scheduled(plan))
        })
    }

    fn started(&mut self, at: Timestamp, _by: &ActorId) -> bool {
        tail::step(self, |state| {
            let NormalState::Scheduled(plan) = state else { return Stepped::Back(state) };
            Stepped::Next(NormalState::Implementing(Implementation { plan, started_at: at, stages_done: 0 }))
        })
    }

    fn stage_advanced(&mut self, stages_done: usize) -> bool {
        let NormalState::Implementing(implementation) = self else { return false };
        implementation.stages_done = stages_done;
        true
    }

    fn completed(&mut self, completion: &Completion) -> bool {
        tail::step(self, |state| {
            let NormalState::Implementing(implementation) = state else { return Stepped::Back(state) };
            Stepped::Next(NormalState::Completed(Done { plan: implementation.plan, completion: completion.clone() }))
        })
    }

    fn reviewed(&mut self, review: &Review) -> bool {
        tail::step(self, |state| {
            let NormalState::Completed(done) = state else { return Stepped::Back(state) };
            Stepped::Next(NormalState::Reviewed(Reviewed { done, review: review.clone() }))
        })
    }

    fn closed(&mut self) -> bool {
        tail::step(self, |state| {
            let NormalState::Reviewed(reviewed) = state else { return Stepped::Back(state) };
            Stepped::Next(NormalState::Closed(reviewed))
        })
    }

    fn cancelled(&mut self, ended: Ended) -> bool {
        *self = NormalState::Cancelled(ended);
        true
    }
}
