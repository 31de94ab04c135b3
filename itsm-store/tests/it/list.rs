//! The list query (`Store::list`, `Store::facets`) on both backends, against
//! a reference written for the test: a seeded tenant of incidents, problems
//! and normal changes (several openers, services, priorities, groups,
//! assignees, major incidents, resolved and closed ones, pairs opened at the
//! same instant so ties need the kind-and-id tie-break), then random queries.
//! For each query, paging through with random page sizes gives exactly the
//! rows a Rust filter and sort over the whole tenant gives, in that order,
//! and the facets equal counts over those rows. The whole tenant's rows are
//! checked against the states `Store::load` returns. A second test pages
//! while another task opens incidents: no row is skipped or repeated.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use itsm_core::calendar::Calendar;
use itsm_core::change::{ChangeSpec, NormalChange, NormalCommand, Strategy as Rollout};
use itsm_core::id::{ActorId, ChangeId, GroupId, IncidentId, ProblemId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, OpenIncident, ResolutionCode};
use itsm_core::problem::{Problem, ProblemCommand};
use itsm_core::sla::SlaPolicy;
use itsm_core::versioned::Versioned;
use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, Priority, ResolvedBy, Urgency};
use itsm_core::{Actor, Aggregate, AggregateKind, Context, DomainConfig, Role, Timestamp};
use itsm_store::query::{Cursor, ListQuery, Range, Sort, SortKey};
use itsm_store::{ErrorKind, ProjectionRow, Request, Store};
use proptest::prelude::*;

use crate::common::{TestDb, ts, unique};

const OPENERS: [&str; 3] = ["ann", "bob", "cy"];
const SERVICES: [&str; 3] = ["payments", "mail", "vpn"];
const GROUPS: [&str; 2] = ["db", "net"];
const AGGREGATES: u64 = 36;

fn person(tenant: &TenantId, id: &str) -> Actor {
    Actor::new(
        ActorId::new(id).unwrap(),
        tenant.clone(),
        // Managers of every kind: they read the whole tenant (the read
        // permissions have their own test, `read.rs`).
        [Role::Agent, Role::IncidentManager, Role::ProblemManager, Role::ChangeManager, Role::Requester],
    )
}

/// A small deterministic generator (xorshift), so both backends get the
/// same tenant.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn run<A: Aggregate>(store: &Store, actor: &Actor, at: Timestamp, id: &str, command: A::Command) {
    let cfg = DomainConfig::default();
    store
        .execute::<A>(Request::new(Context::new(actor, at, &cfg), id, &command))
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"));
}

fn open_incident(id: &str, service: ServiceId, title: &str, impact: Impact, urgency: Urgency) -> IncidentCommand {
    let (id, title) = (IncidentId::new(id).unwrap(), Text::new(title).unwrap());
    IncidentCommand::Open(OpenIncident::new(
        id,
        IncidentKind::Production,
        service,
        title,
        impact,
        urgency,
        DetectionSource::User,
    ))
}

