//! Streaming, mergeable aggregation of records into a [`Scorecard`].
//!
//! Push records in any order with [`Accumulator::push_incident`],
//! [`Accumulator::push_change`], [`Accumulator::push_outage`],
//! [`Accumulator::push_alert_receipt`] and [`Accumulator::push_notification`]; compute
//! partitions apart and [`Accumulator::merge`] them; [`Accumulator::finish`]
//! gives the scorecard. Merging partitions gives exactly the scorecard of the
//! whole (property-tested), because every piece of state is a sum, a set, or
//! a canonical form of a multiset (exact values or bins, chosen by count
//! alone), and everything order-sensitive is sorted at `finish`.
//!
//! # Memory
//!
//! Counters grow with services x months (x priorities, classes and change
//! types). What else is kept, and what bounds it ([`Accumulator::retained`]
//! counts each):
//! - durations (restore, acknowledge, and over all services the alert and
//!   notification delays): exact values up to
//!   [`ScorecardOptions::exact_percentiles_up_to`](crate::config::ScorecardOptions)
//!   per sample (default 2,048), then log-linear bins (see [`crate::sketch`]):
//!   bounded per service and failure class; medians and p90 are then within
//!   1/256 of the exact value, and each statistic says so;
//! - repeat detection: per key, the opening instants its resolutions cover
//!   once and twice (the private `cover` module): at most about 3 x period / window
//!   intervals per key. The openings in W wait for their verdict until
//!   [`Accumulator::settle_before`] (16 bytes each), so a caller reading in
//!   opening order and settling as it goes keeps this bounded too; in any
//!   other order they wait for `finish` (exact verdicts in any order need them);
//! - the change <-> incident join (a change failed when any incident names
//!   it): the set of change ids named by incidents, and the id of each
//!   implemented change that did not fail on its own fields, until
//!   [`Accumulator::no_more_incidents`]; a caller pushing incidents first and
//!   changes second keeps no per-change state (changes are judged on arrival);
//! - unplanned outage intervals per service, coalesced as they arrive (the
//!   disjoint outages themselves);
//! - with [`ScorecardOptions::with_ids`](crate::config::ScorecardOptions), the ids.
//!
//! Record ids are assumed unique (the importer rejects duplicates); a record
//! pushed twice is counted twice.

//!
//! # Layout
//!
//! This file holds the public API; the state and the steps behind it are in
//! `primitives` (counts with ids, durations, outage intervals), `change`
//! (per-type change counters and the change <-> incident join), `repeat`
//! (interned repeat keys and per-key covers and verdicts), `service`
//! (everything kept per service, and the steps that count an incident into
//! it) and `finish` (scorecard assembly).

mod change;
mod finish;
mod primitives;
mod repeat;
mod service;
mod timeliness;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use itsm_core::Timestamp;
use itsm_core::id::{ChangeId, ServiceId};
use itsm_core::records::{AlertReceipt, ChangeRecord, IncidentRecord, NotificationRecord, OutageRecord};

use crate::config::ScorecardConfig;
use crate::error::MetricsError;
use crate::period::Months;
use crate::scorecard::{Anomalies, InputCounts, OpenOutage, Scorecard};
use crate::thresholds::Thresholds;

pub use finish::YEAR_SECONDS;
pub use primitives::HISTOGRAM_BOUNDS;

use primitives::{Span, type_index};
use repeat::KeyInterner;
use service::ServiceAcc;
use timeliness::TimelinessAcc;

