//! Per-service accumulation: everything kept per service, and the steps that
//! count an incident into it (opening, resolution, restore and acknowledge
//! times, outage).

use itsm_core::records::IncidentRecord;
use itsm_core::vocabulary::{DetectionSource, ResolvedBy};

use super::Retained;
use super::change::ChangeAcc;
use super::primitives::{DurationAcc, IntervalSet, Span, Tally, class_index, priority_index};
use super::repeat::RepeatAcc;
use crate::scorecard::{Anomalies, OpenOutage};

/// Everything kept per service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServiceAcc {
    pub(super) opened: Tally,
    pub(super) major: u64,
    pub(super) resolved_by_to: Tally,
    pub(super) proactive: Tally,
    pub(super) resolved_in_w: Tally,
    pub(super) first_line: Tally,
    pub(super) automated: Tally,
    /// Resolved in W with no known verdict on the resolution target: an incident
    /// for which no target is in force can be neither on time nor late, so it is
    /// in neither `sla_resolved` nor `sla_met` ("no target anywhere" is "no
    /// data", not 0%).
    pub(super) unknown_target: u64,
    /// Per priority, resolved in W with a known verdict (the on-time
    /// denominator is their sum).
    pub(super) sla_resolved: [Tally; 5],
    /// Per priority, of those, within target (the on-time numerator is their sum).
    pub(super) sla_met: [Tally; 5],
    pub(super) restore: [DurationAcc; 4],
    pub(super) ack: DurationAcc,
    pub(super) months: Vec<u64>,
    pub(super) repeat: RepeatAcc,
    pub(super) changes: [ChangeAcc; 3],
    pub(super) outages: IntervalSet,
    /// Planned maintenance (outage records marked planned), clipped to W.
    pub(super) planned: IntervalSet,
}

