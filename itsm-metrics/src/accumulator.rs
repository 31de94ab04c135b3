//! Streaming, mergeable aggregation of records into a [`Scorecard`].
//!
//! Push records in any order with [`Accumulator::push_incident`],
//! [`Accumulator::push_change`] and [`Accumulator::push_outage`]; compute
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
//! - durations (restore, acknowledge): exact values up to
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

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use itsm_core::Timestamp;
use itsm_core::classify::{
    ChangeOutcome, ChangeType, DetectionSource, FailureClass, Priority, Remediation, ResolvedBy,
};
use itsm_core::id::{ChangeId, ServiceId};
use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::config::{RepeatKey, ScorecardConfig};
use crate::cover::Cover;
use crate::error::MetricsError;
use crate::period::Months;
use crate::rate::Rate;
use crate::scorecard::{
    Anomalies, Availability, ChangeTypeMetrics, ClassDuration, DurationIds, DurationStats, HistogramBucket,
    IncidentKpis, InputCounts, Metrics, MonthRow, OpenOutage, PeriodInfo, PriorityAttainment, RepeatPair, SCHEMA,
    Scorecard, ServiceMetrics,
};
use crate::sketch::{BINNED_RELATIVE_ERROR, Samples};
use crate::thresholds::Thresholds;

const CLASSES: [FailureClass; 4] = [FailureClass::Ci, FailureClass::Cd, FailureClass::Platform, FailureClass::Other];
const TYPES: [ChangeType; 3] = [ChangeType::Standard, ChangeType::Normal, ChangeType::Emergency];
const PRIORITIES: [Priority; 5] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4, Priority::P5];
/// Seconds in a 365-day year.
pub const YEAR_SECONDS: u64 = 365 * 86_400;

fn class_index(c: FailureClass) -> usize {
    match c {
        FailureClass::Ci => 0,
        FailureClass::Cd => 1,
        FailureClass::Platform => 2,
        FailureClass::Other => 3,
    }
}

fn type_index(t: ChangeType) -> usize {
    match t {
        ChangeType::Standard => 0,
        ChangeType::Normal => 1,
        ChangeType::Emergency => 2,
    }
}

fn priority_index(p: Priority) -> usize {
    match p {
        Priority::P1 => 0,
        Priority::P2 => 1,
        Priority::P3 => 2,
        Priority::P4 => 3,
        Priority::P5 => 4,
    }
}

/// A count with the ids behind it (ids kept only on request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tally {
    n: u64,
    ids: Vec<String>,
}

impl Tally {
    #[inline]
    fn add(&mut self, id: &str, with_ids: bool) {
        self.n += 1;
        if with_ids {
            self.ids.push(id.to_owned());
        }
    }

    fn merge(&mut self, other: Tally) {
        self.n += other.n;
        self.ids.extend(other.ids);
    }
}

fn rate_of(num: &Tally, den: &Tally, with_ids: bool) -> Rate {
    if with_ids {
        let mut r = Rate::with_ids(num.ids.clone(), den.ids.clone());
        // Counts stay authoritative (ids are only a view).
        r.numerator = num.n;
        r.denominator = den.n;
        r.value = crate::rate::rate_value(num.n, den.n);
        r
    } else {
        Rate::new(num.n, den.n)
    }
}

/// Durations in whole seconds: count, sum and extremes exact; percentiles exact
/// up to the configured number of values, then from bins (see [`crate::sketch`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DurationAcc {
    samples: Samples,
    /// Counts per restore-time chart bucket (exact at every size).
    chart: [u64; HISTOGRAM_BOUNDS.len() + 1],
    ids: Vec<String>,
    censored: Tally,
}

impl DurationAcc {
    fn push(&mut self, seconds: u64, id: &str, with_ids: bool, limit: u64) {
        self.samples.push(seconds, limit);
        let bucket = HISTOGRAM_BOUNDS.partition_point(|&(upper, _)| upper < seconds);
        if let Some(c) = self.chart.get_mut(bucket) {
            *c += 1;
        }
        if with_ids {
            self.ids.push(id.to_owned());
        }
    }

    fn extend_from(&mut self, other: &DurationAcc, limit: u64) {
        self.samples.merge(&other.samples, limit);
        for (a, b) in self.chart.iter_mut().zip(other.chart) {
            *a += b;
        }
        self.ids.extend(other.ids.iter().cloned());
        self.censored.n += other.censored.n;
        self.censored.ids.extend(other.censored.ids.iter().cloned());
    }

