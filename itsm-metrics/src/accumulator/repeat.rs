//! Per-repeat-key accumulation: repeat keys interned per accumulator, and per
//! service the opening instants each key's resolutions cover (see
//! [`crate::cover`]), the openings waiting for their verdict, and the verdicts.

use std::borrow::Cow;

use foldhash::{HashMap, HashMapExt};

use itsm_core::records::IncidentRecord;

use super::primitives::{Span, Tally};
use crate::config::RepeatKey;
use crate::cover::Cover;
use crate::scorecard::RepeatPair;

/// Interned repeat keys (category, or category and problem, by the configured key).
#[derive(Debug, Clone)]
pub(super) struct KeyInterner {
    keys: HashMap<String, u32>,
    count: u32,
}

impl KeyInterner {
    pub(super) fn new() -> KeyInterner {
        KeyInterner { keys: HashMap::new(), count: 0 }
    }

    /// Keys interned so far.
    pub(super) fn len(&self) -> u32 {
        self.count
    }

    /// The number of `name`, given the next one when new.
    pub(super) fn intern(&mut self, name: Cow<'_, str>) -> u32 {
        match self.keys.get(name.as_ref()) {
            Some(&k) => k,
            None => {
                let k = self.count;
                self.count += 1;
                self.keys.insert(name.into_owned(), k);
                k
            }
        }
    }

    /// Interns the keys of `other` and returns, indexed by `other`'s numbers, the numbers here.
    pub(super) fn absorb(&mut self, other: KeyInterner) -> Vec<u32> {
        let mut remap = vec![0u32; other.count as usize];
        for (name, k) in other.keys {
            let mine = self.intern(Cow::Owned(name));
            if let Some(slot) = remap.get_mut(k as usize) {
                *slot = mine;
            }
        }
        remap
    }
}

/// The repeat key of an incident within its service, borrowed when possible.
pub(super) fn repeat_key(key: RepeatKey, r: &IncidentRecord) -> Cow<'_, str> {
    let category = r.category.as_deref().unwrap_or("");
    match key {
        RepeatKey::Service => Cow::Borrowed(""),
        RepeatKey::ServiceCategory => Cow::Borrowed(category),
        RepeatKey::ServiceCategoryProblem => {
            let problem = r.problem_id.as_ref().map(|p| p.as_str()).unwrap_or("");
            Cow::Owned(format!("{category}\u{1f}{problem}"))
        }
    }
}

/// An opening in W whose repeat verdict is not decided yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Opened {
    /// Interned repeat key.
    key: u32,
    /// Month index (saturating; months past `u16::MAX` are not counted per month).
    month: u16,
    /// Whether the incident's own resolution falls in its repeat window (then it
    /// is among the resolutions covering the opening and must not count as a
    /// repeat of itself).
    own_covers: bool,
    /// Whether the incident is major.
    major: bool,
    /// Whether the incident names a problem (`problem_id`).
    linked: bool,
    at: i64,
}

/// Incidents opened in W that are repeats or major (`reviewable`), and of
/// them those that name a problem (`reviewed`): Table 7's knowledge column.
#[derive(Debug, Clone, Default)]
pub(super) struct Reviews {
    pub(super) reviewable: Tally,
    pub(super) reviewed: Tally,
}

/// Repeat state of one service (see [`crate::cover`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RepeatAcc {
    /// Per interned key, the opening instants its resolutions cover.
    pub(super) covers: HashMap<u32, Cover>,
    /// Openings not decided yet (all of them until
    /// [`Accumulator::settle_before`](super::Accumulator::settle_before)).
    pub(super) pending: Vec<Opened>,
    /// Parallel to `pending`, with ids.
    pub(super) pending_ids: Vec<String>,
    /// (key, resolved instant, id), with ids only: to name the earlier incident of each pair.
    pub(super) resolved_ids: Vec<(u32, i64, String)>,
    /// Repeats decided by settling (never with ids: then everything waits for `finish`).
    repeats: u64,
    /// Of `repeats`, per month.
    month_repeats: Vec<u64>,
    /// Openings decided by settling that are repeats or major (never with ids).
    reviewable: u64,
    /// Of `reviewable`, those that name a problem.
    reviewed: u64,
    /// The earliest resolution instant added to a cover (`i64::MAX` if none).
    pub(super) earliest_resolution: i64,
    /// The latest opening decided by settling (`i64::MIN` if none).
    pub(super) latest_decided: i64,
}

