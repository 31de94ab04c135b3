//! Model-based property test of the problem machine: random command sequences
//! against a reference model built from the hand-written `rules::PROBLEM` plus the guards
//! (a known error needs a root cause and a workaround, closure codes by state,
//! an incident is linked once), with the analysis count checked against the
//! accepted analyses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use itsm_core::Actor;
use itsm_core::id::{ChangeId, IncidentId, ProblemId, ServiceId};
use itsm_core::machine::Transition;
use itsm_core::problem::{
    KnownErrorRecord, Problem, ProblemClosure, ProblemCommand, ProblemError, ProblemStatus, TRANSITIONS,
};
use itsm_core::vocabulary::Priority;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest_state_machine::prop_state_machine;

use crate::model::{Cmd, Machine, Runner, SEQUENCE, proptest_config};
use crate::rules;
use crate::support::{Kind, text, text_strategy};

/// The problem's reference model.
pub struct ProblemMachine;

/// Model data of a problem.
#[derive(Debug, Clone)]
pub struct Prb {
    incidents: BTreeSet<IncidentId>,
    analyses: u32,
    priority: Option<Priority>,
}

/// Every problem command name.
pub const NAMES: &[&str] = &[
    "open",
    "assess",
    "start_analysis",
    "record_known_error",
    "start_fix",
    "resolve",
    "reanalyze",
    "close",
    "link_incident",
];

fn incident_id() -> impl Strategy<Value = IncidentId> {
    select(&["INC-1", "INC-2", "INC-3"][..]).prop_map(|s| IncidentId::new(s).unwrap())
}

/// A strategy for problem commands of kind `name`.
pub fn problem_command(name: &'static str) -> BoxedStrategy<ProblemCommand> {
    use ProblemCommand as C;
    match name {
        "open" => (select(&["PRB-1", "PRB-2"][..]), subsequence(&["INC-1", "INC-2"][..], 0..=2))
            .prop_map(|(id, incidents)| C::Open {
                id: ProblemId::new(id).unwrap(),
                service: ServiceId::new("payments").unwrap(),
                title: text("repeated card failures"),
                incidents: incidents.into_iter().map(|i| IncidentId::new(i).unwrap()).collect(),
            })
            .boxed(),
        "assess" => select(Priority::ALL).prop_map(|priority| C::Assess { priority }).boxed(),
        "start_analysis" => Just(C::StartAnalysis).boxed(),
        "record_known_error" => (text_strategy(), text_strategy(), text_strategy())
            .prop_map(|(symptom, root_cause, workaround)| {
                C::RecordKnownError(KnownErrorRecord { symptom, root_cause, workaround })
            })
            .boxed(),
        "start_fix" => {
            select(&["CHG-1", "CHG-2"][..]).prop_map(|c| C::StartFix { change: ChangeId::new(c).unwrap() }).boxed()
        }
        "resolve" => select(ProblemClosure::ALL).prop_map(|closure| C::Resolve { closure }).boxed(),
        "reanalyze" => text_strategy().prop_map(|reason| C::Reanalyze { reason }).boxed(),
        "close" => Just(C::Close).boxed(),
        "link_incident" => incident_id().prop_map(|incident| C::LinkIncident { incident }).boxed(),
        other => panic!("unknown problem command {other}"),
    }
}

/// The model's closure rule: which closure codes a state may resolve with.
pub fn closure_allowed(status: &str, closure: ProblemClosure) -> bool {
    match closure {
        ProblemClosure::FixApplied => status == "fix_in_progress",
        ProblemClosure::RiskAccepted => matches!(status, "known_error" | "root_cause_analysis"),
        ProblemClosure::Duplicate | ProblemClosure::Cancelled => true,
    }
}

impl Machine for ProblemMachine {
    type Agg = Problem;
    type Err = ProblemError;
    type Extra = Prb;
    fn table() -> &'static [Transition] {
        static TABLE: LazyLock<Vec<Transition>> = LazyLock::new(|| {
            rules::table(rules::PROBLEM, rules::PROBLEM_COMMANDS, ProblemStatus::ALL, ProblemStatus::as_str)
        });
        &TABLE
    }
    const TRANSITIONS: &'static [Transition] = TRANSITIONS;
    const CREATE: &'static [&'static str] = &["open"];
    const NAMES: &'static [&'static str] = NAMES;
    const RARE: &'static [&'static str] = &[];

    fn command(name: &'static str, _: i64) -> BoxedStrategy<Cmd<Self>> {
        problem_command(name)
    }

    fn create(cmd: &ProblemCommand, _: &Actor, _: i64) -> Result<(String, &'static str, Prb), Kind> {
        let ProblemCommand::Open { id, incidents, .. } = cmd else { unreachable!("only open creates") };
        Ok((id.as_str().to_owned(), "new", Prb { incidents: incidents.clone(), analyses: 0, priority: None }))
    }

    fn step(
        x: &mut Prb,
        status: &'static str,
        _: &str,
        cmd: &ProblemCommand,
        _: &Actor,
        _: i64,
    ) -> Result<Option<&'static str>, Kind> {
        use ProblemCommand as C;
        let refuse = |bad: bool| if bad { Err(Kind::Invalid) } else { Ok(()) };
        match cmd {
            C::Open { .. } => unreachable!("creation is handled by the harness"),
            C::Assess { priority } => x.priority = Some(*priority),
            C::StartAnalysis | C::Reanalyze { .. } => x.analyses += 1,
            C::RecordKnownError(record) => {
                refuse(record.root_cause.as_str().trim().is_empty() || record.workaround.as_str().trim().is_empty())?
            }
            C::Resolve { closure } => refuse(!closure_allowed(status, *closure))?,
            C::LinkIncident { incident } => {
                refuse(x.incidents.contains(incident))?;
                x.incidents.insert(incident.clone());
            }
            C::StartFix { .. } | C::Close => {}
        }
        Ok(None)
    }

    fn check(agg: &Problem, x: &Prb, accepted: &BTreeMap<&'static str, u32>) {
        let analyses =
            accepted.get("start_analysis").copied().unwrap_or(0) + accepted.get("reanalyze").copied().unwrap_or(0);
        assert_eq!(agg.analyses(), analyses, "analysis count differs from the accepted analyses");
        assert_eq!(agg.analyses(), x.analyses);
        assert_eq!(agg.incidents(), &x.incidents);
        assert_eq!(agg.priority(), x.priority);
        let has_known_error = matches!(agg.status().as_str(), "known_error" | "fix_in_progress");
        if has_known_error {
            assert!(agg.known_error().is_some(), "{} without a known-error record", agg.status());
        }
    }
}

prop_state_machine! {
    #![proptest_config(proptest_config())]

    /// Random problem histories agree with the reference model.
    #[test]
    fn problem_follows_its_reference_model(sequential SEQUENCE => Runner<ProblemMachine>);
}

/// The generator reaches every row of the problem table.
#[test]
fn problem_generator_covers_the_table() {
    crate::model::assert_generator_covers_table::<ProblemMachine>(256);
}
