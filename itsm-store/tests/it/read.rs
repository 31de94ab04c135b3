//! Read permissions on every actor-scoped read path (`Store::load`,
//! `history`, `queue`, `list`, `facets`, `search`), on both backends, against a
//! reference predicate written for this test from the rules in words (not
//! from `ReadPolicy`'s tables):
//!
//! * nothing of another tenant is ever visible;
//! * incident and problem managers read every incident and problem, change
//!   managers every change, CAB members every normal change, emergency CAB
//!   members and implementers every emergency change, automation everything;
//! * agents, resolvers, implementers and the managers read what is assigned
//!   to one of their groups or to themselves;
//! * agents read the incidents in no group yet (the intake);
//! * everyone reads what they requested, or what someone they act for
//!   requested;
//! * private work notes are read by every role but the requester.
//!
//! Each case fills two fresh tenants with random tickets (incidents opened by
//! random people, assigned to random groups and people, with public and
//! private notes; problems; normal changes of random requesters), then asks
//! every read path as random actors (random tenant, roles, groups and
//! delegations). A record the reference hides is not found by `load` and
//! `history`, and never listed, counted or queued; a visible one is found, and
//! its history holds exactly the notes the actor may read. A command on a
//! hidden incident is answered as not found too (a stale version, a role or
//! a state would otherwise show through the refusal).

use std::collections::{BTreeMap, BTreeSet};

use itsm_core::change::{ChangeSpec, NormalChange, NormalCommand, Strategy as Rollout};
use itsm_core::id::{ActorId, ChangeId, GroupId, IncidentId, ProblemId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentEvent, OpenIncident};
use itsm_core::problem::{Problem, ProblemCommand};
use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, Urgency};
use itsm_core::{Actor, Aggregate, AggregateKind, Context, DomainConfig, Role};
use itsm_store::query::{ListQuery, MAX_PAGE};
use itsm_store::{ErrorKind, QueueFilter, Request, Store};
use proptest::prelude::*;

use crate::common::{TestDb, ts, unique};

const PEOPLE: [&str; 4] = ["ann", "bob", "cy", "dee"];
const GROUPS: [&str; 3] = ["db", "net", "desk"];
const ROLES: [Role; 10] = [
    Role::Requester,
    Role::Agent,
    Role::Resolver,
    Role::IncidentManager,
    Role::ProblemManager,
    Role::ChangeManager,
    Role::CabMember,
    Role::EmergencyCabMember,
    Role::Implementer,
    Role::Automation,
];

/// A ticket as the test wrote it.
#[derive(Debug, Clone)]
struct Ticket {
    tenant: usize,
    kind: AggregateKind,
    id: String,
    requester: Option<&'static str>,
    group: Option<&'static str>,
    assignee: Option<&'static str>,
    /// (text, public), in order.
    notes: Vec<(String, bool)>,
}

#[derive(Debug, Clone)]
enum Spec {
    Incident { opener: usize, assign: Option<(usize, Option<usize>)>, notes: Vec<bool> },
    Problem,
    Change { requester: usize },
}

#[derive(Debug, Clone)]
struct Reader {
    tenant: usize,
    person: usize,
    roles: Vec<Role>,
    groups: Vec<usize>,
    acts_for: Vec<usize>,
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        4 => (0..PEOPLE.len(), proptest::option::of((0..GROUPS.len(), proptest::option::of(0..PEOPLE.len()))),
              proptest::collection::vec(any::<bool>(), 0..3))
            .prop_map(|(opener, assign, notes)| Spec::Incident { opener, assign, notes }),
        1 => Just(Spec::Problem),
        1 => (0..PEOPLE.len()).prop_map(|requester| Spec::Change { requester }),
    ]
}

