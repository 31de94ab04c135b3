//! The generic model-based harness shared by the five machines.
//!
//! A [`Machine`] describes one aggregate's reference model: the transition
//! table, how to generate each command kind, and the data-dependent guards the
//! table cannot express. [`Ref`] turns it into a `ReferenceStateMachine`
//! whose state predicts, for every generated step (actor, clock movement,
//! command), the exact outcome: accepted into a given state, or refused with a
//! given [`Kind`]. [`Runner`] drives the real aggregate with the same steps and
//! checks, after every step:
//!
//! - the outcome and the state reached equal the model's prediction;
//! - an accepted command matches a row of the rules' table (status before, command,
//!   status after), so a terminal state only takes its listed exits;
//! - `execute` agrees with `decide` + `apply`;
//! - replaying the whole history from nothing equals the state built step by
//!   step;
//! - a rejection's text names the state, the command and the id;
//!
//! and at the end that replay is deterministic and survives a JSON round trip
//! of the events (and of the aggregate itself). Any panic in the machine fails
//! the case.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::marker::PhantomData;

use itsm_core::aggregate::ExecuteError;
use itsm_core::id::TenantId;
use itsm_core::machine::Transition;
use itsm_core::{Actor, Aggregate, Context};
use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use crate::support::{Classify, Kind, ROSTER, check_display, config, ts};

/// A command of machine `M`.
pub type Cmd<M> = <<M as Machine>::Agg as Aggregate>::Command;

