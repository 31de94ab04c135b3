//! What the fold tests of the problem and the three change machines share: a
//! machine described by hand ([`Machine`]: its rules, how to reach each state,
//! who issues which command) and the checks its `apply` and `decide` are held
//! to against those rules.

use std::collections::BTreeSet;
use std::fmt::{Debug, Display};

use itsm_core::id::Text;
use itsm_core::{Actor, Aggregate, ApplyError, Context, DomainConfig, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// For each event that follows a state: every state it may follow and the
/// state it leads to there. A state not listed for an event refuses it.
pub type Rules<S> = &'static [(&'static str, &'static [(S, S)])];

/// Events with the state each followed (`None`: nothing, before creation),
/// and the state the last one leads to.
type Walked<S> = (Vec<(&'static str, Option<S>)>, Option<S>);

type Command<M> = <<M as Machine>::Agg as Aggregate>::Command;
type Event<M> = <<M as Machine>::Agg as Aggregate>::Event;

/// A state machine written out by hand, and how to drive it.
pub trait Machine {
    /// The aggregate.
    type Agg: Aggregate;
    /// Its fieldless state; `Display` gives the name an `ApplyError` carries.
    type Status: Copy + Ord + Debug + Display + 'static;
    /// The events that follow a state.
    const RULES: Rules<Self::Status>;
    /// The events that create the aggregate, each with the state it starts in.
    const CREATED: &'static [(&'static str, Self::Status)];
    /// Every state.
    const STATES: &'static [Self::Status];

    /// The aggregate's state.
    fn status(agg: &Self::Agg) -> Self::Status;
    /// One event named `name` at `at`, with data any state could take.
    fn sample_event(name: &str, at: Timestamp) -> Event<Self>;
    /// Who issues `command`.
    fn actor(command: &Command<Self>) -> Actor;
    /// Command histories that between them reach every state.
    fn paths() -> Vec<Vec<Command<Self>>>;
    /// Commands that between them emit every event the rules allow in every
    /// state reached by [`Machine::paths`] (decided an hour after the epoch).
    fn probes() -> Vec<Command<Self>>;
}

/// 2026-03-02T09:00:00Z plus `secs` seconds.
pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_442_000 + secs).expect("a representable instant")
}

pub fn text(s: &str) -> Text {
    Text::new(s).expect("valid text")
}

/// The state `event` leads to from `from`, or `None` when the rules refuse it.
pub fn rule<M: Machine>(event: &str, from: M::Status) -> Option<M::Status> {
    let (_, pairs) = M::RULES.iter().find(|(name, _)| *name == event).unwrap_or_else(|| panic!("no rule for {event}"));
    pairs.iter().find(|(state, _)| *state == from).map(|(_, to)| *to)
}

/// Every event name: the creating ones, then those of the rules.
fn event_names<M: Machine>() -> Vec<&'static str> {
    M::CREATED.iter().map(|(name, _)| *name).chain(M::RULES.iter().map(|(name, _)| *name)).collect()
}

/// Runs `commands` from nothing, one minute apart from the epoch of [`ts`]:
/// the aggregate, or a panic naming the refused command.
pub fn run<M: Machine>(commands: &[Command<M>]) -> M::Agg {
    let config = DomainConfig::default();
    let mut state = None;
    for (i, command) in commands.iter().enumerate() {
        let actor = M::actor(command);
        let (next, _) = M::Agg::execute(state, command, &Context::new(&actor, ts(60 * i as i64), &config))
            .unwrap_or_else(|e| panic!("{} refused: {e}", M::Agg::command_name(command)));
        state = Some(next);
    }
    state.expect("at least the creating command")
}

/// The aggregates [`Machine::paths`] reach; every state is among them.
pub fn reached<M: Machine>() -> Vec<M::Agg> {
    let reached: Vec<M::Agg> = M::paths().iter().map(|path| run::<M>(path)).collect();
    let states: BTreeSet<M::Status> = reached.iter().map(M::status).collect();
    assert_eq!(states, M::STATES.iter().copied().collect(), "the paths reach every state");
    reached
}

/// The rules and the creating events name each event of the machine once,
/// `count` in all, and each has a sample.
pub fn check_names<M: Machine>(count: usize) {
    let names = event_names::<M>();
    let distinct: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), distinct.len(), "an event listed twice");
    assert_eq!(names.len(), count, "the number of event kinds");
    for name in names {
        assert_eq!(M::Agg::event_name(&M::sample_event(name, ts(0))), name);
    }
}

/// Feeds every event to every reached aggregate: `apply` leads where the rules
/// say, or refuses with an `ApplyError` naming the kind, the state and the
/// event. A creating event follows no state.
pub fn check_apply<M: Machine>() {
    let at = ts(3_600);
    for agg in reached::<M>() {
        let from = M::status(&agg);
        for name in event_names::<M>() {
            let expected =
                if M::CREATED.iter().any(|(created, _)| *created == name) { None } else { rule::<M>(name, from) };
            let result = M::Agg::apply(Some(agg.clone()), &M::sample_event(name, at));
            match (expected, result) {
                (Some(to), Ok(next)) => assert_eq!(M::status(&next), to, "{name} from {from}"),
                (None, Err(error)) => {
                    assert_eq!((error.kind, error.event), (M::Agg::KIND, name), "{name} from {from}");
                    assert_eq!(error.state, from.to_string(), "{name} from {from}");
                }
                (Some(to), Err(error)) => panic!("{name} from {from} should lead to {to}, refused: {error}"),
                (None, Ok(next)) => panic!("{name} from {from} should be refused, led to {}", M::status(&next)),
            }
        }
    }
}