fn reader() -> impl Strategy<Value = Reader> {
    (
        0..2usize,
        0..PEOPLE.len(),
        // Mostly one or two roles, so narrow scopes are common.
        proptest::collection::vec(proptest::sample::select(ROLES.to_vec()), 1..3),
        proptest::collection::vec(0..GROUPS.len(), 0..3),
        proptest::collection::vec(0..PEOPLE.len(), 0..2),
    )
        .prop_map(|(tenant, person, roles, groups, acts_for)| Reader { tenant, person, roles, groups, acts_for })
}

/// The reference: whether `r` may read `t` (the rules in the module docs).
fn may_read(r: &Reader, t: &Ticket) -> bool {
    if r.tenant != t.tenant {
        return false;
    }
    let has = |role: Role| r.roles.contains(&role);
    let tenant_wide = match t.kind {
        AggregateKind::Incident | AggregateKind::Problem => {
            has(Role::IncidentManager) || has(Role::ProblemManager) || has(Role::Automation)
        }
        AggregateKind::NormalChange => has(Role::ChangeManager) || has(Role::CabMember) || has(Role::Automation),
        AggregateKind::EmergencyChange => {
            has(Role::ChangeManager) || has(Role::EmergencyCabMember) || has(Role::Implementer) || has(Role::Automation)
        }
        AggregateKind::StandardChange => has(Role::ChangeManager) || has(Role::Automation),
    };
    let team = [
        Role::Agent,
        Role::Resolver,
        Role::Implementer,
        Role::IncidentManager,
        Role::ProblemManager,
        Role::ChangeManager,
    ]
    .iter()
    .any(|role| has(*role));
    let me = PEOPLE[r.person];
    let assigned =
        team && (t.group.is_some_and(|g| r.groups.iter().any(|i| GROUPS[*i] == g)) || t.assignee == Some(me));
    let requested = t.requester.is_some_and(|q| q == me || r.acts_for.iter().any(|i| PEOPLE[*i] == q));
    let intake = has(Role::Agent) && t.kind == AggregateKind::Incident && t.group.is_none();
    tenant_wide || assigned || requested || intake
}

/// The reference: whether `r` reads private notes.
fn reads_private_notes(r: &Reader) -> bool {
    r.roles.iter().any(|role| *role != Role::Requester)
}

fn actor_of(r: &Reader, tenants: &[TenantId]) -> Actor {
    Actor::new(ActorId::new(PEOPLE[r.person]).unwrap(), tenants[r.tenant].clone(), r.roles.iter().copied())
        .with_groups(r.groups.iter().map(|g| GroupId::new(GROUPS[*g]).unwrap()))
        .with_delegations(r.acts_for.iter().map(|p| ActorId::new(PEOPLE[*p]).unwrap()))
}

async fn run<A: Aggregate>(store: &Store, actor: &Actor, step: &mut i64, id: &str, command: A::Command) {
    let cfg = DomainConfig::default();
    *step += 60;
    store
        .execute::<A>(Request::new(Context::new(actor, ts(*step), &cfg), id, &command))
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"));
}

