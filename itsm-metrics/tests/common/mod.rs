//! Shared builders, strategies and brute-force references for the integration tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use itsm_core::Timestamp;
use itsm_core::id::{ChangeId, IncidentId, ProblemId, ServiceId};
use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
use itsm_core::vocabulary::{
    ChangeOutcome, ChangeType, DetectionSource, FailureClass, IncidentKind, Priority, Remediation, ResolvedBy,
};
use itsm_metrics::ScorecardConfig;
use proptest::prelude::*;

/// 2026-01-01T00:00:00Z.
pub const BASE: i64 = 1_767_225_600;
pub const DAY: i64 = 86_400;

pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(secs).unwrap()
}

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

/// A config over [BASE, BASE + days).
pub fn config(days: i64) -> ScorecardConfig {
    ScorecardConfig::new(ts(BASE), ts(BASE + days * DAY)).unwrap()
}

/// A plain incident opened at `opened` (seconds), resolved at `resolved`.
pub fn incident(id: &str, service: &str, opened: i64, resolved: Option<i64>) -> IncidentRecord {
    IncidentRecord {
        id: IncidentId::new(id).unwrap(),
        kind: IncidentKind::Production,
        service: ServiceId::new(service).unwrap(),
        category: None,
        priority: Priority::P3,
        detected_by: DetectionSource::User,
        opened_at: ts(opened),
        acknowledged_at: None,
        impact_start: ts(opened),
        restored_at: None,
        resolved_at: resolved.map(ts),
        closed_at: None,
        resolved_by: None,
        major: false,
        reopen_count: 0,
        caused_by_change: None,
        problem_id: None,
        failure_class: FailureClass::Other,
        outage: false,
        resolution_target_met: None,
    }
}

/// An implemented change completed at `completed` (seconds).
pub fn change(
    id: &str,
    service: &str,
    t: ChangeType,
    completed: i64,
    outcome: ChangeOutcome,
    rem: Remediation,
) -> ChangeRecord {
    ChangeRecord {
        id: ChangeId::new(id).unwrap(),
        change_type: t,
        service: ServiceId::new(service).unwrap(),
        requested_at: None,
        planned_start: None,
        planned_end: None,
        started_at: Some(ts(completed - 600)),
        completed_at: Some(ts(completed)),
        outcome: Some(outcome),
        remediation: rem,
        automatic_rollback: false,
        authorized_at: None,
    }
}

const SERVICES: [&str; 3] = ["api", "db", "web"];
const CATEGORIES: [Option<&str>; 3] = [None, Some("disk"), Some("net")];

/// Window of the random data: W = [BASE, BASE + 181 days) (Jan-Jun 2026);
/// instants are drawn from 40 days before to 20 days after.
pub const W_DAYS: i64 = 181;

fn instant() -> impl Strategy<Value = i64> {
    prop_oneof![
        (-40 * DAY..(W_DAYS + 20) * DAY).prop_map(|s| BASE + s),
        // A coarse grid makes equal instants (ties at boundaries) likely.
        (-40i64..(W_DAYS + 20)).prop_map(|d| BASE + d * DAY),
    ]
}

prop_compose! {
    fn arb_incident_body()(
        service in 0usize..3,
        category in 0usize..3,
        priority in 0usize..5,
        detected in 0usize..4,
        opened in instant(),
        impact_before in prop_oneof![Just(0i64), 0i64..7200],
        ack in proptest::option::of(-100i64..20_000),
        restore in proptest::option::of(prop_oneof![Just(0i64), -50i64..0, 0i64..(12 * DAY), (0i64..12).prop_map(|d| d * DAY)]),
        resolve_after_restore in proptest::option::of(0i64..(3 * DAY)),
        explicit_restore in any::<bool>(),
        resolved_by in proptest::option::of(0usize..5),
        major in any::<bool>(),
        caused in proptest::option::of(0usize..40),
        problem in proptest::option::of(0usize..3),
        class in 0usize..4,
        outage in any::<bool>(),
        target in proptest::option::of(any::<bool>()),
        micros in prop_oneof![Just(0i64), 0i64..1_000_000],
    ) -> IncidentRecord {
        let impact = opened - impact_before;
        let restored = restore.map(|d| opened + d);
        let resolved = match (restored, resolve_after_restore) {
            (Some(r), Some(extra)) => Some(r + extra),
            (Some(r), None) => Some(r),
            (None, Some(extra)) => Some(opened + extra),
            (None, None) => None,
        };
        let mut r = incident("x", SERVICES[service], opened, resolved);
        r.opened_at = Timestamp::from_unix_micros(opened * 1_000_000 + micros).unwrap();
        r.category = CATEGORIES[category].map(str::to_owned);
        r.priority = Priority::ALL[priority];
        r.detected_by = DetectionSource::ALL[detected];
        r.acknowledged_at = ack.map(|a| ts(opened + a));
        r.impact_start = ts(impact);
        r.restored_at = if explicit_restore { restored.map(ts) } else { None };
        if !explicit_restore {
            r.resolved_at = restored.or(resolved).map(ts);
        }
        r.resolved_by = resolved_by.map(|i| ResolvedBy::ALL[i]);
        r.major = major;
        r.caused_by_change = caused.map(|c| ChangeId::new(format!("C{c}")).unwrap());
        r.problem_id = problem.map(|p| ProblemId::new(format!("P{p}")).unwrap());
        r.failure_class = FailureClass::ALL[class];
        r.outage = outage;
        r.resolution_target_met = target;
        r
    }
}