/// Only the creating events apply to nothing, each starting the state it names.
pub fn check_creation<M: Machine>() {
    for name in event_names::<M>() {
        let created = M::CREATED.iter().find(|(created, _)| *created == name).map(|(_, status)| *status);
        match (created, M::Agg::apply(None, &M::sample_event(name, ts(0)))) {
            (Some(status), Ok(agg)) => assert_eq!(M::status(&agg), status, "{name} on nothing"),
            (Some(_), Err(error)) => panic!("{name} refused on nothing: {error}"),
            (None, Ok(agg)) => panic!("{name} created an aggregate in {}", M::status(&agg)),
            (None, Err(error)) => assert_eq!(error, ApplyError { kind: M::Agg::KIND, state: "absent", event: name }),
        }
    }
}

/// Walks `events` decided on `state`: each must be one the rules (or, on
/// nothing, the creating events) allow where it falls. Returns the pairs
/// (event, the state it followed; `None` for nothing) and the final state.
fn walk<M: Machine>(mut from: Option<M::Status>, events: &[Event<M>]) -> Result<Walked<M::Status>, String> {
    let mut pairs = Vec::new();
    for event in events {
        let name = M::Agg::event_name(event);
        let to = match from {
            None => M::CREATED.iter().find(|(created, _)| *created == name).map(|(_, status)| *status),
            Some(status) => M::RULES.iter().any(|(n, _)| *n == name).then(|| rule::<M>(name, status)).flatten(),
        };
        let Some(to) = to else {
            return Err(format!(
                "{name} emitted in {}, which the rules refuse",
                from.map_or("absent".into(), |s| s.to_string())
            ));
        };
        pairs.push((name, from));
        from = Some(to);
    }
    Ok((pairs, from))
}

/// `decide` emits each event in exactly the states the rules allow it in:
/// every event a probe emits in a reached state is one the rules allow there,
/// and between them the probes emit every (state, event) pair of the rules.
pub fn check_decide<M: Machine>() {
    let config = DomainConfig::default();
    let now = ts(3_600);
    let probes = M::probes();
    let mut emitted = BTreeSet::new();
    let states = std::iter::once(None).chain(reached::<M>().into_iter().map(Some));
    for state in states {
        let from = state.as_ref().map(M::status);
        for command in &probes {
            let actor = M::actor(command);
            let Ok(events) = M::Agg::decide(state.as_ref(), command, &Context::new(&actor, now, &config)) else {
                continue;
            };
            let (pairs, _) =
                walk::<M>(from, &events).unwrap_or_else(|e| panic!("{} decided: {e}", M::Agg::command_name(command)));
            emitted.extend(pairs);
        }
    }
    let allowed: BTreeSet<(&str, Option<M::Status>)> = M::CREATED
        .iter()
        .map(|(name, _)| (*name, None))
        .chain(M::RULES.iter().flat_map(|(name, pairs)| pairs.iter().map(move |(from, _)| (*name, Some(*from)))))
        .collect();
    assert_eq!(emitted, allowed, "the (event, state) pairs decide emits");
}

/// Runs `commands` ten minutes apart through `decide` and then `apply`: apply
/// never refuses an event decide emitted, each event leads to the state the
/// rules say, and replaying the whole history gives the same aggregate.
pub fn check_history<M: Machine>(commands: &[Command<M>]) -> Result<(), TestCaseError> {
    let config = DomainConfig::default();
    let mut history = Vec::new();
    let mut state: Option<M::Agg> = None;
    for (i, command) in commands.iter().enumerate() {
        let actor = M::actor(command);
        let ctx = Context::new(&actor, ts(600 * i as i64), &config);
        let Ok(events) = M::Agg::decide(state.as_ref(), command, &ctx) else {
            continue;
        };
        let name = M::Agg::command_name(command);
        if events.is_empty() {
            return Err(TestCaseError::fail(format!("{name} accepted with no event")));
        }
        let (_, expected) = walk::<M>(state.as_ref().map(M::status), &events)
            .map_err(|e| TestCaseError::fail(format!("{name} decided: {e}")))?;
        for event in &events {
            let event_name = M::Agg::event_name(event);
            state = Some(M::Agg::apply(state, event).map_err(|error| {
                TestCaseError::fail(format!("apply refused {event_name} emitted by {name}: {error}"))
            })?);
        }
        let status = state.as_ref().map(M::status);
        if status != expected {
            return Err(TestCaseError::fail(format!("{name} led to {status:?}, the rules say {expected:?}")));
        }
        history.extend(events);
    }
    let replayed = M::Agg::replay(&history).map_err(|e| TestCaseError::fail(format!("replay refused: {e}")))?;
    if replayed != state {
        return Err(TestCaseError::fail("the replayed history differs from the decided one"));
    }
    Ok(())
}

/// Up to `runs` pieces, each one random command or the tail of `happy` (the
/// machine's way from creation to its end) from a random step on, so that a
/// history reaches the late states as well as wandering.
pub fn history<C: Clone + Debug + 'static>(
    command: BoxedStrategy<C>,
    happy: Vec<C>,
    runs: usize,
) -> impl Strategy<Value = Vec<C>> {
    let len = happy.len();
    let tail = (0..len).prop_map(move |from| happy[from..].to_vec());
    let piece = prop_oneof![3 => command.prop_map(|c| vec![c]), 1 => tail];
    prop::collection::vec(piece, 0..=runs).prop_map(|pieces| pieces.into_iter().flatten().collect())
}
