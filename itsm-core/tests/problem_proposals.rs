//! Problem proposals (`itsm_core::problem::proposals`): table-driven cases
//! of the rule, a property test against a brute-force reference written here
//! from the rule as stated (every pair of incidents compared), and the
//! acceptance of a proposal as the problem's `open` command.

use std::collections::{BTreeMap, BTreeSet};

use itsm_core::id::{ActorId, IncidentId, ProblemId, ServiceId, TenantId, Text};
use itsm_core::incident::IncidentCommand;
use itsm_core::problem::{Problem, ProblemProposal, ProposalReason, ProposalRule, proposals};
use itsm_core::records::IncidentRecord;
use itsm_core::vocabulary::{DetectionSource, FailureClass, IncidentKind, Priority};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};
use proptest::prelude::*;

const DAY: i64 = 86_400;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_409_600 + secs).unwrap()
}

/// An incident of `service`/`category` opened on `day`, resolved `resolved`
/// days later if at all.
fn inc(id: &str, service: &str, category: Option<&str>, day: i64, resolved: Option<i64>) -> IncidentRecord {
    let opened = ts(day * DAY);
    IncidentRecord {
        id: IncidentId::new(id).unwrap(),
        kind: IncidentKind::Production,
        service: ServiceId::new(service).unwrap(),
        category: category.map(str::to_owned),
        priority: Priority::P3,
        detected_by: DetectionSource::User,
        opened_at: opened,
        acknowledged_at: None,
        impact_start: opened,
        restored_at: None,
        resolved_at: resolved.map(|d| ts((day + d) * DAY)),
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

fn ids(list: &[&str]) -> BTreeSet<IncidentId> {
    list.iter().map(|s| IncidentId::new(*s).unwrap()).collect()
}

fn major(mut r: IncidentRecord) -> IncidentRecord {
    r.major = true;
    r
}

fn linked(mut r: IncidentRecord) -> IncidentRecord {
    r.problem_id = Some(ProblemId::new("PRB-1").unwrap());
    r
}

/// (what, incidents, rule, proposals as (service, incidents, reason)).
type Row = (&'static str, Vec<IncidentRecord>, ProposalRule, Vec<(&'static str, Vec<&'static str>, ProposalReason)>);

fn rows() -> Vec<Row> {
    let rule = ProposalRule::default();
    vec![
        (
            "a repeat within 30 days proposes both",
            vec![inc("I1", "mail", Some("smtp"), 0, Some(1)), inc("I2", "mail", Some("smtp"), 10, None)],
            rule,
            vec![("mail", vec!["I1", "I2"], ProposalReason::Repeats { repeats: 1 })],
        ),
        (
            "31 days after the resolution is not a repeat",
            vec![inc("I1", "mail", Some("smtp"), 0, Some(1)), inc("I2", "mail", Some("smtp"), 32, None)],
            rule,
            vec![],
        ),
        (
            "another category or service is not a repeat",
            vec![
                inc("I1", "mail", Some("smtp"), 0, Some(1)),
                inc("I2", "mail", Some("imap"), 2, None),
                inc("I3", "vpn", Some("smtp"), 2, None),
            ],
            rule,
            vec![],
        ),
        (
            "opened before the other's resolution is not a repeat",
            vec![inc("I1", "mail", Some("smtp"), 0, Some(5)), inc("I2", "mail", Some("smtp"), 3, None)],
            rule,
            vec![],
        ),
        (
            "a chain of three, one proposal",
            vec![
                inc("I1", "mail", None, 0, Some(1)),
                inc("I2", "mail", None, 5, Some(1)),
                inc("I3", "mail", None, 12, None),
            ],
            rule,
            vec![("mail", vec!["I1", "I2", "I3"], ProposalReason::Repeats { repeats: 2 })],
        ),
        (
            "a pair is below a rule asking for three",
            vec![inc("I1", "mail", None, 0, Some(1)), inc("I2", "mail", None, 5, None)],
            ProposalRule { min_incidents: 3, ..rule },
            vec![],
        ),
        (
            "an incident linked to a problem is left out, its unlinked repeat proposed",
            vec![linked(inc("I1", "mail", None, 0, Some(1))), inc("I2", "mail", None, 5, None)],
            rule,
            vec![("mail", vec!["I2"], ProposalReason::Repeats { repeats: 1 })],
        ),
        (
            "in one service, the repeat proposals come before the major ones",
            vec![
                major(inc("A0", "mail", Some("imap"), 1, None)),
                inc("I1", "mail", Some("smtp"), 0, Some(1)),
                inc("I2", "mail", Some("smtp"), 5, None),
            ],
            rule,
            vec![
                ("mail", vec!["I1", "I2"], ProposalReason::Repeats { repeats: 1 }),
                ("mail", vec!["A0"], ProposalReason::Major),
            ],
        ),
        (
            "both linked: nothing to propose",
            vec![linked(inc("I1", "mail", None, 0, Some(1))), linked(inc("I2", "mail", None, 5, None))],
            rule,
            vec![],
        ),
        (
            "no category and an empty one are one key",
            vec![inc("I1", "mail", None, 0, Some(1)), inc("I2", "mail", Some(""), 5, None)],
            rule,
            vec![("mail", vec!["I1", "I2"], ProposalReason::Repeats { repeats: 1 })],
        ),
        (
            "a major incident alone, and one inside a repeat proposal only there",
            vec![
                major(inc("M1", "erp", None, 3, None)),
                major(inc("I1", "mail", None, 0, Some(1))),
                inc("I2", "mail", None, 5, None),
                linked(major(inc("M2", "erp", None, 4, None))),
            ],
            rule,
            vec![
                ("erp", vec!["M1"], ProposalReason::Major),
                ("mail", vec!["I1", "I2"], ProposalReason::Repeats { repeats: 1 }),
            ],
        ),
    ]
}

#[test]
fn the_rule_proposes_what_each_row_says() {
    for (what, incidents, rule, want) in rows() {
        let got: Vec<(String, BTreeSet<IncidentId>, ProposalReason)> = proposals(&incidents, &rule)
            .into_iter()
            .map(|p| (p.service.as_str().to_owned(), p.incidents, p.reason))
            .collect();
        let want: Vec<(String, BTreeSet<IncidentId>, ProposalReason)> =
            want.into_iter().map(|(s, list, reason)| (s.to_owned(), ids(&list), reason)).collect();
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn a_person_accepts_a_proposal_by_opening_the_problem() {
    let incidents = vec![inc("I1", "mail", Some("smtp"), 0, Some(1)), inc("I2", "mail", Some("smtp"), 10, None)];
    let proposal: ProblemProposal = proposals(&incidents, &ProposalRule::default()).remove(0);
    let accepted = proposal.accept(ProblemId::new("PRB-7").unwrap(), Text::new("SMTP relay keeps failing").unwrap());
    let command = accepted.open;
    let manager = Actor::new(ActorId::new("pat").unwrap(), TenantId::new("acme").unwrap(), [Role::ProblemManager]);
    let config = DomainConfig::default();
    let (problem, events) = Problem::execute(None, &command, &Context::new(&manager, ts(40 * DAY), &config)).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(problem.problem_id().as_str(), "PRB-7");
    assert_eq!(problem.incidents(), &ids(&["I1", "I2"]));
    // Each incident is linked to it.
    let linked: Vec<(String, String)> =
        accepted.links.iter().map(|(id, c)| (id.as_str().to_owned(), format!("{c:?}"))).collect();
    assert_eq!(linked.len(), 2);
    for (id, (incident, command)) in ["I1", "I2"].iter().zip(&accepted.links) {
        assert_eq!(incident.as_str(), *id);
        assert!(
            matches!(command, IncidentCommand::LinkProblem { problem } if problem.as_str() == "PRB-7"),
            "{command:?}"
        );
    }
}

/// A reference group: every incident of a pair, the unlinked ones, the
/// unlinked repeats.
type Group = (BTreeSet<IncidentId>, BTreeSet<IncidentId>, usize);

/// The rule as stated, by brute force over every pair.
fn reference(incidents: &[IncidentRecord], rule: &ProposalRule) -> BTreeSet<(BTreeSet<IncidentId>, ProposalReason)> {
    let key = |r: &IncidentRecord| (r.service.as_str().to_owned(), r.category.clone().unwrap_or_default());
    // Per key: every incident of a pair, the unlinked ones, the unlinked repeats.
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for i in incidents {
        let mut repeat = false;
        for j in incidents {
            let gap = j.resolved_at.map(|r| i.opened_at.unix_micros() - r.unix_micros());
            if i.id != j.id
                && key(i) == key(j)
                && gap.is_some_and(|g| (0..=rule.window_seconds * 1_000_000).contains(&g))
            {
                repeat = true;
                let g = groups.entry(key(i)).or_default();
                g.0.insert(j.id.clone());
                if j.problem_id.is_none() {
                    g.1.insert(j.id.clone());
                }
            }
        }
        if repeat {
            let g = groups.entry(key(i)).or_default();
            g.0.insert(i.id.clone());
            if i.problem_id.is_none() {
                g.1.insert(i.id.clone());
                g.2 += 1;
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut taken = BTreeSet::new();
    for (all, open, repeats) in groups.into_values() {
        if !open.is_empty() && all.len() >= rule.min_incidents.max(1) {
            taken.extend(open.iter().cloned());
            out.insert((open, ProposalReason::Repeats { repeats }));
        }
    }
    for r in incidents {
        if r.major && r.problem_id.is_none() && !taken.contains(&r.id) {
            out.insert((BTreeSet::from([r.id.clone()]), ProposalReason::Major));
        }
    }
    out
}

fn arb_incidents() -> impl Strategy<Value = Vec<IncidentRecord>> {
    proptest::collection::vec(
        (0usize..2, 0usize..3, 0i64..90, proptest::option::of(0i64..10), any::<bool>(), 0u8..6),
        0..30,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(n, (service, category, day, resolved, is_major, link))| {
                let mut r = inc(
                    &format!("I{n}"),
                    ["mail", "vpn"][service],
                    [None, Some("a"), Some("")][category],
                    day,
                    resolved,
                );
                r.major = is_major && n % 3 == 0;
                if link == 0 {
                    r.problem_id = Some(ProblemId::new("PRB-1").unwrap());
                }
                r
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn proposals_equal_the_brute_force_reference(
        incidents in arb_incidents(),
        window_days in 0i64..40,
        min_incidents in 0usize..5,
    ) {
        let rule = ProposalRule { window_seconds: window_days * DAY, min_incidents };
        let got: BTreeSet<(BTreeSet<IncidentId>, ProposalReason)> =
            proposals(&incidents, &rule).into_iter().map(|p| (p.incidents, p.reason)).collect();
        prop_assert_eq!(got, reference(&incidents, &rule));
        // No incident is proposed twice.
        let all: Vec<IncidentId> = proposals(&incidents, &rule).into_iter().flat_map(|p| p.incidents).collect();
        let distinct: BTreeSet<&IncidentId> = all.iter().collect();
        prop_assert_eq!(all.len(), distinct.len());
    }
}
