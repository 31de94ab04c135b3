//! Full-text search (`Store::search`) on both backends: what it finds, its
//! ranking basics, private notes, tenant and read scope, input that is not
//! a search, and migration 0011's own fill of the search rows of what was
//! written before it. (`read.rs` checks search against the read-permission reference too.)

use itsm_core::id::{GroupId, TenantId};
use itsm_core::incident::{Incident, IncidentCommand};
use itsm_core::{Actor, DomainConfig, Role};
use itsm_store::{ErrorKind, Store};
use itsm_store::{ImportCommand, OnReject};

use crate::common::{TestDb, note, open_titled as open, run_incident as run, ts, unique, who};

async fn ids(store: &Store, actor: &Actor, text: &str) -> Vec<String> {
    let found = store.search(actor, text, 50).await.unwrap();
    assert!(found.exhaustive, "{text:?}: a few rows are under the candidate bound");
    found.rows.into_iter().map(|r| r.id).collect()
}

/// A tenant: `title` in a title, `note` in a public note, `secret` in a
/// private note, all opened by ann; returns (tenant, ann, desk agent).
async fn fill(store: &Store) -> (TenantId, Actor, Actor) {
    let tenant = TenantId::new(unique("search")).unwrap();
    let ann = who(&tenant, "ann", &[Role::Requester]);
    let desk = who(&tenant, "desk1", &[Role::Agent]).with_groups([GroupId::new("desk").unwrap()]);
    let cfg = DomainConfig::default();
    run(store, &ann, 0, "inc-title", open("inc-title", "Database outage in payments")).await;
    run(store, &ann, 1, "inc-note", open("inc-note", "Printer jam on floor 3")).await;
    run(store, &desk, 2, "inc-note", note("The database came back after a restart", true)).await;
    run(store, &ann, 3, "inc-twice", open("inc-twice", "Database slow; database locks")).await;
    run(store, &ann, 4, "inc-secret", open("inc-secret", "Laptop will not boot")).await;
    run(store, &desk, 5, "inc-secret", note("Root cause: xyzzy firmware on the database host", false)).await;
    // Written through the batch path (import_batch): found the same way.
    let batch = [
        ImportCommand {
            actor: &ann,
            now: ts(6),
            aggregate_id: "inc-batch",
            command: open("inc-batch", "VPN gateway flaps"),
        },
        ImportCommand {
            actor: &desk,
            now: ts(7),
            aggregate_id: "inc-batch",
            command: note("database of VPN sessions is full", true),
        },
    ];
    store.import_batch::<Incident>(&cfg, &batch, OnReject::Abort).await.unwrap();
    for id in ["inc-title", "inc-note", "inc-twice", "inc-secret", "inc-batch"] {
        let assign = IncidentCommand::Assign { group: GroupId::new("desk").unwrap(), assignee: None };
        run(store, &desk, 10, id, assign).await;
    }
    (tenant, ann, desk)
}