/// Writes the tickets of `specs` into both tenants (the same specs, other
/// ids); returns what was written.
async fn fill(store: &Store, tenants: &[TenantId], specs: &[Spec]) -> Vec<Ticket> {
    let mut out = Vec::new();
    let mut step = 0;
    for (ti, tenant) in tenants.iter().enumerate() {
        let worker = Actor::new(ActorId::new("worker").unwrap(), tenant.clone(), [Role::Automation]);
        let manager = Actor::new(ActorId::new("boss").unwrap(), tenant.clone(), [Role::ProblemManager]);
        for (i, s) in specs.iter().enumerate() {
            let service = ServiceId::new("mail").unwrap();
            match s {
                Spec::Incident { opener, assign, notes } => {
                    let id = format!("inc{ti}{i:02}");
                    let opener_actor =
                        Actor::new(ActorId::new(PEOPLE[*opener]).unwrap(), tenant.clone(), [Role::Requester]);
                    let open = IncidentCommand::Open(OpenIncident::new(
                        IncidentId::new(&id).unwrap(),
                        IncidentKind::Production,
                        service,
                        Text::new(format!("incident {i}")).unwrap(),
                        Impact::Medium,
                        Urgency::Medium,
                        DetectionSource::User,
                    ));
                    run::<Incident>(store, &opener_actor, &mut step, &id, open).await;
                    let mut t = Ticket {
                        tenant: ti,
                        kind: AggregateKind::Incident,
                        id: id.clone(),
                        requester: Some(PEOPLE[*opener]),
                        group: None,
                        assignee: None,
                        notes: Vec::new(),
                    };
                    if let Some((g, a)) = assign {
                        let assign = IncidentCommand::Assign {
                            group: GroupId::new(GROUPS[*g]).unwrap(),
                            assignee: a.map(|a| ActorId::new(PEOPLE[a]).unwrap()),
                        };
                        run::<Incident>(store, &worker, &mut step, &id, assign).await;
                        t.group = Some(GROUPS[*g]);
                        t.assignee = a.map(|a| PEOPLE[a]);
                    }
                    for (n, public) in notes.iter().enumerate() {
                        let text = format!("{} note {n} on {id}", if *public { "public" } else { "private" });
                        let note = IncidentCommand::AddNote { text: Text::new(&text).unwrap(), public: *public };
                        run::<Incident>(store, &worker, &mut step, &id, note).await;
                        t.notes.push((text, *public));
                    }
                    out.push(t);
                }
                Spec::Problem => {
                    let id = format!("prb{ti}{i:02}");
                    let open = ProblemCommand::Open {
                        id: ProblemId::new(&id).unwrap(),
                        service,
                        title: Text::new(format!("problem {i}")).unwrap(),
                        incidents: BTreeSet::new(),
                    };
                    run::<Problem>(store, &manager, &mut step, &id, open).await;
                    out.push(Ticket {
                        tenant: ti,
                        kind: AggregateKind::Problem,
                        id,
                        requester: None,
                        group: None,
                        assignee: None,
                        notes: Vec::new(),
                    });
                }
                Spec::Change { requester } => {
                    let id = format!("chg{ti}{i:02}");
                    let who = Actor::new(ActorId::new(PEOPLE[*requester]).unwrap(), tenant.clone(), [Role::Requester]);
                    let spec = ChangeSpec {
                        id: ChangeId::new(&id).unwrap(),
                        service,
                        title: Text::new(format!("change {i}")).unwrap(),
                        strategy: Rollout::BigBang,
                        auto_rollback: false,
                    };
                    run::<NormalChange>(store, &who, &mut step, &id, NormalCommand::Create(spec)).await;
                    out.push(Ticket {
                        tenant: ti,
                        kind: AggregateKind::NormalChange,
                        id,
                        requester: Some(PEOPLE[*requester]),
                        group: None,
                        assignee: None,
                        notes: Vec::new(),
                    });
                }
            }
        }
    }
    out
}

/// `load` and `history` of one ticket as `actor`: `None` when not found,
/// else the notes the history shows.
async fn read_one(store: &Store, actor: &Actor, t: &Ticket) -> Option<Vec<(String, bool)>> {
    let hidden = |e: itsm_store::StoreError| {
        assert_eq!(e.kind(), ErrorKind::NotFound, "{}: {e}", t.id);
        None
    };
    match t.kind {
        AggregateKind::Incident => {
            let loaded = store.load::<Incident>(actor, &t.id).await;
            let history = store.history::<Incident>(actor, &t.id).await;
            assert_eq!(loaded.is_ok(), history.is_ok(), "load and history agree on {}", t.id);
            match history {
                Ok(events) => Some(
                    events
                        .into_iter()
                        .filter_map(|r| match r.event {
                            IncidentEvent::NoteAdded { text, public, .. } => Some((text.as_str().to_owned(), public)),
                            _ => None,
                        })
                        .collect(),
                ),
                Err(e) => hidden(e),
            }
        }
        AggregateKind::Problem => {
            let loaded = store.load::<Problem>(actor, &t.id).await;
            let history = store.history::<Problem>(actor, &t.id).await;
            assert_eq!(loaded.is_ok(), history.is_ok(), "load and history agree on {}", t.id);
            history.map(|_| Vec::new()).map_or_else(hidden, Some)
        }
        _ => {
            let loaded = store.load::<NormalChange>(actor, &t.id).await;
            let history = store.history::<NormalChange>(actor, &t.id).await;
            assert_eq!(loaded.is_ok(), history.is_ok(), "load and history agree on {}", t.id);
            history.map(|_| Vec::new()).map_or_else(hidden, Some)
        }
    }
}