/// What an accumulator holds beyond fixed counters: the entries whose number
/// depends on the input (see [`Accumulator::retained`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Retained {
    /// Services seen.
    pub services: u64,
    /// Distinct repeat keys seen.
    pub repeat_keys: u64,
    /// Intervals of the repeat covers (bounded by keys x period / window).
    pub cover_intervals: u64,
    /// Openings waiting for their repeat verdict (16 bytes each; 0 after settling up to the last one).
    pub pending_openings: u64,
    /// Duration values kept exactly (8 bytes each; at most `exact_percentiles_up_to` per sample).
    pub exact_durations: u64,
    /// Duration bins (8 bytes each; at most 7,424 per binned sample, about 2,000 for durations up to a month).
    pub duration_bins: u64,
    /// Implemented changes waiting for the incident join (one id each).
    pub pending_changes: u64,
    /// Change ids named by incidents (one id each).
    pub linked_changes: u64,
    /// Disjoint outage intervals (16 bytes each).
    pub outage_intervals: u64,
    /// Outage incidents still unrestored at the end of the period (named in the report).
    pub open_outages: u64,
    /// Record ids kept (only with ids).
    pub ids: u64,
}

/// The streaming accumulator (see the module docs).
#[derive(Debug, Clone)]
pub struct Accumulator {
    config: ScorecardConfig,
    months: Months,
    from: i64,
    to: i64,
    window: i64,
    services: HashMap<ServiceId, ServiceAcc>,
    /// Interned repeat keys (category, or category and problem, by the configured key).
    keys: KeyInterner,
    linked_changes: HashSet<ChangeId>,
    inputs: InputCounts,
    anomalies: Anomalies,
    /// Values per duration sample kept exactly.
    exact_limit: u64,
    /// Every incident still to come opens at or after this instant (see [`Accumulator::settle_before`]).
    settled: Option<i64>,
    /// No incident is still to come ([`Accumulator::no_more_incidents`]).
    incidents_complete: bool,
    /// Changes judged on arrival or at `no_more_incidents` (not kept).
    judged_changes: u64,
    /// Outage incidents unrestored at `to`, named in the report.
    open_outages: Vec<OpenOutage>,
    /// Alert delay and notification timeliness (over all services).
    timeliness: TimelinessAcc,
}