prop_compose! {
    fn arb_change_body()(
        service in 0usize..3,
        t in 0usize..3,
        completed in proptest::option::of(instant()),
        outcome in proptest::option::of(0usize..3),
        rem in 0usize..4,
        automatic in any::<bool>(),
        authorized in proptest::option::of((instant(), -7200i64..7200)),
    ) -> ChangeRecord {
        let mut c = change("x", SERVICES[service], ChangeType::ALL[t], completed.unwrap_or(BASE), ChangeOutcome::Successful, Remediation::ALL[rem]);
        c.completed_at = completed.map(ts);
        c.outcome = outcome.map(|o| ChangeOutcome::ALL[o]);
        c.automatic_rollback = automatic;
        // Requested some time before or after its authorization.
        if let Some((at, before)) = authorized {
            c.authorized_at = Some(ts(at));
            c.requested_at = Some(ts(at - before));
        }
        c
    }
}

prop_compose! {
    fn arb_outage()(service in 0usize..3, start in instant(), len in -100i64..(2 * DAY), planned in any::<bool>()) -> OutageRecord {
        OutageRecord { service: ServiceId::new(SERVICES[service]).unwrap(), start: ts(start), end: ts(start + len), planned }
    }
}

/// Records with unique ids `I<n>` and `C<n>`.
pub fn arb_records(max: usize) -> impl Strategy<Value = (Vec<IncidentRecord>, Vec<ChangeRecord>, Vec<OutageRecord>)> {
    (
        proptest::collection::vec(arb_incident_body(), 0..max),
        proptest::collection::vec(arb_change_body(), 0..(max / 2 + 1)),
        proptest::collection::vec(arb_outage(), 0..6),
    )
        .prop_map(|(mut incidents, mut changes, outages)| {
            for (i, r) in incidents.iter_mut().enumerate() {
                r.id = IncidentId::new(format!("I{i}")).unwrap();
            }
            for (i, c) in changes.iter_mut().enumerate() {
                c.id = ChangeId::new(format!("C{i}")).unwrap();
            }
            (incidents, changes, outages)
        })
}

pub fn in_w(t: Timestamp, from: Timestamp, to: Timestamp) -> bool {
    from <= t && t < to
}

/// Brute-force first change failure rate per type over all services: (failed, implemented).
pub fn reference_fcfr(
    changes: &[ChangeRecord],
    incidents: &[IncidentRecord],
    from: Timestamp,
    to: Timestamp,
) -> BTreeMap<ChangeType, (u64, u64)> {
    let mut out = BTreeMap::new();
    for c in changes {
        let implemented = c.outcome.is_some() && c.completed_at.is_some_and(|t| in_w(t, from, to));
        if !implemented {
            continue;
        }
        let named = incidents.iter().any(|i| i.caused_by_change.as_ref() == Some(&c.id));
        let failed = c.outcome == Some(ChangeOutcome::Failed) || c.remediation != Remediation::None || named;
        let e = out.entry(c.change_type).or_insert((0, 0));
        e.0 += u64::from(failed);
        e.1 += 1;
    }
    out
}

/// Brute-force repeats: the set of (earlier, later) pairs, earlier = most recent (resolved, id).
pub fn reference_repeats(
    incidents: &[IncidentRecord],
    from: Timestamp,
    to: Timestamp,
    window_seconds: i64,
    key: fn(&IncidentRecord) -> String,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for i in incidents {
        if !in_w(i.opened_at, from, to) {
            continue;
        }
        let mut best: Option<(Timestamp, &str)> = None;
        for j in incidents {
            if std::ptr::eq(i, j) || key(i) != key(j) {
                continue;
            }
            let Some(rj) = j.resolved_at else { continue };
            let gap = i.opened_at.unix_micros() - rj.unix_micros();
            if gap >= 0 && gap <= window_seconds * 1_000_000 {
                let cand = (rj, j.id.as_str());
                if best.is_none_or(|b| cand > b) {
                    best = Some(cand);
                }
            }
        }
        if let Some((_, j)) = best {
            out.insert((j.to_owned(), i.id.as_str().to_owned()));
        }
    }
    out
}

pub fn key_service_category(r: &IncidentRecord) -> String {
    format!("{}/{}", r.service, r.category.as_deref().unwrap_or(""))
}
