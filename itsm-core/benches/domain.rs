//! Domain benchmarks: decide + apply of one incident command, and replay of a
//! 100-event history (targets: <= 1 us and <= 50 us median).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use itsm_core::id::{ActorId, GroupId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentEvent, OpenIncident};
use itsm_core::vocabulary::{DetectionSource, HoldReason, Impact, IncidentKind, Urgency};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_767_225_600 + secs).expect("in range")
}

fn history(n: usize, actor: &Actor, config: &DomainConfig) -> (Incident, Vec<IncidentEvent>) {
    let open = IncidentCommand::Open(OpenIncident::new(
        IncidentId::new("INC-1").expect("id"),
        IncidentKind::Production,
        ServiceId::new("payments").expect("id"),
        Text::new("payments failing").expect("text"),
        Impact::Medium,
        Urgency::High,
        DetectionSource::Monitoring,
    ));
    let (mut state, mut events) = Incident::execute(None, &open, &Context::new(actor, ts(0), config)).expect("open");
    let assign = IncidentCommand::Assign { group: GroupId::new("l1").expect("id"), assignee: None };
    let ctx = Context::new(actor, ts(1), config);
    let (assigned, more) = Incident::execute(Some(state), &assign, &ctx).expect("assign");
    let (started, more2) = Incident::execute(Some(assigned), &IncidentCommand::Start, &ctx).expect("start");
    state = started;
    events.extend(more);
    events.extend(more2);
    let cycle = [
        IncidentCommand::Hold { reason: HoldReason::AwaitingCaller },
        IncidentCommand::Resume,
        IncidentCommand::AddNote { text: Text::new("still investigating").expect("text"), public: true },
    ];
    let mut i = 0;
    while events.len() < n {
        let cmd = &cycle[i % cycle.len()];
        let (next, evs) =
            Incident::execute(Some(state.clone()), cmd, &Context::new(actor, ts(60 * (i as i64 + 1)), config))
                .unwrap_or_else(|e| panic!("step {i}: {e}"));
        state = next;
        events.extend(evs);
        i += 1;
    }
    events.truncate(n);
    (state, events)
}

fn benches(c: &mut Criterion) {
    let config = DomainConfig::default();
    let actor = Actor::new(ActorId::new("ann").expect("id"), TenantId::new("acme").expect("id"), [Role::Agent]);
    let (state, events) = history(100, &actor, &config);
    let hold = IncidentCommand::Hold { reason: HoldReason::AwaitingVendor };
    let now = ts(1_000_000);
    c.bench_function("incident decide+apply one command", |b| {
        b.iter(|| {
            let ctx = Context::new(&actor, now, &config);
            let s = black_box(&state);
            let evs = Incident::decide(Some(s), black_box(&hold), &ctx).expect("accepted");
            let mut next = Some(s.clone());
            for e in &evs {
                next = Some(Incident::apply(next, e).expect("applies"));
            }
            next
        })
    });
    c.bench_function("incident replay 100 events", |b| {
        b.iter(|| Incident::replay(black_box(events.iter())).expect("replays"))
    });
    // Baselines in the same run: what a store does anyway for one command
    // (encode its event as JSON) and for a history (decode 100 events).
    let one = Incident::decide(Some(&state), &hold, &Context::new(&actor, now, &config)).expect("accepted");
    c.bench_function("baseline: encode one event as JSON", |b| {
        b.iter(|| serde_json::to_string(black_box(&one)).expect("encodes"))
    });
    let json: Vec<String> = events.iter().map(|e| serde_json::to_string(e).expect("encodes")).collect();
    c.bench_function("baseline: decode 100 events from JSON", |b| {
        b.iter(|| {
            json.iter()
                .map(|j| serde_json::from_str::<IncidentEvent>(black_box(j)).expect("decodes"))
                .collect::<Vec<_>>()
        })
    });
}

criterion_group!(domain, benches);
criterion_main!(domain);
