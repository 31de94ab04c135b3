//! The change calendar: the changes of one service whose windows touch a
//! period, each with its conflicts (overlapping changes of the service, its
//! implementer booked on another of them, outside the maintenance windows,
//! in a blackout), and the
//! service's blackouts in that period, from the schedules in force now (the
//! tenant's stored ones, as the store decides `schedule` with, else the
//! portal's configuration).

use chrono::{Datelike, Days, NaiveDate};
use itsm_core::change::Window;
use itsm_core::change::schedule::{self, Booking, Conflict, ServiceSchedule};
use itsm_core::id::{ChangeId, ServiceId};
use itsm_core::service::ServiceModel;
use itsm_core::{AggregateKind, Timestamp};
use itsm_store::ProjectionRow;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::auth::Authed;
use super::problem::ApiError;

/// A calendar's query: a service, and a week (any date in it; the week runs
/// Monday 00:00 to Monday 00:00 UTC) or an explicit `[from, to)`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarParams {
    /// The service (default: the first service with a schedule).
    pub service: Option<String>,
    /// A date (`YYYY-MM-DD`) in the week shown (default: this week).
    pub week: Option<String>,
    /// Start of the period (RFC 3339); with `to`, replaces `week`.
    pub from: Option<String>,
    /// End of the period (RFC 3339).
    pub to: Option<String>,
}

/// One change on the calendar.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The change as listed.
    #[serde(flatten)]
    pub row: ProjectionRow,
    /// Its conflicts (none for a terminal change: it no longer books its window).
    pub conflicts: Vec<Conflict>,
}

/// A blackout as instants.
#[derive(Debug, Clone, Serialize)]
pub struct BlackoutSpan {
    /// Start (inclusive).
    pub start: Timestamp,
    /// End (exclusive).
    pub end: Timestamp,
    /// Why.
    pub reason: String,
}

/// A service's calendar over a period.
#[derive(Debug, Clone, Serialize)]
pub struct Calendar {
    /// The service, when one was given or has a schedule.
    pub service: Option<ServiceId>,
    /// The services with a schedule in force.
    pub services: Vec<ServiceId>,
    /// Start of the period.
    pub from: Timestamp,
    /// End of the period.
    pub to: Timestamp,
    /// The changes whose windows touch the period, in window order.
    pub changes: Vec<Entry>,
    /// The service's blackouts touching the period.
    pub blackouts: Vec<BlackoutSpan>,
}

impl Calendar {
    /// The changes with at least one conflict.
    pub fn conflicting(&self) -> impl Iterator<Item = &Entry> {
        self.changes.iter().filter(|e| !e.conflicts.is_empty())
    }
}

/// The Monday (UTC) of the week holding `date`.
pub fn monday_of(date: NaiveDate) -> NaiveDate {
    date.checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday()))).unwrap_or(date)
}

fn midnight(date: NaiveDate) -> Result<Timestamp, ApiError> {
    date.and_hms_opt(0, 0, 0)
        .map(|t| Timestamp::from_utc(t.and_utc()))
        .filter(Timestamp::is_supported)
        .ok_or_else(|| ApiError::bad_request(format!("week: {date} is out of range")))
}

impl CalendarParams {
    /// The period `[from, to)` at `now`.
    pub fn period(&self, now: Timestamp) -> Result<(Timestamp, Timestamp), ApiError> {
        let parse = |field: &str, text: &str| {
            Timestamp::parse_rfc3339(text).map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
        };
        match (self.from.as_deref().filter(|t| !t.is_empty()), self.to.as_deref().filter(|t| !t.is_empty())) {
            (Some(from), Some(to)) => {
                let (from, to) = (parse("from", from)?, parse("to", to)?);
                if to <= from {
                    return Err(ApiError::bad_request("to must be after from"));
                }
                if to.seconds_since(from) > 92 * 86_400 {
                    return Err(ApiError::bad_request("a calendar spans at most 92 days"));
                }
                Ok((from, to))
            }
            (None, None) => {
                let date = match self.week.as_deref().filter(|t| !t.is_empty()) {
                    Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| {
                        ApiError::bad_request(format!("week: {text:?} is not a date (YYYY-MM-DD): {e}"))
                    })?,
                    None => now.as_utc().date_naive(),
                };
                let monday = monday_of(date);
                let next = monday
                    .checked_add_days(Days::new(7))
                    .ok_or_else(|| ApiError::bad_request(format!("week: {date} is out of range")))?;
                Ok((midnight(monday)?, midnight(next)?))
            }
            _ => Err(ApiError::bad_request("give both from and to, or neither")),
        }
    }
}

/// The tenant's change configuration in force now, read from one
/// configuration history.
pub struct InForce {
    /// The schedules: the tenant's stored ones, else the portal's.
    pub schedules: Vec<ServiceSchedule>,
    /// The tenant's stored service model, if any.
    pub model: Option<ServiceModel>,
}

