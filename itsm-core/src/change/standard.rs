//! The standard change machine: a pre-approved template from the catalogue,
//! no approval step.
//!
//! New -> Scheduled -> Implementing -> Completed -> (Reviewed) -> Closed;
//! cancellable before implementation. The review is optional for standard
//! changes (the template was reviewed when it was approved).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::common::{ChangeSpec, Completion, Review, ReviewVerdict, Window};
use super::normal::{ChangeError, Ended};
use crate::actor::AggregateKind;
use crate::aggregate::{Aggregate, ApplyError, Context, OutboxMessage, Summary};
use crate::classify::{ChangeOutcome, ChangeType, Remediation, text_enum};
use crate::id::{ActorId, TemplateId, TenantId, Text};
use crate::machine::{Transition, t};
use crate::records::ChangeRecord;
use crate::time::Timestamp;

/// A pre-approved standard-change template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardTemplate {
    /// What the template does.
    pub title: String,
    /// The backout plan approved with the template.
    pub backout_plan: String,
}

/// The catalogue of pre-approved templates, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardCatalog {
    /// Templates by id.
    pub templates: BTreeMap<TemplateId, StandardTemplate>,
}

impl Default for StandardCatalog {
    /// A few common templates: service restart, OS patch, certificate renewal.
    fn default() -> Self {
        let mut templates = BTreeMap::new();
        for (id, title, backout) in [
            ("restart-service", "Restart a service instance", "start the previous instance again"),
            ("os-patch", "Apply a vendor OS patch", "uninstall the patch"),
            ("cert-renewal", "Renew a TLS certificate", "reinstall the previous certificate"),
        ] {
            if let Ok(id) = TemplateId::new(id) {
                templates.insert(id, StandardTemplate { title: title.to_owned(), backout_plan: backout.to_owned() });
            }
        }
        StandardCatalog { templates }
    }
}

text_enum!(
    /// The standard change's state without its data.
    StandardStatus {
        /// Created from a template.
        New => "new",
        /// Scheduled.
        Scheduled => "scheduled",
        /// Implementing.
        Implementing => "implementing",
        /// First attempt ended.
        Completed => "completed",
        /// Reviewed.
        Reviewed => "reviewed",
        /// Closed; terminal.
        Closed => "closed",
        /// Cancelled; terminal.
        Cancelled => "cancelled",
    }
);

/// The standard change's state with its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StandardState {
    /// Created.
    New,
    /// Scheduled in a window.
    Scheduled {
        /// The window.
        window: Window,
    },
    /// Implementing.
    Implementing {
        /// The window.
        window: Window,
        /// When it started.
        started_at: Timestamp,
        /// Who implements it.
        implementer: ActorId,
        /// Phased stages done.
        stages_done: usize,
    },
    /// Completed.
    Completed {
        /// The window.
        window: Window,
        /// Who implemented it.
        implementer: ActorId,
        /// The completion.
        completion: Completion,
    },
    /// Reviewed.
    Reviewed {
        /// The window.
        window: Window,
        /// Who implemented it.
        implementer: ActorId,
        /// The completion.
        completion: Completion,
        /// The review.
        review: Review,
    },
    /// Closed.
    Closed {
        /// The window.
        window: Window,
        /// Who implemented it.
        implementer: ActorId,
        /// The completion.
        completion: Completion,
        /// The review, if one was made.
        review: Option<Review>,
    },
    /// Cancelled.
    Cancelled(Ended),
}

impl StandardState {
    /// The fieldless status.
    pub fn status(&self) -> StandardStatus {
        match self {
            StandardState::New => StandardStatus::New,
            StandardState::Scheduled { .. } => StandardStatus::Scheduled,
            StandardState::Implementing { .. } => StandardStatus::Implementing,
            StandardState::Completed { .. } => StandardStatus::Completed,
            StandardState::Reviewed { .. } => StandardStatus::Reviewed,
            StandardState::Closed { .. } => StandardStatus::Closed,
            StandardState::Cancelled(_) => StandardStatus::Cancelled,
        }
    }
}

