//! Change windows, blackout (freeze) periods and conflict detection.
//!
//! Each service may have a schedule in an IANA time zone: weekly maintenance
//! windows in local wall-clock time and blackout periods in local date-times.
//! A proposed change window conflicts when it overlaps another change on the
//! same service, is not inside the service's maintenance windows, touches a
//! blackout, or books its implementer twice. Windows are half-open, so
//! touching windows do not conflict. Local times are mapped to instants with
//! the zone's rules of that date, so a window across a DST change has the
//! length the wall clock gives it (01:00-04:00 on a spring-forward night is
//! two hours long).
//!
//! **Enforcement.** A schedule says what a window outside its maintenance
//! windows, and one touching a blackout, does to the `schedule` command of a
//! normal or standard change ([`ScheduleEnforcement`]): nothing (the
//! default), a recorded override with a reason ([`ScheduleOverride`], kept in
//! the `scheduled` event), or a refusal. [`check_schedule`] decides it, pure;
//! the store passes the tenant's stored schedules in
//! ([`crate::DomainConfig::schedules`]). Overlaps with other changes and
//! double-booked implementers stay warnings ([`conflicts`]): they need the
//! other changes, which a decision does not see.

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::common::Window;
use crate::id::{ActorId, ChangeId, ServiceId};
use crate::service::ServiceModel;
use crate::time::Timestamp;

/// Longest proposed window checked against maintenance windows; anything
/// longer cannot fit in weekly windows and is reported outside them.
pub const MAX_CHECKED_SPAN_DAYS: u64 = 31;

/// A weekly maintenance window in local time. `end <= start` means the window
/// runs past midnight into the next day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyWindow {
    /// Day the window opens.
    pub weekday: Weekday,
    /// Local opening time.
    pub start: NaiveTime,
    /// Local closing time.
    pub end: NaiveTime,
}

/// A blackout (change freeze) in local date-times, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blackout {
    /// Local start.
    pub start: NaiveDateTime,
    /// Local end.
    pub end: NaiveDateTime,
    /// Why (quarter-end close, holiday season).
    pub reason: String,
}

impl Blackout {
    /// Its start and end as instants in `zone` (the earlier instant of an
    /// ambiguous start, the later of an ambiguous end); `None` when either
    /// cannot be represented.
    pub fn instants(&self, zone: Tz) -> Option<(Timestamp, Timestamp)> {
        Some((local_to_instant(zone, self.start, true)?, local_to_instant(zone, self.end, false)?))
    }
}

/// What a schedule conflict does to the `schedule` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Nothing: the window is scheduled (the conflict is only reported by
    /// [`conflicts`]).
    #[default]
    Allow,
    /// Scheduled only with an override reason, recorded with the window.
    Override,
    /// Refused.
    Refuse,
}

/// How a service's schedule is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEnforcement {
    /// A window not inside the maintenance windows.
    #[serde(default)]
    pub outside_windows: Enforcement,
    /// A window touching a blackout.
    #[serde(default)]
    pub blackouts: Enforcement,
}

/// A recorded override of schedule conflicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleOverride {
    /// Why the change goes ahead anyway.
    pub reason: crate::id::Text,
    /// The conflicts overridden.
    pub conflicts: Vec<Conflict>,
}

/// Why the `schedule` command was refused by the service's schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleRefusal {
    /// A conflict the schedule refuses outright.
    #[error("the window is refused by the service's schedule: {}", describe(.conflicts))]
    Refused {
        /// The refused conflicts.
        conflicts: Vec<Conflict>,
    },
    /// Conflicts that need an override reason, and none was given.
    #[error("the window needs an override with a reason: {}", describe(.conflicts))]
    OverrideRequired {
        /// The conflicts to override.
        conflicts: Vec<Conflict>,
    },
}

fn describe(conflicts: &[Conflict]) -> String {
    let parts: Vec<String> = conflicts.iter().map(Conflict::to_string).collect();
    parts.join("; ")
}