    /// Computes the statistics (sorts exact values in place).
    fn stats(&mut self, with_ids: bool) -> DurationStats {
        let count = self.samples.len();
        let mean = if count == 0 {
            None
        } else {
            decimal_from_u128(self.samples.sum())
                .and_then(|s| s.checked_div(Decimal::from(count)))
                .map(|m| m.round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven).normalize())
        };
        let ids = if with_ids {
            let mut samples = self.ids.clone();
            samples.sort_unstable();
            let mut censored = self.censored.ids.clone();
            censored.sort_unstable();
            Some(DurationIds { samples, censored })
        } else {
            None
        };
        DurationStats {
            n: count,
            total_seconds: u64::try_from(self.samples.sum()).unwrap_or(u64::MAX),
            mean_seconds: mean,
            median_seconds: self.samples.percentile(1, 2),
            p90_seconds: self.samples.percentile(9, 10),
            percentile_error: if self.samples.is_exact() { Decimal::ZERO } else { BINNED_RELATIVE_ERROR },
            max_seconds: self.samples.max(),
            censored: self.censored.n,
            ids,
        }
    }
}

fn decimal_from_u128(v: u128) -> Option<Decimal> {
    i128::try_from(v).ok().and_then(|v| Decimal::try_from_i128_with_scale(v, 0).ok())
}

/// Unplanned outage intervals in microseconds, coalesced lazily.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct IntervalSet {
    items: Vec<(i64, i64)>,
    compact_at: usize,
}

impl IntervalSet {
    fn insert(&mut self, start: i64, end: i64) {
        if start >= end {
            return;
        }
        self.items.push((start, end));
        if self.items.len() > self.compact_at.max(64) {
            self.compact();
            self.compact_at = self.items.len() * 2;
        }
    }

    fn compact(&mut self) {
        self.items.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(self.items.len());
        for &(s, e) in &self.items {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        self.items = out;
    }

    fn merge(&mut self, other: IntervalSet) {
        for (s, e) in other.items {
            self.insert(s, e);
        }
    }

    /// (total covered microseconds, disjoint intervals).
    fn union(&mut self) -> (u64, u64) {
        self.compact();
        let total = self.items.iter().map(|&(s, e)| (e - s) as u64).sum();
        (total, self.items.len() as u64)
    }
}

/// Change counters of one service and type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ChangeAcc {
    implemented: Tally,
    own_failed: Tally,
    /// Implemented changes that did not fail on their own fields: failed iff an incident names them.
    pending: Vec<ChangeId>,
    /// Changes judged failed because an incident names them, once every incident was in
    /// ([`Accumulator::no_more_incidents`]).
    linked_failed: Tally,
    rollback_attempts: Tally,
    rollback_failed: Tally,
}

impl ChangeAcc {
    /// Judges a change that did not fail on its own fields once every incident
    /// is in: failed iff an incident names it.
    fn judge(&mut self, id: &ChangeId, linked: &HashSet<ChangeId>, with_ids: bool) {
        if linked.contains(id) {
            self.linked_failed.add(id.as_str(), with_ids);
        }
    }

    fn merge(&mut self, other: ChangeAcc) {
        self.implemented.merge(other.implemented);
        self.own_failed.merge(other.own_failed);
        self.pending.extend(other.pending);
        self.linked_failed.merge(other.linked_failed);
        self.rollback_attempts.merge(other.rollback_attempts);
        self.rollback_failed.merge(other.rollback_failed);
    }
}

/// An opening in W whose repeat verdict is not decided yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Opened {
    /// Interned repeat key.
    key: u32,
    /// Month index (saturating; months past `u16::MAX` are not counted per month).
    month: u16,
    /// Whether the incident's own resolution falls in its repeat window (then it
    /// is among the resolutions covering the opening and must not count as a
    /// repeat of itself).
    own_covers: bool,
    at: i64,
}

/// Repeat state of one service (see [`crate::cover`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RepeatAcc {
    /// Per interned key, the opening instants its resolutions cover.
    covers: HashMap<u32, Cover>,
    /// Openings not decided yet (all of them until [`Accumulator::settle_before`]).
    pending: Vec<Opened>,
    /// Parallel to `pending`, with ids.
    pending_ids: Vec<String>,
    /// (key, resolved instant, id), with ids only: to name the earlier incident of each pair.
    resolved_ids: Vec<(u32, i64, String)>,
    /// Repeats decided by settling (never with ids: then everything waits for `finish`).
    repeats: u64,
    /// Of `repeats`, per month.
    month_repeats: Vec<u64>,
    /// The earliest resolution instant added to a cover (`i64::MAX` if none).
    earliest_resolution: i64,
    /// The latest opening decided by settling (`i64::MIN` if none).
    latest_decided: i64,
}

impl RepeatAcc {
    fn new(months: usize) -> RepeatAcc {
        RepeatAcc {
            month_repeats: vec![0; months],
            earliest_resolution: i64::MAX,
            latest_decided: i64::MIN,
            ..RepeatAcc::default()
        }
    }

    fn merge(&mut self, mut other: RepeatAcc, remap: &[u32]) {
        let map = |k: u32| remap.get(k as usize).copied().unwrap_or(k);
        for (k, cover) in other.covers {
            self.covers.entry(map(k)).or_default().merge(&cover);
        }
        for e in &mut other.resolved_ids {
            e.0 = map(e.0);
        }
        for o in &mut other.pending {
            o.key = map(o.key);
        }
        self.pending.extend(other.pending);
        self.pending_ids.extend(other.pending_ids);
        self.resolved_ids.extend(other.resolved_ids);
        self.repeats += other.repeats;
        for (a, b) in self.month_repeats.iter_mut().zip(other.month_repeats) {
            *a += b;
        }
        self.earliest_resolution = self.earliest_resolution.min(other.earliest_resolution);
        self.latest_decided = self.latest_decided.max(other.latest_decided);
    }

