//! Transition-table consistency, per machine: the implementation's
//! `TRANSITIONS` holds exactly the rows the hand-written rules give
//! (`rules::table`); for every state reached by a scripted path and every
//! command kind, `decide` accepts only when the rules' table has a row
//! (state, command), and lands in one of that row's
//! targets; a refusal where a row exists comes from a data-dependent guard
//! (`Invalid` / `Approval`), never `InvalidTransition`; `InvalidTransition`
//! comes only where no row exists; creation commands on an existing aggregate
//! are `AlreadyExists`; every refusal's text passes `check_display` (the
//! state, the command). Every row is accepted somewhere, every status is
//! reached, terminal states have exactly their listed exits, and the Mermaid
//! diagrams draw every row.

use std::collections::BTreeSet;

use itsm_core::machine::Transition;
use itsm_core::{Aggregate, Context};

use crate::change_model::{EmergencyMachine, NormalMachine, StandardMachine};
use crate::incident_model::IncidentMachine;
use crate::model::Machine;
use crate::problem_model::ProblemMachine;
use crate::scripts::{Scripted, reachable};
use crate::support::{Classify, Kind, actor, check_display, config, ts};

fn rows<M: Machine>(from: &str, command: &str) -> Vec<&'static Transition> {
    M::table().iter().filter(|t| t.from == from && t.command == command).collect()
}

fn check_table<M: Scripted>() {
    let statuses = M::statuses();
    for row in M::table() {
        assert!(statuses.contains(&row.from) && statuses.contains(&row.to), "{row:?} names an unknown state");
        assert!(M::NAMES.contains(&row.command), "{row:?} names an unknown command");
        assert!(!M::CREATE.contains(&row.command), "{row:?}: creation is not a transition");
        assert_eq!(M::table().iter().filter(|r| *r == row).count(), 1, "{row:?} is listed twice");
    }
    let reached = reachable::<M>();
    let seen: BTreeSet<&str> = reached.iter().map(|r| r.agg.summary().status).collect();
    let unreached: Vec<_> = statuses.iter().filter(|s| !seen.contains(*s)).collect();
    assert!(unreached.is_empty(), "{}: states never reached by the scripts: {unreached:?}", M::Agg::KIND);

    let mut witnessed = BTreeSet::new();
    for state in &reached {
        let from = state.agg.summary().status;
        for &name in M::NAMES {
            let rows = rows::<M>(from, name);
            for (who, cmd) in M::candidates(&state.agg, name) {
                assert_eq!(M::Agg::command_name(&cmd), name);
                let ctx = Context::new(actor(who), ts(state.next), config());
                let at = format!("{}: {name} by {who} in {from}", M::Agg::KIND);
                match M::Agg::decide(Some(&state.agg), &cmd, &ctx) {
                    Ok(events) => {
                        assert!(!rows.is_empty(), "{at}: accepted although the rules have no row");
                        let mut next = Some(state.agg.clone());
                        for event in &events {
                            next = Some(M::Agg::apply(next, event).unwrap_or_else(|e| panic!("{at}: {e}")));
                        }
                        let to = next.expect("applied").summary().status;
                        assert!(rows.iter().any(|r| r.to == to), "{at}: reached {to}, not a target of {rows:?}");
                        witnessed.insert((from, name, to));
                    }
                    Err(err) => {
                        check_display(&err, Some((state.agg.id(), from)), name, actor(who));
                        let kind = err.kind();
                        if M::CREATE.contains(&name) {
                            assert_eq!(kind, Kind::AlreadyExists, "{at}: {err}");
                        } else if rows.is_empty() {
                            assert_eq!(kind, Kind::InvalidTransition, "{at}: no row, but refused with `{err}`");
                        } else {
                            assert!(kind.is_guard(), "{at}: a row exists, but refused with {kind:?}: `{err}`");
                        }
                    }
                }
            }
        }
    }
    let missing: Vec<_> = M::table().iter().filter(|t| !witnessed.contains(&(t.from, t.command, t.to))).collect();
    assert!(missing.is_empty(), "{}: rows never accepted: {missing:?}", M::Agg::KIND);
}