/// One machine's reference model.
pub trait Machine: 'static {
    /// The aggregate under test.
    type Agg: Aggregate<Error = Self::Err>;
    /// Its error type.
    type Err: Classify + Clone + PartialEq + Send + Sync + 'static;
    /// Model data beyond id, tenant, status and last event time.
    type Extra: Clone + Debug + 'static;
    /// The machine's transition table as the hand-written rules give it
    /// (`rules::table`): what the model predicts from.
    fn table() -> &'static [Transition];
    /// The implementation's `TRANSITIONS` table, checked against
    /// [`Machine::table`] (never used to predict).
    const TRANSITIONS: &'static [Transition];
    /// The names of the commands that create the aggregate.
    const CREATE: &'static [&'static str];
    /// Every command name.
    const NAMES: &'static [&'static str];
    /// Commands that end the aggregate early (cancel, reject): generated
    /// less often so sequences also reach the deep states.
    const RARE: &'static [&'static str];

    /// A command of kind `name`, with instants around `clock`.
    fn command(name: &'static str, clock: i64) -> BoxedStrategy<Cmd<Self>>;

    /// A command of kind `name` for the modelled aggregate `x`: by default
    /// [`Machine::command`]; a machine may bias the data towards what the
    /// state can accept (an approver group of the change) to reach deeper
    /// states, never excluding the rest.
    fn command_for(x: Option<&Self::Extra>, name: &'static str, clock: i64) -> BoxedStrategy<Cmd<Self>> {
        let _ = x;
        Self::command(name, clock)
    }

    /// The creation guards (the permission is already checked): the new id,
    /// initial status and model data, or the refusal.
    fn create(cmd: &Cmd<Self>, actor: &Actor, now: i64) -> Result<(String, &'static str, Self::Extra), Kind>;

    /// The guards of a command the table allows in `status`; on success the
    /// model data is updated and the target state returned when the table has
    /// several rows for (status, command).
    fn step(
        x: &mut Self::Extra,
        status: &'static str,
        id: &str,
        cmd: &Cmd<Self>,
        actor: &Actor,
        now: i64,
    ) -> Result<Option<&'static str>, Kind>;

    /// Machine-specific agreement between the aggregate and the model data.
    fn check(agg: &Self::Agg, x: &Self::Extra, accepted: &BTreeMap<&'static str, u32>);
}

/// The model of an existing aggregate.
#[derive(Debug, Clone)]
pub struct Live<X> {
    /// Its id.
    pub id: String,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its status name.
    pub status: &'static str,
    /// The instant of its last event.
    pub last: i64,
    /// Machine-specific data.
    pub x: X,
}

/// What the model predicts for the latest step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No step yet.
    Nothing,
    /// Accepted, leading to this status.
    Accept(&'static str),
    /// Refused with this kind.
    Reject(Kind),
}

/// The reference state.
#[derive(Debug, Clone)]
pub struct ModelState<X> {
    /// The current instant (seconds after `BASE`).
    pub clock: i64,
    /// The aggregate, once created.
    pub agg: Option<Live<X>>,
    /// The prediction for the latest step.
    pub expect: Expect,
}

/// One generated step.
#[derive(Debug, Clone)]
pub struct Step<C> {
    /// Index into the roster.
    pub actor: usize,
    /// Clock movement before the command (negative sometimes).
    pub dt: i64,
    /// The command.
    pub cmd: C,
}

/// The reference state machine of `M`.
pub struct Ref<M>(PhantomData<M>);

/// The state-machine test of `M`.
pub struct Runner<M>(PhantomData<M>);

fn actor_for<M: Machine>(name: &'static str) -> BoxedStrategy<usize> {
    let permitted: Vec<usize> = ROSTER
        .iter()
        .enumerate()
        .filter(|(_, a)| a.tenant == crate::support::tenant_a() && config().permissions.permits(a, M::Agg::KIND, name))
        .map(|(i, _)| i)
        .collect();
    let any = 0..ROSTER.len();
    if permitted.is_empty() { any.boxed() } else { prop_oneof![5 => select(permitted), 1 => any].boxed() }
}

fn rows<M: Machine>(status: &str, name: &str) -> Vec<&'static Transition> {
    M::table().iter().filter(|t| t.from == status && t.command == name).collect()
}

/// The model's prediction for `cmd` by `actor` at `now` on `live`; updates
/// `live` when accepted.
fn predict<M: Machine>(live: &mut Live<M::Extra>, cmd: &Cmd<M>, actor: &Actor, now: i64) -> Expect {
    let name = M::Agg::command_name(cmd);
    if actor.tenant != live.tenant {
        return Expect::Reject(Kind::NotFound);
    }
    if !config().permissions.permits(actor, M::Agg::KIND, name) {
        return Expect::Reject(Kind::Forbidden);
    }
    if now < live.last {
        return Expect::Reject(Kind::Invalid);
    }
    if M::CREATE.contains(&name) {
        return Expect::Reject(Kind::AlreadyExists);
    }
    let rows = rows::<M>(live.status, name);
    if rows.is_empty() {
        return Expect::Reject(Kind::InvalidTransition);
    }
    let mut x = live.x.clone();
    match M::step(&mut x, live.status, &live.id, cmd, actor, now) {
        Err(kind) => Expect::Reject(kind),
        Ok(target) => {
            let to = target.unwrap_or_else(|| {
                assert_eq!(rows.len(), 1, "model must choose among rows {rows:?}");
                rows[0].to
            });
            assert!(rows.iter().any(|r| r.to == to), "model target {to} is not a row of {rows:?}");
            live.x = x;
            live.status = to;
            live.last = now;
            Expect::Accept(to)
        }
    }
}

impl<M: Machine> ReferenceStateMachine for Ref<M> {
    type State = ModelState<M::Extra>;
    type Transition = Step<Cmd<M>>;

    fn init_state() -> BoxedStrategy<Self::State> {
        Just(ModelState { clock: 0, agg: None, expect: Expect::Nothing }).boxed()
    }

    fn transitions(state: &Self::State) -> BoxedStrategy<Self::Transition> {
        let clock = state.clock;
        let mut enabled: Vec<&'static str> = match &state.agg {
            None => M::CREATE.to_vec(),
            Some(live) => M::table().iter().filter(|t| t.from == live.status).map(|t| t.command).collect(),
        };
        enabled.sort_unstable();
        enabled.dedup();
        let all = select(M::NAMES);
        let name = if enabled.is_empty() {
            all.boxed()
        } else {
            let weighted = enabled.into_iter().map(|n| (if M::RARE.contains(&n) { 1 } else { 4 }, Just(n).boxed()));
            let enabled = proptest::strategy::Union::new_weighted(weighted.collect());
            prop_oneof![6 => enabled, 1 => all].boxed()
        };
        let dt = prop_oneof![12 => 0i64..=3_600, 2 => Just(0i64), 1 => -3_600i64..0];
        let x = state.agg.as_ref().map(|live| live.x.clone());
        (name, dt)
            .prop_flat_map(move |(name, dt)| (actor_for::<M>(name), Just(dt), M::command_for(x.as_ref(), name, clock)))
            .prop_map(|(actor, dt, cmd)| Step { actor, dt, cmd })
            .boxed()
    }

    fn apply(mut state: Self::State, step: &Self::Transition) -> Self::State {
        let now = state.clock + step.dt;
        state.clock = now;
        let actor = &ROSTER[step.actor];
        let name = M::Agg::command_name(&step.cmd);
        state.expect = match &mut state.agg {
            Some(live) => predict::<M>(live, &step.cmd, actor, now),
            None if !M::CREATE.contains(&name) => Expect::Reject(Kind::NotFound),
            None if !config().permissions.permits(actor, M::Agg::KIND, name) => Expect::Reject(Kind::Forbidden),
            None => match M::create(&step.cmd, actor, now) {
                Err(kind) => Expect::Reject(kind),
                Ok((id, status, x)) => {
                    state.agg = Some(Live { id, tenant: actor.tenant.clone(), status, last: now, x });
                    Expect::Accept(status)
                }
            },
        };
        state
    }
}