    fn is_repeat(&self, o: &Opened) -> bool {
        self.covers.get(&o.key).is_some_and(|c| c.is_repeat(o.at, o.own_covers))
    }

    /// Decides (and forgets) the pending openings before `before` (without ids).
    fn settle(&mut self, before: i64) {
        let mut pending = std::mem::take(&mut self.pending);
        pending.retain(|o| {
            if o.at >= before {
                return true;
            }
            self.latest_decided = self.latest_decided.max(o.at);
            if self.is_repeat(o) {
                self.repeats += 1;
                if let Some(m) = self.month_repeats.get_mut(o.month as usize) {
                    *m += 1;
                }
            }
            false
        });
        self.pending = pending;
    }
}

/// Everything kept per service.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServiceAcc {
    opened: Tally,
    major: u64,
    resolved_by_to: Tally,
    proactive: Tally,
    resolved_in_w: Tally,
    first_line: Tally,
    automated: Tally,
    /// Resolved in W with no known verdict on the resolution target: an incident
    /// for which no target is in force can be neither on time nor late, so it is
    /// in neither `sla_resolved` nor `sla_met` ("no target anywhere" is "no
    /// data", not 0%).
    unknown_target: u64,
    /// Per priority, resolved in W with a known verdict (the on-time
    /// denominator is their sum).
    sla_resolved: [Tally; 5],
    /// Per priority, of those, within target (the on-time numerator is their sum).
    sla_met: [Tally; 5],
    restore: [DurationAcc; 4],
    ack: DurationAcc,
    months: Vec<u64>,
    repeat: RepeatAcc,
    changes: [ChangeAcc; 3],
    outages: IntervalSet,
}

impl ServiceAcc {
    fn new(months: usize) -> ServiceAcc {
        ServiceAcc {
            opened: Tally::default(),
            major: 0,
            resolved_by_to: Tally::default(),
            proactive: Tally::default(),
            resolved_in_w: Tally::default(),
            first_line: Tally::default(),
            automated: Tally::default(),
            unknown_target: 0,
            sla_resolved: Default::default(),
            sla_met: Default::default(),
            restore: Default::default(),
            ack: DurationAcc::default(),
            months: vec![0; months],
            repeat: RepeatAcc::new(months),
            changes: Default::default(),
            outages: IntervalSet::default(),
        }
    }

