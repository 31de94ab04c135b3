//! Versioned configuration rows and due instants: the pure half of what the
//! store keeps with every command (the SQL half is in [`crate::core`]).

use itsm_core::sla::{DueEscalation, SlaEvent};
use itsm_core::versioned::{Configuration, DomainConfigHistory, Versioned};
use itsm_core::{AggregateKind, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StoreError;

/// One stored configuration version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ConfigRow {
    pub config: String,
    pub version: i64,
    pub effective_from: crate::dialect::DbTime,
    pub value: String,
}

fn add<T: Configuration + DeserializeOwned>(
    history: &mut itsm_core::versioned::ConfigHistory<T>,
    row: &ConfigRow,
) -> Result<(), StoreError> {
    let key = format!("{} version {}", row.config, row.version);
    let value: T = serde_json::from_str(&row.value).map_err(|e| StoreError::corrupt("configuration", &key, e))?;
    let version = u32::try_from(row.version).map_err(|e| StoreError::corrupt("configuration", &key, e))?;
    history
        .add(Versioned::new(version, row.effective_from.0, value))
        .map_err(|e| StoreError::corrupt("configuration", &key, e))
}

/// Rebuilds a tenant's configuration history from its rows (any order of
/// configurations, versions ascending within each).
pub(crate) fn history(rows: &[ConfigRow]) -> Result<DomainConfigHistory, StoreError> {
    let mut h = DomainConfigHistory::default();
    for row in rows {
        match row.config.as_str() {
            "sla_policy" => add(&mut h.sla_policies, row)?,
            "calendar" => add(&mut h.calendars, row)?,
            "escalation_rules" => add(&mut h.escalation_rules, row)?,
            "priority_matrix" => add(&mut h.priority_matrices, row)?,
            "approval_policy" => add(&mut h.approval_policies, row)?,
            "standard_catalog" => add(&mut h.standard_catalogs, row)?,
            "service_schedules" => add(&mut h.service_schedules, row)?,
            "service_model" => add(&mut h.service_models, row)?,
            other => return Err(StoreError::corrupt("configuration", other, "unknown configuration")),
        }
    }
    Ok(h)
}

/// A configuration value that can be stored as a version.
pub trait Storable: Configuration + Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Adds `version` to its history in `h` (validated: see
    /// [`itsm_core::versioned::ConfigHistory::add`]).
    fn add_to(h: &mut DomainConfigHistory, version: Versioned<Self>) -> Result<(), itsm_core::versioned::VersionError>;
}

macro_rules! storable {
    ($t:ty, $field:ident) => {
        impl Storable for $t {
            fn add_to(
                h: &mut DomainConfigHistory,
                version: Versioned<Self>,
            ) -> Result<(), itsm_core::versioned::VersionError> {
                h.$field.add(version)
            }
        }
    };
}

storable!(itsm_core::SlaPolicy, sla_policies);
storable!(itsm_core::Calendar, calendars);
storable!(itsm_core::sla::EscalationRules, escalation_rules);
storable!(itsm_core::vocabulary::PriorityMatrix, priority_matrices);
storable!(itsm_core::change::ApprovalPolicy, approval_policies);
storable!(itsm_core::change::StandardCatalog, standard_catalogs);
storable!(Vec<itsm_core::change::schedule::ServiceSchedule>, service_schedules);
storable!(itsm_core::service::ServiceModel, service_models);

/// The clock of an aggregate as stored: its SLA events as JSON.
pub(crate) fn parse_clock(kind: AggregateKind, id: &str, text: &str) -> Result<Vec<SlaEvent>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt("clock", format!("{kind} {id}"), e))
}

/// What a command leaves of an aggregate's clock: the events, the instant
/// up to which due marks are handled, and the next due instant.
#[derive(Debug, Clone)]
pub(crate) struct ClockState {
    /// The clock's events as JSON.
    pub clock: String,
    /// Handled up to (the opening until the runner marks more).
    pub handled: Timestamp,
    /// The earliest deadline, threshold or escalation level after `handled`.
    pub due: Option<Timestamp>,
    /// When the first deadline is or was breached.
    pub breach: Option<Timestamp>,
    /// Whether the last resolution clock met its target (`None` while it
    /// runs, or when no SLA applies): the metrics record's verdict.
    pub resolution: Option<bool>,
}