async fn check_search_finds_ranks_and_scopes(db: &TestDb) {
    let store = &db.store;
    let (tenant, ann, desk) = fill(store).await;
    // Every word must be there, in any case; title matches rank first.
    let found = ids(store, &desk, "DATABASE").await;
    assert_eq!(found.len(), 5, "{found:?}");
    let rank = |id: &str| found.iter().position(|f| f == id).unwrap();
    assert!(rank("inc-twice") < rank("inc-note") && rank("inc-title") < rank("inc-note"), "{found:?}");
    assert!(rank("inc-title") < rank("inc-batch") && rank("inc-title") < rank("inc-secret"), "{found:?}");
    assert_eq!(ids(store, &desk, "database outage").await, ["inc-title"]);
    assert_eq!(ids(store, &desk, "vpn database").await, ["inc-batch"]);
    assert_eq!(ids(store, &desk, "restart").await, ["inc-note"]);
    assert!(ids(store, &desk, "database nothinglikethis").await.is_empty());
    // Private notes: found for the agent, never for the requester.
    assert_eq!(ids(store, &desk, "xyzzy").await, ["inc-secret"]);
    assert!(ids(store, &ann, "xyzzy").await.is_empty());
    assert!(!ids(store, &ann, "database").await.contains(&"inc-secret".to_owned()));
    assert_eq!(ids(store, &ann, "laptop").await, ["inc-secret"]);
    // Another requester reads none of ann's tickets; another tenant nothing.
    let bob = who(&tenant, "bob", &[Role::Requester]);
    assert!(ids(store, &bob, "database").await.is_empty());
    let stranger = who(&TenantId::new(unique("other")).unwrap(), "ann", &[Role::Automation]);
    assert!(ids(store, &stranger, "database").await.is_empty());
    // An agent of another group sees nothing; an incident manager everything.
    let net = who(&tenant, "net1", &[Role::Agent]).with_groups([GroupId::new("net").unwrap()]);
    assert!(ids(store, &net, "database").await.is_empty());
    let manager = who(&tenant, "im", &[Role::IncidentManager]);
    assert_eq!(ids(store, &manager, "database").await.len(), 5);
    // Query-language text is only words.
    assert_eq!(ids(store, &desk, "title:database AND \"outage\" OR *").await.len(), 0);
    assert_eq!(ids(store, &desk, "\"database\" (outage)*").await, ["inc-title"]);
    // The limit.
    assert_eq!(store.search(&desk, "database", 2).await.unwrap().rows.len(), 2);
    // Input that is no search.
    for (text, limit) in [("  --- ", 10), ("database", 0), ("database", 1001)] {
        let e = store.search(&desk, text, limit).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid, "{text:?} {limit}: {e}");
    }
    let many: Vec<String> = (0..17).map(|i| format!("w{i}")).collect();
    assert_eq!(store.search(&desk, &many.join(" "), 10).await.unwrap_err().kind(), ErrorKind::Invalid);
}

/// Migration 0011 fills the search rows of what was written before it:
/// emptied and re-filled by the migration's own `INSERT`, every search
/// gives what it gave.
async fn check_migration_fills_the_search_rows(db: &TestDb) {
    let store = &db.store;
    let (_tenant, ann, desk) = fill(store).await;
    let searches = ["database", "xyzzy", "restart", "vpn database", "laptop"];
    let mut before = Vec::new();
    for s in searches {
        before.push((ids(store, &desk, s).await, ids(store, &ann, s).await));
    }
    let migration = match db.backend() {
        itsm_store::BackendKind::Sqlite => include_str!("../../migrations/sqlite/0011_search_rows.sql"),
        itsm_store::BackendKind::Postgres => include_str!("../../migrations/postgres/0011_search_rows.sql"),
    };
    let fill_sql = crate::common::migration_statement(migration, "INSERT INTO search_rows");
    db.raw(&["DELETE FROM search_rows"]).await.unwrap();
    assert!(ids(store, &desk, "database").await.is_empty(), "emptied rows find nothing");
    db.raw(&[&fill_sql]).await.unwrap();
    let mut after = Vec::new();
    for s in searches {
        after.push((ids(store, &desk, s).await, ids(store, &ann, s).await));
    }
    assert_eq!(after, before);
}