    fn merge(&mut self, other: ServiceAcc, remap: &[u32], limit: u64) {
        self.opened.merge(other.opened);
        self.major += other.major;
        self.resolved_by_to.merge(other.resolved_by_to);
        self.proactive.merge(other.proactive);
        self.resolved_in_w.merge(other.resolved_in_w);
        self.first_line.merge(other.first_line);
        self.automated.merge(other.automated);
        self.unknown_target += other.unknown_target;
        for (a, b) in self.sla_resolved.iter_mut().zip(other.sla_resolved) {
            a.merge(b);
        }
        for (a, b) in self.sla_met.iter_mut().zip(other.sla_met) {
            a.merge(b);
        }
        for (a, b) in self.restore.iter_mut().zip(&other.restore) {
            a.extend_from(b, limit);
        }
        self.ack.extend_from(&other.ack, limit);
        for (a, b) in self.months.iter_mut().zip(other.months) {
            *a += b;
        }
        self.repeat.merge(other.repeat, remap);
        for (a, b) in self.changes.iter_mut().zip(other.changes) {
            a.merge(b);
        }
        self.outages.merge(other.outages);
    }
}

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
    keys: HashMap<String, u32>,
    key_count: u32,
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
            keys: HashMap::new(),
            key_count: 0,
            linked_changes: HashSet::new(),
            inputs: InputCounts::default(),
            anomalies: Anomalies::default(),
            settled: None,
            incidents_complete: false,
            judged_changes: 0,
            open_outages: Vec::new(),
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
            repeat_keys: u64::from(self.key_count),
            linked_changes: self.linked_changes.len() as u64,
            open_outages: self.open_outages.len() as u64,
            ..Retained::default()
        };
        for svc in self.services.values() {
            let rep = &svc.repeat;
            r.cover_intervals += rep.covers.values().map(|c| c.pieces() as u64).sum::<u64>();
            r.pending_openings += rep.pending.len() as u64;
            r.ids += (rep.pending_ids.len() + rep.resolved_ids.len()) as u64;
            for d in svc.restore.iter().chain(std::iter::once(&svc.ack)) {
                let (exact, bins) = d.samples.retained();
                r.exact_durations += exact;
                r.duration_bins += bins;
                r.ids += (d.ids.len() + d.censored.ids.len()) as u64;
            }
            r.pending_changes += svc.changes.iter().map(|c| c.pending.len() as u64).sum::<u64>();
            r.outage_intervals += svc.outages.items.len() as u64;
            let tallies =
                [&svc.opened, &svc.resolved_by_to, &svc.proactive, &svc.resolved_in_w, &svc.first_line, &svc.automated];
            r.ids += tallies.iter().map(|t| t.ids.len() as u64).sum::<u64>();
            r.ids += svc.sla_resolved.iter().chain(&svc.sla_met).map(|t| t.ids.len() as u64).sum::<u64>();
            for c in &svc.changes {
                let t = [&c.implemented, &c.own_failed, &c.linked_failed, &c.rollback_attempts, &c.rollback_failed];
                r.ids += t.iter().map(|t| t.ids.len() as u64).sum::<u64>();
            }
        }
        r
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
        if self.incidents_complete {
            return Err(MetricsError::IncidentsComplete { id: r.id.as_str().to_owned() });
        }
        if let Some(settled) = self.settled {
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
        }
        self.inputs.incidents += 1;
        if let Some(c) = &r.caused_by_change
            && !self.linked_changes.contains(c)
        {
            self.linked_changes.insert(c.clone());
        }
        let with_ids = self.config.options.with_ids;
        let limit = self.exact_limit;
        let (from, to, window) = (self.from, self.to, self.window);
        let in_w = |t: i64| from <= t && t < to;
        let month_count = self.months.len();
        let svc = match self.services.get_mut(&r.service) {
            Some(s) => s,
            None => Self::service(&mut self.services, &r.service, month_count),
        };
        let id = r.id.as_str();
        let opened = r.opened_at.unix_micros();
        let opened_in = in_w(opened);
        let resolved = r.resolved_at.map(|t| t.unix_micros());
        let mut month = 0u32;
        if opened_in {
            svc.opened.add(id, with_ids);
            let m = self.months.index(opened);
            month = m as u32;
            if let Some(c) = svc.months.get_mut(m) {
                *c += 1;
            }
            if r.major {
                svc.major += 1;
            }
            if matches!(r.detected_by, DetectionSource::Monitoring | DetectionSource::Automation) {
                svc.proactive.add(id, with_ids);
            }
            if resolved.is_some_and(|t| t < to) {
                svc.resolved_by_to.add(id, with_ids);
            }
        }
        if let Some(res) = resolved
            && in_w(res)
        {
            svc.resolved_in_w.add(id, with_ids);
            match r.resolved_by {
                Some(ResolvedBy::L1) => svc.first_line.add(id, with_ids),
                Some(ResolvedBy::Automation) => svc.automated.add(id, with_ids),
                Some(ResolvedBy::L2 | ResolvedBy::L3 | ResolvedBy::Vendor) | None => {}
            }
            // An incident with no resolution target in force is neither on time nor late.
            let p = priority_index(r.priority);
            match r.resolution_target_met {
                Some(met) => {
                    svc.sla_resolved[p].add(id, with_ids);
                    if met {
                        svc.sla_met[p].add(id, with_ids);
                    }
                }
                None => svc.unknown_target += 1,
            }
        }
        // Restore time and censoring.
        let class = class_index(r.failure_class);
        let impact = r.impact_start.unix_micros();
        let restore = r.restore_instant();
        if let Some(ri) = restore
            && in_w(ri.unix_micros())
        {
            let d = ri.seconds_since(r.impact_start);
            if d < 0 {
                self.anomalies.negative_restore_times += 1;
            } else {
                svc.restore[class].push(d as u64, id, with_ids, limit);
            }
        }
        if impact < to && restore.is_none_or(|ri| ri.unix_micros() >= to) {
            svc.restore[class].censored.add(id, with_ids);
        }
        // Acknowledge time.
        if let Some(ack) = r.acknowledged_at
            && in_w(ack.unix_micros())
        {
            let d = ack.seconds_since(r.opened_at);
            if d < 0 {
                self.anomalies.negative_acknowledge_times += 1;
            } else {
                svc.ack.push(d as u64, id, with_ids, limit);
            }
        }
        // Censored: still waiting for a response at `to` (an incident resolved without a recorded
        // acknowledgement is not waiting).
        if opened < to && r.acknowledged_at.is_none_or(|a| a.unix_micros() >= to) && resolved.is_none_or(|t| t >= to) {
            svc.ack.censored.add(id, with_ids);
        }
        // Outage interval.
        if r.outage {
            let end = restore.map(|t| t.unix_micros()).unwrap_or(to);
            svc.outages.insert(impact.max(from), end.min(to));
            // Still unrestored at `to`: downtime until `to`, and named in the report.
            if impact < to && end >= to {
                self.open_outages.push(OpenOutage {
                    service: r.service.as_str().to_owned(),
                    since: r.impact_start,
                    incident: id.to_owned(),
                });
            }
        }
        // Repeat state.
        let keep_resolved = resolved.filter(|&t| t >= from.saturating_sub(window) && t < to);
        if keep_resolved.is_some() || opened_in {
            let name = repeat_key(self.config.repeat.key, r);
            let key = match self.keys.get(name.as_ref()) {
                Some(&k) => k,
                None => {
                    let k = self.key_count;
                    self.key_count += 1;
                    self.keys.insert(name.into_owned(), k);
                    k
                }
            };
            let acc = &mut svc.repeat;
            if let Some(t) = keep_resolved {
                // The openings in W this resolution covers: [t, t + window], clipped to W.
                acc.covers.entry(key).or_default().add(t.max(from), t.saturating_add(window).min(to - 1));
                acc.earliest_resolution = acc.earliest_resolution.min(t);
                if with_ids {
                    acc.resolved_ids.push((key, t, id.to_owned()));
                }
            }
            if opened_in {
                let own_covers = resolved.is_some_and(|t| opened.saturating_sub(window) <= t && t <= opened);
                let month = u16::try_from(month).unwrap_or(u16::MAX);
                acc.pending.push(Opened { key, month, own_covers, at: opened });
                if with_ids {
                    acc.pending_ids.push(id.to_owned());
                }
            }
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
        let (Some(outcome), Some(done)) = (c.outcome, c.completed_at) else {
            return;
        };
        let done = done.unix_micros();
        if !(self.from <= done && done < self.to) {
            return;
        }
        let with_ids = self.config.options.with_ids;
        let id = c.id.as_str();
        let acc = &mut svc.changes[type_index(c.change_type)];
        acc.implemented.add(id, with_ids);
        if outcome == ChangeOutcome::Failed || c.remediation != Remediation::None {
            acc.own_failed.add(id, with_ids);
        } else if self.incidents_complete {
            // Every incident is in: judge the change now instead of keeping its id.
            self.judged_changes += 1;
            acc.judge(&c.id, &self.linked_changes, with_ids);
        } else {
            acc.pending.push(c.id.clone());
        }
        match c.remediation {
            Remediation::RolledBack => acc.rollback_attempts.add(id, with_ids),
            Remediation::RollbackFailed => {
                acc.rollback_attempts.add(id, with_ids);
                acc.rollback_failed.add(id, with_ids);
            }
            Remediation::None | Remediation::FixedForward => {}
        }
    }

    /// Adds an outage (planned ones only make the service known).
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
            return;
        }
        svc.outages.insert(o.start.unix_micros().max(from), o.end.unix_micros().min(to));
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
                for id in std::mem::take(&mut acc.pending) {
                    self.judged_changes += 1;
                    acc.judge(&id, &self.linked_changes, with_ids);
                }
            }
        }
    }

    /// Merges two partitions computed with the same configuration.
    pub fn merge(mut self, other: Accumulator) -> Result<Accumulator, MetricsError> {
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
        for (mine, theirs) in [(&self, &other), (&other, &self)] {
            if mine.judged_changes > 0
                && let Some(named) = theirs.linked_changes.iter().min()
            {
                return Err(MetricsError::JudgedChangesMerge {
                    judged: mine.judged_changes,
                    named: named.as_str().to_owned(),
                });
            }
        }
        self.settled = self.settled.max(other.settled);
        self.incidents_complete |= other.incidents_complete;
        self.judged_changes += other.judged_changes;
        let limit = self.exact_limit;
        // Re-intern the other side's repeat keys.
        let mut remap = vec![0u32; other.key_count as usize];
        for (name, k) in other.keys {
            let mine = match self.keys.get(&name) {
                Some(&m) => m,
                None => {
                    let m = self.key_count;
                    self.key_count += 1;
                    self.keys.insert(name, m);
                    m
                }
            };
            if let Some(slot) = remap.get_mut(k as usize) {
                *slot = mine;
            }
        }
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
        self.anomalies.negative_restore_times += other.anomalies.negative_restore_times;
        self.anomalies.negative_acknowledge_times += other.anomalies.negative_acknowledge_times;
        self.anomalies.empty_outages += other.anomalies.empty_outages;
        Ok(self)
    }

    /// Computes the scorecard, rated against `thresholds`.
    pub fn finish(self, thresholds: &Thresholds) -> Scorecard {
        let with_ids = self.config.options.with_ids;
        let limit = self.exact_limit;
        let months_n = self.months.len();
        let period_micros = (self.to - self.from) as u64;
        let outages_recorded = self.config.options.outages_recorded;
        let mut open_outages = self.open_outages;
        open_outages.sort();
        let mut names: Vec<ServiceId> = self.services.keys().cloned().collect();
        names.sort();
        let mut services = self.services;
        let mut service_metrics = Vec::with_capacity(names.len());
        let mut month_opened = vec![0u64; months_n];
        let mut month_repeats = vec![0u64; months_n];
        let mut pairs: Vec<RepeatPair> = Vec::new();
        let mut total_restore: [DurationAcc; 4] = Default::default();
        let mut total_ack = DurationAcc::default();
        for name in &names {
            let Some(mut acc) = services.remove(name) else { continue };
            for (t, m) in month_opened.iter_mut().zip(&acc.months) {
                *t += m;
            }
            // Repeats.
            let mut repeats = Tally::default();
            find_repeats(&mut acc.repeat, self.window, with_ids, &mut repeats, &mut month_repeats, &mut pairs);
            // Changes.
            let changes = TYPES
                .iter()
                .zip(acc.changes.iter_mut())
                .map(|(&t, c)| change_metrics(t, c, &self.linked_changes, with_ids))
                .collect();
            // Durations.
            let mut overall = DurationAcc::default();
            let mut by_class = Vec::with_capacity(4);
            for (i, &class) in CLASSES.iter().enumerate() {
                overall.extend_from(&acc.restore[i], limit);
                total_restore[i].extend_from(&acc.restore[i], limit);
                by_class.push(ClassDuration { failure_class: class, stats: acc.restore[i].stats(with_ids) });
            }
            total_ack.extend_from(&acc.ack, limit);
            let (down, intervals) = acc.outages.union();
            let (mut on_time, mut judged) = (Tally::default(), Tally::default());
            for (met, resolved) in acc.sla_met.iter().zip(&acc.sla_resolved) {
                on_time.merge(met.clone());
                judged.merge(resolved.clone());
            }
            let metrics = Metrics {
                changes,
                incidents: IncidentKpis {
                    total: acc.opened.n,
                    major: acc.major,
                    resolution_rate: rate_of(&acc.resolved_by_to, &acc.opened, with_ids),
                    first_line_resolution_rate: rate_of(&acc.first_line, &acc.resolved_in_w, with_ids),
                    automated_recovery_share: rate_of(&acc.automated, &acc.resolved_in_w, with_ids),
                    proactive_detection_share: rate_of(&acc.proactive, &acc.opened, with_ids),
                    on_time_resolution_rate: rate_of(&on_time, &judged, with_ids),
                    resolved_with_unknown_target: acc.unknown_target,
                    repeat_rate: rate_of(&repeats, &acc.opened, with_ids),
                },
                sla_attainment: PRIORITIES
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| PriorityAttainment {
                        priority: p,
                        attainment: rate_of(&acc.sla_met[i], &acc.sla_resolved[i], with_ids),
                    })
                    .collect(),
                restore_time: overall.stats(with_ids),
                restore_time_by_class: by_class,
                acknowledge_time: acc.ack.stats(with_ids),
                availability: availability(down, intervals, period_micros, outages_recorded),
            };
            service_metrics.push(ServiceMetrics { service: name.clone(), metrics, ratings: Vec::new() });
        }
        // Totals: sums of the service numerators and denominators; durations from all values.
        let mut total = sum_metrics(service_metrics.iter().map(|s| &s.metrics), with_ids);
        let mut all_restore = DurationAcc::default();
        for (i, acc) in total_restore.iter_mut().enumerate() {
            all_restore.extend_from(acc, limit);
            if let Some(slot) = total.restore_time_by_class.get_mut(i) {
                slot.stats = acc.stats(with_ids);
            }
        }
        total.restore_time = all_restore.stats(with_ids);
        total.acknowledge_time = total_ack.stats(with_ids);
        let restore_histogram = histogram(&all_restore);
        let months: Vec<MonthRow> = self
            .months
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| MonthRow {
                month: b.month.clone(),
                start: b.start,
                end: b.end,
                partial: b.partial,
                incidents: month_opened[i],
                repeats: month_repeats[i],
                repeat_rate: Rate::new(month_repeats[i], month_opened[i]),
            })
            .collect();
        pairs.sort();
        let trends = crate::ratings::trends(&months, thresholds, self.config.trend_partial_months);
        let period = PeriodInfo {
            from: self.config.period.from,
            to: self.config.period.to,
            zone: self.config.zone.name().to_owned(),
            seconds: Decimal::try_from_i128_with_scale(i128::from(self.to - self.from), 6).unwrap_or(Decimal::ZERO),
        };
        let mut card = Scorecard {
            schema: SCHEMA.to_owned(),
            period,
            repeat: self.config.repeat,
            inputs: self.inputs,
            anomalies: self.anomalies,
            total,
            services: service_metrics,
            months,
            trends,
            repeat_pairs: if with_ids { Some(pairs) } else { None },
            open_outages,
            restore_histogram,
            ratings: crate::scorecard::Ratings {
                thresholds: String::new(),
                metrics: Vec::new(),
                tables: Vec::new(),
                notes: Vec::new(),
            },
        };
        card.ratings = crate::ratings::rate(&mut card, thresholds, period_micros);
        if !outages_recorded {
            card.ratings.notes.push(
                "The input records no outages (no outage source): availability and annual downtime are no data, \
                 not 100% and 0 h."
                    .to_owned(),
            );
        }
        card
    }
}