/// Fills a fresh tenant; returns it.
async fn fill(store: &Store, prefix: &str) -> TenantId {
    let tenant = TenantId::new(unique(prefix)).unwrap();
    // Stored SLA configuration, so open incidents have due instants.
    let policy = Versioned::new(1, ts(-86_400), SlaPolicy::default());
    store.add_config_version(&tenant, policy, ts(-86_400)).await.unwrap();
    let calendar = Versioned::new(1, ts(-86_400), Calendar::twenty_four_seven(chrono_tz::UTC));
    store.add_config_version(&tenant, calendar, ts(-86_400)).await.unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..AGGREGATES {
        let opener = person(&tenant, OPENERS[(rng.next(3)) as usize]);
        let service = ServiceId::new(SERVICES[rng.next(3) as usize]).unwrap();
        // Pairs share their opening instant.
        let t0 = ts(i64::try_from(i / 2).unwrap() * 600);
        let step = |k: i64| Timestamp::from_unix_micros(t0.unix_micros() + k * 60_000_000).unwrap();
        match i % 6 {
            5 => {
                let id = format!("prb{i:02}");
                let title = Text::new(format!("problem {i}")).unwrap();
                let open = ProblemCommand::Open {
                    id: ProblemId::new(&id).unwrap(),
                    service,
                    title,
                    incidents: BTreeSet::new(),
                };
                run::<Problem>(store, &opener, t0, &id, open).await;
                if rng.next(2) == 0 {
                    let priority = [Priority::P2, Priority::P4][rng.next(2) as usize];
                    run::<Problem>(store, &opener, step(1), &id, ProblemCommand::Assess { priority }).await;
                }
            }
            4 => {
                let id = format!("chg{i:02}");
                let spec = ChangeSpec {
                    id: ChangeId::new(&id).unwrap(),
                    service,
                    title: Text::new(format!("change {i}")).unwrap(),
                    strategy: Rollout::BigBang,
                    auto_rollback: false,
                };
                run::<NormalChange>(store, &opener, t0, &id, NormalCommand::Create(spec)).await;
                if rng.next(2) == 0 {
                    run::<NormalChange>(store, &opener, step(1), &id, NormalCommand::Submit).await;
                }
            }
            _ => {
                let id = format!("inc{i:02}");
                let levels =
                    [(Impact::High, Urgency::High), (Impact::Medium, Urgency::Medium), (Impact::Low, Urgency::Low)];
                let (impact, urgency) = levels[rng.next(3) as usize];
                let open = open_incident(&id, service, &format!("incident {i}"), impact, urgency);
                run::<Incident>(store, &opener, t0, &id, open).await;
                let agent = person(&tenant, OPENERS[rng.next(3) as usize]);
                if rng.next(3) > 0 {
                    let group = GroupId::new(GROUPS[rng.next(2) as usize]).unwrap();
                    let assignee = (rng.next(2) == 0).then(|| agent.id.clone());
                    run::<Incident>(store, &agent, step(1), &id, IncidentCommand::Assign { group, assignee }).await;
                }
                if rng.next(4) == 0 {
                    run::<Incident>(store, &agent, step(2), &id, IncidentCommand::DeclareMajor).await;
                }
                if rng.next(3) == 0 {
                    let resolve = IncidentCommand::Resolve {
                        code: ResolutionCode::Fixed,
                        resolved_by: ResolvedBy::L1,
                        restored_at: None,
                    };
                    run::<Incident>(store, &agent, step(3), &id, resolve).await;
                    if rng.next(2) == 0 {
                        run::<Incident>(store, &opener, step(4), &id, IncidentCommand::Close).await;
                    }
                }
            }
        }
    }
    tenant
}

