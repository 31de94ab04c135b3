//! The problem fold is strict: `Problem::apply` accepts an event only in the
//! states where `decide` emits it, and refuses every other (state, event) pair
//! with an `ApplyError` naming the kind, the state and the event.
//!
//! [`RULES`] states the machine by hand, from the documented domain rules (not
//! from `problem::TRANSITIONS`); the checks in `common` hold `apply` to it for
//! every (state, event) pair, `decide` to emitting each event in exactly the
//! states it allows, and random command histories to replaying as decided.

mod common;
mod rules;

use std::collections::BTreeSet;

use common::{Machine, Rules, text};
use itsm_core::id::{ActorId, ChangeId, IncidentId, ProblemId, ServiceId, TenantId};
use itsm_core::problem::{KnownErrorRecord, Problem, ProblemClosure, ProblemCommand, ProblemEvent, ProblemStatus};
use itsm_core::vocabulary::Priority;
use itsm_core::{Actor, Role, Timestamp};
use proptest::prelude::*;
use proptest::sample::select;

use ProblemStatus as S;

struct ProblemMachine;

impl Machine for ProblemMachine {
    type Agg = Problem;
    type Status = S;

    const RULES: Rules<S> = rules::PROBLEM;
    const CREATED: &'static [(&'static str, S)] = &[("opened", S::New)];
    const STATES: &'static [S] = ProblemStatus::ALL;

    fn status(problem: &Problem) -> S {
        problem.status()
    }

    fn sample_event(name: &str, at: Timestamp) -> ProblemEvent {
        use ProblemEvent as E;
        let by = ActorId::new("bob").unwrap();
        match name {
            "opened" => E::Opened {
                tenant: TenantId::new("acme").unwrap(),
                id: ProblemId::new("PRB-1").unwrap(),
                service: ServiceId::new("payments").unwrap(),
                title: text("card payments fail every Monday"),
                incidents: BTreeSet::new(),
                at,
                by,
            },
            "assessed" => E::Assessed { priority: Priority::P2, at, by },
            "analysis_started" => E::AnalysisStarted { at, by },
            "known_error_recorded" => E::KnownErrorRecorded { known_error: known_error(), at, by },
            "fix_started" => E::FixStarted { change: ChangeId::new("CHG-7").unwrap(), at, by },
            "resolved" => E::Resolved { closure: ProblemClosure::Duplicate, at, by },
            "reanalyzed" => E::Reanalyzed { reason: text("the fix did not hold"), at, by },
            "closed" => E::Closed { at, by },
            "incident_linked" => E::IncidentLinked { incident: IncidentId::new("INC-9").unwrap(), at, by },
            other => panic!("unknown event {other}"),
        }
    }

    fn actor(_: &ProblemCommand) -> Actor {
        Actor::new(ActorId::new("pam").unwrap(), TenantId::new("acme").unwrap(), [Role::ProblemManager])
    }

    fn paths() -> Vec<Vec<ProblemCommand>> {
        let happy = happy();
        (1..=happy.len()).map(|n| happy[..n].to_vec()).collect()
    }

    fn probes() -> Vec<ProblemCommand> {
        use ProblemCommand as C;
        let mut probes = happy();
        probes.extend([
            C::Reanalyze { reason: text("the fix did not hold") },
            C::LinkIncident { incident: IncidentId::new("INC-9").unwrap() },
        ]);
        probes.extend(ProblemClosure::ALL.iter().map(|closure| C::Resolve { closure: *closure }));
        probes
    }
}

/// The problem's way from registration to closure, through every state.
fn happy() -> Vec<ProblemCommand> {
    use ProblemCommand as C;
    vec![
        open(),
        C::Assess { priority: Priority::P3 },
        C::StartAnalysis,
        C::RecordKnownError(known_error()),
        C::StartFix { change: ChangeId::new("CHG-1").unwrap() },
        C::Resolve { closure: ProblemClosure::FixApplied },
        C::Close,
    ]
}

fn known_error() -> KnownErrorRecord {
    KnownErrorRecord {
        symptom: text("card payments time out"),
        root_cause: text("the connection pool is exhausted by the Monday batch"),
        workaround: text("restart the payment gateway"),
    }
}

fn open() -> ProblemCommand {
    ProblemCommand::Open {
        id: ProblemId::new("PRB-1").unwrap(),
        service: ServiceId::new("payments").unwrap(),
        title: text("card payments fail every Monday"),
        incidents: [IncidentId::new("INC-1").unwrap()].into(),
    }
}

#[test]
fn the_rules_name_every_event_once() {
    common::check_names::<ProblemMachine>(9);
}

#[test]
fn apply_follows_the_rules_for_every_state_and_event() {
    common::check_apply::<ProblemMachine>();
}

#[test]
fn only_opened_creates_a_problem() {
    common::check_creation::<ProblemMachine>();
}

#[test]
fn decide_emits_each_event_where_the_rules_allow_it() {
    common::check_decide::<ProblemMachine>();
}

/// Any problem command, the open among them (refused once the problem exists).
fn command() -> BoxedStrategy<ProblemCommand> {
    use ProblemCommand as C;
    let incident = select(&["INC-1", "INC-2", "INC-3"][..]).prop_map(|i| IncidentId::new(i).unwrap());
    prop_oneof![
        1 => Just(open()),
        2 => select(Priority::ALL).prop_map(|priority| C::Assess { priority }),
        3 => Just(C::StartAnalysis),
        3 => Just(C::RecordKnownError(known_error())),
        2 => select(&["CHG-1", "CHG-2"][..]).prop_map(|c| C::StartFix { change: ChangeId::new(c).unwrap() }),
        3 => select(ProblemClosure::ALL).prop_map(|closure| C::Resolve { closure }),
        2 => Just(C::Reanalyze { reason: text("not the root cause") }),
        2 => Just(C::Close),
        2 => incident.prop_map(|incident| C::LinkIncident { incident }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Apply never refuses an event that decide emitted, each event leads to
    /// the state the rules give, and the history replays to the same problem.
    #[test]
    fn apply_accepts_whatever_decide_emits(steps in common::history(command(), happy()[1..].to_vec(), 20)) {
        let commands: Vec<ProblemCommand> = std::iter::once(open()).chain(steps).collect();
        common::check_history::<ProblemMachine>(&commands)?;
    }
}