/// A clock's next due instant and breach instant from one evaluation of its
/// marks as of `now`, under the configuration versions in force when each
/// cycle started ([`DomainConfigHistory::due_marks`]): the earliest deadline,
/// warning threshold or escalation level strictly after `handled`
/// ([`DomainConfigHistory::next_due_after`]), and the earliest deadline
/// ([`DomainConfigHistory::breach_at`]). Both `None` when no SLA applies.
pub(crate) fn due_and_breach(
    config: &DomainConfigHistory,
    kind: AggregateKind,
    id: &str,
    events: &[SlaEvent],
    now: Timestamp,
    handled: Timestamp,
) -> Result<(Option<Timestamp>, Option<Timestamp>), StoreError> {
    let marks =
        config.due_marks(events, now).map_err(|source| StoreError::Clock { kind, id: id.to_owned(), source })?;
    let due = marks.iter().map(|d| d.at).find(|&at| at > handled);
    Ok((due, itsm_core::versioned::breach_of(&marks)))
}

/// The instant a clock's due marks count from: what the runner handled, or
/// for a clock no runner has touched its first event (the opening).
pub(crate) fn handled_from(handled: Option<Timestamp>, events: &[SlaEvent], now: Timestamp) -> Timestamp {
    handled.or_else(|| events.first().map(SlaEvent::at)).unwrap_or(now)
}

/// The clock after `new` events: the stored events (if any) extended, the
/// handled instant kept (a new clock starts handled at its first event), the
/// due instant recomputed.
pub(crate) fn advance(
    config: &DomainConfigHistory,
    kind: AggregateKind,
    id: &str,
    mut events: Vec<SlaEvent>,
    new: Vec<SlaEvent>,
    handled: Option<Timestamp>,
    now: Timestamp,
) -> Result<ClockState, StoreError> {
    events.extend(new);
    let handled = handled_from(handled, &events, now);
    let (due, breach) = due_and_breach(config, kind, id, &events, now, handled)?;
    let clock = serde_json::to_string(&events).map_err(|source| StoreError::Serialize {
        what: "clock",
        id: id.to_owned(),
        source,
    })?;
    let resolution =
        config.resolution_met(&events, now).map_err(|source| StoreError::Clock { kind, id: id.to_owned(), source })?;
    Ok(ClockState { clock, handled, due, breach, resolution })
}

/// The escalations due on an aggregate's clock at `now` under the versions
/// its current cycle runs under ([`DomainConfigHistory::clock_config_for`]),
/// every one that became due up to `now` (a runner that was down catches
/// up; the store records each id once). Empty when no SLA or no escalation
/// rules apply, and for kinds without escalations (only incidents have them).
pub(crate) fn escalations_due(
    config: &DomainConfigHistory,
    kind: AggregateKind,
    id: &str,
    events: &[SlaEvent],
    now: Timestamp,
) -> Result<Vec<DueEscalation>, StoreError> {
    if kind != AggregateKind::Incident {
        return Ok(Vec::new());
    }
    let Ok(Some(clock)) = config.clock_config_for(events, now) else {
        return Ok(Vec::new());
    };
    let Some(rules) = clock.rules else {
        return Ok(Vec::new());
    };
    let incident = itsm_core::id::IncidentId::new(id).map_err(|e| StoreError::corrupt("incident id", id, e))?;
    match itsm_core::sla::due_escalations(
        &incident,
        events,
        &clock.policy.value,
        &rules.value,
        &clock.calendar.value,
        now,
    ) {
        Err(itsm_core::SlaError::NoTarget { .. }) => Ok(Vec::new()),
        other => other.map_err(|source| StoreError::Clock { kind, id: id.to_owned(), source }),
    }
}
