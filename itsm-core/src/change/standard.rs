//! The standard change machine: a pre-approved template from the catalogue,
//! no approval step.
//!
//! New -> Scheduled -> Implementing -> Completed -> (Reviewed) -> Closed;
//! cancellable before implementation. The review is optional for standard
//! changes (the template was reviewed when it was approved).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::common::{ChangeSpec, Completion, Ended, Review, Stamp, Window};
use super::error::ChangeError;
use super::tail::{self, Position, Stepped, TailStates, tail_command, tail_event};
use crate::actor::AggregateKind;
use crate::aggregate::Context;
use crate::id::{ActorId, TemplateId, TenantId};
use crate::machine::Transition;
use crate::records::ChangeRecord;
use crate::time::Timestamp;
use crate::vocabulary::ChangeType;

tail::change_status! {
    /// The standard change's state without its data.
    StandardStatus {
        /// Created from a template.
        New => "new",
        /// Scheduled.
        Scheduled => "scheduled",
    }
}

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

/// A pre-approved standard-change template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardTemplate {
    /// What the template does.
    pub title: String,
    /// The backout plan approved with the template.
    pub backout_plan: String,
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

super::change_aggregate!(StandardChange, StandardChange, StandardCommand, StandardEvent);

tail::change_commands! {
    [scheduled]
    /// Commands a standard change accepts.
    pub enum StandardCommand {
        /// Create from a catalogue template.
        Create {
            /// What.
            spec: ChangeSpec,
            /// The template.
            template: TemplateId,
        } => "create",
    }
}

tail::change_events! {
    [scheduled]
    /// Events a standard change records.
    pub enum StandardEvent {
        /// Created.
        Created {
            /// Tenant.
            tenant: TenantId,
            /// What.
            spec: ChangeSpec,
            /// Template.
            template: TemplateId,
            /// When it was created.
            at: Timestamp,
            /// Requester.
            by: ActorId,
        } => "created",
    }
}

/// The standard change machine's transition table.
pub const TRANSITIONS: &[Transition] = tail::transitions! {
    schedule: ["new", "scheduled"],
    close: ["completed", "reviewed"],
    start: "scheduled",
    cancel: ["new", "scheduled"],
    own: [],
};

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
            None,
        )
    }

    /// What the projection lists: the implementer, the window, the opening.
    fn listed(&self) -> (Option<&ActorId>, Option<(Timestamp, Timestamp)>, Timestamp) {
        (self.implementer(), self.window().map(|w| (w.start, w.end)), self.created_at)
    }

    /// Decides a command on a change not created yet.
    fn create(command: &StandardCommand, ctx: &Context<'_>) -> Result<Vec<StandardEvent>, ChangeError> {
        let StandardCommand::Create { spec, template } = command else {
            return Err(ChangeError::NotFound { kind: AggregateKind::StandardChange, command: command.name() });
        };
        let refuse = super::creating(AggregateKind::StandardChange, spec, "create", ctx)?;
        if !ctx.config.standard_catalog.templates.contains_key(template) {
            return Err(refuse.invalid(format!("template {template} is not in the pre-approved catalogue")));
        }
        spec.strategy.validate().map_err(|reason| refuse.invalid(reason))?;
        let Stamp { at, by } = Stamp::of(ctx);
        let tenant = ctx.actor.tenant.clone();
        Ok(vec![StandardEvent::Created { tenant, spec: spec.clone(), template: template.clone(), at, by }])
    }

    /// The change a creating event starts (`None` for any other event).
    fn created(event: &StandardEvent) -> Option<Self> {
        let StandardEvent::Created { tenant, spec, template, at, by } = event else { return None };
        Some(StandardChange {
            spec: spec.clone(),
            template: template.clone(),
            tenant: tenant.clone(),
            requester: by.clone(),
            created_at: *at,
            last_event_at: *at,
            state: StandardState::New,
        })
    }

    fn decide_existing(&self, command: &StandardCommand, ctx: &Context<'_>) -> Result<Vec<StandardEvent>, ChangeError> {
        use StandardCommand as C;
        let refuse = self.refuse(command);
        super::precheck(ctx, &refuse, &self.tenant, self.last_event_at)?;
        let event = match command {
            C::Create { .. } => return Err(refuse.exists()),
            C::Schedule { window, override_reason } => {
                tail::schedule(&self.tail(), window, override_reason.as_ref(), &refuse, ctx)?.into()
            }
            tail_command!(C) => tail::decide(&self.tail(), command.tail(), &refuse, ctx)?.into(),
        };
        Ok(vec![event])
    }

    /// Applies one event to an existing standard change. The fold is strict:
    /// each event applies only in the states where `decide` emits it, and any
    /// other (state, event) pair is refused (`false`, reported as an
    /// `ApplyError` naming the kind, the state and the event). Every event but the creation is the execution
    /// tail's, matched against the state's [`Position`] by [`tail::apply`].
    fn applied(&mut self, event: &StandardEvent) -> bool {
        use StandardEvent as E;
        match event {
            E::Scheduled { window, .. } => tail::scheduled(&mut self.state, *window),
            tail_event!(E) => tail::apply(&mut self.state, event.tail()),
            // The creation follows no state.
            E::Created { .. } => false,
        }
    }

    /// The change as the execution tail's commands see it: pre-approved, so
    /// no approver is kept from implementing it.
    fn tail(&self) -> tail::View<'_> {
        tail::View {
            spec: &self.spec,
            position: self.state.position(),
            review_required: StandardState::REVIEW_REQUIRED,
            votes: None,
            unreviewable: None,
        }
    }
}

