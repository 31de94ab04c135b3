//! Changes: standard, normal and emergency, each its own state machine, with
//! the approval policy, implementation strategies, windows, blackouts and
//! conflict detection.

pub mod approval;
pub mod common;
pub mod emergency;
mod error;
pub mod normal;
pub mod schedule;
pub mod standard;
mod tail;

pub use approval::{ApprovalError, ApprovalPolicy, ApprovalStep, Quorum};
pub use common::{Assessment, ChangeSpec, Completion, Ended, Review, ReviewVerdict, Stage, Stamp, Strategy, Window};
pub use emergency::{EmergencyChange, EmergencyCommand, EmergencyEvent, EmergencyState};
pub use error::ChangeError;
pub use normal::{NormalChange, NormalCommand, NormalEvent, NormalState};
pub use standard::{StandardCatalog, StandardChange, StandardCommand, StandardEvent, StandardState};

use crate::actor::AggregateKind;
use crate::aggregate::{Context, OutboxMessage};
use crate::id::TenantId;
use crate::time::Timestamp;
use error::Refuse;

/// The precheck every change machine makes on an existing change, mapped to
/// [`ChangeError`].
fn precheck(
    ctx: &Context<'_>,
    refuse: &Refuse<'_>,
    tenant: &TenantId,
    last_event_at: Timestamp,
) -> Result<(), ChangeError> {
    use crate::aggregate::Precheck;
    ctx.precheck(refuse.kind, tenant, refuse.command, last_event_at).map_err(|p| match p {
        Precheck::OtherTenant => refuse.not_found(),
        Precheck::Forbidden => refuse.forbidden(&ctx.actor.id),
        Precheck::TimeWentBack(reason) => refuse.invalid(reason),
    })
}

/// The refusals of a command creating the change `spec` describes, once the
/// actor is found permitted to issue it.
fn creating<'a>(
    kind: AggregateKind,
    spec: &'a ChangeSpec,
    command: &'static str,
    ctx: &Context<'_>,
) -> Result<Refuse<'a>, ChangeError> {
    let refuse = Refuse { kind, id: &spec.id, state: "absent", command };
    if !ctx.config.permissions.permits(ctx.actor, kind, command) {
        return Err(refuse.forbidden(&ctx.actor.id));
    }
    Ok(refuse)
}

/// Writes the [`crate::aggregate::Aggregate`] implementation of the change
/// machine `$change` (aggregate kind `$kind`), alike for the three: `decide`
/// and `apply` hand an existing change to its `decide_existing` and
/// `applied` (`None`: the event does not follow its state, an
/// [`crate::aggregate::ApplyError`] naming kind, state and event), and a
/// missing one to its `create` and `created`; the summary takes the
/// assignee, window and opening instant from its `listed`. It also writes
/// `refuse`, the refusals of a command on the change in its state.
macro_rules! change_aggregate {
    ($change:ident, $kind:ident, $command:ident, $event:ident) => {
        impl $change {
            /// The refusals of `command` on this change in its state.
            fn refuse(&self, command: &$command) -> $crate::change::error::Refuse<'_> {
                $crate::change::error::Refuse {
                    kind: $crate::actor::AggregateKind::$kind,
                    id: &self.spec.id,
                    state: self.status().as_str(),
                    command: command.name(),
                }
            }
        }

        impl $crate::aggregate::Aggregate for $change {
            const KIND: $crate::actor::AggregateKind = $crate::actor::AggregateKind::$kind;
            type Command = $command;
            type Event = $event;
            type Error = $crate::change::ChangeError;

            fn decide(
                state: Option<&Self>,
                command: &$command,
                ctx: &$crate::aggregate::Context<'_>,
            ) -> Result<Vec<$event>, $crate::change::ChangeError> {
                match state {
                    Some(change) => change.decide_existing(command, ctx),
                    None => Self::create(command, ctx),
                }
            }

            fn apply(state: Option<Self>, event: &$event) -> Result<Self, $crate::aggregate::ApplyError> {
                let refused = |state: &'static str| $crate::aggregate::ApplyError {
                    kind: $crate::actor::AggregateKind::$kind,
                    state,
                    event: event.name(),
                };
                match state {
                    Some(mut change) => {
                        let status = change.status().as_str();
                        if !change.applied(event) {
                            return Err(refused(status));
                        }
                        change.last_event_at = change.last_event_at.max(event.at());
                        Ok(change)
                    }
                    None => Self::created(event).ok_or_else(|| refused("absent")),
                }
            }

            fn id(&self) -> &str {
                self.spec.id.as_str()
            }

            fn tenant(&self) -> &$crate::id::TenantId {
                &self.tenant
            }

            fn record(&self) -> Option<$crate::records::Record> {
                Some($crate::records::Record::Change(self.to_record()))
            }

            fn summary(&self) -> $crate::aggregate::Summary {
                use $crate::change::tail::TailStates as _;
                let (assignee, window, opened_at) = self.listed();
                $crate::aggregate::Summary {
                    status: self.status().as_str(),
                    terminal: self.state.position().terminal(),
                    service: Some(self.spec.service.clone()),
                    priority: None,
                    assignee: assignee.cloned(),
                    group: None,
                    window,
                    title: self.spec.title.as_str().to_owned(),
                    requester: Some(self.requester.clone()),
                    opened_at,
                    major: false,
                }
            }

            fn event_name(event: &$event) -> &'static str {
                event.name()
            }

            fn command_name(command: &$command) -> &'static str {
                command.name()
            }

            fn outbox(state: &Self, events: &[$event]) -> Vec<$crate::aggregate::OutboxMessage> {
                $crate::change::notifications(
                    $crate::actor::AggregateKind::$kind,
                    &state.spec,
                    events.iter().map(|e| (e.name(), e.at())),
                )
            }
        }
    };
}
use change_aggregate;

/// Stakeholder notifications for change events (Table 8 levels 3-4: affected
/// units and all stakeholders are notified automatically).
fn notifications<'a>(
    kind: AggregateKind,
    spec: &ChangeSpec,
    events: impl Iterator<Item = (&'a str, Timestamp)>,
) -> Vec<OutboxMessage> {
    events
        .filter(|(name, _)| {
            matches!(
                *name,
                "authorized"
                    | "scheduled"
                    | "started"
                    | "completed"
                    | "rolled_back_automatically"
                    | "rejected"
                    | "recorded"
            )
        })
        .map(|(name, at)| OutboxMessage {
            topic: "notify.stakeholders".to_owned(),
            dedup_key: format!("{}:{}:{}", spec.id, name, at),
            payload: serde_json::json!({
                "change": spec.id,
                "type": kind.as_str(),
                "service": spec.service,
                "event": name,
                "at": at,
            }),
        })
        .collect()
}
