//! What the timeliness metrics read from the store, on both backends:
//! `Store::alert_receipts` (Table 3: one receipt per alert recorded on an
//! incident, its `fired_at` and the instant its ingestion ran; a
//! redelivery records nothing) and `Store::notification_records` (Table 16:
//! one per outbox message, its creation and delivery instants), each paged
//! past `PAGE_SIZE` and scoped to its tenant.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use itsm_core::alert::{Alert, AlertSeverity, GroupingPolicy};
use itsm_core::id::{ServiceId, TenantId};
use itsm_core::incident::{Incident, IncidentCommand, ResolutionCode};
use itsm_core::records::{AlertReceipt, NotificationRecord};
use itsm_core::vocabulary::ResolvedBy;
use itsm_core::{Context, Timestamp};
use itsm_store::{PAGE_SIZE, Request, Store};

use crate::common::{TestDb, actor, config, ts, unique};
use crate::on_both_backends;

async fn receipts(store: &Store, tenant: &str) -> Vec<AlertReceipt> {
    store.alert_receipts(&TenantId::new(tenant).unwrap()).try_collect().await.unwrap()
}

async fn notifications(store: &Store, tenant: &str) -> Vec<NotificationRecord> {
    store.notification_records(&TenantId::new(tenant).unwrap()).try_collect().await.unwrap()
}

/// Acknowledges every claimable message at `now` (of every tenant the
/// test's database holds).
async fn deliver_all(store: &Store, now: Timestamp) {
    loop {
        let items = store.claim("timeliness", Duration::from_secs(60), 256, now).await.unwrap();
        if items.is_empty() {
            break;
        }
        for item in items {
            store.ack(item.id, "timeliness", now).await.unwrap();
        }
    }
}

async fn check_alert_receipts_are_the_recorded_alerts(db: &TestDb) {
    let (t, other) = (unique("rcpt"), unique("rcpt_other"));
    let (bot, stranger) = (actor(&t, "monitoring"), actor(&other, "monitoring"));
    let (cfg, policy) = (config(), GroupingPolicy::default());
    // More alerts than a page, on 10 objects, fired a second apart and received at 3,000 s.
    let n = PAGE_SIZE as i64 + 88;
    let alerts: Vec<Alert> = (0..n)
        .map(|k| {
            let object = ServiceId::new(format!("host-{}", k % 10)).unwrap();
            Alert::new("prom", format!("r-{k}"), object, "cpu", AlertSeverity::Major, ts(k))
        })
        .collect();
    db.store.ingest_alerts(&bot, &cfg, &policy, &alerts, ts(3_000)).await.unwrap();
    // A redelivery later records nothing; a new alert later is received then.
    let late = Alert::new("prom", "r-late", ServiceId::new("host-1").unwrap(), "cpu", AlertSeverity::Major, ts(3_100));
    let report = db.store.ingest_alerts(&bot, &cfg, &policy, &[alerts[0].clone(), late], ts(3_400)).await.unwrap();
    assert_eq!(report.duplicates, 1, "{report:?}");
    // Another tenant's alert is not this tenant's receipt.
    let theirs = Alert::new("prom", "x-0", ServiceId::new("host-1").unwrap(), "cpu", AlertSeverity::Major, ts(0));
    db.store.ingest_alerts(&stranger, &cfg, &policy, &[theirs], ts(10)).await.unwrap();

    let got = receipts(&db.store, &t).await;
    let by_id: BTreeMap<&str, (Timestamp, Timestamp)> =
        got.iter().map(|r| (r.alert.alert_id.as_str(), (r.fired_at, r.received_at))).collect();
    assert_eq!(got.len(), by_id.len(), "one receipt per alert");
    assert_eq!(by_id.len() as i64, n + 1);
    for k in 0..n {
        assert_eq!(by_id[format!("r-{k}").as_str()], (ts(k), ts(3_000)), "r-{k}");
    }
    assert_eq!(by_id["r-late"], (ts(3_100), ts(3_400)));
    assert!(got.iter().all(|r| r.alert.source == "prom"));
    let theirs = receipts(&db.store, &other).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!((theirs[0].fired_at, theirs[0].received_at), (ts(0), ts(10)));
}