async fn case(store: &Store, specs: Vec<Spec>, readers: Vec<Reader>) -> Result<(), TestCaseError> {
    let tenants = [TenantId::new(unique("read_a")).unwrap(), TenantId::new(unique("read_b")).unwrap()];
    let tickets = fill(store, &tenants, &specs).await;
    for r in &readers {
        let actor = actor_of(r, &tenants);
        let visible: BTreeSet<(AggregateKind, String)> =
            tickets.iter().filter(|t| may_read(r, t)).map(|t| (t.kind, t.id.clone())).collect();
        for t in &tickets {
            let got = read_one(store, &actor, t).await;
            let want = may_read(r, t).then(|| {
                t.notes.iter().filter(|(_, public)| *public || reads_private_notes(r)).cloned().collect::<Vec<_>>()
            });
            prop_assert_eq!(got, want, "{:?} reading {:?}", r, t);
            // A command on a record the actor may not read is answered as
            // not found, whatever its role or expected version: no version,
            // state or refusal of a hidden record shows.
            if t.kind == AggregateKind::Incident && !may_read(r, t) {
                let cfg = DomainConfig::default();
                let command = IncidentCommand::DeclareMajor;
                let request = Request::new(Context::new(&actor, ts(10_000_000), &cfg), &t.id, &command)
                    .if_version(itsm_store::ExpectedVersion::Exact(999));
                match store.execute::<Incident>(request).await {
                    Err(e) => prop_assert_eq!(e.into_store().kind(), ErrorKind::NotFound, "{:?} commanding {:?}", r, t),
                    Ok(done) => prop_assert!(false, "{:?} commanded hidden {:?}: version {}", r, t, done.version),
                }
            }
        }
        let page = store.list(&actor, &ListQuery::default(), None, MAX_PAGE).await.unwrap();
        prop_assert!(page.next.is_none());
        let listed: BTreeSet<(AggregateKind, String)> = page.rows.iter().map(|p| (p.kind, p.id.clone())).collect();
        prop_assert_eq!(&listed, &visible, "list as {:?}", r);
        // Search: titles of what is visible, notes the actor may read.
        for word in ["incident", "note", "private", "public"] {
            let found = store.search(&actor, word, MAX_PAGE).await.unwrap();
            prop_assert!(found.exhaustive, "search {:?} as {:?} was bounded", word, r);
            let found: BTreeSet<(AggregateKind, String)> = found.rows.iter().map(|p| (p.kind, p.id.clone())).collect();
            let want: BTreeSet<(AggregateKind, String)> = tickets
                .iter()
                .filter(|t| may_read(r, t))
                .filter(|t| {
                    let notes = t.notes.iter().filter(|(_, public)| *public || reads_private_notes(r));
                    let words = |text: &str| text.split(' ').map(str::to_owned).collect::<Vec<_>>();
                    t.kind == AggregateKind::Incident && word == "incident"
                        || notes.map(|(text, _)| words(text)).any(|w| w.iter().any(|x| x == word))
                })
                .map(|t| (t.kind, t.id.clone()))
                .collect();
            prop_assert_eq!(found, want, "search {:?} as {:?}", word, r);
        }
        // A kind filter (a reader of every incident needs no scope condition).
        for kind in [AggregateKind::Incident, AggregateKind::NormalChange] {
            let q = ListQuery { kinds: vec![kind], ..ListQuery::default() };
            let page = store.list(&actor, &q, None, MAX_PAGE).await.unwrap();
            let listed: BTreeSet<(AggregateKind, String)> = page.rows.iter().map(|p| (p.kind, p.id.clone())).collect();
            let want: BTreeSet<(AggregateKind, String)> = visible.iter().filter(|v| v.0 == kind).cloned().collect();
            prop_assert_eq!(listed, want, "list of {} as {:?}", kind, r);
        }
        // A group, assignee or requester filter (one the scope implies
        // drops the scope's condition from the query: still exactly the
        // visible rows).
        type Pick = fn(&Ticket) -> Option<&'static str>;
        let filters: [(&str, &[&str], Pick); 3] = [
            ("group", &GROUPS, |t| t.group),
            ("assignee", &PEOPLE, |t| t.assignee),
            ("requester", &PEOPLE, |t| t.requester),
        ];
        for (column, values, pick) in filters {
            for v in values.iter().copied() {
                let mut q = ListQuery::default();
                match column {
                    "group" => q.group = Some(GroupId::new(v).unwrap()),
                    "assignee" => q.assignee = Some(ActorId::new(v).unwrap()),
                    _ => q.requester = Some(ActorId::new(v).unwrap()),
                }
                let page = store.list(&actor, &q, None, MAX_PAGE).await.unwrap();
                let listed: BTreeSet<(AggregateKind, String)> =
                    page.rows.iter().map(|p| (p.kind, p.id.clone())).collect();
                let want: BTreeSet<(AggregateKind, String)> = tickets
                    .iter()
                    .filter(|t| may_read(r, t) && pick(t) == Some(v))
                    .map(|t| (t.kind, t.id.clone()))
                    .collect();
                prop_assert_eq!(listed, want, "list with {} {} as {:?}", column, v, r);
            }
        }
        let facets = store.facets(&actor, &ListQuery::default()).await.unwrap();
        prop_assert_eq!(facets.total, visible.len() as u64, "facets as {:?}", r);
        for g in GROUPS {
            let queued = store.queue(&actor, &QueueFilter::Group(GroupId::new(g).unwrap()), 1000).await.unwrap();
            let queued: BTreeSet<(AggregateKind, String)> = queued.iter().map(|p| (p.kind, p.id.clone())).collect();
            let want: BTreeSet<(AggregateKind, String)> = tickets
                .iter()
                .filter(|t| may_read(r, t) && t.group == Some(g))
                .map(|t| (t.kind, t.id.clone()))
                .collect();
            prop_assert_eq!(queued, want, "queue of {} as {:?}", g, r);
        }
        let mut by_person: BTreeMap<&str, usize> = BTreeMap::new();
        for t in tickets.iter().filter(|t| may_read(r, t)) {
            if let Some(a) = t.assignee {
                *by_person.entry(a).or_default() += 1;
            }
        }
        for p in PEOPLE {
            let queued = store.queue(&actor, &QueueFilter::Assignee(ActorId::new(p).unwrap()), 1000).await.unwrap();
            prop_assert_eq!(queued.len(), by_person.get(p).copied().unwrap_or(0), "queue of {} as {:?}", p, r);
        }
    }
    Ok(())
}

fn property(db: &TestDb, rt: &tokio::runtime::Runtime, cases: u32) {
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(specs in proptest::collection::vec(spec(), 1..10),
                        readers in proptest::collection::vec(reader(), 1..6))| {
        rt.block_on(case(&db.store, specs, readers))?;
    });
}

#[test]
fn every_read_path_shows_exactly_what_the_reference_allows_sqlite() {
    crate::common::on_sqlite(|db, rt| property(db, rt, 48));
}

#[cfg(feature = "postgres")]
#[test]
fn every_read_path_shows_exactly_what_the_reference_allows_postgres() {
    crate::common::on_postgres(|db, rt| property(db, rt, 24));
}