/// Every row of the tenant, paged with the default order.
async fn everything(store: &Store, actor: &Actor) -> Vec<ProjectionRow> {
    let q = ListQuery::default();
    let mut out = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = store.list(actor, &q, after.as_ref(), 7).await.unwrap();
        out.extend(page.rows);
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

/// The reference predicate.
fn selects(q: &ListQuery, r: &ProjectionRow) -> bool {
    let within = |range: &Range, t: Timestamp| range.from.is_none_or(|f| t >= f) && range.to.is_none_or(|e| t < e);
    (q.kinds.is_empty() || q.kinds.contains(&r.kind))
        && (q.statuses.is_empty() || q.statuses.contains(&r.status))
        && q.open.is_none_or(|open| open != r.terminal)
        && q.service.as_ref().is_none_or(|s| r.service.as_ref() == Some(s))
        && (q.priorities.is_empty() || r.priority.is_some_and(|p| q.priorities.contains(&p)))
        && q.assignee.as_ref().is_none_or(|a| r.assignee.as_ref() == Some(a))
        && q.group.as_ref().is_none_or(|g| r.group.as_ref() == Some(g))
        && q.requester.as_ref().is_none_or(|a| r.requester.as_ref() == Some(a))
        && q.major.is_none_or(|m| m == r.major)
        && within(&q.opened, r.opened_at)
        && within(&q.updated, r.updated_at)
        && q.due_before.is_none_or(|t| r.due_at.is_some_and(|d| d < t))
        && q.breached_by.is_none_or(|t| r.breach_at.is_some_and(|b| b <= t))
        && (q.sort.key != SortKey::Due || r.due_at.is_some())
}

/// The reference order.
fn order(sort: Sort, a: &ProjectionRow, b: &ProjectionRow) -> Ordering {
    let key = |r: &ProjectionRow| match sort.key {
        SortKey::Opened => r.opened_at.to_rfc3339(),
        SortKey::Updated => r.updated_at.to_rfc3339(),
        SortKey::Priority => r.priority.map_or("P9", |p| p.as_str()).to_owned(),
        SortKey::Due => r.due_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
    };
    let ascending = (key(a), a.kind.as_str(), &a.id).cmp(&(key(b), b.kind.as_str(), &b.id));
    if sort.descending { ascending.reverse() } else { ascending }
}

fn range(instants: &[Timestamp], from: Option<usize>, to: Option<usize>) -> Range {
    Range { from: from.map(|i| instants[i % instants.len()]), to: to.map(|i| instants[i % instants.len()]) }
}

#[derive(Debug, Clone)]
struct Spec {
    kinds: Vec<u8>,
    statuses: Vec<u8>,
    open: Option<bool>,
    service: Option<u8>,
    priorities: Vec<u8>,
    assignee: Option<u8>,
    group: Option<u8>,
    requester: Option<u8>,
    major: Option<bool>,
    opened: (Option<usize>, Option<usize>),
    updated: (Option<usize>, Option<usize>),
    due_before: Option<usize>,
    breached_by: Option<usize>,
    sort: (u8, bool),
    pages: Vec<u32>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let small = |n: u8| prop::collection::vec(0..n, 0..3);
    let opt = |n: u8| prop::option::weighted(0.3, 0..n);
    let at = || prop::option::weighted(0.3, 0usize..200);
    (
        (small(3), small(6), prop::option::weighted(0.3, any::<bool>()), opt(3), small(5)),
        (opt(3), opt(2), opt(3), prop::option::weighted(0.3, any::<bool>())),
        ((at(), at()), (at(), at()), at(), at()),
        ((0u8..4, any::<bool>()), prop::collection::vec(1u32..9, 1..6)),
    )
        .prop_map(
            |(
                (kinds, statuses, open, service, priorities),
                (assignee, group, requester, major),
                (opened, updated, due_before, breached_by),
                (sort, pages),
            )| Spec {
                kinds,
                statuses,
                open,
                service,
                priorities,
                assignee,
                group,
                requester,
                major,
                opened,
                updated,
                due_before,
                breached_by,
                sort,
                pages,
            },
        )
}

fn query(s: &Spec, all: &[ProjectionRow]) -> ListQuery {
    const KINDS: [AggregateKind; 3] = [AggregateKind::Incident, AggregateKind::Problem, AggregateKind::NormalChange];
    const STATUSES: [&str; 6] = ["new", "assigned", "resolved", "closed", "draft", "submitted"];
    const PRIORITIES: [Priority; 5] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4, Priority::P5];
    const KEYS: [SortKey; 4] = [SortKey::Opened, SortKey::Updated, SortKey::Priority, SortKey::Due];
    // Instants at and between the rows' own, so ranges cut through ties.
    let mut instants: Vec<Timestamp> = all
        .iter()
        .flat_map(|r| [r.opened_at, r.updated_at])
        .chain(all.iter().flat_map(|r| [r.due_at, r.breach_at]).flatten())
        .collect();
    instants.sort();
    instants.dedup();
    let actor = |i: u8| ActorId::new(OPENERS[usize::from(i)]).unwrap();
    ListQuery {
        kinds: s.kinds.iter().map(|k| KINDS[usize::from(*k)]).collect(),
        statuses: s.statuses.iter().map(|k| STATUSES[usize::from(*k)].to_owned()).collect(),
        open: s.open,
        service: s.service.map(|i| ServiceId::new(SERVICES[usize::from(i)]).unwrap()),
        priorities: s.priorities.iter().map(|p| PRIORITIES[usize::from(*p)]).collect(),
        assignee: s.assignee.map(actor),
        group: s.group.map(|i| GroupId::new(GROUPS[usize::from(i)]).unwrap()),
        requester: s.requester.map(actor),
        major: s.major,
        opened: range(&instants, s.opened.0, s.opened.1),
        updated: range(&instants, s.updated.0, s.updated.1),
        due_before: s.due_before.map(|i| instants[i % instants.len()]),
        breached_by: s.breached_by.map(|i| instants[i % instants.len()]),
        sort: Sort { key: KEYS[usize::from(s.sort.0)], descending: s.sort.1 },
    }
}