/// `M::TRANSITIONS` lists each row once, and holds exactly the rows the
/// hand-written rules give.
fn check_transitions_follow_the_rules<M: Machine>() {
    let kind = M::Agg::KIND;
    for row in M::TRANSITIONS {
        assert_eq!(M::TRANSITIONS.iter().filter(|r| *r == row).count(), 1, "{kind}: {row:?} is listed twice");
    }
    let key = |t: &Transition| (t.from, t.command, t.to);
    let implemented: BTreeSet<_> = M::TRANSITIONS.iter().map(key).collect();
    let ruled: BTreeSet<_> = M::table().iter().map(key).collect();
    let extra: Vec<_> = implemented.difference(&ruled).collect();
    let missing: Vec<_> = ruled.difference(&implemented).collect();
    assert!(extra.is_empty(), "{kind}: TRANSITIONS rows the rules do not allow: {extra:?}");
    assert!(missing.is_empty(), "{kind}: rows of the rules TRANSITIONS lacks: {missing:?}");
}

/// Every machine's `TRANSITIONS` is the table its hand-written rules give.
#[test]
fn transitions_tables_follow_the_hand_written_rules() {
    check_transitions_follow_the_rules::<IncidentMachine>();
    check_transitions_follow_the_rules::<ProblemMachine>();
    check_transitions_follow_the_rules::<StandardMachine>();
    check_transitions_follow_the_rules::<NormalMachine>();
    check_transitions_follow_the_rules::<EmergencyMachine>();
}

/// The rules' table check catches a table that differs from the rules: a
/// row dropped, a row added, a target changed.
#[test]
fn the_rules_catch_a_wrong_table() {
    use itsm_core::problem::ProblemStatus;
    let ruled = crate::rules::table(
        crate::rules::PROBLEM,
        crate::rules::PROBLEM_COMMANDS,
        ProblemStatus::ALL,
        ProblemStatus::as_str,
    );
    let key = |t: &Transition| (t.from, t.command, t.to);
    let set = |rows: &[Transition]| rows.iter().map(key).collect::<BTreeSet<_>>();
    assert_eq!(set(&ruled), set(itsm_core::problem::TRANSITIONS));
    let mut dropped = itsm_core::problem::TRANSITIONS.to_vec();
    dropped.pop();
    assert_ne!(set(&ruled), set(&dropped));
    let mut added = itsm_core::problem::TRANSITIONS.to_vec();
    added.push(Transition { from: "closed", command: "reanalyze", to: "root_cause_analysis" });
    assert_ne!(set(&ruled), set(&added));
    let mut moved = itsm_core::problem::TRANSITIONS.to_vec();
    moved[0].to = "root_cause_analysis";
    assert_ne!(set(&ruled), set(&moved));
}

/// Incident: decide agrees with the table in every scripted state.
#[test]
fn incident_decide_agrees_with_its_table() {
    check_table::<IncidentMachine>();
}

/// Problem: decide agrees with the table in every scripted state.
#[test]
fn problem_decide_agrees_with_its_table() {
    check_table::<ProblemMachine>();
}

/// Standard change: decide agrees with the table in every scripted state.
#[test]
fn standard_change_decide_agrees_with_its_table() {
    check_table::<StandardMachine>();
}

/// Normal change: decide agrees with the table in every scripted state.
#[test]
fn normal_change_decide_agrees_with_its_table() {
    check_table::<NormalMachine>();
}

/// Emergency change: decide agrees with the table in every scripted state.
#[test]
fn emergency_change_decide_agrees_with_its_table() {
    check_table::<EmergencyMachine>();
}