/// The schedule check of a change on `service` scheduled in `window`, under
/// `schedules` (only `service`'s apply): `Ok(None)` when nothing is enforced,
/// `Ok(Some(override))` when conflicts needing an override were overridden
/// with `override_reason`, and the refusal otherwise (a refused conflict
/// wins over a missing reason). Pure.
pub fn check_schedule(
    service: &ServiceId,
    window: &Window,
    schedules: &[ServiceSchedule],
    override_reason: Option<&crate::id::Text>,
) -> Result<Option<ScheduleOverride>, ScheduleRefusal> {
    let mut refused = Vec::new();
    let mut overridable = Vec::new();
    for schedule in schedules.iter().filter(|s| &s.service == service) {
        let mut judge = |enforcement: Enforcement, conflict: Conflict| match enforcement {
            Enforcement::Allow => {}
            Enforcement::Override => overridable.push(conflict),
            Enforcement::Refuse => refused.push(conflict),
        };
        if !schedule.inside_windows(window) {
            judge(
                schedule.enforce.outside_windows,
                Conflict::OutsideMaintenanceWindow { service: schedule.service.clone() },
            );
        }
        for blackout in schedule.blackouts_hit(window) {
            judge(
                schedule.enforce.blackouts,
                Conflict::InBlackout { service: schedule.service.clone(), reason: blackout.reason.clone() },
            );
        }
    }
    if !refused.is_empty() {
        return Err(ScheduleRefusal::Refused { conflicts: refused });
    }
    if overridable.is_empty() {
        return Ok(None);
    }
    match override_reason {
        Some(reason) => Ok(Some(ScheduleOverride { reason: reason.clone(), conflicts: overridable })),
        None => Err(ScheduleRefusal::OverrideRequired { conflicts: overridable }),
    }
}

/// A service's change schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSchedule {
    /// The service.
    pub service: ServiceId,
    /// The zone its windows are written in.
    pub zone: Tz,
    /// Weekly maintenance windows; empty means changes may happen any time.
    #[serde(default)]
    pub windows: Vec<WeeklyWindow>,
    /// Blackout periods.
    #[serde(default)]
    pub blackouts: Vec<Blackout>,
    /// What a conflict with these does to the `schedule` command (nothing
    /// unless set).
    #[serde(default)]
    pub enforce: ScheduleEnforcement,
}

/// A change as the conflict check sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// The change.
    pub change: ChangeId,
    /// Its service.
    pub service: ServiceId,
    /// Its window.
    pub window: Window,
    /// Its implementer, if known.
    pub implementer: Option<ActorId>,
}

/// One reason a proposed window is a problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "conflict", rename_all = "snake_case")]
pub enum Conflict {
    /// Another change on the same service overlaps.
    Overlap {
        /// The other change.
        other: ChangeId,
    },
    /// The window is not inside the service's maintenance windows.
    OutsideMaintenanceWindow {
        /// The service.
        service: ServiceId,
    },
    /// The window touches a blackout.
    InBlackout {
        /// The service.
        service: ServiceId,
        /// The blackout's reason.
        reason: String,
    },
    /// Another change, on another item of a business service this change's
    /// service is part of, overlaps: the business service is at risk from
    /// both at once (found only with a service model).
    SharedBusinessService {
        /// The other change.
        other: ChangeId,
        /// The business service both touch (the most critical, if several).
        business_service: ServiceId,
    },
    /// The implementer is booked on another change at the same time.
    ImplementerDoubleBooked {
        /// The implementer.
        implementer: ActorId,
        /// The other change.
        other: ChangeId,
    },
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::Overlap { other } => write!(f, "overlaps change {other}"),
            Conflict::SharedBusinessService { other, business_service } => {
                write!(f, "overlaps change {other}, which touches business service {business_service} too")
            }
            Conflict::OutsideMaintenanceWindow { service } => write!(f, "outside the maintenance windows of {service}"),
            Conflict::InBlackout { service, reason } => write!(f, "in a blackout of {service} ({reason})"),
            Conflict::ImplementerDoubleBooked { implementer, other } => {
                write!(f, "{implementer} is booked on change {other}")
            }
        }
    }
}

/// Maps a local date-time to an instant. In a DST gap the instant the gap ends
/// is used; in an overlap the earlier instant when `earlier` is set, else the
/// later one.
pub fn local_to_instant(zone: Tz, local: NaiveDateTime, earlier: bool) -> Option<Timestamp> {
    let mut probe = local;
    // Gaps are at most a few hours; step minute by minute, bounded.
    for _ in 0..=(4 * 60) {
        match zone.from_local_datetime(&probe) {
            chrono::LocalResult::Single(t) => return Timestamp::try_from_utc(t.to_utc()),
            chrono::LocalResult::Ambiguous(a, b) => {
                return Timestamp::try_from_utc(if earlier { a.to_utc() } else { b.to_utc() });
            }
            chrono::LocalResult::None => {
                let next_minute = probe.date().and_hms_opt(probe.time().hour_(), probe.time().minute_(), 0)?;
                probe = next_minute.checked_add_signed(chrono::TimeDelta::minutes(1))?;
            }
        }
    }
    None
}