/// The change configuration in force now ([`InForce`]).
pub async fn in_force_now(portal: &Shared, who: &Authed) -> Result<InForce, ApiError> {
    let history = portal.store.config_history(&who.actor.tenant).await?;
    let now = portal.now();
    Ok(InForce {
        schedules: match history.service_schedules.in_force_at(now) {
            Some(version) => version.value.clone(),
            None => portal.config.schedules.clone(),
        },
        model: history.service_models.in_force_at(now).map(|v| v.value.clone()),
    })
}

/// A change's booking as the conflict check sees it.
fn booking(row: &ProjectionRow) -> Option<Booking> {
    let (start, end) = row.window?;
    Some(Booking {
        change: ChangeId::new(&row.id).ok()?,
        service: row.service.clone()?,
        window: Window::new(start, end)?,
        implementer: row.assignee.clone(),
    })
}

/// The conflicts of every open change among `rows` with the open changes
/// among `others` (the changes around them of the same service and, with a
/// service `model`, of the other items of its business services; `rows` may
/// be among them) and with the schedules.
pub fn with_conflicts(
    rows: Vec<ProjectionRow>,
    others: &[ProjectionRow],
    schedules: &[ServiceSchedule],
    model: Option<&ServiceModel>,
) -> Vec<Entry> {
    let booked: Vec<Booking> = others.iter().filter(|r| !r.terminal).filter_map(booking).collect();
    rows.into_iter()
        .map(|row| {
            let conflicts = match (row.terminal, booking(&row)) {
                (false, Some(b)) => schedule::conflicts(&b, &booked, schedules, model),
                _ => Vec::new(),
            };
            Entry { row, conflicts }
        })
        .collect()
}

/// The changes of `service` whose windows touch `[from, to)`, each with its
/// conflicts: with every change its window overlaps, even one outside the
/// period, on the same service or (under the service model in force) on
/// another item of a business service `service` is part of, and with the
/// schedules in force.
pub async fn between(
    portal: &Shared,
    who: &Authed,
    service: &ServiceId,
    from: Timestamp,
    to: Timestamp,
    in_force: &InForce,
) -> Result<Vec<Entry>, ApiError> {
    let changes = |rows: Vec<ProjectionRow>| -> Vec<ProjectionRow> {
        rows.into_iter().filter(|r| r.kind != AggregateKind::Incident).collect()
    };
    let rows = changes(portal.store.change_calendar(&who.actor, service, from, to).await?);
    // A window crossing the period's edge may overlap a change outside it.
    let lo = rows.iter().filter_map(|r| r.window).map(|(s, _)| s).min().unwrap_or(from).min(from);
    let hi = rows.iter().filter_map(|r| r.window).map(|(_, e)| e).max().unwrap_or(to).max(to);
    let mut others = if lo < from || hi > to {
        changes(portal.store.change_calendar(&who.actor, service, lo, hi).await?)
    } else {
        rows.clone()
    };
    let model = in_force.model.as_ref();
    for related in model.map(|m| m.same_business_service(service)).unwrap_or_default() {
        others.extend(changes(portal.store.change_calendar(&who.actor, related, lo, hi).await?));
    }
    Ok(with_conflicts(rows, &others, &in_force.schedules, model))
}

/// A service's blackouts touching `[from, to)`, as instants.
pub fn blackouts(schedule: &ServiceSchedule, from: Timestamp, to: Timestamp) -> Vec<BlackoutSpan> {
    schedule
        .blackouts
        .iter()
        .filter_map(|b| {
            let (start, end) = b.instants(schedule.zone)?;
            (start < to && from < end).then(|| BlackoutSpan { start, end, reason: b.reason.clone() })
        })
        .collect()
}

/// The calendar for the actor (only the changes it may read).
pub async fn calendar(portal: &Shared, who: &Authed, params: &CalendarParams) -> Result<Calendar, ApiError> {
    let (from, to) = params.period(portal.now())?;
    let in_force = in_force_now(portal, who).await?;
    let services: Vec<ServiceId> = in_force.schedules.iter().map(|s| s.service.clone()).collect();
    let service = match params.service.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => Some(ServiceId::new(text).map_err(|e| ApiError::bad_request(format!("service: {e}")))?),
        None => services.first().cloned(),
    };
    let Some(service) = service else {
        return Ok(Calendar { service: None, services, from, to, changes: Vec::new(), blackouts: Vec::new() });
    };
    let changes = between(portal, who, &service, from, to, &in_force).await?;
    let blackouts =
        in_force.schedules.iter().filter(|s| s.service == service).flat_map(|s| blackouts(s, from, to)).collect();
    Ok(Calendar { service: Some(service), services, from, to, changes, blackouts })
}
