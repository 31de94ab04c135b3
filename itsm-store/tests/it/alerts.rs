//! Monitoring alerts into incidents through the store (`Store::ingest_alerts`):
//! a concurrent, redelivering alert storm creates exactly the incidents a
//! sequential run does; resolving an alert incident clears every grouped alert.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use itsm_core::alert::{Alert, AlertError, AlertKey, AlertSeverity, GroupingPolicy, IgnoreReason};
use itsm_core::classify::ResolvedBy;
use itsm_core::id::{IncidentId, ServiceId};
use itsm_core::incident::{Incident, IncidentCommand, ResolutionCode};
use itsm_core::{Actor, Context, Timestamp};
use itsm_store::{IgnoredAlert, IngestReport, Request, Store};

use crate::common::{TestDb, actor, config, ts, unique};
use crate::on_both_backends;

const GROUPS: usize = 400;
const PER_GROUP: usize = 20;
const TOTAL: usize = 10_000;

/// 8,000 distinct alerts (400 groups of 20, every group's alerts fired within
/// 3 minutes, well inside the 30-minute window) and 2,000 redeliveries of
/// them, in a fixed pseudo-random order.
fn storm() -> Vec<Alert> {
    let severities = [AlertSeverity::Minor, AlertSeverity::Major, AlertSeverity::Critical];
    let mut distinct = Vec::with_capacity(GROUPS * PER_GROUP);
    for g in 0..GROUPS {
        for k in 0..PER_GROUP {
            let object = ServiceId::new(format!("svc-{g}")).unwrap();
            let at = ts((g as i64) * 600 + (k as i64) * 9);
            let severity = severities[(g * 7 + k * 3) % 3];
            distinct.push(Alert::new("prom", format!("a-{g}-{k}"), object, "cpu", severity, at));
        }
    }
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut all = distinct.clone();
    while all.len() < TOTAL {
        let i = (next() % distinct.len() as u64) as usize;
        all.push(distinct[i].clone());
    }
    // Fisher-Yates shuffle.
    for i in (1..all.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        all.swap(i, j);
    }
    all
}

/// Each incident of the run with its correlated alerts and priority.
async fn incidents(
    store: &Store,
    bot: &Actor,
    opened: &[IncidentId],
) -> BTreeMap<String, (BTreeSet<AlertKey>, String)> {
    let mut out = BTreeMap::new();
    for id in opened {
        let loaded = store.load::<Incident>(bot, id.as_str()).await.unwrap();
        out.insert(id.as_str().to_owned(), (loaded.state.alerts().clone(), format!("{:?}", loaded.state.priority())));
    }
    out
}

async fn sequential(store: &Store, bot: &Actor, alerts: &[Alert], batch: usize) -> IngestReport {
    let (cfg, policy) = (config(), GroupingPolicy::default());
    let mut report = IngestReport::default();
    for chunk in alerts.chunks(batch) {
        report.absorb(store.ingest_alerts(bot, &cfg, &policy, chunk, ts(1_000_000)).await.unwrap());
    }
    report
}

async fn concurrent(store: &Store, bot: &Actor, alerts: &[Alert], batch: usize, tasks: usize) -> IngestReport {
    let queue: Arc<Mutex<Vec<Vec<Alert>>>> = Arc::new(Mutex::new(alerts.chunks(batch).map(<[_]>::to_vec).collect()));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, bot, queue) = (store.clone(), bot.clone(), queue.clone());
        handles.push(tokio::spawn(async move {
            let (cfg, policy) = (config(), GroupingPolicy::default());
            let mut report = IngestReport::default();
            loop {
                let Some(chunk) = queue.lock().unwrap().pop() else { break };
                report.absorb(store.ingest_alerts(&bot, &cfg, &policy, &chunk, ts(1_000_000)).await.unwrap());
            }
            report
        }));
    }
    let mut report = IngestReport::default();
    for h in handles {
        report.absorb(h.await.unwrap());
    }
    report
}