/// A standard change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardChange {
    spec: ChangeSpec,
    template: TemplateId,
    tenant: TenantId,
    requester: ActorId,
    created_at: Timestamp,
    last_event_at: Timestamp,
    state: StandardState,
}

/// Commands a standard change accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum StandardCommand {
    /// Create from a catalogue template.
    Create {
        /// What.
        spec: ChangeSpec,
        /// The template.
        template: TemplateId,
    },
    /// Schedule in a window (with an override reason where the service's
    /// schedule asks for one: [`super::schedule::check_schedule`]).
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
    /// End of the first attempt.
    Complete {
        /// Outcome.
        outcome: ChangeOutcome,
        /// Remediation.
        remediation: Remediation,
    },
    /// Optional review.
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

impl StandardCommand {
    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            StandardCommand::Create { .. } => "create",
            StandardCommand::Schedule { .. } => "schedule",
            StandardCommand::Start => "start",
            StandardCommand::AdvanceStage => "advance_stage",
            StandardCommand::Complete { .. } => "complete",
            StandardCommand::Review { .. } => "review",
            StandardCommand::Close => "close",
            StandardCommand::Cancel { .. } => "cancel",
        }
    }
}

/// Events a standard change records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StandardEvent {
    /// Created.
    Created {
        /// Tenant.
        tenant: TenantId,
        /// What.
        spec: ChangeSpec,
        /// Template.
        template: TemplateId,
        /// When.
        at: Timestamp,
        /// Requester.
        by: ActorId,
    },
    /// Scheduled.
    Scheduled {
        /// Window.
        window: Window,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
        /// The schedule conflicts overridden, and why.
        #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
        overridden: Option<super::schedule::ScheduleOverride>,
    },
    /// Started.
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
        /// Completion.
        completion: Completion,
        /// By whom.
        by: ActorId,
    },
    /// Reviewed.
    Reviewed {
        /// Review.
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

impl StandardEvent {
    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            StandardEvent::Created { .. } => "created",
            StandardEvent::Scheduled { .. } => "scheduled",
            StandardEvent::Started { .. } => "started",
            StandardEvent::StageAdvanced { .. } => "stage_advanced",
            StandardEvent::Completed { .. } => "completed",
            StandardEvent::Reviewed { .. } => "reviewed",
            StandardEvent::Closed { .. } => "closed",
            StandardEvent::Cancelled { .. } => "cancelled",
        }
    }

    /// When it happened.
    pub fn at(&self) -> Timestamp {
        match self {
            StandardEvent::Created { at, .. }
            | StandardEvent::Scheduled { at, .. }
            | StandardEvent::Started { at, .. }
            | StandardEvent::StageAdvanced { at, .. }
            | StandardEvent::Closed { at, .. }
            | StandardEvent::Cancelled { at, .. } => *at,
            StandardEvent::Completed { completion, .. } => completion.completed_at,
            StandardEvent::Reviewed { review } => review.at,
        }
    }
}

/// The standard change machine's transition table.
pub const TRANSITIONS: &[Transition] = &[
    t("new", "schedule", "scheduled"),
    t("scheduled", "schedule", "scheduled"),
    t("scheduled", "start", "implementing"),
    t("implementing", "advance_stage", "implementing"),
    t("implementing", "complete", "completed"),
    t("completed", "review", "reviewed"),
    t("completed", "close", "closed"),
    t("reviewed", "close", "closed"),
    t("new", "cancel", "cancelled"),
    t("scheduled", "cancel", "cancelled"),
];

/// The standard change machine as a Mermaid state diagram.
pub fn diagram() -> String {
    crate::machine::mermaid("Standard change", &["new"], &["closed", "cancelled"], TRANSITIONS)
}

