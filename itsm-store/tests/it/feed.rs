//! The event feed (`Store::events_after`) and its wake-up signal
//! (`Store::subscribe`), on both backends: pages in one order that sum to
//! the tenant's log, read scope and private notes as `history` applies them,
//! no event skipped or repeated while many writers commit concurrently (the
//! case PostgreSQL's transaction watermark exists for), and a subscriber
//! woken by this process's commits and, on PostgreSQL, another process's.

use std::collections::BTreeSet;
use std::time::Duration;

use itsm_core::id::{GroupId, TenantId};
use itsm_core::incident::IncidentCommand;
use itsm_core::{Actor, AggregateKind, Role};
use itsm_store::{FeedCursor, Store, Wake};

use crate::common::{TestDb, note, open_titled, run_incident as run, unique, who};

fn open(id: &str) -> IncidentCommand {
    open_titled(id, "mail is slow")
}

/// Everything `actor` reads from `from`, `limit` events per page, until
/// the feed has no more and at least `want` events came (on PostgreSQL the
/// feed holds back events until older transactions end, and other tests
/// run transactions on the same server); checks that cursors only grow.
async fn read_all(
    store: &Store,
    actor: &Actor,
    from: FeedCursor,
    limit: u32,
    want: usize,
) -> (Vec<(String, u64, String)>, FeedCursor) {
    let mut out = Vec::new();
    let mut cursor = from;
    for _ in 0..10_000 {
        let page = store.events_after(actor, cursor, limit).await.unwrap();
        assert!(page.next >= cursor, "the cursor went back: {cursor} -> {}", page.next);
        for e in &page.events {
            assert!(e.cursor > cursor && e.cursor <= page.next, "an event outside its page's cursors");
            out.push((e.event.aggregate_id.clone(), e.event.version, e.event.event_name.clone()));
        }
        cursor = page.next;
        if !page.more {
            if out.len() >= want {
                return (out, cursor);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    panic!("the feed never ended or never brought {want} events (got {})", out.len());
}

/// Every event of the tenant in (aggregate, version) order, through the
/// system path the feed must agree with.
async fn log(store: &Store, tenant: &TenantId) -> BTreeSet<(String, u64, String)> {
    use futures_util::TryStreamExt;
    let events: Vec<_> = store.stream_events(tenant, AggregateKind::Incident).try_collect().await.unwrap();
    events.into_iter().map(|e| (e.aggregate_id, e.version, e.event_name)).collect()
}

async fn check_feed_pages_scope_and_private_notes(db: &TestDb) {
    let store = &db.store;
    let tenant = TenantId::new(unique("feed")).unwrap();
    let other = TenantId::new(unique("feed_other")).unwrap();
    let ann = who(&tenant, "ann", &[Role::Requester]);
    let bob = who(&tenant, "bob", &[Role::Requester]);
    let desk = who(&tenant, "desk1", &[Role::Agent]).with_groups([GroupId::new("desk").unwrap()]);
    let manager = who(&tenant, "mia", &[Role::IncidentManager]);
    let stranger = who(&other, "sam", &[Role::IncidentManager]);
    run(store, &ann, 0, "inc-ann", open("inc-ann")).await;
    run(store, &bob, 1, "inc-bob", open("inc-bob")).await;
    run(store, &stranger, 2, "inc-other", open("inc-other")).await;
    run(store, &desk, 3, "inc-ann", note("we are looking at it", true)).await;
    run(store, &desk, 4, "inc-ann", note("root cause: the relay host", false)).await;
    run(store, &desk, 5, "inc-bob", note("bob's mailbox is full", true)).await;

    // A reader of everything: the tenant's whole log, in commit order here
    // (one writer at a time), whatever the page size; nothing of the other
    // tenant.
    let (all, end) = read_all(store, &manager, FeedCursor::START, 1000, 5).await;
    let expected = vec![
        ("inc-ann".to_owned(), 1, "opened".to_owned()),
        ("inc-bob".to_owned(), 1, "opened".to_owned()),
        ("inc-ann".to_owned(), 2, "note_added".to_owned()),
        ("inc-ann".to_owned(), 3, "note_added".to_owned()),
        ("inc-bob".to_owned(), 2, "note_added".to_owned()),
    ];
    assert_eq!(all, expected);
    assert_eq!(all.iter().cloned().collect::<BTreeSet<_>>(), log(store, &tenant).await);
    for limit in [1, 2, 3] {
        assert_eq!(read_all(store, &manager, FeedCursor::START, limit, 5).await.0, expected, "pages of {limit}");
    }
    // From the end: nothing. (The cursor may move on: on PostgreSQL it
    // follows the transaction watermark.)
    let page = store.events_after(&manager, end, 10).await.unwrap();
    assert!(page.events.is_empty() && !page.more && page.next >= end);
    // A cursor taken in the middle and sent as text (an SSE id) resumes there.
    let first = store.events_after(&manager, FeedCursor::START, 2).await.unwrap();
    assert!(first.more);
    let resumed: FeedCursor = first.next.to_string().parse().unwrap();
    assert_eq!(read_all(store, &manager, resumed, 10, 3).await.0, expected[2..].to_vec());

    // A requester: their own incident, without its private note.
    let (mine, _) = read_all(store, &ann, FeedCursor::START, 1, 2).await;
    assert_eq!(mine, vec![expected[0].clone(), expected[2].clone()]);
    // An agent reads the intake: both incidents are in no group, so all of
    // them, private notes included.
    assert_eq!(read_all(store, &desk, FeedCursor::START, 10, 0).await.0, expected);
    // A resolver of the desk group: nothing while they are unassigned; after
    // an assignment to the desk, all of inc-bob with private notes.
    let resolver = who(&tenant, "res1", &[Role::Resolver]).with_groups([GroupId::new("desk").unwrap()]);
    assert!(read_all(store, &resolver, FeedCursor::START, 10, 0).await.0.is_empty());
    let assign = IncidentCommand::Assign { group: GroupId::new("desk").unwrap(), assignee: None };
    run(store, &manager, 6, "inc-bob", assign).await;
    run(store, &desk, 7, "inc-bob", note("quota raised", false)).await;
    let (resolver_sees, _) = read_all(store, &resolver, FeedCursor::START, 2, 4).await;
    let names: Vec<_> = resolver_sees.iter().map(|(id, v, _)| (id.as_str(), *v)).collect();
    assert_eq!(names, vec![("inc-bob", 1), ("inc-bob", 2), ("inc-bob", 3), ("inc-bob", 4)]);
    // The other tenant's reader sees only its own.
    let (theirs, _) = read_all(store, &stranger, FeedCursor::START, 10, 1).await;
    assert_eq!(theirs, vec![("inc-other".to_owned(), 1, "opened".to_owned())]);
}

async fn check_feed_misses_nothing_under_concurrent_writers(db: &TestDb) {
    let store = db.store.clone();
    let tenant = TenantId::new(unique("feed_race")).unwrap();
    let manager = who(&tenant, "mia", &[Role::IncidentManager]);
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 25;
    let reader = {
        let store = store.clone();
        let manager = manager.clone();
        tokio::spawn(async move {
            // Tail the feed while the writers run, in small pages.
            let mut seen = Vec::new();
            let mut cursor = FeedCursor::START;
            let mut signal = store.subscribe().with_poll_interval(Duration::from_millis(5));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while seen.len() < WRITERS * PER_WRITER * 2 && tokio::time::Instant::now() < deadline {
                let page = store.events_after(&manager, cursor, 7).await.unwrap();
                seen.extend(page.events.iter().map(|e| (e.event.aggregate_id.clone(), e.event.version)));
                cursor = page.next;
                if !page.more {
                    signal.wait().await;
                }
            }
            seen
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let desk = who(&tenant, &format!("agent{w}"), &[Role::Agent, Role::IncidentManager]);
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let id = format!("inc-{w}-{i}");
                run(&store, &desk, 10, &id, open(&id)).await;
                run(&store, &desk, 11, &id, note("working on it", true)).await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let seen = reader.await.unwrap();
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "an event was delivered twice");
    let expected: BTreeSet<(String, u64)> = log(&store, &tenant).await.into_iter().map(|(id, v, _)| (id, v)).collect();
    assert_eq!(expected.len(), WRITERS * PER_WRITER * 2);
    let missed: Vec<_> = expected.difference(&unique).collect();
    let extra: Vec<_> = unique.difference(&expected).collect();
    assert!(missed.is_empty() && extra.is_empty(), "the tail skipped {missed:?}; events not in the log: {extra:?}");
}

async fn check_subscriber_wakes_on_commits(db: &TestDb) {
    let store = &db.store;
    let tenant = TenantId::new(unique("feed_wake")).unwrap();
    let ann = who(&tenant, "ann", &[Role::Requester]);
    // A long poll interval: a return before it is a wake-up, not a poll.
    let mut signal = store.subscribe().with_poll_interval(Duration::from_secs(60));
    let started = std::time::Instant::now();
    run(store, &ann, 0, "inc-1", open("inc-1")).await;
    assert_eq!(signal.wait().await, Wake::Signal);
    assert!(started.elapsed() < Duration::from_secs(30));

    if db.backend() == itsm_store::BackendKind::Postgres {
        // Let the listener connect (it wakes once when it does), then wait
        // for quiet: other tests' stores notify on the database's channel,
        // but with their own schemas, which this store ignores.
        let mut settle = store.subscribe().with_poll_interval(Duration::from_millis(300));
        while settle.wait().await == Wake::Signal {}
    }
    // A wait with nothing committed returns at the poll interval.
    let mut quiet = store.subscribe().with_poll_interval(Duration::from_millis(300));
    assert_eq!(quiet.wait().await, Wake::Poll, "woken with nothing committed on this store's schema");

    if db.backend() == itsm_store::BackendKind::Postgres {
        // Another process (a second store on the same schema) commits its
        // first command; this store's subscriber hears it through
        // LISTEN/NOTIFY, and from nothing else (the poll is 60 s).
        let other = Store::connect(&db.url).await.unwrap();
        let mut signal = store.subscribe().with_poll_interval(Duration::from_secs(60));
        run(&other, &ann, 1, "inc-2", open("inc-2")).await;
        assert_eq!(signal.wait().await, Wake::Signal, "the other store's commit was not notified");
        other.close().await;
    }
}

crate::on_both_backends!(
    check_feed_pages_scope_and_private_notes,
    check_feed_misses_nothing_under_concurrent_writers,
    check_subscriber_wakes_on_commits
);