async fn case(store: &Store, actor: &Actor, all: &[ProjectionRow], s: Spec) -> Result<(), TestCaseError> {
    let q = query(&s, all);
    let mut want: Vec<&ProjectionRow> = all.iter().filter(|r| selects(&q, r)).collect();
    want.sort_by(|a, b| order(q.sort, a, b));
    let mut got: Vec<ProjectionRow> = Vec::new();
    let mut after: Option<Cursor> = None;
    for i in 0.. {
        let limit = s.pages[i % s.pages.len()];
        let page = store.list(actor, &q, after.as_ref(), limit).await.unwrap();
        prop_assert!(page.rows.len() <= limit as usize);
        prop_assert!(page.next.is_none() || page.rows.len() == limit as usize, "a short page is the last");
        got.extend(page.rows);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        prop_assert!(i < 100, "paging does not end");
    }
    let got_ids: Vec<(&str, &str)> = got.iter().map(|r| (r.kind.as_str(), r.id.as_str())).collect();
    let want_ids: Vec<(&str, &str)> = want.iter().map(|r| (r.kind.as_str(), r.id.as_str())).collect();
    prop_assert_eq!(got_ids, want_ids, "{:?}", q);

    let facets = store.facets(actor, &q).await.unwrap();
    let mut by_status: BTreeMap<(AggregateKind, String), u64> = BTreeMap::new();
    let mut by_priority: BTreeMap<Option<Priority>, u64> = BTreeMap::new();
    for r in &want {
        *by_status.entry((r.kind, r.status.clone())).or_default() += 1;
        *by_priority.entry(r.priority).or_default() += 1;
    }
    prop_assert_eq!(facets.total, want.len() as u64);
    prop_assert_eq!(facets.by_status, by_status);
    prop_assert_eq!(facets.by_priority, by_priority);
    Ok(())
}

/// The rows carry what the states say.
async fn rows_match_states(store: &Store, actor: &Actor, all: &[ProjectionRow]) {
    assert_eq!(all.len() as u64, AGGREGATES);
    for r in all {
        let (summary, updated_at) = match r.kind {
            AggregateKind::Incident => {
                let l = store.load::<Incident>(actor, &r.id).await.unwrap();
                (l.state.summary(), l.updated_at)
            }
            AggregateKind::Problem => {
                let l = store.load::<Problem>(actor, &r.id).await.unwrap();
                (l.state.summary(), l.updated_at)
            }
            AggregateKind::NormalChange => {
                let l = store.load::<NormalChange>(actor, &r.id).await.unwrap();
                (l.state.summary(), l.updated_at)
            }
            other => panic!("unexpected kind {other:?}"),
        };
        assert_eq!(
            (&r.status, r.terminal, &r.service, r.priority, &r.assignee, &r.group),
            (
                &summary.status.to_owned(),
                summary.terminal,
                &summary.service,
                summary.priority,
                &summary.assignee,
                &summary.group
            ),
            "{}",
            r.id
        );
        assert_eq!(
            (&r.title, &r.requester, r.opened_at, r.major),
            (&summary.title, &summary.requester, summary.opened_at, summary.major),
            "{}",
            r.id
        );
        assert_eq!(r.updated_at, updated_at, "{}", r.id);
    }
    // The seed gives every filter something to find.
    assert!(all.iter().any(|r| r.major) && all.iter().any(|r| r.terminal) && all.iter().any(|r| r.assignee.is_some()));
    assert!(all.iter().any(|r| r.due_at.is_some()) && all.iter().any(|r| r.breach_at.is_some()));
}

fn property(db: &TestDb, rt: &tokio::runtime::Runtime, cases: u32) {
    let tenant = rt.block_on(fill(&db.store, "list"));
    let actor = person(&tenant, "ann");
    let all = rt.block_on(everything(&db.store, &actor));
    rt.block_on(rows_match_states(&db.store, &actor, &all));
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(s in spec())| {
        rt.block_on(case(&db.store, &actor, &all, s))?;
    });
}

#[test]
fn lists_and_facets_match_the_reference_sqlite() {
    crate::common::on_sqlite(|db, rt| property(db, rt, 128));
}

#[cfg(feature = "postgres")]
#[test]
fn lists_and_facets_match_the_reference_postgres() {
    crate::common::on_postgres(|db, rt| property(db, rt, 64));
}