/// The system under test: the aggregate, its history, and what was accepted.
#[derive(Debug)]
pub struct Sut<A: Aggregate> {
    /// The state built step by step.
    pub state: Option<A>,
    /// Every recorded event.
    pub events: Vec<A::Event>,
    /// Accepted commands by name.
    pub accepted: BTreeMap<&'static str, u32>,
}

impl<M: Machine> StateMachineTest for Runner<M> {
    type SystemUnderTest = Sut<M::Agg>;
    type Reference = Ref<M>;

    fn init_test(_: &ModelState<M::Extra>) -> Self::SystemUnderTest {
        Sut { state: None, events: Vec::new(), accepted: BTreeMap::new() }
    }

    fn apply(
        mut sut: Self::SystemUnderTest,
        model: &ModelState<M::Extra>,
        step: Step<Cmd<M>>,
    ) -> Self::SystemUnderTest {
        let actor = &ROSTER[step.actor];
        let now = ts(model.clock);
        let ctx = Context::new(actor, now, config());
        let name = M::Agg::command_name(&step.cmd);
        let before = sut.state.as_ref().map(|a| (a.id().to_owned(), a.summary()));
        let decided = M::Agg::decide(sut.state.as_ref(), &step.cmd, &ctx);
        let executed = M::Agg::execute(sut.state.clone(), &step.cmd, &ctx);
        let who = format!("{name} by {} at {now} (model clock {})", actor.id, model.clock);
        match (model.expect, decided) {
            (Expect::Accept(to), Ok(events)) => {
                assert!(!events.is_empty(), "{who}: accepted without events");
                let mut next = sut.state.clone();
                for event in &events {
                    next = Some(
                        M::Agg::apply(next, event)
                            .unwrap_or_else(|e| panic!("{who}: decided event does not apply: {e}")),
                    );
                }
                let next = next.expect("events were applied");
                let (exec_state, exec_events) = executed.unwrap_or_else(|e| panic!("{who}: execute refused: {e}"));
                assert_eq!(exec_state, next, "{who}: execute disagrees with decide + apply");
                assert_eq!(exec_events, events, "{who}: execute recorded other events");
                let after = next.summary();
                assert_eq!(after.status, to, "{who}: reached {} but the model expects {to}", after.status);
                let live = model.agg.as_ref().expect("model holds the aggregate");
                assert_eq!(next.id(), live.id, "{who}: id");
                assert_eq!(next.tenant(), &live.tenant, "{who}: tenant");
                if let Some((_, summary)) = &before {
                    let row = Transition { from: summary.status, command: name, to: after.status };
                    assert!(M::table().contains(&row), "{who}: accepted transition {row:?} is not a row of the rules");
                    if summary.terminal {
                        assert!(
                            M::table().iter().any(|t| t.from == summary.status && t.command == name),
                            "{who}: terminal {} accepted a command that is not one of its exits",
                            summary.status
                        );
                    }
                }
                sut.events.extend(events);
                sut.state = Some(next);
                *sut.accepted.entry(name).or_default() += 1;
                let replayed =
                    M::Agg::replay(&sut.events).unwrap_or_else(|e| panic!("{who}: history does not replay: {e}"));
                assert_eq!(
                    replayed.as_ref(),
                    sut.state.as_ref(),
                    "{who}: fold(events) differs from the stepwise state"
                );
                M::check(sut.state.as_ref().expect("just set"), &live.x, &sut.accepted);
            }
            (Expect::Reject(kind), Err(err)) => {
                assert_eq!(err.kind(), kind, "{who}: refused with `{err}` but the model expects {kind:?}");
                match executed {
                    Err(ExecuteError::Rejected(e)) => assert_eq!(e, err, "{who}: execute refused differently"),
                    other => panic!("{who}: execute gave {other:?} where decide refused"),
                }
                let existing = before.as_ref().map(|(id, s)| (id.as_str(), s.status));
                check_display(&err, existing, name, actor);
            }
            (expect, got) => panic!("{who}: the model expects {expect:?} but decide gave {got:?}"),
        }
        sut
    }

