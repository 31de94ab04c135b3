//! Availability per business service, rolled up from the outages of the
//! items it rests on.
//!
//! Over a window `[from, to)`, at each instant:
//! - a business service is **in planned maintenance** when the items in
//!   planned maintenance alone take it down ([`ServiceModel::down`]): that
//!   instant is not agreed service time;
//! - otherwise it is **down** when the items in planned maintenance together
//!   with the items in an unplanned outage take it down (maintenance that
//!   removes a redundant node, and an unplanned failure of the other node,
//!   is unplanned downtime);
//! - otherwise it is up.
//!
//! Availability = (agreed time - downtime) / agreed time, where agreed time
//! = `|window|` - planned maintenance time. Overlapping outages count once;
//! an outage still open (`to: None`) lasts until the window's end.

use serde::Serialize;

use super::{Criticality, ServiceModel};
use crate::id::ServiceId;
use crate::time::Timestamp;

/// One outage of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outage {
    /// The item out.
    pub item: ServiceId,
    /// When it went out.
    pub from: Timestamp,
    /// When it came back (`None`: still out).
    pub to: Option<Timestamp>,
    /// Planned maintenance (not counted against agreed service time).
    pub planned: bool,
}

/// A half-open stretch of time `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Interval {
    /// Start (included).
    pub from: Timestamp,
    /// End (excluded).
    pub to: Timestamp,
}

impl Interval {
    /// Its length in microseconds.
    pub fn micros(&self) -> i64 {
        self.to.unix_micros() - self.from.unix_micros()
    }
}

/// One business service's availability over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceAvailability {
    /// The business service.
    pub service: ServiceId,
    /// How much it matters.
    pub criticality: Criticality,
    /// The window's length, in microseconds.
    pub window_micros: i64,
    /// When it was in planned maintenance, merged and in order.
    pub planned: Vec<Interval>,
    /// When it was down outside planned maintenance, merged and in order.
    pub down: Vec<Interval>,
}

impl ServiceAvailability {
    /// Planned maintenance time, in microseconds.
    pub fn planned_micros(&self) -> i64 {
        self.planned.iter().map(Interval::micros).sum()
    }

    /// Downtime outside planned maintenance, in microseconds.
    pub fn down_micros(&self) -> i64 {
        self.down.iter().map(Interval::micros).sum()
    }

    /// Agreed service time: the window less planned maintenance.
    pub fn agreed_micros(&self) -> i64 {
        self.window_micros - self.planned_micros()
    }

    /// `(agreed - down) / agreed`; `None` when no time was agreed (the
    /// whole window was planned maintenance).
    pub fn availability(&self) -> Option<f64> {
        let agreed = self.agreed_micros();
        (agreed > 0).then(|| (agreed - self.down_micros()) as f64 / agreed as f64)
    }
}

/// Why a roll-up was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvailabilityError {
    /// The window ends before it starts.
    #[error("availability window {from} to {to} ends before it starts")]
    Window {
        /// Start.
        from: Timestamp,
        /// End.
        to: Timestamp,
    },
    /// An outage ends before it starts.
    #[error("outage of {item} from {from} ends at {to}, before it starts")]
    Backwards {
        /// The item.
        item: ServiceId,
        /// Start.
        from: Timestamp,
        /// End.
        to: Timestamp,
    },
    /// An outage of an item the model does not know.
    #[error("outage of {item} from {from}: {item} is not an item of the service model")]
    UnknownItem {
        /// The item.
        item: ServiceId,
        /// Start.
        from: Timestamp,
    },
}

/// Each business service's planned maintenance and downtime over
/// `[from, to)`, in the model's order (see the [module documentation](self)).
pub fn roll_up(
    model: &ServiceModel,
    from: Timestamp,
    to: Timestamp,
    outages: &[Outage],
) -> Result<Vec<ServiceAvailability>, AvailabilityError> {
    if to < from {
        return Err(AvailabilityError::Window { from, to });
    }
    // (instant, item, planned, +1 starts / -1 ends), clipped to the window.
    let mut changes: Vec<(Timestamp, usize, bool, i32)> = Vec::with_capacity(outages.len() * 2);
    for outage in outages {
        let item = model
            .index_of(&outage.item)
            .ok_or_else(|| AvailabilityError::UnknownItem { item: outage.item.clone(), from: outage.from })?;
        let end = outage.to.unwrap_or(to.max(outage.from));
        if end < outage.from {
            return Err(AvailabilityError::Backwards { item: outage.item.clone(), from: outage.from, to: end });
        }
        let (a, b) = (outage.from.max(from), end.min(to));
        if a < b {
            changes.push((a, item, outage.planned, 1));
            changes.push((b, item, outage.planned, -1));
        }
    }
    changes.sort_by_key(|c| c.0);
    let services: Vec<(usize, Criticality)> = model
        .business_services()
        .filter_map(|(id, criticality)| model.index_of(id).map(|i| (i, criticality)))
        .collect();
    let mut planned: Vec<Vec<Interval>> = vec![Vec::new(); services.len()];
    let mut down: Vec<Vec<Interval>> = vec![Vec::new(); services.len()];
    let n = model.items().len();
    let (mut planned_count, mut unplanned_count) = (vec![0i32; n], vec![0i32; n]);
    let (mut by_plan, mut by_all) = (vec![false; n], vec![false; n]);
    let mut k = 0;
    let mut at = from;
    while at < to {
        while let Some(&(t, item, is_planned, delta)) = changes.get(k)
            && t <= at
        {
            if is_planned {
                planned_count[item] += delta;
            } else {
                unplanned_count[item] += delta;
            }
            k += 1;
        }
        let next = changes.get(k).map_or(to, |c| c.0.min(to));
        for i in 0..n {
            by_plan[i] = planned_count[i] > 0;
            by_all[i] = by_plan[i] || unplanned_count[i] > 0;
        }
        model.propagate(&mut by_plan);
        model.propagate(&mut by_all);
        for (s, &(i, _)) in services.iter().enumerate() {
            let list = if by_plan[i] {
                &mut planned[s]
            } else if by_all[i] {
                &mut down[s]
            } else {
                continue;
            };
            match list.last_mut() {
                Some(last) if last.to == at => last.to = next,
                _ => list.push(Interval { from: at, to: next }),
            }
        }
        at = next;
    }
    let window_micros = to.unix_micros() - from.unix_micros();
    Ok(services
        .iter()
        .zip(planned.into_iter().zip(down))
        .map(|(&(i, criticality), (planned, down))| ServiceAvailability {
            service: model.items()[i].id.clone(),
            criticality,
            window_micros,
            planned,
            down,
        })
        .collect())
}