/// Pages through a tenant (3 rows a page, oldest first) while another task
/// opens incidents at instants before, among and after the existing ones:
/// every row there before paging began is listed exactly once, and the
/// listing is in order.
async fn check_paging_while_others_insert(db: &TestDb) {
    let tenant = fill(&db.store, "page").await;
    let actor = person(&tenant, "bob");
    let before = everything(&db.store, &actor).await;
    let q = ListQuery { sort: Sort { key: SortKey::Opened, descending: false }, ..ListQuery::default() };
    let writer = {
        let (store, actor) = (db.store.clone(), actor.clone());
        tokio::spawn(async move {
            for i in 0..30i64 {
                let id = format!("new{i:02}");
                let service = ServiceId::new("mail").unwrap();
                let open = open_incident(&id, service, "inserted while paging", Impact::Low, Urgency::Low);
                // Spread over and beyond the filled tenant's 3 hours.
                run::<Incident>(&store, &actor, ts((i * 487) % 14_000), &id, open).await;
                tokio::task::yield_now().await;
            }
        })
    };
    let mut got: Vec<ProjectionRow> = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = db.store.list(&actor, &q, after.as_ref(), 3).await.unwrap();
        got.extend(page.rows);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    let keys: Vec<(String, &str, &str)> =
        got.iter().map(|r| (r.opened_at.to_rfc3339(), r.kind.as_str(), r.id.as_str())).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "in order, none repeated");
    let listed: BTreeSet<(&str, &str)> = got.iter().map(|r| (r.kind.as_str(), r.id.as_str())).collect();
    for r in &before {
        assert!(listed.contains(&(r.kind.as_str(), r.id.as_str())), "{} skipped", r.id);
    }
}

/// Bad cursors and page sizes are refused as invalid input, naming the
/// cursor; a cursor of another order too.
async fn check_bad_cursors_are_invalid_input(db: &TestDb) {
    let tenant = fill(&db.store, "cur").await;
    let actor = person(&tenant, "cy");
    let q = ListQuery::default();
    let page = db.store.list(&actor, &q, None, 2).await.unwrap();
    let next = page.next.expect("more than 2 rows");
    let other = ListQuery { sort: Sort { key: SortKey::Priority, descending: false }, ..ListQuery::default() };
    for (query, cursor) in [
        (&other, next.clone()),
        (&q, Cursor::from_text("zz")),
        (&q, Cursor::from_text("7b7d")),
        (&q, Cursor::from_text("")),
    ] {
        let err = db.store.list(&actor, query, Some(&cursor), 2).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
        assert!(err.to_string().contains("cursor"), "{err}");
    }
    for limit in [0, itsm_store::query::MAX_PAGE + 1] {
        let err = db.store.list(&actor, &q, None, limit).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    }
    // Another tenant sees nothing of this one.
    let stranger = person(&TenantId::new(unique("other")).unwrap(), "ann");
    assert!(db.store.list(&stranger, &q, None, 10).await.unwrap().rows.is_empty());
    assert_eq!(db.store.facets(&stranger, &q).await.unwrap().total, 0);
}

/// Migration 0007 fills the list columns of rows written before it from
/// their stored states: emptied and re-filled by the migration's own
/// `UPDATE`, every row reads as the commands wrote it.
async fn check_migration_fills_the_list_columns(db: &TestDb) {
    let tenant = fill(&db.store, "mig").await;
    let actor = person(&tenant, "ann");
    let written = everything(&db.store, &actor).await;
    assert!(written.iter().any(|r| r.major) && written.iter().any(|r| r.requester.is_none()));
    let migration = match db.backend() {
        itsm_store::BackendKind::Sqlite => include_str!("../../migrations/sqlite/0007_list_columns.sql"),
        itsm_store::BackendKind::Postgres => include_str!("../../migrations/postgres/0007_list_columns.sql"),
    };
    let fill_sql = crate::common::migration_statement(migration, "UPDATE aggregates");
    let empty = match db.backend() {
        itsm_store::BackendKind::Sqlite => {
            "UPDATE aggregates SET title = NULL, requester = NULL, opened_at = NULL, major = 0"
        }
        itsm_store::BackendKind::Postgres => {
            "UPDATE aggregates SET title = NULL, requester = NULL, opened_at = NULL, major = FALSE"
        }
    };
    db.raw(&[empty]).await.unwrap();
    assert!(db.store.list(&actor, &ListQuery::default(), None, 10).await.is_err(), "emptied rows are refused");
    db.raw(&[&fill_sql]).await.unwrap();
    assert_eq!(everything(&db.store, &actor).await, written);
}

crate::on_both_backends!(
    check_paging_while_others_insert,
    check_bad_cursors_are_invalid_input,
    check_migration_fills_the_list_columns
);
