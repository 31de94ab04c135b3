//! Changes: standard, normal and emergency, each its own state machine, with
//! the approval policy, implementation strategies, windows, blackouts and
//! conflict detection.

pub mod approval;
pub mod common;
pub mod emergency;
pub mod normal;
pub mod schedule;
pub mod standard;

pub use approval::{ApprovalError, ApprovalPolicy, ApprovalStep, Quorum};
pub use common::{Assessment, ChangeSpec, Completion, Review, ReviewVerdict, Stage, Strategy, Window};
pub use emergency::{EmergencyChange, EmergencyCommand, EmergencyEvent, EmergencyState};
pub use normal::{ChangeError, NormalChange, NormalCommand, NormalEvent, NormalState};
pub use standard::{StandardCatalog, StandardChange, StandardCommand, StandardEvent, StandardState};

use crate::actor::AggregateKind;
use crate::aggregate::OutboxMessage;
use crate::time::Timestamp;

/// The precheck every change machine makes, mapped to [`ChangeError`].
fn precheck(
    ctx: &crate::aggregate::Context<'_>,
    kind: AggregateKind,
    id: &crate::id::ChangeId,
    state: &'static str,
    tenant: &crate::id::TenantId,
    command: &'static str,
    last_event_at: Timestamp,
) -> Result<(), ChangeError> {
    use crate::aggregate::Precheck;
    ctx.precheck(kind, tenant, command, last_event_at).map_err(|p| match p {
        Precheck::OtherTenant => ChangeError::NotFound { kind, command },
        Precheck::Forbidden => {
            ChangeError::Forbidden { kind, id: id.clone(), state, actor: ctx.actor.id.clone(), command }
        }
        Precheck::TimeWentBack(reason) => ChangeError::Invalid { kind, id: id.clone(), state, command, reason },
    })
}

/// Stakeholder notifications for change events (Table 8 levels 3-4: affected
/// units and all stakeholders are notified automatically).
fn notifications<'a>(
    kind: AggregateKind,
    spec: &ChangeSpec,
    events: impl Iterator<Item = (&'a str, Timestamp)>,
) -> Vec<OutboxMessage> {
    events
        .filter(|(name, _)| {
            matches!(*name, "authorized" | "scheduled" | "started" | "completed" | "rejected" | "recorded")
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