/// The repeat key of an incident within its service, borrowed when possible.
fn repeat_key(key: RepeatKey, r: &IncidentRecord) -> std::borrow::Cow<'_, str> {
    let category = r.category.as_deref().unwrap_or("");
    match key {
        RepeatKey::Service => std::borrow::Cow::Borrowed(""),
        RepeatKey::ServiceCategory => std::borrow::Cow::Borrowed(category),
        RepeatKey::ServiceCategoryProblem => {
            let problem = r.problem_id.as_ref().map(|p| p.as_str()).unwrap_or("");
            std::borrow::Cow::Owned(format!("{category}\u{1f}{problem}"))
        }
    }
}

/// Counts the repeats of one service: those decided by settling, and the
/// pending openings decided now; with ids, names the pairs.
fn find_repeats(
    slot: &mut RepeatAcc,
    window: i64,
    with_ids: bool,
    repeats: &mut Tally,
    month_repeats: &mut [u64],
    pairs: &mut Vec<RepeatPair>,
) {
    repeats.n += slot.repeats;
    for (m, r) in month_repeats.iter_mut().zip(&slot.month_repeats) {
        *m += r;
    }
    if with_ids {
        slot.resolved_ids.sort_unstable();
    }
    for (i, o) in slot.pending.iter().enumerate() {
        if !slot.is_repeat(o) {
            continue;
        }
        let own_id = slot.pending_ids.get(i).map(String::as_str).unwrap_or("");
        repeats.add(own_id, with_ids);
        if let Some(m) = month_repeats.get_mut(o.month as usize) {
            *m += 1;
        }
        if with_ids {
            // The most recent earlier resolution of the key that is not the incident itself.
            let resolved = &slot.resolved_ids;
            let lo = (o.key, o.at.saturating_sub(window));
            let hi = (o.key, o.at);
            let start = resolved.partition_point(|e| (e.0, e.1) < lo);
            let end = resolved.partition_point(|e| (e.0, e.1) <= hi);
            let mut skipped_self = false;
            for idx in (start..end).rev() {
                let Some((_, _, jid)) = resolved.get(idx) else { continue };
                if !skipped_self && o.own_covers && jid == own_id {
                    skipped_self = true;
                    continue;
                }
                pairs.push(RepeatPair { earlier: jid.clone(), later: own_id.to_owned() });
                break;
            }
        }
    }
}