impl StandardChange {
    /// What is changed.
    pub fn spec(&self) -> &ChangeSpec {
        &self.spec
    }
    /// The template it came from.
    pub fn template(&self) -> &TemplateId {
        &self.template
    }
    /// The state with its data.
    pub fn state(&self) -> &StandardState {
        &self.state
    }
    /// The fieldless status.
    pub fn status(&self) -> StandardStatus {
        self.state.status()
    }

    fn window(&self) -> Option<Window> {
        match &self.state {
            StandardState::Scheduled { window }
            | StandardState::Implementing { window, .. }
            | StandardState::Completed { window, .. }
            | StandardState::Reviewed { window, .. }
            | StandardState::Closed { window, .. } => Some(*window),
            StandardState::New | StandardState::Cancelled(_) => None,
        }
    }

    fn implementer(&self) -> Option<&ActorId> {
        match &self.state {
            StandardState::Implementing { implementer, .. }
            | StandardState::Completed { implementer, .. }
            | StandardState::Reviewed { implementer, .. }
            | StandardState::Closed { implementer, .. } => Some(implementer),
            StandardState::New | StandardState::Scheduled { .. } | StandardState::Cancelled(_) => None,
        }
    }

    /// The metrics record.
    pub fn to_record(&self) -> ChangeRecord {
        let (started, completion) = match &self.state {
            StandardState::Implementing { started_at, .. } => (Some(*started_at), None),
            StandardState::Completed { completion, .. }
            | StandardState::Reviewed { completion, .. }
            | StandardState::Closed { completion, .. } => (None, Some(completion)),
            StandardState::New | StandardState::Scheduled { .. } | StandardState::Cancelled(_) => (None, None),
        };
        super::common::record(
            &self.spec,
            ChangeType::Standard,
            Some(self.created_at),
            self.window(),
            started,
            completion,
        )
    }

    fn reject(&self, command: &StandardCommand) -> ChangeError {
        ChangeError::InvalidTransition {
            kind: AggregateKind::StandardChange,
            id: self.spec.id.clone(),
            state: self.status().as_str(),
            command: command.name(),
        }
    }

    fn invalid(&self, command: &StandardCommand, reason: impl Into<String>) -> ChangeError {
        ChangeError::Invalid {
            kind: AggregateKind::StandardChange,
            id: self.spec.id.clone(),
            state: self.status().as_str(),
            command: command.name(),
            reason: reason.into(),
        }
    }

