//! Change benchmarks: decide + apply of one command and replay of a whole
//! history for each change type (a phased roll-out in ten stages, so the
//! execution tail is most of the history), and the decoding of that history
//! from JSON, as a store loads it.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use itsm_core::change::{
    ChangeSpec, EmergencyChange, EmergencyCommand, NormalChange, NormalCommand, ReviewVerdict, Stage, StandardChange,
    StandardCommand, Strategy, Window,
};
use itsm_core::id::{ActorId, ChangeId, GroupId, ServiceId, TemplateId, TenantId, Text};
use itsm_core::vocabulary::{ChangeOutcome, Remediation, Risk};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_767_225_600 + secs).expect("in range")
}

fn text(s: &str) -> Text {
    Text::new(s).expect("text")
}

/// Who issues a command: the approver, the implementer or the change manager.
fn actor(command: &str) -> Actor {
    let tenant = TenantId::new("acme").expect("id");
    let id = |s: &str| ActorId::new(s).expect("id");
    let group = |s: &str| GroupId::new(s).expect("id");
    match command {
        "approve" | "reject" => Actor::new(id("carl"), tenant, [Role::CabMember, Role::EmergencyCabMember])
            .with_groups([group("change-managers"), group("cab"), group("ecab")]),
        "start" | "advance_stage" | "complete" => Actor::new(id("ivan"), tenant, [Role::Implementer]),
        _ => Actor::new(id("rita"), tenant, [Role::ChangeManager]),
    }
}

fn spec() -> ChangeSpec {
    let stages = (1..=10).map(|n| Stage { name: format!("stage {n}"), percent: n * 10 }).collect();
    ChangeSpec {
        id: ChangeId::new("CHG-1").expect("id"),
        service: ServiceId::new("payments").expect("id"),
        title: text("upgrade the payment gateway"),
        strategy: Strategy::Phased { stages },
        auto_rollback: true,
    }
}

/// The tail every change type shares, as its commands: start, nine stages, a
/// successful completion, a review, the closure.
macro_rules! tail {
    ($C:ident) => {
        std::iter::once($C::Start).chain(std::iter::repeat_n($C::AdvanceStage, 9)).chain([
            $C::Complete { outcome: ChangeOutcome::Successful, remediation: Remediation::None },
            $C::Review { verdict: ReviewVerdict::ObjectivesMet, notes: text("as planned") },
            $C::Close,
        ])
    };
}

/// Runs `commands` one a minute; the state before the `stop`th command (the
/// last when `stop` is past the end), that command, and all the events.
fn run<A: Aggregate>(
    commands: Vec<A::Command>,
    stop: usize,
    name: impl Fn(&A::Command) -> &'static str,
    config: &DomainConfig,
) -> (Option<A>, Vec<A::Event>)
where
    A::Error: std::fmt::Debug,
{
    let mut state = None;
    let mut before = None;
    let mut events = Vec::new();
    for (n, command) in commands.iter().enumerate() {
        if n == stop {
            before = state.clone();
        }
        let actor = actor(name(command));
        let ctx = Context::new(&actor, ts(60 * n as i64), config);
        let (next, more) = A::execute(state, command, &ctx).expect("accepted");
        state = Some(next);
        events.extend(more);
    }
    (before.or(state), events)
}

fn bench_kind<A>(c: &mut Criterion, kind: &str, config: &DomainConfig, commands: Vec<A::Command>, stop: usize)
where
    A: Aggregate + Clone,
    A::Command: Clone,
    A::Event: Serialize + DeserializeOwned,
    A::Error: std::fmt::Debug,
{
    let command = commands[stop].clone();
    let (before, events) = run::<A>(commands, stop, A::command_name, config);
    let actor = actor(A::command_name(&command));
    let now = ts(1_000_000);
    c.bench_function(&format!("{kind} change decide+apply one command"), |b| {
        b.iter(|| {
            let ctx = Context::new(&actor, now, config);
            let s = black_box(before.as_ref());
            let evs = A::decide(s, black_box(&command), &ctx).expect("accepted");
            let mut next = s.cloned();
            for e in &evs {
                next = Some(A::apply(next, e).expect("applies"));
            }
            next
        })
    });
    c.bench_function(&format!("{kind} change replay {} events", events.len()), |b| {
        b.iter(|| A::replay(black_box(events.iter())).expect("replays"))
    });
    let json: Vec<String> = events.iter().map(|e| serde_json::to_string(e).expect("encodes")).collect();
    c.bench_function(&format!("{kind} change decode {} events from JSON", events.len()), |b| {
        b.iter(|| {
            json.iter().map(|j| serde_json::from_str::<A::Event>(black_box(j)).expect("decodes")).collect::<Vec<_>>()
        })
    });
}

fn benches(c: &mut Criterion) {
    let config = DomainConfig::default();
    let window = Window::new(ts(86_400), ts(90_000)).expect("window");
    let group = |s: &str| GroupId::new(s).expect("id");

    use StandardCommand as S;
    let standard: Vec<StandardCommand> = [
        S::Create { spec: spec(), template: TemplateId::new("os-patch").expect("id") },
        S::Schedule { window, override_reason: None },
    ]
    .into_iter()
    .chain(tail!(S))
    .collect();
    bench_kind::<StandardChange>(c, "standard", &config, standard, 12);

    use NormalCommand as N;
    let normal: Vec<NormalCommand> = [
        N::Create(spec()),
        N::Submit,
        N::Assess(itsm_core::change::Assessment {
            risk: Risk::Low,
            impact: text("payments pause for a minute"),
            backout_plan: text("redeploy the previous release"),
            implementer: ActorId::new("ivan").expect("id"),
        }),
        N::Approve { group: group("change-managers") },
        N::Schedule { window, override_reason: None },
    ]
    .into_iter()
    .chain(tail!(N))
    .collect();
    bench_kind::<NormalChange>(c, "normal", &config, normal, 15);

    use EmergencyCommand as E;
    let emergency: Vec<EmergencyCommand> = [
        E::Submit { spec: spec(), risk: Risk::High, justification: text("payments are down") },
        E::Approve { group: group("ecab") },
    ]
    .into_iter()
    .chain(tail!(E))
    .collect();
    bench_kind::<EmergencyChange>(c, "emergency", &config, emergency, 12);
}

criterion_group!(change, benches);
criterion_main!(change);
