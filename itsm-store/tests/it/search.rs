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
    store.search(actor, text, 50).await.unwrap().into_iter().map(|r| r.id).collect()
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
    assert_eq!(store.search(&desk, "database", 2).await.unwrap().len(), 2);
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

crate::on_both_backends!(check_search_finds_ranks_and_scopes, check_migration_fills_the_search_rows);