fn change_metrics(t: ChangeType, c: &mut ChangeAcc, linked: &HashSet<ChangeId>, with_ids: bool) -> ChangeTypeMetrics {
    let mut failed = c.own_failed.clone();
    failed.merge(c.linked_failed.clone());
    for id in &c.pending {
        if linked.contains(id) {
            failed.add(id.as_str(), with_ids);
        }
    }
    ChangeTypeMetrics {
        change_type: t,
        first_change_failure_rate: rate_of(&failed, &c.implemented, with_ids),
        rollback_failure_rate: rate_of(&c.rollback_failed, &c.rollback_attempts, with_ids),
        rollback_failure_share_of_implemented: rate_of(&c.rollback_failed, &c.implemented, with_ids),
        rollback_attempt_rate: rate_of(&c.rollback_attempts, &c.implemented, with_ids),
    }
}

fn availability(down: u64, intervals: u64, period_micros: u64, recorded: bool) -> Availability {
    if !recorded {
        // No outage source: the downtime is not known (never "100% available").
        return Availability {
            availability: Rate::new(0, 0),
            downtime_seconds: None,
            annual_downtime_seconds: None,
            outage_intervals: 0,
        };
    }
    let down = down.min(period_micros);
    let annual = Decimal::try_from_i128_with_scale(i128::from(down) * i128::from(YEAR_SECONDS), 6)
        .ok()
        .and_then(|d| d.checked_div(Decimal::try_from_i128_with_scale(i128::from(period_micros), 6).ok()?))
        .map(|d| d.round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven).normalize())
        .unwrap_or(Decimal::ZERO);
    Availability {
        availability: Rate::new(period_micros - down, period_micros),
        downtime_seconds: Some(
            Decimal::try_from_i128_with_scale(i128::from(down), 6).unwrap_or(Decimal::ZERO).normalize(),
        ),
        annual_downtime_seconds: Some(annual),
        outage_intervals: intervals,
    }
}