    fn decide_existing(&self, command: &StandardCommand, ctx: &Context<'_>) -> Result<Vec<StandardEvent>, ChangeError> {
        use StandardState as S;
        super::precheck(
            ctx,
            AggregateKind::StandardChange,
            &self.spec.id,
            self.status().as_str(),
            &self.tenant,
            command.name(),
            self.last_event_at,
        )?;
        let at = ctx.now;
        let by = ctx.actor.id.clone();
        let event = match command {
            StandardCommand::Create { .. } => {
                return Err(ChangeError::AlreadyExists {
                    kind: AggregateKind::StandardChange,
                    command: command.name(),
                    id: self.spec.id.clone(),
                    state: self.status().as_str(),
                });
            }
            StandardCommand::Schedule { window, override_reason } => match &self.state {
                S::New | S::Scheduled { .. } => {
                    if window.end <= window.start {
                        return Err(self.invalid(command, "the window must end after it starts"));
                    }
                    let overridden = super::schedule::check_schedule(
                        &self.spec.service,
                        window,
                        &ctx.config.schedules,
                        override_reason.as_ref(),
                    )
                    .map_err(|refusal| ChangeError::Schedule {
                        kind: AggregateKind::StandardChange,
                        id: self.spec.id.clone(),
                        state: self.status().as_str(),
                        command: command.name(),
                        refusal,
                    })?;
                    StandardEvent::Scheduled { window: *window, at, by, overridden }
                }
                S::Implementing { .. }
                | S::Completed { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            StandardCommand::Start => match &self.state {
                S::Scheduled { .. } => StandardEvent::Started { at, by },
                S::New
                | S::Implementing { .. }
                | S::Completed { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            StandardCommand::AdvanceStage => match &self.state {
                S::Implementing { stages_done, .. } => {
                    let stages_done =
                        self.spec.strategy.next_stage(*stages_done).map_err(|reason| self.invalid(command, reason))?;
                    StandardEvent::StageAdvanced { stages_done, at, by }
                }
                S::New
                | S::Scheduled { .. }
                | S::Completed { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            StandardCommand::Complete { outcome, remediation } => match &self.state {
                S::Implementing { started_at, .. } => {
                    let completion = Completion::checked(*started_at, at, *outcome, *remediation)
                        .map_err(|reason| self.invalid(command, reason))?;
                    StandardEvent::Completed { completion, by }
                }
                S::New
                | S::Scheduled { .. }
                | S::Completed { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            StandardCommand::Review { verdict, notes } => match &self.state {
                S::Completed { .. } => {
                    StandardEvent::Reviewed { review: Review { verdict: *verdict, notes: notes.clone(), at, by } }
                }
                S::New
                | S::Scheduled { .. }
                | S::Implementing { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            StandardCommand::Close => match &self.state {
                S::Completed { .. } | S::Reviewed { .. } => StandardEvent::Closed { at, by },
                S::New | S::Scheduled { .. } | S::Implementing { .. } | S::Closed { .. } | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            StandardCommand::Cancel { reason } => match &self.state {
                S::New | S::Scheduled { .. } => StandardEvent::Cancelled { reason: reason.clone(), at, by },
                S::Implementing { .. }
                | S::Completed { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
        };
        Ok(vec![event])
    }

    /// Applies one event to an existing standard change. The fold is strict:
    /// each event applies only in the states where `decide` emits it, and any
    /// other (state, event) pair is an [`ApplyError`] naming the kind, the
    /// state and the event.
    fn applied(mut self, event: &StandardEvent) -> Result<Self, ApplyError> {
        use StandardEvent as E;
        use StandardState as S;
        let status = self.status().as_str();
        let fail = || ApplyError { kind: AggregateKind::StandardChange, state: status, event: event.name() };
        self.last_event_at = self.last_event_at.max(event.at());
        self.state = match (self.state, event) {
            (
                S::New
                | S::Scheduled { .. }
                | S::Implementing { .. }
                | S::Completed { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Created { .. },
            ) => return Err(fail()),

            (S::New | S::Scheduled { .. }, E::Scheduled { window, .. }) => S::Scheduled { window: *window },
            (
                S::Implementing { .. } | S::Completed { .. } | S::Reviewed { .. } | S::Closed { .. } | S::Cancelled(_),
                E::Scheduled { .. },
            ) => return Err(fail()),

            (S::Scheduled { window }, E::Started { at, by }) => {
                S::Implementing { window, started_at: *at, implementer: by.clone(), stages_done: 0 }
            }
            (
                S::New
                | S::Implementing { .. }
                | S::Completed { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Started { .. },
            ) => return Err(fail()),

            (S::Implementing { window, started_at, implementer, .. }, E::StageAdvanced { stages_done, .. }) => {
                S::Implementing { window, started_at, implementer, stages_done: *stages_done }
            }
            (
                S::New
                | S::Scheduled { .. }
                | S::Completed { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::StageAdvanced { .. },
            ) => return Err(fail()),

            (S::Implementing { window, implementer, .. }, E::Completed { completion, .. }) => {
                S::Completed { window, implementer, completion: completion.clone() }
            }
            (
                S::New
                | S::Scheduled { .. }
                | S::Completed { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Completed { .. },
            ) => return Err(fail()),

            (S::Completed { window, implementer, completion }, E::Reviewed { review }) => {
                S::Reviewed { window, implementer, completion, review: review.clone() }
            }
            (
                S::New
                | S::Scheduled { .. }
                | S::Implementing { .. }
                | S::Reviewed { .. }
                | S::Closed { .. }
                | S::Cancelled(_),
                E::Reviewed { .. },
            ) => return Err(fail()),

            // The review is optional: a change closes from completed or reviewed.
            (S::Completed { window, implementer, completion }, E::Closed { .. }) => {
                S::Closed { window, implementer, completion, review: None }
            }
            (S::Reviewed { window, implementer, completion, review }, E::Closed { .. }) => {
                S::Closed { window, implementer, completion, review: Some(review) }
            }
            (
                S::New | S::Scheduled { .. } | S::Implementing { .. } | S::Closed { .. } | S::Cancelled(_),
                E::Closed { .. },
            ) => return Err(fail()),

            (S::New | S::Scheduled { .. }, E::Cancelled { reason, at, by }) => {
                S::Cancelled(Ended { reason: reason.clone(), at: *at, by: by.clone() })
            }
            (
                S::Implementing { .. } | S::Completed { .. } | S::Reviewed { .. } | S::Closed { .. } | S::Cancelled(_),
                E::Cancelled { .. },
            ) => return Err(fail()),
        };
        Ok(self)
    }
}

impl Aggregate for StandardChange {
    const KIND: AggregateKind = AggregateKind::StandardChange;
    type Command = StandardCommand;
    type Event = StandardEvent;
    type Error = ChangeError;

    fn decide(
        state: Option<&Self>,
        command: &StandardCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<StandardEvent>, ChangeError> {
        match (state, command) {
            (Some(change), command) => change.decide_existing(command, ctx),
            (None, StandardCommand::Create { spec, template }) => {
                let invalid = |reason: String| ChangeError::Invalid {
                    kind: AggregateKind::StandardChange,
                    id: spec.id.clone(),
                    state: "absent",
                    command: "create",
                    reason,
                };
                if !ctx.config.permissions.permits(ctx.actor, AggregateKind::StandardChange, "create") {
                    return Err(ChangeError::Forbidden {
                        kind: AggregateKind::StandardChange,
                        id: spec.id.clone(),
                        state: "absent",
                        actor: ctx.actor.id.clone(),
                        command: "create",
                    });
                }
                if !ctx.config.standard_catalog.templates.contains_key(template) {
                    return Err(invalid(format!("template {template} is not in the pre-approved catalogue")));
                }
                spec.strategy.validate().map_err(invalid)?;
                Ok(vec![StandardEvent::Created {
                    tenant: ctx.actor.tenant.clone(),
                    spec: spec.clone(),
                    template: template.clone(),
                    at: ctx.now,
                    by: ctx.actor.id.clone(),
                }])
            }
            (None, command) => {
                Err(ChangeError::NotFound { kind: AggregateKind::StandardChange, command: command.name() })
            }
        }
    }

    fn apply(state: Option<Self>, event: &StandardEvent) -> Result<Self, ApplyError> {
        match (state, event) {
            (None, StandardEvent::Created { tenant, spec, template, at, by }) => Ok(StandardChange {
                spec: spec.clone(),
                template: template.clone(),
                tenant: tenant.clone(),
                requester: by.clone(),
                created_at: *at,
                last_event_at: *at,
                state: StandardState::New,
            }),
            (None, other) => {
                Err(ApplyError { kind: AggregateKind::StandardChange, state: "absent", event: other.name() })
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
            terminal: matches!(self.state, StandardState::Closed { .. } | StandardState::Cancelled(_)),
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

    fn event_name(event: &StandardEvent) -> &'static str {
        event.name()
    }

    fn command_name(command: &StandardCommand) -> &'static str {
        command.name()
    }

    fn outbox(state: &Self, events: &[StandardEvent]) -> Vec<OutboxMessage> {
        super::notifications(AggregateKind::StandardChange, &state.spec, events.iter().map(|e| (e.name(), e.at())))
    }
}
