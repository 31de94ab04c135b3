//! Fill markers: a bulk fill claims only a store that holds no records at
//! all, of any tenant and kind; a fill without its completion marker is seen
//! as incomplete; of concurrent claims exactly one wins.

use itsm_core::Context;
use itsm_store::{ExpectedVersion, FillClaim, Request, StoreError};

use crate::common::{TestDb, actor, config, ts};
use crate::on_both_backends;
use crate::ticket::{Ticket, open};

on_both_backends!(
    check_claim_complete_and_reclaim,
    check_claim_refused_beside_other_records,
    check_concurrent_claims_have_one_winner,
    check_complete_unknown_fill,
);

async fn check_claim_complete_and_reclaim(db: &TestDb) {
    let store = &db.store;
    assert!(!store.holds_records().await.unwrap(), "a fresh store holds no records");
    assert_eq!(store.claim_fill("demo", ts(0)).await.unwrap(), FillClaim::Claimed);
    assert!(store.holds_records().await.unwrap(), "the started marker is a record");
    // Killed here: the fill is seen as incomplete, never as complete or empty.
    assert_eq!(store.claim_fill("demo", ts(5)).await.unwrap(), FillClaim::Incomplete { started_at: ts(0) });
    // Another fill's name finds the store occupied.
    assert_eq!(store.claim_fill("other", ts(5)).await.unwrap(), FillClaim::Occupied);
    store.complete_fill("demo", ts(10)).await.unwrap();
    assert_eq!(
        store.claim_fill("demo", ts(20)).await.unwrap(),
        FillClaim::Complete { started_at: ts(0), completed_at: ts(10) }
    );
    // Completing twice keeps the first completion.
    store.complete_fill("demo", ts(30)).await.unwrap();
    assert_eq!(
        store.claim_fill("demo", ts(40)).await.unwrap(),
        FillClaim::Complete { started_at: ts(0), completed_at: ts(10) }
    );
}

async fn check_claim_refused_beside_other_records(db: &TestDb) {
    let store = &db.store;
    let cfg = config();
    let someone = actor("another-tenant", "alice");
    let command = open("T-1", "real work");
    store
        .execute::<Ticket>(
            Request::new(Context::new(&someone, ts(0), &cfg), "T-1", &command).if_version(ExpectedVersion::Absent),
        )
        .await
        .unwrap();
    assert!(store.holds_records().await.unwrap());
    assert_eq!(store.claim_fill("demo", ts(1)).await.unwrap(), FillClaim::Occupied);
    assert_eq!(store.claim_fill("demo", ts(2)).await.unwrap(), FillClaim::Occupied, "nothing was written");
}

async fn check_concurrent_claims_have_one_winner(db: &TestDb) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move { store.claim_fill("demo", ts(i)).await }));
    }
    let mut claimed = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            FillClaim::Claimed => claimed += 1,
            FillClaim::Incomplete { .. } => {}
            other => panic!("a concurrent claim saw {other:?}"),
        }
    }
    assert_eq!(claimed, 1, "exactly one of the concurrent claims fills");
}

async fn check_complete_unknown_fill(db: &TestDb) {
    match db.store.complete_fill("never-claimed", ts(0)).await {
        Err(StoreError::NotFound { kind: "fill marker", id }) => assert_eq!(id, "never-claimed"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(!db.store.holds_records().await.unwrap(), "a failed completion writes nothing");
    assert!(matches!(db.store.claim_fill("", ts(0)).await, Err(StoreError::Validation { .. })));
}