/// A normal change's assessment goes to `assessed` when the policy has
/// approval steps for its risk, and straight to `authorized` (recording
/// `Assessed` then `Authorized`, with the policy's empty steps) when it has
/// none; both are rows of the table.
#[test]
fn normal_assess_authorizes_exactly_when_the_risk_needs_no_approval() {
    use itsm_core::change::{NormalChange, NormalCommand, NormalEvent, NormalState};
    use itsm_core::vocabulary::{ChangeType, Risk};
    let submitted = reachable::<NormalMachine>()
        .into_iter()
        .find(|r| r.agg.summary().status == "submitted")
        .expect("a scripted normal change is submitted");
    let mut without_steps = 0;
    for &risk in Risk::ALL {
        let steps = config().approvals.steps(ChangeType::Normal, risk);
        let cmd = NormalCommand::Assess(crate::scripts::assessment(risk, "impl"));
        let ctx = Context::new(actor("cm"), ts(submitted.next), config());
        let events = NormalChange::decide(Some(&submitted.agg), &cmd, &ctx).expect("assessment accepted");
        let names: Vec<&str> = events.iter().map(|e| e.name()).collect();
        let (next, _) = NormalChange::execute(Some(submitted.agg.clone()), &cmd, &ctx).expect("executes");
        let NormalEvent::Assessed { steps: recorded, .. } = &events[0] else { panic!("{risk}: {events:?}") };
        assert_eq!(recorded.as_slice(), steps, "{risk}: the assessment records the policy's steps");
        if steps.is_empty() {
            without_steps += 1;
            assert_eq!(names, ["assessed", "authorized"], "{risk}");
            assert!(matches!(next.state(), NormalState::Authorized(plan) if plan.approvals.is_empty()), "{risk}");
        } else {
            assert_eq!(names, ["assessed"], "{risk}");
            assert!(matches!(next.state(), NormalState::Assessed(a) if a.votes.is_empty()), "{risk}");
        }
        let row = Transition { from: "submitted", command: "assess", to: next.summary().status };
        assert!(NormalMachine::table().contains(&row), "{row:?}");
    }
    assert!(without_steps > 0 && without_steps < Risk::ALL.len(), "the test policy must cover both cases");
}

fn exits<M: Machine>(state: &str) -> BTreeSet<&'static str> {
    M::table().iter().filter(|t| t.from == state).map(|t| t.command).collect()
}

fn check_terminals<M: Scripted>(expected: &[(&str, &[&str])]) {
    let mut terminal: BTreeSet<&str> = BTreeSet::new();
    for state in reachable::<M>() {
        let summary = state.agg.summary();
        if summary.terminal {
            terminal.insert(summary.status);
        }
    }
    let listed: BTreeSet<&str> = expected.iter().map(|(s, _)| *s).collect();
    assert_eq!(terminal, listed, "{}: terminal states", M::Agg::KIND);
    for (state, allowed) in expected {
        let allowed: BTreeSet<&str> = allowed.iter().copied().collect();
        assert_eq!(exits::<M>(state), allowed, "{}: exits of terminal {state}", M::Agg::KIND);
        for row in M::table().iter().filter(|t| t.from == *state) {
            assert_eq!(row.to, *state, "{}: terminal {state} must stay terminal: {row:?}", M::Agg::KIND);
        }
    }
}

/// Terminal states accept exactly their listed exits: a closed incident only
/// links a problem or a change and records history learnt late (a first
/// response, the impact interval); every other terminal state accepts nothing.
#[test]
fn terminal_states_have_only_their_listed_exits() {
    check_terminals::<IncidentMachine>(&[
        (
            "closed",
            &["link_problem", "link_change", "acknowledge", "record_impact", "record_review", "complete_action"],
        ),
        ("cancelled", &[]),
    ]);
    check_terminals::<ProblemMachine>(&[("closed", &[])]);
    check_terminals::<StandardMachine>(&[("closed", &[]), ("cancelled", &[])]);
    check_terminals::<NormalMachine>(&[("closed", &[]), ("rejected", &[]), ("cancelled", &[])]);
    check_terminals::<EmergencyMachine>(&[("closed", &[]), ("rejected", &[]), ("cancelled", &[])]);
}

fn check_diagram(diagram: &str, table: &[Transition]) {
    assert!(diagram.contains("stateDiagram-v2"), "{diagram}");
    for row in table {
        let prefix = format!("    {} --> {}: ", row.from, row.to);
        let line = diagram.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no edge for {row:?}"));
        assert!(line[prefix.len()..].split(", ").any(|c| c == row.command), "{row:?} missing from `{line}`");
    }
}

/// Every table row is drawn in its machine's Mermaid diagram.
#[test]
fn diagrams_draw_every_row() {
    check_diagram(&itsm_core::incident::diagram(), itsm_core::incident::TRANSITIONS);
    check_diagram(&itsm_core::problem::diagram(), itsm_core::problem::TRANSITIONS);
    check_diagram(&itsm_core::change::standard::diagram(), itsm_core::change::standard::TRANSITIONS);
    check_diagram(&itsm_core::change::normal::diagram(), itsm_core::change::normal::TRANSITIONS);
    check_diagram(&itsm_core::change::emergency::diagram(), itsm_core::change::emergency::TRANSITIONS);
}