impl Accumulator {
    /// An empty accumulator for `config`.
    pub fn new(config: ScorecardConfig) -> Result<Accumulator, MetricsError> {
        if config.period.from >= config.period.to {
            return Err(MetricsError::EmptyPeriod { from: config.period.from, to: config.period.to });
        }
        let months = Months::new(&config.period, config.zone)?;
        let window = i64::try_from(config.repeat.window_seconds).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        Ok(Accumulator {
            from: config.period.from.unix_micros(),
            to: config.period.to.unix_micros(),
            window,
            months,
            exact_limit: config.options.exact_percentiles_up_to,
            config,
            services: HashMap::new(),
            keys: KeyInterner::new(),
            linked_changes: HashSet::new(),
            inputs: InputCounts::default(),
            anomalies: Anomalies::default(),
            settled: None,
            incidents_complete: false,
            judged_changes: 0,
            open_outages: Vec::new(),
            timeliness: TimelinessAcc::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ScorecardConfig {
        &self.config
    }

    /// Counts what the accumulator holds beyond fixed counters: a caller can
    /// check that its memory follows services, keys and months rather than
    /// records (a pass over the services).
    pub fn retained(&self) -> Retained {
        let mut r = Retained {
            services: self.services.len() as u64,
            repeat_keys: u64::from(self.keys.len()),
            linked_changes: self.linked_changes.len() as u64,
            open_outages: self.open_outages.len() as u64,
            ..Retained::default()
        };
        for svc in self.services.values() {
            svc.count_retained(&mut r);
        }
        self.timeliness.count_retained(&mut r);
        r
    }

    /// The period, repeat window and options every push is counted with.
    fn span(&self) -> Span {
        Span {
            from: self.from,
            to: self.to,
            window: self.window,
            with_ids: self.config.options.with_ids,
            limit: self.exact_limit,
        }
    }

    fn service<'a>(
        services: &'a mut HashMap<ServiceId, ServiceAcc>,
        id: &ServiceId,
        months: usize,
    ) -> &'a mut ServiceAcc {
        services.entry(id.clone()).or_insert_with(|| ServiceAcc::new(months))
    }

    /// Adds an incident. Fails, changing nothing, when the incident opened
    /// before an instant the accumulator was settled at
    /// ([`Accumulator::settle_before`]), when its resolution (before its own
    /// opening) reaches back to an opening whose repeat verdict was settled, or
    /// after [`Accumulator::no_more_incidents`].
    pub fn push_incident(&mut self, r: &IncidentRecord) -> Result<(), MetricsError> {
        self.check_incident(r)?;
        self.inputs.incidents += 1;
        if let Some(c) = &r.caused_by_change
            && !self.linked_changes.contains(c)
        {
            self.linked_changes.insert(c.clone());
        }
        let span = self.span();
        let month_count = self.months.len();
        let svc = match self.services.get_mut(&r.service) {
            Some(s) => s,
            None => Self::service(&mut self.services, &r.service, month_count),
        };
        let opened = r.opened_at.unix_micros();
        let opening = span.contains(opened).then(|| (opened, self.months.index(opened)));
        if let Some((_, month)) = opening {
            svc.count_opening(r, month, &span);
        }
        svc.count_resolution(r, &span);
        svc.count_restore(r, &span, &mut self.anomalies);
        svc.count_acknowledgement(r, &span, &mut self.anomalies);
        if let Some(open) = svc.count_outage(r, &span) {
            self.open_outages.push(open);
        }
        svc.repeat.push_incident(&mut self.keys, self.config.repeat.key, r, opening, &span);
        Ok(())
    }

    /// Refuses an incident that comes too late (see [`Accumulator::push_incident`]).
    fn check_incident(&self, r: &IncidentRecord) -> Result<(), MetricsError> {
        if self.incidents_complete {
            return Err(MetricsError::IncidentsComplete { id: r.id.as_str().to_owned() });
        }
        let Some(settled) = self.settled else { return Ok(()) };
        if r.opened_at.unix_micros() < settled {
            return Err(MetricsError::LateIncident {
                id: r.id.as_str().to_owned(),
                opened_at: r.opened_at,
                settled_before: Timestamp::from_unix_micros(settled).unwrap_or(r.opened_at),
            });
        }
        // The same rule as merging a settled side: a resolution at or before a
        // decided opening of the service could cover it.
        let decided = self.services.get(&r.service).map_or(i64::MIN, |s| s.repeat.latest_decided);
        if let Some(resolved) = r.resolved_at
            && resolved.unix_micros() <= decided
        {
            return Err(MetricsError::SettledResolution {
                id: r.id.as_str().to_owned(),
                service: r.service.as_str().to_owned(),
                opened_at: r.opened_at,
                resolved_at: resolved,
                decided_opening: Timestamp::from_unix_micros(decided).unwrap_or(r.opened_at),
            });
        }
        Ok(())
    }

    /// Promises that every incident still to come opened at or after `at`,
    /// and decides the repeat verdict of the incidents opened before it: every
    /// resolution that can make them repeats is then known (an incident is
    /// resolved after it opened). Without this, the opening of each incident in
    /// the period waits for [`Accumulator::finish`] (16 bytes each); a caller
    /// reading incidents in opening order settles as it goes (every few
    /// thousand records: a call costs a pass over the services) and keeps the
    /// repeat state bounded by keys x period / window.
    ///
    /// A later [`Accumulator::push_incident`] of an incident opened before `at`
    /// is refused with [`MetricsError::LateIncident`]. Settling at an instant
    /// before an earlier one changes nothing. With ids, the verdicts still wait
    /// for `finish` (the pairs name the earlier incident), with the same result.
    pub fn settle_before(&mut self, at: Timestamp) {
        let at = at.unix_micros();
        if self.settled.is_some_and(|s| s >= at) {
            return;
        }
        self.settled = Some(at);
        if self.config.options.with_ids {
            return;
        }
        for svc in self.services.values_mut() {
            if !svc.repeat.pending.is_empty() {
                svc.repeat.settle(at);
            }
        }
    }

    /// Adds a change.
    pub fn push_change(&mut self, c: &ChangeRecord) {
        self.inputs.changes += 1;
        let month_count = self.months.len();
        let svc = match self.services.get_mut(&c.service) {
            Some(s) => s,
            None => Self::service(&mut self.services, &c.service, month_count),
        };
        let with_ids = self.config.options.with_ids;
        // An emergency change authorized in W: in time within the bound of
        // the request, and before implementation started. (A normal change's
        // CAB meets on its own schedule; the model sets no bound for it.)
        if c.change_type == itsm_core::vocabulary::ChangeType::Emergency
            && let Some(authorized) = c.authorized_at.map(|t| t.unix_micros())
            && self.from <= authorized
            && authorized < self.to
        {
            let bound =
                i64::try_from(self.config.authorization_within_seconds.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
            let in_time = c.requested_at.is_some_and(|r| authorized.saturating_sub(r.unix_micros()) <= bound)
                && c.started_at.is_none_or(|s| authorized <= s.unix_micros());
            svc.changes[type_index(c.change_type)].count_authorization(c.id.as_str(), in_time, with_ids);
        }
        let (Some(outcome), Some(done)) = (c.outcome, c.completed_at) else {
            return;
        };
        let done = done.unix_micros();
        if !(self.from <= done && done < self.to) {
            return;
        }
        // Once every incident is in, a change is judged on arrival instead of being kept.
        let linked = self.incidents_complete.then_some(&self.linked_changes);
        let acc = &mut svc.changes[type_index(c.change_type)];
        if acc.push(c, outcome, linked, self.config.options.with_ids) {
            self.judged_changes += 1;
        }
    }

    /// Adds an outage (a planned one counts only where a service model is
    /// configured, as maintenance kept out of agreed service time).
    pub fn push_outage(&mut self, o: &OutageRecord) {
        self.inputs.outages += 1;
        let month_count = self.months.len();
        let (from, to) = (self.from, self.to);
        let svc = match self.services.get_mut(&o.service) {
            Some(s) => s,
            None => Self::service(&mut self.services, &o.service, month_count),
        };
        if o.end <= o.start {
            self.anomalies.empty_outages += 1;
            return;
        }
        if o.planned {
            svc.planned.insert(o.start.unix_micros().max(from), o.end.unix_micros().min(to));
            return;
        }
        svc.outages.insert(o.start.unix_micros().max(from), o.end.unix_micros().min(to));
    }

    /// Adds an alert as received (Table 3's alert delay): counted when
    /// received in the period.
    pub fn push_alert_receipt(&mut self, r: &AlertReceipt) {
        self.inputs.alert_receipts += 1;
        let span = self.span();
        self.timeliness.push_alert(r, self.config.alert_delay_within_seconds, &span, &mut self.anomalies);
    }

    /// Adds a notification and its delivery (Table 16's notification
    /// timeliness): counted when created in the period and its topic reaches
    /// people ([`crate::NotificationPolicy`]).
    pub fn push_notification(&mut self, n: &NotificationRecord) {
        self.inputs.notifications += 1;
        let span = self.span();
        self.timeliness.push_notification(n, &self.config.notifications, &span, &mut self.anomalies);
    }

    /// Promises that no incident is still to come: settles every repeat
    /// verdict (as [`Accumulator::settle_before`] past the last instant; with
    /// ids the verdicts still wait for `finish`, with the same result) and
    /// judges the implemented changes waiting for the incident join. Changes
    /// pushed afterwards are judged on arrival, so a caller that pushes
    /// incidents first and changes second keeps no per-change state. A later
    /// [`Accumulator::push_incident`] is refused with
    /// [`MetricsError::IncidentsComplete`].
    pub fn no_more_incidents(&mut self) {
        let with_ids = self.config.options.with_ids;
        self.settled = Some(i64::MAX);
        self.incidents_complete = true;
        for svc in self.services.values_mut() {
            if !with_ids && !svc.repeat.pending.is_empty() {
                svc.repeat.settle(i64::MAX);
            }
            for acc in &mut svc.changes {
                self.judged_changes += acc.judge_pending(&self.linked_changes, with_ids);
            }
        }
    }

    /// Merges two partitions computed with the same configuration.
    pub fn merge(mut self, other: Accumulator) -> Result<Accumulator, MetricsError> {
        self.check_mergeable(&other)?;
        self.settled = self.settled.max(other.settled);
        self.incidents_complete |= other.incidents_complete;
        self.judged_changes += other.judged_changes;
        let limit = self.exact_limit;
        // Re-intern the other side's repeat keys.
        let remap = self.keys.absorb(other.keys);
        for (k, v) in other.services {
            match self.services.get_mut(&k) {
                Some(mine) => mine.merge(v, &remap, limit),
                None => {
                    let mut fresh = ServiceAcc::new(self.months.len());
                    fresh.merge(v, &remap, limit);
                    self.services.insert(k, fresh);
                }
            }
        }
        self.linked_changes.extend(other.linked_changes);
        self.open_outages.extend(other.open_outages);
        self.inputs.incidents += other.inputs.incidents;
        self.inputs.changes += other.inputs.changes;
        self.inputs.outages += other.inputs.outages;
        self.inputs.alert_receipts += other.inputs.alert_receipts;
        self.inputs.notifications += other.inputs.notifications;
        self.timeliness.merge(other.timeliness, limit);
        self.anomalies.negative_restore_times += other.anomalies.negative_restore_times;
        self.anomalies.negative_acknowledge_times += other.anomalies.negative_acknowledge_times;
        self.anomalies.empty_outages += other.anomalies.empty_outages;
        self.anomalies.negative_alert_delays += other.anomalies.negative_alert_delays;
        self.anomalies.negative_notification_delays += other.anomalies.negative_notification_delays;
        Ok(self)
    }

    /// Refuses to merge partitions of different configurations, or whose
    /// settled or judged state the other side could change.
    fn check_mergeable(&self, other: &Accumulator) -> Result<(), MetricsError> {
        let (a, b) = (&self.config, &other.config);
        let field = if a.period != b.period {
            Some("periods")
        } else if a.zone != b.zone {
            Some("time zones")
        } else if a.repeat != b.repeat {
            Some("repeat rules")
        } else if a.options != b.options {
            Some("options")
        } else if a.trend_partial_months != b.trend_partial_months {
            Some("trend settings")
        } else if a.service_model != b.service_model {
            Some("service models")
        } else if a.authorization_within_seconds != b.authorization_within_seconds {
            Some("authorization bounds")
        } else if a.alert_delay_within_seconds != b.alert_delay_within_seconds || a.notifications != b.notifications {
            Some("timeliness bounds")
        } else {
            None
        };
        if let Some(field) = field {
            return Err(MetricsError::ConfigMismatch { field });
        }
        // Settling decided openings from one side's resolutions only: the other
        // side must not hold a resolution of the same service that could cover
        // one of them (at or before the latest decided opening).
        for (mine, theirs) in [(&self.services, &other.services), (&other.services, &self.services)] {
            let mut names: Vec<&ServiceId> = mine.keys().filter(|k| theirs.contains_key(*k)).collect();
            names.sort();
            for name in names {
                let decided = mine.get(name).map_or(i64::MIN, |s| s.repeat.latest_decided);
                let earliest = theirs.get(name).map_or(i64::MAX, |s| s.repeat.earliest_resolution);
                if earliest <= decided {
                    return Err(MetricsError::SettledMerge {
                        service: name.as_str().to_owned(),
                        decided_opening: Timestamp::from_unix_micros(decided).unwrap_or(self.config.period.from),
                        resolved_at: Timestamp::from_unix_micros(earliest).unwrap_or(self.config.period.from),
                    });
                }
            }
        }
        // A side that judged changes without keeping them cannot learn of more incidents naming changes.
        for (mine, theirs) in [(self, other), (other, self)] {
            if mine.judged_changes > 0
                && let Some(named) = theirs.linked_changes.iter().min()
            {
                return Err(MetricsError::JudgedChangesMerge {
                    judged: mine.judged_changes,
                    named: named.as_str().to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Computes the scorecard, rated against `thresholds`.
    pub fn finish(self, thresholds: &Thresholds) -> Scorecard {
        finish::scorecard(self, thresholds)
    }
}