impl RepeatAcc {
    pub(super) fn new(months: usize) -> RepeatAcc {
        RepeatAcc {
            month_repeats: vec![0; months],
            earliest_resolution: i64::MAX,
            latest_decided: i64::MIN,
            ..RepeatAcc::default()
        }
    }

    /// Adds an incident of the service: its resolution, when it can cover an
    /// opening in W, covers `[t, t + window]` clipped to W; its opening in W
    /// (`opening`: the instant and its month index) waits for its verdict. A
    /// key is interned only for an incident that brings either.
    pub(super) fn push_incident(
        &mut self,
        keys: &mut KeyInterner,
        kind: RepeatKey,
        r: &IncidentRecord,
        opening: Option<(i64, usize)>,
        span: &Span,
    ) {
        let (from, to, window) = (span.from, span.to, span.window);
        let resolved = r.resolved_at.map(|t| t.unix_micros());
        let keep_resolved = resolved.filter(|&t| t >= from.saturating_sub(window) && t < to);
        if keep_resolved.is_none() && opening.is_none() {
            return;
        }
        let key = keys.intern(repeat_key(kind, r));
        let id = r.id.as_str();
        if let Some(t) = keep_resolved {
            // The openings in W this resolution covers: [t, t + window], clipped to W.
            self.covers.entry(key).or_default().add(t.max(from), t.saturating_add(window).min(to - 1));
            self.earliest_resolution = self.earliest_resolution.min(t);
            if span.with_ids {
                self.resolved_ids.push((key, t, id.to_owned()));
            }
        }
        if let Some((opened, month)) = opening {
            let own_covers = resolved.is_some_and(|t| opened.saturating_sub(window) <= t && t <= opened);
            let month = u16::try_from(month).unwrap_or(u16::MAX);
            self.pending.push(Opened {
                key,
                month,
                own_covers,
                major: r.major,
                linked: r.problem_id.is_some(),
                at: opened,
            });
            if span.with_ids {
                self.pending_ids.push(id.to_owned());
            }
        }
    }

    pub(super) fn merge(&mut self, mut other: RepeatAcc, remap: &[u32]) {
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
        self.reviewable += other.reviewable;
        self.reviewed += other.reviewed;
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
    pub(super) fn settle(&mut self, before: i64) {
        let mut pending = std::mem::take(&mut self.pending);
        pending.retain(|o| {
            if o.at >= before {
                return true;
            }
            self.latest_decided = self.latest_decided.max(o.at);
            let repeat = self.is_repeat(o);
            if repeat {
                self.repeats += 1;
                if let Some(m) = self.month_repeats.get_mut(o.month as usize) {
                    *m += 1;
                }
            }
            if repeat || o.major {
                self.reviewable += 1;
                self.reviewed += u64::from(o.linked);
            }
            false
        });
        self.pending = pending;
    }

    /// Counts the repeats of the service: those decided by settling, and the
    /// pending openings decided now; with ids, names the pairs. `reviews`
    /// gets the repeat or major openings and those of them that name a problem.
    pub(super) fn find_repeats(
        &mut self,
        window: i64,
        with_ids: bool,
        repeats: &mut Tally,
        month_repeats: &mut [u64],
        pairs: &mut Vec<RepeatPair>,
        reviews: &mut Reviews,
    ) {
        repeats.n += self.repeats;
        reviews.reviewable.n += self.reviewable;
        reviews.reviewed.n += self.reviewed;
        for (m, r) in month_repeats.iter_mut().zip(&self.month_repeats) {
            *m += r;
        }
        if with_ids {
            self.resolved_ids.sort_unstable();
        }
        for (i, o) in self.pending.iter().enumerate() {
            let own_id = self.pending_ids.get(i).map(String::as_str).unwrap_or("");
            let repeat = self.is_repeat(o);
            if repeat || o.major {
                reviews.reviewable.add(own_id, with_ids);
                if o.linked {
                    reviews.reviewed.add(own_id, with_ids);
                }
            }
            if !repeat {
                continue;
            }
            repeats.add(own_id, with_ids);
            if let Some(m) = month_repeats.get_mut(o.month as usize) {
                *m += 1;
            }
            if with_ids {
                // The most recent earlier resolution of the key that is not the incident itself.
                let resolved = &self.resolved_ids;
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
}