/// Where each state stands on the execution tail, and how the tail's events
/// move its data: the window and the implementer go along, the review is
/// optional.
impl TailStates for StandardState {
    const REVIEW_REQUIRED: bool = false;
    const PARKED: Self = StandardState::New;

    fn position(&self) -> Position {
        match self {
            StandardState::New => Position::Schedulable,
            StandardState::Scheduled { .. } => Position::Ready,
            StandardState::Implementing { started_at, stages_done, .. } => {
                Position::Implementing { started_at: *started_at, stages_done: *stages_done }
            }
            StandardState::Completed { .. } => Position::Completed,
            StandardState::Reviewed { .. } => Position::Reviewed,
            StandardState::Closed { .. } => Position::Closed,
            StandardState::Cancelled(_) => Position::Ended,
        }
    }

    /// A first window, or another one.
    fn scheduled(&mut self, window: Window) -> bool {
        let (StandardState::New | StandardState::Scheduled { .. }) = self else { return false };
        *self = StandardState::Scheduled { window };
        true
    }

    fn started(&mut self, at: Timestamp, by: &ActorId) -> bool {
        let StandardState::Scheduled { window } = *self else { return false };
        *self = StandardState::Implementing { window, started_at: at, implementer: by.clone(), stages_done: 0 };
        true
    }

    fn stage_advanced(&mut self, stages_done: usize) -> bool {
        let StandardState::Implementing { stages_done: done, .. } = self else { return false };
        *done = stages_done;
        true
    }

    fn completed(&mut self, completion: &Completion) -> bool {
        tail::step(self, |state| {
            let StandardState::Implementing { window, implementer, .. } = state else { return Stepped::Back(state) };
            Stepped::Next(StandardState::Completed { window, implementer, completion: completion.clone() })
        })
    }

    fn reviewed(&mut self, review: &Review) -> bool {
        tail::step(self, |state| {
            let StandardState::Completed { window, implementer, completion } = state else {
                return Stepped::Back(state);
            };
            Stepped::Next(StandardState::Reviewed { window, implementer, completion, review: review.clone() })
        })
    }

    /// From completed without a review, or from reviewed with one.
    fn closed(&mut self) -> bool {
        tail::step(self, |state| match state {
            StandardState::Completed { window, implementer, completion } => {
                Stepped::Next(StandardState::Closed { window, implementer, completion, review: None })
            }
            StandardState::Reviewed { window, implementer, completion, review } => {
                Stepped::Next(StandardState::Closed { window, implementer, completion, review: Some(review) })
            }
            StandardState::New
            | StandardState::Scheduled { .. }
            | StandardState::Implementing { .. }
            | StandardState::Closed { .. }
            | StandardState::Cancelled(_) => Stepped::Back(state),
        })
    }

    fn cancelled(&mut self, ended: Ended) -> bool {
        *self = StandardState::Cancelled(ended);
        true
    }
}