async fn check_notification_records_follow_the_outbox(db: &TestDb) {
    let t = unique("ntf");
    let (bot, agent) = (actor(&t, "monitoring"), actor(&t, "ann"));
    let (cfg, policy) = (config(), GroupingPolicy::default());
    let object = ServiceId::new("db-1").unwrap();
    let alerts: Vec<Alert> = (0..3)
        .map(|k| Alert::new("prom", format!("n-{k}"), object.clone(), "disk", AlertSeverity::Major, ts(k * 60)))
        .collect();
    let report = db.store.ingest_alerts(&bot, &cfg, &policy, &alerts, ts(600)).await.unwrap();
    let id = report.opened[0].clone();
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None };
    db.store
        .execute::<Incident>(Request::new(Context::new(&agent, ts(1_000), &cfg), id.as_str(), &resolve))
        .await
        .unwrap();
    deliver_all(&db.store, ts(1_090)).await;
    // Closed later and not delivered yet.
    let close = IncidentCommand::Close;
    db.store
        .execute::<Incident>(Request::new(Context::new(&agent, ts(2_000), &cfg), id.as_str(), &close))
        .await
        .unwrap();

    let got = notifications(&db.store, &t).await;
    let mut topics: Vec<(&str, Timestamp, Option<Timestamp>)> =
        got.iter().map(|n| (n.topic.as_str(), n.created_at, n.delivered_at)).collect();
    topics.sort();
    assert_eq!(
        topics,
        vec![
            ("alert.clear", ts(1_000), Some(ts(1_090))),
            ("alert.clear", ts(1_000), Some(ts(1_090))),
            ("alert.clear", ts(1_000), Some(ts(1_090))),
            ("incident.closed", ts(2_000), None),
            ("incident.resolved", ts(1_000), Some(ts(1_090))),
        ]
    );
    let keys: std::collections::BTreeSet<(&str, &str)> =
        got.iter().map(|n| (n.topic.as_str(), n.key.as_str())).collect();
    assert_eq!(keys.len(), got.len(), "a key is unique per topic");
}

async fn check_notification_records_page_past_a_page(db: &TestDb) {
    let t = unique("ntfp");
    let (bot, agent) = (actor(&t, "monitoring"), actor(&t, "ann"));
    let (cfg, policy) = (config(), GroupingPolicy::default());
    // One incident per object, each resolved: an incident.resolved and an alert.clear each.
    let n = PAGE_SIZE as i64 / 2 + 20;
    let alerts: Vec<Alert> = (0..n)
        .map(|k| {
            let object = ServiceId::new(format!("svc-{k}")).unwrap();
            Alert::new("prom", format!("p-{k}"), object, "up", AlertSeverity::Critical, ts(k))
        })
        .collect();
    let report = db.store.ingest_alerts(&bot, &cfg, &policy, &alerts, ts(1_000)).await.unwrap();
    assert_eq!(report.opened.len() as i64, n);
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L1, restored_at: None };
    for id in &report.opened {
        db.store
            .execute::<Incident>(Request::new(Context::new(&agent, ts(2_000), &cfg), id.as_str(), &resolve))
            .await
            .unwrap();
    }
    let got = notifications(&db.store, &t).await;
    assert_eq!(got.len() as i64, 2 * n);
    assert!(got.len() > PAGE_SIZE as usize);
    assert_eq!(got.iter().filter(|r| r.topic == "incident.resolved").count() as i64, n);
    assert!(got.iter().all(|r| r.created_at == ts(2_000) && r.delivered_at.is_none()));
}

on_both_backends!(
    check_alert_receipts_are_the_recorded_alerts,
    check_notification_records_follow_the_outbox,
    check_notification_records_page_past_a_page
);