async fn check_storm_concurrent_equals_sequential(db: &TestDb) {
    let alerts = storm();
    let seq_bot = actor(&unique("seq"), "monitoring");
    let con_bot = actor(&unique("con"), "monitoring");
    let t0 = Instant::now();
    let seq = sequential(&db.store, &seq_bot, &alerts, 100).await;
    let seq_time = t0.elapsed();
    let t0 = Instant::now();
    let con = concurrent(&db.store, &con_bot, &alerts, 50, 8).await;
    let con_time = t0.elapsed();
    eprintln!(
        "{:?}: {TOTAL} alerts, sequential (batches of 100) {seq_time:?}, concurrent (8 tasks, batches of 50) {con_time:?}; \
         opened {}, merged {}, duplicates {}",
        db.backend(),
        con.opened.len(),
        con.merged,
        con.duplicates
    );
    for report in [&seq, &con] {
        assert_eq!(report.received, TOTAL);
        assert_eq!(report.opened.len(), GROUPS);
        assert_eq!(report.duplicates, TOTAL - GROUPS * PER_GROUP);
        assert_eq!(report.merged, GROUPS * (PER_GROUP - 1));
        assert!(report.refused.is_empty(), "{:?}", report.refused);
        assert_eq!(report.reopened + report.annotated + report.ignored.len() + report.recoveries, 0);
    }
    let ids = |r: &IngestReport| r.opened.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(ids(&seq), ids(&con), "same incident ids");
    let seq_incidents = incidents(&db.store, &seq_bot, &seq.opened).await;
    let con_incidents = incidents(&db.store, &con_bot, &con.opened).await;
    assert_eq!(seq_incidents, con_incidents, "same alerts and priority per incident");
    assert!(seq_incidents.values().all(|(alerts, _)| alerts.len() == PER_GROUP));
    for bot in [&seq_bot, &con_bot] {
        assert!(db.store.verify_chain(&bot.tenant).await.unwrap().is_intact());
    }
    // Redelivering the whole storm changes nothing.
    let again = sequential(&db.store, &con_bot, &alerts, 1000).await;
    assert_eq!(again.duplicates, TOTAL);
    assert_eq!(again.events, 0);
}

async fn check_resolve_clears_every_grouped_alert(db: &TestDb) {
    let t = unique("clr");
    let bot = actor(&t, "monitoring");
    let agent = actor(&t, "ann");
    let (cfg, policy) = (config(), GroupingPolicy::default());
    let object = ServiceId::new("db-1").unwrap();
    let alerts: Vec<Alert> = (0..3)
        .map(|k| Alert::new("prom", format!("c-{k}"), object.clone(), "disk", AlertSeverity::Major, ts(k * 60)))
        .collect();
    let report = db.store.ingest_alerts(&bot, &cfg, &policy, &alerts, ts(600)).await.unwrap();
    assert_eq!((report.opened.len(), report.merged), (1, 2));
    let id = report.opened[0].clone();
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None };
    db.store
        .execute::<Incident>(Request::new(Context::new(&agent, ts(1000), &cfg), id.as_str(), &resolve))
        .await
        .unwrap();
    let mut clears = BTreeSet::new();
    loop {
        let items = db.store.claim("test", Duration::from_secs(60), 100, ts(1001)).await.unwrap();
        if items.is_empty() {
            break;
        }
        for item in items {
            assert!(db.store.ack(item.id, "test", ts(1001)).await.unwrap());
            if item.tenant == t && item.topic == "alert.clear" {
                assert!(clears.insert(item.dedup_key.clone()), "one clear per alert");
            }
        }
    }
    let expected: BTreeSet<String> = alerts.iter().map(|a| a.key().clear_key()).collect();
    assert_eq!(clears, expected);
    // The correlator saw the resolution: a new alert within the reopen window reopens.
    let late = Alert::new("prom", "c-9", object, "disk", AlertSeverity::Major, ts(1200));
    let report = db.store.ingest_alerts(&bot, &cfg, &policy, &[late], ts(1300)).await.unwrap();
    assert_eq!(report.reopened, 1, "{report:?}");
    let loaded = db.store.load::<Incident>(&bot, id.as_str()).await.unwrap();
    assert_eq!(loaded.state.alerts().len(), 4);
}

/// An alert fired near the end of time is refused at ingestion with its
/// reason (before, it opened an incident that could then not be resolved);
/// every ignored alert is reported with a reason.
async fn check_ignored_alerts_carry_their_reason(db: &TestDb) {
    let t = unique("ign");
    let bot = actor(&t, "monitoring");
    let (cfg, policy) = (config(), GroupingPolicy::default());
    let object = ServiceId::new("db-1").unwrap();
    let end = Timestamp::parse_rfc3339("9999-12-31T23:30:00Z").unwrap();
    let alerts = vec![
        Alert::new("prom", "far", object.clone(), "disk", AlertSeverity::Major, end),
        Alert::new("prom", "gone", object.clone(), "disk", AlertSeverity::Major, ts(0)).recovered(ts(30)),
        Alert::new("prom", "ok", object, "disk", AlertSeverity::Major, ts(60)),
    ];
    let report = db.store.ingest_alerts(&bot, &cfg, &policy, &alerts, ts(600)).await.unwrap();
    assert_eq!((report.received, report.opened.len()), (3, 1), "{report:?}");
    let key = |id: &str| AlertKey { source: "prom".to_owned(), alert_id: id.to_owned() };
    let unsupported = AlertError::UnsupportedInstant { field: "fired_at".to_owned(), at: end };
    assert_eq!(
        report.ignored,
        vec![
            IgnoredAlert { alert: key("far"), reason: IgnoreReason::Invalid { error: unsupported } },
            IgnoredAlert { alert: key("gone"), reason: IgnoreReason::UnknownRecovery },
        ]
    );
    assert!(report.refused.is_empty(), "{:?}", report.refused);
}

on_both_backends!(
    check_storm_concurrent_equals_sequential,
    check_resolve_clears_every_grouped_alert,
    check_ignored_alerts_carry_their_reason
);