/// A sum of known downtimes: unknown only when no part is known.
fn add_seconds(a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.checked_add(y).unwrap_or(x)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn empty_durations(with_ids: bool) -> DurationStats {
    DurationAcc::default().stats(with_ids)
}

/// Sums the rates of several metrics (durations are filled by the caller).
fn sum_metrics<'a>(items: impl Iterator<Item = &'a Metrics>, with_ids: bool) -> Metrics {
    let e = || Rate::empty(with_ids);
    let mut total = Metrics {
        changes: TYPES
            .iter()
            .map(|&t| ChangeTypeMetrics {
                change_type: t,
                first_change_failure_rate: e(),
                rollback_failure_rate: e(),
                rollback_failure_share_of_implemented: e(),
                rollback_attempt_rate: e(),
            })
            .collect(),
        incidents: IncidentKpis {
            total: 0,
            major: 0,
            resolution_rate: e(),
            first_line_resolution_rate: e(),
            automated_recovery_share: e(),
            proactive_detection_share: e(),
            on_time_resolution_rate: e(),
            resolved_with_unknown_target: 0,
            repeat_rate: e(),
        },
        sla_attainment: PRIORITIES.iter().map(|&p| PriorityAttainment { priority: p, attainment: e() }).collect(),
        restore_time: empty_durations(with_ids),
        restore_time_by_class: CLASSES
            .iter()
            .map(|&c| ClassDuration { failure_class: c, stats: empty_durations(with_ids) })
            .collect(),
        acknowledge_time: empty_durations(with_ids),
        availability: Availability {
            availability: Rate::new(0, 0),
            downtime_seconds: None,
            annual_downtime_seconds: None,
            outage_intervals: 0,
        },
    };
    fn add(a: &mut Rate, b: &Rate) {
        a.numerator = a.numerator.saturating_add(b.numerator);
        a.denominator = a.denominator.saturating_add(b.denominator);
        if let (Some(x), Some(y)) = (a.ids.as_mut(), b.ids.as_ref()) {
            x.numerator.extend(y.numerator.iter().cloned());
            x.denominator.extend(y.denominator.iter().cloned());
        }
    }
    for m in items {
        for (a, b) in total.changes.iter_mut().zip(&m.changes) {
            add(&mut a.first_change_failure_rate, &b.first_change_failure_rate);
            add(&mut a.rollback_failure_rate, &b.rollback_failure_rate);
            add(&mut a.rollback_failure_share_of_implemented, &b.rollback_failure_share_of_implemented);
            add(&mut a.rollback_attempt_rate, &b.rollback_attempt_rate);
        }
        let (a, b) = (&mut total.incidents, &m.incidents);
        a.total += b.total;
        a.major += b.major;
        add(&mut a.resolution_rate, &b.resolution_rate);
        add(&mut a.first_line_resolution_rate, &b.first_line_resolution_rate);
        add(&mut a.automated_recovery_share, &b.automated_recovery_share);
        add(&mut a.proactive_detection_share, &b.proactive_detection_share);
        add(&mut a.on_time_resolution_rate, &b.on_time_resolution_rate);
        a.resolved_with_unknown_target += b.resolved_with_unknown_target;
        add(&mut a.repeat_rate, &b.repeat_rate);
        for (a, b) in total.sla_attainment.iter_mut().zip(&m.sla_attainment) {
            add(&mut a.attainment, &b.attainment);
        }
        let (a, b) = (&mut total.availability, &m.availability);
        add(&mut a.availability, &b.availability);
        a.downtime_seconds = add_seconds(a.downtime_seconds, b.downtime_seconds);
        a.annual_downtime_seconds = add_seconds(a.annual_downtime_seconds, b.annual_downtime_seconds);
        a.outage_intervals += b.outage_intervals;
    }
    for r in rates_mut(&mut total) {
        r.value = crate::rate::rate_value(r.numerator, r.denominator);
        if let Some(ids) = r.ids.as_mut() {
            ids.numerator.sort_unstable();
            ids.denominator.sort_unstable();
        }
    }
    total
}

