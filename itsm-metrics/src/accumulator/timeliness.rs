//! Timeliness (Tables 3 and 16): alert delay from the alert receipts, and
//! notification delivery from the notification records. Counted over all
//! services (an alert names a monitored object, a notification a topic).

use itsm_core::records::{AlertReceipt, NotificationRecord};

use super::primitives::{DurationAcc, Span, Tally, rate_of};
use crate::config::NotificationPolicy;
use crate::scorecard::{Anomalies, Timeliness};

/// The counts behind [`Timeliness`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TimelinessAcc {
    /// Alerts received in the period (with a delay of at least 0).
    received: Tally,
    /// Of those, received within the bound.
    alerts_in_time: Tally,
    alert_delay: DurationAcc,
    /// Notifications to people created in the period that can be judged.
    judged: Tally,
    /// Of those, delivered within the bound.
    notified_in_time: Tally,
    /// Created in the period, undelivered, not due before its end.
    pending: Tally,
    notification_delay: DurationAcc,
}

/// Microseconds of `seconds`, saturating.
fn micros(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
}

impl TimelinessAcc {
    /// Counts an alert received in the period: in time when `received_at -
    /// fired_at <= bound`; a negative delay is an anomaly, left out.
    pub(super) fn push_alert(&mut self, r: &AlertReceipt, bound_seconds: u64, span: &Span, anomalies: &mut Anomalies) {
        let received = r.received_at.unix_micros();
        if !span.contains(received) {
            return;
        }
        let delay = i128::from(received) - i128::from(r.fired_at.unix_micros());
        if delay < 0 {
            anomalies.negative_alert_delays += 1;
            return;
        }
        let id = r.alert.to_string();
        self.received.add(&id, span.with_ids);
        if delay <= i128::from(micros(bound_seconds)) {
            self.alerts_in_time.add(&id, span.with_ids);
        }
        let seconds = u64::try_from(delay / 1_000_000).unwrap_or(u64::MAX);
        self.alert_delay.push(seconds, &id, span.with_ids, span.limit);
    }

    /// Counts a notification created in the period whose topic reaches people:
    /// delivered within the bound is in time; delivered later, given up (a
    /// dead letter) or undelivered past its deadline (`created_at + bound <
    /// to`) is late; undelivered and not yet due at `to` is pending. A delivery before the creation is an
    /// anomaly, left out.
    pub(super) fn push_notification(
        &mut self,
        n: &NotificationRecord,
        policy: &NotificationPolicy,
        span: &Span,
        anomalies: &mut Anomalies,
    ) {
        let created = n.created_at.unix_micros();
        if !policy.measures(&n.topic) || !span.contains(created) {
            return;
        }
        let id = format!("{}:{}", n.topic, n.key);
        let bound = i128::from(micros(policy.within_seconds));
        match n.delivered_at {
            Some(delivered) => {
                let delay = i128::from(delivered.unix_micros()) - i128::from(created);
                if delay < 0 {
                    anomalies.negative_notification_delays += 1;
                    return;
                }
                self.judged.add(&id, span.with_ids);
                if delay <= bound {
                    self.notified_in_time.add(&id, span.with_ids);
                }
                let seconds = u64::try_from(delay / 1_000_000).unwrap_or(u64::MAX);
                self.notification_delay.push(seconds, &id, span.with_ids, span.limit);
            }
            None if n.dead_at.is_some() || i128::from(created) + bound < i128::from(span.to) => {
                self.judged.add(&id, span.with_ids)
            }
            None => self.pending.add(&id, span.with_ids),
        }
    }

    /// Adds another partition's counts.
    pub(super) fn merge(&mut self, other: TimelinessAcc, limit: u64) {
        self.received.merge(other.received);
        self.alerts_in_time.merge(other.alerts_in_time);
        self.alert_delay.extend_from(&other.alert_delay, limit);
        self.judged.merge(other.judged);
        self.notified_in_time.merge(other.notified_in_time);
        self.pending.merge(other.pending);
        self.notification_delay.extend_from(&other.notification_delay, limit);
    }

    /// Duration values and ids kept.
    pub(super) fn count_retained(&self, r: &mut super::Retained) {
        for d in [&self.alert_delay, &self.notification_delay] {
            let (exact, bins) = d.samples.retained();
            r.exact_durations += exact;
            r.duration_bins += bins;
            r.ids += d.ids.len() as u64;
        }
        let tallies = [&self.received, &self.alerts_in_time, &self.judged, &self.notified_in_time, &self.pending];
        r.ids += tallies.iter().map(|t| t.ids.len() as u64).sum::<u64>();
    }

    /// The metrics, with the bounds in force.
    pub(super) fn finish(mut self, alert_bound: u64, policy: &NotificationPolicy, with_ids: bool) -> Timeliness {
        Timeliness {
            alert_delay_bound_seconds: alert_bound,
            alert_delay_within: rate_of(&self.alerts_in_time, &self.received, with_ids),
            alert_delay: self.alert_delay.stats(with_ids),
            notification_bound_seconds: policy.within_seconds,
            notified_in_time: rate_of(&self.notified_in_time, &self.judged, with_ids),
            notification_delay: self.notification_delay.stats(with_ids),
            notifications_pending: self.pending.n,
        }
    }
}