trait HourMinute {
    fn hour_(&self) -> u32;
    fn minute_(&self) -> u32;
}

impl HourMinute for NaiveTime {
    fn hour_(&self) -> u32 {
        chrono::Timelike::hour(self)
    }
    fn minute_(&self) -> u32 {
        chrono::Timelike::minute(self)
    }
}

impl ServiceSchedule {
    /// Maintenance-window occurrences (as instants) that may touch `[from, to)`,
    /// merged where they touch, in order.
    fn occurrences(&self, from: Timestamp, to: Timestamp) -> Vec<Window> {
        let first = from.as_utc().with_timezone(&self.zone).date_naive();
        let last = to.as_utc().with_timezone(&self.zone).date_naive();
        let mut out: Vec<Window> = Vec::new();
        let mut day = first.checked_sub_days(Days::new(1)).unwrap_or(first);
        let mut guard = 0u64;
        while day <= last && guard <= MAX_CHECKED_SPAN_DAYS + 2 {
            for w in self.windows.iter().filter(|w| w.weekday == day.weekday()) {
                if let Some(occurrence) = self.occurrence(day, w) {
                    out.push(occurrence);
                }
            }
            guard += 1;
            match day.checked_add_days(Days::new(1)) {
                Some(next) => day = next,
                None => break,
            }
        }
        out.sort_by_key(|w| w.start);
        let mut merged: Vec<Window> = Vec::new();
        for w in out {
            match merged.last_mut() {
                Some(prev) if w.start <= prev.end => prev.end = prev.end.max(w.end),
                Some(_) | None => merged.push(w),
            }
        }
        merged
    }

    fn occurrence(&self, day: NaiveDate, w: &WeeklyWindow) -> Option<Window> {
        let end_day = if w.end <= w.start { day.checked_add_days(Days::new(1))? } else { day };
        let start = local_to_instant(self.zone, day.and_time(w.start), true)?;
        let end = local_to_instant(self.zone, end_day.and_time(w.end), false)?;
        Window::new(start, end)
    }

    /// Whether `window` lies inside the maintenance windows (always true when
    /// the service has none).
    pub fn inside_windows(&self, window: &Window) -> bool {
        if self.windows.is_empty() {
            return true;
        }
        let span_days = u64::try_from(window.end.seconds_since(window.start) / 86_400).unwrap_or(u64::MAX);
        if span_days > MAX_CHECKED_SPAN_DAYS {
            return false;
        }
        self.occurrences(window.start, window.end).iter().any(|occ| occ.start <= window.start && window.end <= occ.end)
    }

    /// The blackouts `window` touches.
    pub fn blackouts_hit<'a>(&'a self, window: &'a Window) -> impl Iterator<Item = &'a Blackout> + 'a {
        self.blackouts.iter().filter(move |b| match b.instants(self.zone) {
            Some((start, end)) => Window::new(start, end).is_some_and(|bw| bw.overlaps(window)),
            // An unrepresentable blackout is treated as covering everything: fail safe.
            None => true,
        })
    }
}