impl ServiceAcc {
    pub(super) fn new(months: usize) -> ServiceAcc {
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
            planned: IntervalSet::default(),
        }
    }

    /// Counts an incident opened in W, in month `month`.
    pub(super) fn count_opening(&mut self, r: &IncidentRecord, month: usize, span: &Span) {
        let (id, with_ids) = (r.id.as_str(), span.with_ids);
        self.opened.add(id, with_ids);
        if let Some(c) = self.months.get_mut(month) {
            *c += 1;
        }
        if r.major {
            self.major += 1;
        }
        if matches!(r.detected_by, DetectionSource::Monitoring | DetectionSource::Automation) {
            self.proactive.add(id, with_ids);
        }
        if r.resolved_at.is_some_and(|t| t.unix_micros() < span.to) {
            self.resolved_by_to.add(id, with_ids);
        }
    }

    /// Counts an incident's resolution when it is in W: who resolved it, and
    /// its resolution target's verdict.
    pub(super) fn count_resolution(&mut self, r: &IncidentRecord, span: &Span) {
        let Some(res) = r.resolved_at else { return };
        if !span.contains(res.unix_micros()) {
            return;
        }
        let (id, with_ids) = (r.id.as_str(), span.with_ids);
        self.resolved_in_w.add(id, with_ids);
        match r.resolved_by {
            Some(ResolvedBy::L1) => self.first_line.add(id, with_ids),
            Some(ResolvedBy::Automation) => self.automated.add(id, with_ids),
            Some(ResolvedBy::L2 | ResolvedBy::L3 | ResolvedBy::Vendor) | None => {}
        }
        // An incident with no resolution target in force is neither on time nor late.
        let p = priority_index(r.priority);
        match r.resolution_target_met {
            Some(met) => {
                self.sla_resolved[p].add(id, with_ids);
                if met {
                    self.sla_met[p].add(id, with_ids);
                }
            }
            None => self.unknown_target += 1,
        }
    }

    /// Counts an incident's restore time (restored in W) by failure class, or
    /// its censoring (impact started before `to`, not restored by `to`).
    pub(super) fn count_restore(&mut self, r: &IncidentRecord, span: &Span, anomalies: &mut Anomalies) {
        let (id, with_ids) = (r.id.as_str(), span.with_ids);
        let class = class_index(r.failure_class);
        let impact = r.impact_start.unix_micros();
        let restore = r.restore_instant();
        if let Some(ri) = restore
            && span.contains(ri.unix_micros())
        {
            let d = ri.seconds_since(r.impact_start);
            if d < 0 {
                anomalies.negative_restore_times += 1;
            } else {
                self.restore[class].push(d as u64, id, with_ids, span.limit);
            }
        }
        if impact < span.to && restore.is_none_or(|ri| ri.unix_micros() >= span.to) {
            self.restore[class].censored.add(id, with_ids);
        }
    }

    /// Counts an incident's acknowledge time (acknowledged in W), or its
    /// censoring (still waiting for a response at `to`).
    pub(super) fn count_acknowledgement(&mut self, r: &IncidentRecord, span: &Span, anomalies: &mut Anomalies) {
        let (id, with_ids) = (r.id.as_str(), span.with_ids);
        if let Some(ack) = r.acknowledged_at
            && span.contains(ack.unix_micros())
        {
            let d = ack.seconds_since(r.opened_at);
            if d < 0 {
                anomalies.negative_acknowledge_times += 1;
            } else {
                self.ack.push(d as u64, id, with_ids, span.limit);
            }
        }
        // Censored: still waiting for a response at `to` (an incident resolved without a recorded
        // acknowledgement is not waiting).
        let to = span.to;
        if r.opened_at.unix_micros() < to
            && r.acknowledged_at.is_none_or(|a| a.unix_micros() >= to)
            && r.resolved_at.is_none_or(|t| t.unix_micros() >= to)
        {
            self.ack.censored.add(id, with_ids);
        }
    }

    /// Adds the outage of an incident with `outage` (down from its impact
    /// start until restored, or until `to`); an outage still unrestored at `to`
    /// is returned, to be named in the report.
    pub(super) fn count_outage(&mut self, r: &IncidentRecord, span: &Span) -> Option<OpenOutage> {
        if !r.outage {
            return None;
        }
        let impact = r.impact_start.unix_micros();
        let end = r.restore_instant().map(|t| t.unix_micros()).unwrap_or(span.to);
        self.outages.insert(impact.max(span.from), end.min(span.to));
        // Still unrestored at `to`: downtime until `to`, and named in the report.
        (impact < span.to && end >= span.to).then(|| OpenOutage {
            service: r.service.as_str().to_owned(),
            since: r.impact_start,
            incident: r.id.as_str().to_owned(),
        })
    }

    pub(super) fn merge(&mut self, other: ServiceAcc, remap: &[u32], limit: u64) {
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
        self.planned.merge(other.planned);
    }

    /// Adds what this service holds beyond fixed counters to `r`.
    pub(super) fn count_retained(&self, r: &mut Retained) {
        let rep = &self.repeat;
        r.cover_intervals += rep.covers.values().map(|c| c.pieces() as u64).sum::<u64>();
        r.pending_openings += rep.pending.len() as u64;
        r.ids += (rep.pending_ids.len() + rep.resolved_ids.len()) as u64;
        for d in self.restore.iter().chain(std::iter::once(&self.ack)) {
            let (exact, bins) = d.samples.retained();
            r.exact_durations += exact;
            r.duration_bins += bins;
            r.ids += (d.ids.len() + d.censored.ids.len()) as u64;
        }
        r.pending_changes += self.changes.iter().map(|c| c.pending.len() as u64).sum::<u64>();
        r.outage_intervals += (self.outages.items.len() + self.planned.items.len()) as u64;
        let tallies = [
            &self.opened,
            &self.resolved_by_to,
            &self.proactive,
            &self.resolved_in_w,
            &self.first_line,
            &self.automated,
        ];
        r.ids += tallies.iter().map(|t| t.ids.len() as u64).sum::<u64>();
        r.ids += self.sla_resolved.iter().chain(&self.sla_met).map(|t| t.ids.len() as u64).sum::<u64>();
        for c in &self.changes {
            r.ids += c.tallies().iter().map(|t| t.ids.len() as u64).sum::<u64>();
        }
    }
}