    fn teardown(sut: Self::SystemUnderTest, _: ModelState<M::Extra>) {
        let once = M::Agg::replay(&sut.events).expect("history replays");
        let twice = M::Agg::replay(&sut.events).expect("history replays");
        assert_eq!(once, twice, "replay is not deterministic");
        assert_eq!(once, sut.state);
        let json = serde_json::to_string(&sut.events).expect("events serialize");
        let back: Vec<<M::Agg as Aggregate>::Event> =
            itsm_core::json::from_json("event history", &json).expect("events deserialize");
        assert_eq!(back, sut.events, "events change through JSON");
        assert_eq!(M::Agg::replay(&back).expect("history replays"), sut.state, "replay after JSON differs");
        let json = serde_json::to_string(&sut.state).expect("aggregate serializes");
        let back: Option<M::Agg> = itsm_core::json::from_json("aggregate", &json).expect("aggregate deserializes");
        assert_eq!(back, sut.state, "aggregate changes through JSON");
    }
}

/// Lengths of the generated command sequences.
pub const SEQUENCE: std::ops::Range<usize> = 1..50;

/// The proptest configuration of the model tests: 256 cases unless
/// `PROPTEST_CASES` says otherwise, no regression files.
pub fn proptest_config() -> proptest::test_runner::Config {
    proptest::test_runner::Config { failure_persistence: None, ..proptest::test_runner::Config::default() }
}

/// Generates `cases` sequences the way the property test does and asserts
/// that the model predicted an acceptance of every table row at least once:
/// evidence that the generator reaches the whole table (the property test
/// checks the machine against the model on the same sequences).
pub fn assert_generator_covers_table<M: Machine>(cases: u32) {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = Ref::<M>::sequential_strategy(SEQUENCE);
    let mut seen = std::collections::BTreeSet::new();
    let mut accepted = 0usize;
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..cases {
        let (mut state, steps, _) = strategy.new_tree(&mut runner).expect("strategy generates").current();
        for step in &steps {
            let before = state.agg.as_ref().map(|l| l.status);
            state = Ref::<M>::apply(state, step);
            match (before, state.expect) {
                (Some(from), Expect::Accept(to)) => {
                    seen.insert((from, M::Agg::command_name(&step.cmd), to));
                    accepted += 1;
                }
                (None, Expect::Accept(_)) => accepted += 1,
                (_, Expect::Reject(kind)) => *refused.entry(format!("{kind:?}")).or_default() += 1,
                (_, Expect::Nothing) => {}
            }
        }
    }
    let missing: Vec<_> = M::table().iter().filter(|t| !seen.contains(&(t.from, t.command, t.to))).collect();
    eprintln!("{}: {accepted} steps accepted; refused: {refused:?}", M::Agg::KIND);
    assert!(missing.is_empty(), "{}: rows never reached by the generator: {missing:?}", M::Agg::KIND);
}