/// Every rate of a `Metrics`.
fn rates_mut(m: &mut Metrics) -> Vec<&mut Rate> {
    let mut out: Vec<&mut Rate> = Vec::new();
    for c in &mut m.changes {
        out.push(&mut c.first_change_failure_rate);
        out.push(&mut c.rollback_failure_rate);
        out.push(&mut c.rollback_failure_share_of_implemented);
        out.push(&mut c.rollback_attempt_rate);
    }
    let i = &mut m.incidents;
    out.push(&mut i.resolution_rate);
    out.push(&mut i.first_line_resolution_rate);
    out.push(&mut i.automated_recovery_share);
    out.push(&mut i.proactive_detection_share);
    out.push(&mut i.on_time_resolution_rate);
    out.push(&mut i.repeat_rate);
    for p in &mut m.sla_attainment {
        out.push(&mut p.attainment);
    }
    out.push(&mut m.availability.availability);
    out
}

/// Histogram bucket upper bounds in seconds.
pub const HISTOGRAM_BOUNDS: [(u64, &str); 10] = [
    (300, "<= 5m"),
    (900, "<= 15m"),
    (1800, "<= 30m"),
    (3600, "<= 1h"),
    (7200, "<= 2h"),
    (14_400, "<= 4h"),
    (28_800, "<= 8h"),
    (86_400, "<= 24h"),
    (259_200, "<= 3d"),
    (604_800, "<= 7d"),
];

fn histogram(all: &DurationAcc) -> Vec<HistogramBucket> {
    let mut out: Vec<HistogramBucket> = HISTOGRAM_BOUNDS
        .iter()
        .zip(&all.chart)
        .map(|(&(limit, label), &count)| HistogramBucket { label: label.to_owned(), upper_seconds: Some(limit), count })
        .collect();
    out.push(HistogramBucket {
        label: "> 7d".to_owned(),
        upper_seconds: None,
        count: all.chart.last().copied().unwrap_or(0),
    });
    out
}