/// The candidate bound: a search ranks the newest rows of its rarest word
/// only, says so when that left matches out, and a rare word still finds an
/// old match of a common one.
async fn check_search_candidate_bound(db: &TestDb) {
    let store = db.store.clone().with_search_candidates(10);
    let tenant = TenantId::new(unique("search_bound")).unwrap();
    let desk = who(&tenant, "desk1", &[Role::Agent, Role::IncidentManager]);
    for i in 0..30u32 {
        let id = format!("inc-{i:02}");
        run(&store, &desk, i64::from(i), &id, open(&id, "Printer jam again")).await;
    }
    run(&store, &desk, 40, "inc-00", note("toner cartridge replaced", true)).await;
    let ids = |r: itsm_store::query::SearchResult| r.rows.into_iter().map(|p| p.id).collect::<Vec<_>>();

    // 30 title rows hold "printer": the 10 newest are ranked, all alike
    // (ties by id), and the result says it is not exhaustive.
    let found = store.search(&desk, "printer", 50).await.unwrap();
    assert!(!found.exhaustive);
    let want: Vec<String> = (20..30).map(|i| format!("inc-{i:02}")).collect();
    assert_eq!(ids(found), want);
    // "toner" is in one row: it drives, so the oldest incident is found
    // although "printer" alone would not reach it; and the search is exhaustive.
    let found = store.search(&desk, "printer toner", 50).await.unwrap();
    assert!(found.exhaustive);
    assert_eq!(ids(found), ["inc-00"]);
    let found = store.search(&desk, "Toner PRINTER jam", 50).await.unwrap();
    assert_eq!((found.exhaustive, ids(found)), (true, vec!["inc-00".to_owned()]));
    // Under the default bound every match is ranked.
    let found = db.store.search(&desk, "printer", 50).await.unwrap();
    assert!(found.exhaustive);
    assert_eq!(found.rows.len(), 30);
    // The bound counts the rarest word's rows: "jam" is in 30 of them.
    let store = db.store.clone().with_search_candidates(30);
    let found = store.search(&desk, "jam", 50).await.unwrap();
    assert!(found.exhaustive, "30 rows, a bound of 30");
    let store = db.store.clone().with_search_candidates(29);
    assert!(!store.search(&desk, "jam", 50).await.unwrap().exhaustive, "30 rows, a bound of 29");
    // Any bound is taken (clamped to what one statement can bind).
    let store = db.store.clone().with_search_candidates(usize::MAX);
    let found = store.search(&desk, "jam", 50).await.unwrap();
    assert_eq!((found.exhaustive, found.rows.len()), (true, 30));
    let store = db.store.clone().with_search_candidates(0);
    assert_eq!(store.search(&desk, "toner", 50).await.unwrap().rows.len(), 1, "a bound of 0 is 1");
}

crate::on_both_backends!(
    check_search_finds_ranks_and_scopes,
    check_migration_fills_the_search_rows,
    check_search_candidate_bound
);

/// A bulk import refreshes PostgreSQL's planner statistics once it has
/// imported 10,000 commands: without them (autovacuum off or behind), each
/// batch's preload scanned the whole tenant and a fill slowed to a crawl.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_import_refreshes_planner_statistics() {
    use sqlx::Connection;
    let Some(db) = crate::common::postgres().await else { return };
    let schema = db.url.rsplit('=').next().unwrap().to_owned();
    let analyzed = || async {
        let mut conn = sqlx::PgConnection::connect(&crate::common::pg_url()).await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = $1 \
             AND relname IN ('aggregates', 'events', 'search_rows') AND last_analyze IS NOT NULL",
        )
        .bind(&schema)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        n
    };
    let tenant = TenantId::new(unique("analyze")).unwrap();
    let ann = who(&tenant, "ann", &[Role::Requester]);
    let cfg = DomainConfig::default();
    let ids: Vec<String> = (0..10_000).map(|i| format!("inc-{i:05}")).collect();
    for (n, chunk) in ids.chunks(2_500).enumerate() {
        // The statistics collector's view lags a moment; before the
        // threshold nothing was analyzed at all.
        assert_eq!(analyzed().await, 0, "analyzed before 10,000 commands (batch {n})");
        let batch: Vec<ImportCommand<'_, Incident>> = chunk
            .iter()
            .map(|id| ImportCommand { actor: &ann, now: ts(0), aggregate_id: id, command: open(id, "Disk full") })
            .collect();
        db.store.import_batch::<Incident>(&cfg, &batch, OnReject::Abort).await.unwrap();
    }
    assert_eq!(analyzed().await, 3, "aggregates, events and search_rows analyzed after 10,000 commands");
    db.cleanup().await;
}
