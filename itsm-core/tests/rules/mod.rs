//! The five state machines written out by hand, from the documented domain
//! rules (not from the implementation's `TRANSITIONS` tables), shared by the
//! fold tests (`*_fold.rs`) and the model tests (`workflow/`):
//!
//! - for each event, every state it may follow and the state it leads to
//!   there ([`Rules`]; a state not listed for an event refuses it);
//! - for each command, the event sequences it may emit ([`Commands`]).
//!
//! [`table`] composes the two into the (state, command, state) rows a machine
//! must have: the model tests predict from that table and check each
//! machine's `TRANSITIONS` against it, so neither the model nor the table
//! check is the implementation agreeing with itself.

#![allow(dead_code, reason = "each test target uses the machines it tests")]

use itsm_core::change::emergency::EmergencyStatus;
use itsm_core::change::normal::NormalStatus;
use itsm_core::change::standard::StandardStatus;
use itsm_core::incident::IncidentStatus;
use itsm_core::machine::Transition;
use itsm_core::problem::ProblemStatus;

/// For each event that follows a state: every state it may follow and the
/// state it leads to there. A state not listed for an event refuses it.
pub type Rules<S> = &'static [(&'static str, &'static [(S, S)])];

/// For each command that follows a state (creation commands are not listed):
/// the event sequences it may emit, each sequence a possible outcome (a vote
/// that meets the quorum is followed by the authorization).
pub type Commands = &'static [(&'static str, &'static [&'static [&'static str]])];

/// The incident machine, written out by hand: each event with every state it
/// may follow and the state it leads to there. A state not listed for an event
/// refuses it. `opened` follows no state: it creates the incident (in New).
pub const INCIDENT: Rules<IncidentStatus> = {
    use IncidentStatus as S;
    &[
        ("opened", &[]),
        (
            "assigned",
            &[
                (S::New, S::Assigned),
                (S::Assigned, S::Assigned),
                (S::InProgress, S::InProgress),
                (S::OnHold, S::OnHold),
            ],
        ),
        (
            "tier_escalated",
            &[
                (S::New, S::Assigned),
                (S::Assigned, S::Assigned),
                (S::InProgress, S::InProgress),
                (S::OnHold, S::OnHold),
            ],
        ),
        (
            "acknowledged",
            &[
                (S::New, S::New),
                (S::Assigned, S::Assigned),
                (S::InProgress, S::InProgress),
                (S::OnHold, S::OnHold),
                (S::Resolved, S::Resolved),
                (S::Closed, S::Closed),
            ],
        ),
        ("started", &[(S::New, S::InProgress), (S::Assigned, S::InProgress)]),
        ("held", &[(S::New, S::OnHold), (S::Assigned, S::OnHold), (S::InProgress, S::OnHold), (S::OnHold, S::OnHold)]),
        ("resumed", &[(S::OnHold, S::InProgress)]),
        (
            "resolved",
            &[
                (S::New, S::Resolved),
                (S::Assigned, S::Resolved),
                (S::InProgress, S::Resolved),
                (S::OnHold, S::Resolved),
            ],
        ),
        (
            "impact_recorded",
            &[
                (S::New, S::New),
                (S::Assigned, S::Assigned),
                (S::InProgress, S::InProgress),
                (S::OnHold, S::OnHold),
                (S::Resolved, S::Resolved),
                (S::Closed, S::Closed),
            ],
        ),
        ("reopened", &[(S::Resolved, S::InProgress)]),
        ("closed", &[(S::Resolved, S::Closed)]),
        (
            "cancelled",
            &[
                (S::New, S::Cancelled),
                (S::Assigned, S::Cancelled),
                (S::InProgress, S::Cancelled),
                (S::OnHold, S::Cancelled),
            ],
        ),
        (
            "reprioritized",
            &[(S::New, S::New), (S::Assigned, S::Assigned), (S::InProgress, S::InProgress), (S::OnHold, S::OnHold)],
        ),
        (
            "major_proposed",
            &[(S::New, S::New), (S::Assigned, S::Assigned), (S::InProgress, S::InProgress), (S::OnHold, S::OnHold)],
        ),
        (
            "major_declined",
            &[(S::New, S::New), (S::Assigned, S::Assigned), (S::InProgress, S::InProgress), (S::OnHold, S::OnHold)],
        ),
        ("review_recorded", &[(S::Resolved, S::Resolved), (S::Closed, S::Closed)]),
        ("action_completed", &[(S::Resolved, S::Resolved), (S::Closed, S::Closed)]),
        (
            "major_declared",
            &[(S::New, S::New), (S::Assigned, S::Assigned), (S::InProgress, S::InProgress), (S::OnHold, S::OnHold)],
        ),
        (
            "problem_linked",
            &[
                (S::New, S::New),
                (S::Assigned, S::Assigned),
                (S::InProgress, S::InProgress),
                (S::OnHold, S::OnHold),
                (S::Resolved, S::Resolved),
                (S::Closed, S::Closed),
            ],
        ),
        (
            "change_linked",
            &[
                (S::New, S::New),
                (S::Assigned, S::Assigned),
                (S::InProgress, S::InProgress),
                (S::OnHold, S::OnHold),
                (S::Resolved, S::Resolved),
                (S::Closed, S::Closed),
            ],
        ),
        (
            "parent_set",
            &[(S::New, S::New), (S::Assigned, S::Assigned), (S::InProgress, S::InProgress), (S::OnHold, S::OnHold)],
        ),
        (
            "child_linked",
            &[(S::New, S::New), (S::Assigned, S::Assigned), (S::InProgress, S::InProgress), (S::OnHold, S::OnHold)],
        ),
        (
            "note_added",
            &[
                (S::New, S::New),
                (S::Assigned, S::Assigned),
                (S::InProgress, S::InProgress),
                (S::OnHold, S::OnHold),
                (S::Resolved, S::Resolved),
            ],
        ),
        (
            "alert_correlated",
            &[
                (S::New, S::New),
                (S::Assigned, S::Assigned),
                (S::InProgress, S::InProgress),
                (S::OnHold, S::OnHold),
                (S::Resolved, S::Resolved),
            ],
        ),
    ]
};

/// A problem is assessed once, analysed, gets a known error (which may be
/// recorded again), a fix, and is resolved from any open state (a
/// duplicate or a cancellation needs no analysis); re-analysis returns to
/// root-cause analysis from a known error, a fix or a resolution; incidents
/// link until it is closed.
pub const PROBLEM: Rules<ProblemStatus> = {
    use ProblemStatus as S;
    &[
        ("assessed", &[(S::New, S::Assessed)]),
        ("analysis_started", &[(S::Assessed, S::RootCauseAnalysis)]),
        ("known_error_recorded", &[(S::RootCauseAnalysis, S::KnownError), (S::KnownError, S::KnownError)]),
        ("fix_started", &[(S::KnownError, S::FixInProgress)]),
        (
            "resolved",
            &[
                (S::New, S::Resolved),
                (S::Assessed, S::Resolved),
                (S::RootCauseAnalysis, S::Resolved),
                (S::KnownError, S::Resolved),
                (S::FixInProgress, S::Resolved),
            ],
        ),
        (
            "reanalyzed",
            &[
                (S::KnownError, S::RootCauseAnalysis),
                (S::FixInProgress, S::RootCauseAnalysis),
                (S::Resolved, S::RootCauseAnalysis),
            ],
        ),
        ("closed", &[(S::Resolved, S::Closed)]),
        (
            "incident_linked",
            &[
                (S::New, S::New),
                (S::Assessed, S::Assessed),
                (S::RootCauseAnalysis, S::RootCauseAnalysis),
                (S::KnownError, S::KnownError),
                (S::FixInProgress, S::FixInProgress),
                (S::Resolved, S::Resolved),
            ],
        ),
    ]
};

/// Pre-approved: scheduled (and rescheduled), implemented in stages,
/// completed, optionally reviewed, closed; cancellable before it starts.
pub const STANDARD: Rules<StandardStatus> = {
    use StandardStatus as S;
    &[
        ("scheduled", &[(S::New, S::Scheduled), (S::Scheduled, S::Scheduled)]),
        ("started", &[(S::Scheduled, S::Implementing)]),
        ("stage_advanced", &[(S::Implementing, S::Implementing)]),
        ("completed", &[(S::Implementing, S::Completed)]),
        ("rolled_back_automatically", &[(S::Implementing, S::Completed)]),
        ("reviewed", &[(S::Completed, S::Reviewed)]),
        ("closed", &[(S::Completed, S::Closed), (S::Reviewed, S::Closed)]),
        ("cancelled", &[(S::New, S::Cancelled), (S::Scheduled, S::Cancelled)]),
    ]
};

/// Planned: submitted, assessed, approved (each vote keeps it assessed;
/// the vote meeting the quorum is followed by the authorization) or
/// rejected, scheduled (and rescheduled), implemented in stages,
/// completed, reviewed (mandatory), closed; cancellable before it starts.
pub const NORMAL: Rules<NormalStatus> = {
    use NormalStatus as S;
    &[
        ("submitted", &[(S::Draft, S::Submitted)]),
        ("assessed", &[(S::Submitted, S::Assessed)]),
        ("approved", &[(S::Assessed, S::Assessed)]),
        ("authorized", &[(S::Assessed, S::Authorized)]),
        ("rejected", &[(S::Assessed, S::Rejected)]),
        ("scheduled", &[(S::Authorized, S::Scheduled), (S::Scheduled, S::Scheduled)]),
        ("started", &[(S::Scheduled, S::Implementing)]),
        ("stage_advanced", &[(S::Implementing, S::Implementing)]),
        ("completed", &[(S::Implementing, S::Completed)]),
        ("rolled_back_automatically", &[(S::Implementing, S::Completed)]),
        ("reviewed", &[(S::Completed, S::Reviewed)]),
        ("closed", &[(S::Reviewed, S::Closed)]),
        (
            "cancelled",
            &[
                (S::Draft, S::Cancelled),
                (S::Submitted, S::Cancelled),
                (S::Assessed, S::Cancelled),
                (S::Authorized, S::Cancelled),
                (S::Scheduled, S::Cancelled),
            ],
        ),
    ]
};

/// Submitted to the emergency CAB (each vote keeps it submitted; the vote
/// meeting the quorum is followed by the authorization) or rejected,
/// implemented in stages, completed, reviewed (mandatory), closed;
/// cancellable before it starts. Recorded after the fact it starts
/// completed, and is approved (and authorized) there.
pub const EMERGENCY: Rules<EmergencyStatus> = {
    use EmergencyStatus as S;
    &[
        ("approved", &[(S::Submitted, S::Submitted), (S::Completed, S::Completed)]),
        ("authorized", &[(S::Submitted, S::Authorized), (S::Completed, S::Completed)]),
        ("rejected", &[(S::Submitted, S::Rejected)]),
        ("started", &[(S::Authorized, S::Implementing)]),
        ("stage_advanced", &[(S::Implementing, S::Implementing)]),
        ("completed", &[(S::Implementing, S::Completed)]),
        ("rolled_back_automatically", &[(S::Implementing, S::Completed)]),
        ("reviewed", &[(S::Completed, S::Reviewed)]),
        ("closed", &[(S::Reviewed, S::Closed)]),
        ("cancelled", &[(S::Submitted, S::Cancelled), (S::Authorized, S::Cancelled)]),
    ]
};

/// The incident's commands and the events each emits.
pub const INCIDENT_COMMANDS: Commands = &[
    ("assign", &[&["assigned"]]),
    ("acknowledge", &[&["acknowledged"]]),
    ("start", &[&["started"]]),
    ("hold", &[&["held"]]),
    ("resume", &[&["resumed"]]),
    ("resolve", &[&["resolved"]]),
    ("cascade_resolve", &[&["resolved"]]),
    ("record_impact", &[&["impact_recorded"]]),
    ("reopen", &[&["reopened"]]),
    ("close", &[&["closed"]]),
    ("cancel", &[&["cancelled"]]),
    ("reprioritize", &[&["reprioritized"]]),
    ("escalate_tier", &[&["tier_escalated"]]),
    ("propose_major", &[&["major_proposed"]]),
    ("decline_major", &[&["major_declined"]]),
    ("declare_major", &[&["major_declared"]]),
    ("record_review", &[&["review_recorded"]]),
    ("complete_action", &[&["action_completed"]]),
    ("link_problem", &[&["problem_linked"]]),
    ("link_change", &[&["change_linked"]]),
    ("set_parent", &[&["parent_set"]]),
    ("link_child", &[&["child_linked"]]),
    ("add_note", &[&["note_added"]]),
    ("correlate_alert", &[&["alert_correlated"]]),
];

/// The problem's commands and the events each emits.
pub const PROBLEM_COMMANDS: Commands = &[
    ("assess", &[&["assessed"]]),
    ("start_analysis", &[&["analysis_started"]]),
    ("record_known_error", &[&["known_error_recorded"]]),
    ("start_fix", &[&["fix_started"]]),
    ("resolve", &[&["resolved"]]),
    ("reanalyze", &[&["reanalyzed"]]),
    ("close", &[&["closed"]]),
    ("link_incident", &[&["incident_linked"]]),
];

/// The standard change's commands and the events each emits.
pub const STANDARD_COMMANDS: Commands = &[
    ("schedule", &[&["scheduled"]]),
    ("start", &[&["started"]]),
    ("advance_stage", &[&["stage_advanced"]]),
    ("complete", &[&["completed"]]),
    ("fail_stage", &[&["rolled_back_automatically"]]),
    ("review", &[&["reviewed"]]),
    ("close", &[&["closed"]]),
    ("cancel", &[&["cancelled"]]),
];

/// The normal change's commands and the events each emits: an assessment
/// whose risk needs no approval, and the vote meeting the last quorum, are
/// followed by the authorization.
pub const NORMAL_COMMANDS: Commands = &[
    ("submit", &[&["submitted"]]),
    ("assess", &[&["assessed"], &["assessed", "authorized"]]),
    ("approve", &[&["approved"], &["approved", "authorized"]]),
    ("reject", &[&["rejected"]]),
    ("schedule", &[&["scheduled"]]),
    ("start", &[&["started"]]),
    ("advance_stage", &[&["stage_advanced"]]),
    ("complete", &[&["completed"]]),
    ("fail_stage", &[&["rolled_back_automatically"]]),
    ("review", &[&["reviewed"]]),
    ("close", &[&["closed"]]),
    ("cancel", &[&["cancelled"]]),
];

/// The emergency change's commands and the events each emits: the vote
/// meeting the last quorum is followed by the authorization.
pub const EMERGENCY_COMMANDS: Commands = &[
    ("approve", &[&["approved"], &["approved", "authorized"]]),
    ("reject", &[&["rejected"]]),
    ("start", &[&["started"]]),
    ("advance_stage", &[&["stage_advanced"]]),
    ("complete", &[&["completed"]]),
    ("fail_stage", &[&["rolled_back_automatically"]]),
    ("review", &[&["reviewed"]]),
    ("close", &[&["closed"]]),
    ("cancel", &[&["cancelled"]]),
];

/// The state `event` leads to from `from` under `rules`, or `None` when they
/// refuse it (or do not know the event).
pub fn follow<S: Copy + PartialEq>(rules: Rules<S>, event: &str, from: S) -> Option<S> {
    let (_, pairs) = rules.iter().find(|(name, _)| *name == event)?;
    pairs.iter().find(|(state, _)| *state == from).map(|(_, to)| *to)
}

/// The rows the rules give a machine: (from, command, to) for every state
/// `from` in which one of the command's event sequences is allowed event by
/// event, `to` the state the last event leads to. No row is listed twice.
/// `name` is the state's name as the machine's summaries give it.
pub fn table<S: Copy + PartialEq>(
    rules: Rules<S>,
    commands: Commands,
    states: &[S],
    name: fn(&S) -> &'static str,
) -> Vec<Transition> {
    let mut rows = Vec::new();
    for (command, outcomes) in commands {
        for from in states {
            for events in *outcomes {
                let to = events.iter().try_fold(*from, |state, event| follow(rules, event, state));
                let Some(to) = to else { continue };
                let row = Transition { from: name(from), command, to: name(&to) };
                if !rows.contains(&row) {
                    rows.push(row);
                }
            }
        }
    }
    rows
}
