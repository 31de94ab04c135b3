//! Problems proposed from incidents (Table 7: "major, typical or repeated
//! faults become problems"): a pure rule over incident records says which
//! incidents should become a problem and why; a person accepts a proposal by
//! issuing the commands it makes ([`ProblemProposal::accept`]: the problem's
//! [`ProblemCommand::Open`], then each incident's `link_problem`), which the
//! store checks and records like any other command.
//!
//! The rule:
//! - **repeats**: incident `i` repeats incident `j` when both have the same
//!   service and category (no category and an empty one are the same), `j`
//!   was resolved at or before `i` opened, and no more than `window_seconds`
//!   before (the metrics' repeat definition, over every incident). Per
//!   (service, category), the incidents on either side of such a pair that
//!   name no problem yet go into one proposal, when the pairs' incidents
//!   (named or not) are at least `min_incidents`;
//! - **major**: a major incident that names no problem and is in no repeat
//!   proposal is proposed alone.
//!
//! Proposals come sorted by service, then category (major proposals after
//! the repeat proposals of their service, by incident id).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ProblemCommand;
use crate::id::{IncidentId, ProblemId, ServiceId, Text};
use crate::incident::IncidentCommand;
use crate::records::IncidentRecord;

/// The proposal rule's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalRule {
    /// How long after an incident's resolution a like incident counts as a
    /// repeat, in seconds (default 30 days, as the metrics).
    pub window_seconds: i64,
    /// The fewest incidents (repeats and the incidents they repeat) a repeat
    /// proposal needs (default 2: one repeat and what it repeats).
    pub min_incidents: usize,
}

impl Default for ProposalRule {
    fn default() -> Self {
        ProposalRule { window_seconds: 30 * 86_400, min_incidents: 2 }
    }
}

/// Why a problem is proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ProposalReason {
    /// Like incidents kept coming back.
    Repeats {
        /// How many of the proposed incidents are repeats of an earlier one.
        repeats: usize,
    },
    /// A major incident.
    Major,
}

/// A problem the rule proposes: the incidents it would link, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemProposal {
    /// The service concerned.
    pub service: ServiceId,
    /// The category the incidents share (`None`: uncategorised).
    pub category: Option<String>,
    /// The incidents the problem would link.
    pub incidents: BTreeSet<IncidentId>,
    /// Why.
    pub reason: ProposalReason,
}

/// The commands that accept a proposal ([`ProblemProposal::accept`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    /// Opens the problem, naming its incidents.
    pub open: ProblemCommand,
    /// Links each incident to the problem (what the incident's metrics
    /// record, and so Table 7's knowledge share, reads).
    pub links: Vec<(IncidentId, IncidentCommand)>,
}

impl ProblemProposal {
    /// The commands that accept the proposal: open problem `id` with `title`
    /// on the proposal's service naming its incidents, then link each
    /// incident to it.
    pub fn accept(&self, id: ProblemId, title: Text) -> Acceptance {
        let links = self
            .incidents
            .iter()
            .map(|incident| (incident.clone(), IncidentCommand::LinkProblem { problem: id.clone() }))
            .collect();
        Acceptance {
            open: ProblemCommand::Open { id, service: self.service.clone(), title, incidents: self.incidents.clone() },
            links,
        }
    }
}

/// The problems `incidents` call for under `rule` (see the module docs).
pub fn proposals(incidents: &[IncidentRecord], rule: &ProposalRule) -> Vec<ProblemProposal> {
    let window = rule.window_seconds.saturating_mul(1_000_000);
    let mut groups: BTreeMap<(&ServiceId, &str), Vec<&IncidentRecord>> = BTreeMap::new();
    for r in incidents {
        groups.entry((&r.service, r.category.as_deref().unwrap_or(""))).or_default().push(r);
    }
    let mut out = Vec::new();
    let mut proposed: BTreeSet<&IncidentId> = BTreeSet::new();
    for ((service, category), members) in &groups {
        // Resolutions in order, to find for each opening the ones before it.
        let mut resolved: Vec<(i64, &IncidentRecord)> =
            members.iter().filter_map(|r| r.resolved_at.map(|t| (t.unix_micros(), *r))).collect();
        resolved.sort_unstable_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        let mut involved: BTreeSet<&IncidentId> = BTreeSet::new();
        let mut open: BTreeSet<&IncidentId> = BTreeSet::new();
        let mut repeats = 0;
        for r in members {
            let opened = r.opened_at.unix_micros();
            let lo = resolved.partition_point(|(t, _)| *t < opened.saturating_sub(window));
            let hi = resolved.partition_point(|(t, _)| *t <= opened);
            let earlier: Vec<&IncidentRecord> =
                resolved.get(lo..hi).unwrap_or_default().iter().map(|(_, j)| *j).filter(|j| j.id != r.id).collect();
            if earlier.is_empty() {
                continue;
            }
            for x in std::iter::once(*r).chain(earlier) {
                involved.insert(&x.id);
                if x.problem_id.is_none() {
                    open.insert(&x.id);
                }
            }
            if r.problem_id.is_none() {
                repeats += 1;
            }
        }
        if !open.is_empty() && involved.len() >= rule.min_incidents.max(1) {
            proposed.extend(open.iter().copied());
            out.push(ProblemProposal {
                service: (*service).clone(),
                category: (!category.is_empty()).then(|| (*category).to_owned()),
                incidents: open.into_iter().cloned().collect(),
                reason: ProposalReason::Repeats { repeats },
            });
        }
    }
    let mut majors: Vec<&IncidentRecord> =
        incidents.iter().filter(|r| r.major && r.problem_id.is_none() && !proposed.contains(&r.id)).collect();
    majors.sort_by(|a, b| (&a.service, &a.id).cmp(&(&b.service, &b.id)));
    majors.dedup_by(|a, b| a.id == b.id);
    for r in majors {
        out.push(ProblemProposal {
            service: r.service.clone(),
            category: r.category.clone(),
            incidents: BTreeSet::from([r.id.clone()]),
            reason: ProposalReason::Major,
        });
    }
    out.sort_by(|a, b| {
        (&a.service, a.reason == ProposalReason::Major).cmp(&(&b.service, b.reason == ProposalReason::Major))
    });
    out
}