/// Every conflict of `proposed` with the other bookings and the schedules.
/// `others` may contain `proposed` itself (same change id); it is skipped.
/// With a service `model`, an overlapping change on another item of a
/// business service the proposed change's service is part of conflicts too
/// ([`Conflict::SharedBusinessService`], naming the most critical one).
pub fn conflicts(
    proposed: &Booking,
    others: &[Booking],
    schedules: &[ServiceSchedule],
    model: Option<&ServiceModel>,
) -> Vec<Conflict> {
    let mine = model.map(|m| m.impacted_by(&proposed.service)).unwrap_or_default();
    let mut found = Vec::new();
    for other in others.iter().filter(|o| o.change != proposed.change) {
        if !other.window.overlaps(&proposed.window) {
            continue;
        }
        if other.service == proposed.service {
            found.push(Conflict::Overlap { other: other.change.clone() });
        } else if let Some(model) = model {
            let theirs = model.impacted_by(&other.service);
            if let Some(shared) = mine.iter().find(|m| theirs.iter().any(|t| t.service == m.service)) {
                found.push(Conflict::SharedBusinessService {
                    other: other.change.clone(),
                    business_service: shared.service.clone(),
                });
            }
        }
        if let (Some(a), Some(b)) = (&proposed.implementer, &other.implementer)
            && a == b
        {
            found.push(Conflict::ImplementerDoubleBooked { implementer: a.clone(), other: other.change.clone() });
        }
    }
    for schedule in schedules.iter().filter(|s| s.service == proposed.service) {
        if !schedule.inside_windows(&proposed.window) {
            found.push(Conflict::OutsideMaintenanceWindow { service: schedule.service.clone() });
        }
        for blackout in schedule.blackouts_hit(&proposed.window) {
            found.push(Conflict::InBlackout { service: schedule.service.clone(), reason: blackout.reason.clone() });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn booking(id: &str, service: &str, start: &str, end: &str, who: Option<&str>) -> Booking {
        Booking {
            change: ChangeId::new(id).unwrap(),
            service: ServiceId::new(service).unwrap(),
            window: Window::new(ts(start), ts(end)).unwrap(),
            implementer: who.map(|w| ActorId::new(w).unwrap()),
        }
    }

    fn sunday_night(zone: Tz) -> ServiceSchedule {
        ServiceSchedule {
            enforce: Default::default(),
            service: ServiceId::new("erp").unwrap(),
            zone,
            windows: vec![WeeklyWindow {
                weekday: Weekday::Sun,
                start: NaiveTime::from_hms_opt(1, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(4, 0, 0).unwrap(),
            }],
            blackouts: vec![],
        }
    }

    /// The HR portal reaches its users through the VPN or the intranet (a
    /// redundant pair); HR needs payroll, which runs on its database and has
    /// an application part; `crm` stands alone.
    fn hr_model() -> ServiceModel {
        serde_json::from_str(
            r#"{"items": [
                {"id": "hr", "kind": "business_service", "criticality": "high"},
                {"id": "payroll", "kind": "business_service", "criticality": "critical"},
                {"id": "hr-portal", "kind": "component", "any_of": [["vpn", "intranet"]]},
                {"id": "vpn", "kind": "component"},
                {"id": "intranet", "kind": "component"},
                {"id": "payroll-db", "kind": "component"},
                {"id": "payroll-app", "kind": "component"},
                {"id": "crm", "kind": "component"}
              ],
              "dependencies": [
                {"from": "hr-portal", "kind": "part_of", "to": "hr"},
                {"from": "hr-portal", "kind": "runs_on", "to": "vpn"},
                {"from": "hr-portal", "kind": "runs_on", "to": "intranet"},
                {"from": "hr", "kind": "depends_on", "to": "payroll"},
                {"from": "payroll", "kind": "runs_on", "to": "payroll-db"},
                {"from": "payroll-app", "kind": "part_of", "to": "payroll"}
              ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn changes_on_items_of_one_business_service_conflict_when_they_overlap() {
        let model = hr_model();
        let at = |h: u32| format!("2026-03-01T{h:02}:00:00Z");
        let on = |id: &str, service: &str, from: u32, to: u32| booking(id, service, &at(from), &at(to), None);
        let shared = |other: &str, business: &str| Conflict::SharedBusinessService {
            other: ChangeId::new(other).unwrap(),
            business_service: ServiceId::new(business).unwrap(),
        };
        let vpn = on("C1", "vpn", 1, 3);
        // (the other change, what the proposed VPN change finds with the model)
        let cases = [
            // Both paths of a redundant pair at once: HR is at risk from both.
            (on("C2", "intranet", 2, 4), vec![shared("C2", "hr")]),
            // Touching windows do not overlap.
            (on("C3", "intranet", 3, 5), vec![]),
            // Payroll's database: HR needs payroll, so HR is at risk from both.
            (on("C4", "payroll-db", 0, 2), vec![shared("C4", "hr")]),
            // A component of no business service the VPN is part of.
            (on("C5", "crm", 1, 3), vec![]),
            // The same service is the plain overlap, not both.
            (on("C6", "vpn", 2, 3), vec![Conflict::Overlap { other: ChangeId::new("C6").unwrap() }]),
            // An id the model does not know.
            (on("C7", "billing", 1, 3), vec![]),
        ];
        for (other, want) in cases {
            let found = conflicts(&vpn, std::slice::from_ref(&other), &[], Some(&model));
            assert_eq!(found, want, "the VPN change against {other:?}");
            // Without a model only the plain overlap remains.
            let plain: Vec<Conflict> = want.into_iter().filter(|c| matches!(c, Conflict::Overlap { .. })).collect();
            assert_eq!(conflicts(&vpn, std::slice::from_ref(&other), &[], None), plain);
        }
        // Payroll's database and application share payroll (critical) and HR
        // (high): the most critical is named.
        let db = on("C8", "payroll-db", 1, 3);
        let app = on("C9", "payroll-app", 2, 4);
        assert_eq!(conflicts(&db, &[app], &[], Some(&model)), vec![shared("C9", "payroll")]);
        let id = |s: &str| ServiceId::new(s).unwrap();
        let related: Vec<&str> = model.same_business_service(&id("vpn")).into_iter().map(ServiceId::as_str).collect();
        assert_eq!(related, ["hr", "hr-portal", "intranet", "payroll", "payroll-app", "payroll-db"]);
        assert!(model.same_business_service(&id("crm")).is_empty());
    }

    #[test]
    fn touching_changes_do_not_conflict_and_overlapping_ones_do() {
        let a = booking("C1", "erp", "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z", Some("ann"));
        let b = booking("C2", "erp", "2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z", Some("ann"));
        assert!(conflicts(&a, std::slice::from_ref(&b), &[], None).is_empty());
        let c = booking("C3", "erp", "2026-03-01T10:59:59Z", "2026-03-01T12:00:00Z", Some("bob"));
        assert_eq!(
            conflicts(&b, std::slice::from_ref(&c), &[], None),
            vec![Conflict::Overlap { other: c.change.clone() }]
        );
        let d = booking("C4", "crm", "2026-03-01T11:30:00Z", "2026-03-01T11:45:00Z", Some("ann"));
        assert_eq!(
            conflicts(&b, std::slice::from_ref(&d), &[], None),
            vec![Conflict::ImplementerDoubleBooked { implementer: ActorId::new("ann").unwrap(), other: d.change }]
        );
    }

    #[test]
    fn maintenance_window_across_spring_forward_is_two_hours_long() {
        // New York springs forward at 02:00 on Sunday 2026-03-08: 01:00 EST = 06:00Z, 04:00 EDT = 08:00Z.
        let schedule = sunday_night(chrono_tz::America::New_York);
        let fits = booking("C1", "erp", "2026-03-08T06:00:00Z", "2026-03-08T08:00:00Z", None);
        assert!(conflicts(&fits, &[], std::slice::from_ref(&schedule), None).is_empty());
        let too_long = booking("C2", "erp", "2026-03-08T06:00:00Z", "2026-03-08T08:00:01Z", None);
        assert_eq!(
            conflicts(&too_long, &[], std::slice::from_ref(&schedule), None),
            vec![Conflict::OutsideMaintenanceWindow { service: ServiceId::new("erp").unwrap() }]
        );
        // A week earlier the same window is three hours long (06:00Z to 09:00Z).
        let normal = booking("C3", "erp", "2026-03-01T06:00:00Z", "2026-03-01T09:00:00Z", None);
        assert!(conflicts(&normal, &[], &[schedule], None).is_empty());
    }

    #[test]
    fn maintenance_window_across_fall_back_is_four_hours_long() {
        // New York falls back at 02:00 on Sunday 2026-11-01: 01:00 EDT = 05:00Z, 04:00 EST = 09:00Z.
        let schedule = sunday_night(chrono_tz::America::New_York);
        let fits = booking("C1", "erp", "2026-11-01T05:00:00Z", "2026-11-01T09:00:00Z", None);
        assert!(conflicts(&fits, &[], &[schedule], None).is_empty());
    }

    #[test]
    fn blackouts_are_local_and_half_open() {
        let mut schedule = sunday_night(chrono_tz::Europe::Berlin);
        schedule.windows.clear();
        schedule.blackouts.push(Blackout {
            start: NaiveDate::from_ymd_opt(2026, 12, 20).unwrap().and_hms_opt(0, 0, 0).unwrap(),
            end: NaiveDate::from_ymd_opt(2027, 1, 3).unwrap().and_hms_opt(0, 0, 0).unwrap(),
            reason: "year-end freeze".to_owned(),
        });
        // Berlin midnight on 12-20 is 23:00Z on 12-19.
        let before = booking("C1", "erp", "2026-12-19T22:00:00Z", "2026-12-19T23:00:00Z", None);
        assert!(conflicts(&before, &[], std::slice::from_ref(&schedule), None).is_empty());
        let inside = booking("C2", "erp", "2026-12-19T22:30:00Z", "2026-12-19T23:30:00Z", None);
        assert_eq!(
            conflicts(&inside, &[], &[schedule], None),
            vec![Conflict::InBlackout {
                service: ServiceId::new("erp").unwrap(),
                reason: "year-end freeze".to_owned()
            }]
        );
    }

    #[test]
    fn gap_times_map_to_the_end_of_the_gap() {
        let local = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap().and_hms_opt(2, 30, 0).unwrap();
        let t = local_to_instant(chrono_tz::America::New_York, local, true).unwrap();
        assert_eq!(t, ts("2026-03-08T07:00:00Z"));
    }
}
