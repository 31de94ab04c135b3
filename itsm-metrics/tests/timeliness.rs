//! Timeliness (Tables 3 and 16): alert delay and notifications in time, on
//! hand-computed examples (every boundary: the bound itself, one
//! microsecond past it, the period's edges, negative delays, machine
//! topics, pending and late undelivered messages), their ratings, and a
//! property against a reference written from the definitions in
//! `itsm-metrics/src/lib.rs`, including partitions merged.

mod common;

use common::*;
use itsm_core::Timestamp;
use itsm_core::alert::AlertKey;
use itsm_core::records::{AlertReceipt, NotificationRecord};
use itsm_metrics::rating::Level;
use itsm_metrics::scorecard::Scorecard;
use itsm_metrics::{Accumulator, NotificationPolicy, ScorecardConfig, Thresholds};
use proptest::prelude::*;

fn micros(unix_micros: i64) -> Timestamp {
    Timestamp::from_unix_micros(unix_micros).unwrap()
}

fn receipt(id: &str, fired: i64, received: i64) -> AlertReceipt {
    AlertReceipt {
        alert: AlertKey { source: "prom".into(), alert_id: id.into() },
        fired_at: micros(fired),
        received_at: micros(received),
    }
}

fn note(topic: &str, key: &str, created: i64, delivered: Option<i64>) -> NotificationRecord {
    NotificationRecord {
        topic: topic.into(),
        key: key.into(),
        created_at: micros(created),
        delivered_at: delivered.map(micros),
        dead_at: None,
    }
}

fn score(config: ScorecardConfig, receipts: &[AlertReceipt], notes: &[NotificationRecord]) -> Scorecard {
    let mut acc = Accumulator::new(config).unwrap();
    for r in receipts {
        acc.push_alert_receipt(r);
    }
    for n in notes {
        acc.push_notification(n);
    }
    acc.finish(&Thresholds::maturity_model())
}

const S: i64 = 1_000_000;
const FROM: i64 = BASE * S;

fn level(card: &Scorecard, label: &str) -> Level {
    card.ratings.metrics.iter().find(|m| m.label == label).unwrap_or_else(|| panic!("no rating {label}")).rating.level
}

fn table(card: &Scorecard, table: u8) -> Level {
    card.ratings.tables.iter().find(|t| t.table == table).unwrap_or_else(|| panic!("no table {table}")).level
}

#[test]
fn alert_delay_counts_alerts_received_in_the_period_within_three_minutes() {
    let to = FROM + 31 * DAY * S;
    let receipts = [
        receipt("a", FROM, FROM),                        // 0 s: in time
        receipt("b", FROM + 10 * S, FROM + 190 * S),     // exactly 180 s: in time (inclusive)
        receipt("c", FROM + 10 * S, FROM + 190 * S + 1), // 180 s + 1 µs: late
        receipt("d", FROM - 60 * S, FROM + 200 * S),     // fired before W, received in W: 260 s, late
        receipt("e", FROM - 60 * S, FROM - 1),           // received before W: not counted
        receipt("f", to - 10 * S, to),                   // received at `to`: not counted
        receipt("g", FROM + 500 * S, FROM + 400 * S),    // received before it fired: anomaly
    ];
    let card = score(config(31), &receipts, &[]);
    let t = &card.timeliness;
    assert_eq!((t.alert_delay_within.numerator, t.alert_delay_within.denominator), (2, 4));
    assert_eq!(t.alert_delay_bound_seconds, 180);
    assert_eq!(card.anomalies.negative_alert_delays, 1);
    assert_eq!(card.inputs.alert_receipts, 7);
    // Delays truncated to whole seconds: 0, 180, 180, 260.
    assert_eq!(t.alert_delay.n, 4);
    assert_eq!(t.alert_delay.total_seconds, 620);
    assert_eq!(t.alert_delay.max_seconds, Some(260));
    // 50% < 95%: Table 3 stays at level 1.
    assert_eq!(level(&card, "alert_delay_within"), Level::L1);
    assert_eq!(table(&card, 3), Level::L1);
    // A longer bound (configurable) takes them all in.
    let card = score(config(31).with_alert_delay_within(260), &receipts, &[]);
    assert_eq!(card.timeliness.alert_delay_within.numerator, 4);
}

#[test]
fn alert_delay_rating_boundary_is_95_percent() {
    // 19 of 20 in time = 95%: level 5 (the bound holds at every level above 1).
    let mut receipts: Vec<AlertReceipt> =
        (0..19).map(|i| receipt(&format!("ok{i}"), FROM + i * S, FROM + i * S + 30 * S)).collect();
    receipts.push(receipt("late", FROM, FROM + 600 * S));
    let card = score(config(31), &receipts, &[]);
    assert_eq!(level(&card, "alert_delay_within"), Level::L5);
    // 18 of 20 = 90%: level 1.
    receipts[0] = receipt("ok0", FROM, FROM + 181 * S);
    let card = score(config(31), &receipts, &[]);
    assert_eq!(level(&card, "alert_delay_within"), Level::L1);
}

#[test]
fn notifications_in_time_judge_delivered_late_and_pending_messages() {
    let to = FROM + 31 * DAY * S;
    let notes = [
        note("incident.resolved", "1", FROM, Some(FROM + 300 * S)), // exactly 300 s: in time
        note("incident.resolved", "2", FROM, Some(FROM + 300 * S + 1)), // late by 1 µs
        note("notify.stakeholders", "3", FROM + S, Some(FROM + 2 * S)), // 1 s: in time
        note("incident.major_declared", "4", FROM, None),           // undelivered, long past due: late
        note("incident.closed", "5", to - 300 * S, None),           // due exactly at `to`: pending
        note("incident.closed", "6", to - 300 * S - 1, None),       // due 1 µs before `to`: late
        note("alert.clear", "7", FROM, None),                       // a machine topic: not counted
        note("incident.resolved", "8", FROM - 1, Some(FROM)),       // created before W: not counted
        note("incident.resolved", "9", FROM + 5 * S, Some(FROM + 4 * S)), // delivered before created: anomaly
        // Given up as a dead letter, not yet due at `to`: late all the same.
        NotificationRecord { dead_at: Some(micros(to - 10 * S)), ..note("incident.closed", "10", to - 60 * S, None) },
    ];
    let card = score(config(31), &[], &notes);
    let t = &card.timeliness;
    assert_eq!((t.notified_in_time.numerator, t.notified_in_time.denominator), (2, 6));
    assert_eq!(t.notifications_pending, 1);
    assert_eq!(t.notification_bound_seconds, 300);
    assert_eq!(card.anomalies.negative_notification_delays, 1);
    assert_eq!(card.inputs.notifications, 10);
    assert_eq!((t.notification_delay.n, t.notification_delay.max_seconds), (3, Some(300)));
    // 33%: Table 16 below level 2 ("users sometimes notified" = at least half).
    assert_eq!(level(&card, "notified_in_time"), Level::L1);
    assert_eq!(table(&card, 16), Level::L1);
    // Counting alert.clear as a people topic adds it (late: undelivered past due).
    let policy = NotificationPolicy { within_seconds: 300, machine_topics: vec![] };
    let card = score(config(31).with_notifications(policy), &[], &notes);
    assert_eq!((card.timeliness.notified_in_time.numerator, card.timeliness.notified_in_time.denominator), (2, 7));
}

#[test]
fn notified_in_time_levels() {
    let notes = |in_time: i64, late: i64| -> Vec<NotificationRecord> {
        (0..in_time)
            .map(|i| note("incident.resolved", &format!("ok{i}"), FROM + i * S, Some(FROM + i * S + 60 * S)))
            .chain((0..late).map(|i| note("incident.resolved", &format!("late{i}"), FROM + i * S, None)))
            .collect()
    };
    for (in_time, late, want) in [(1, 1, Level::L2), (19, 1, Level::L5), (18, 2, Level::L2), (0, 3, Level::L1)] {
        let card = score(config(31), &[], &notes(in_time, late));
        assert_eq!(level(&card, "notified_in_time"), want, "{in_time} in time, {late} late");
    }
}

#[test]
fn without_receipts_or_notifications_both_tables_have_no_data() {
    let card = score(config(31), &[], &[]);
    assert_eq!(card.timeliness.alert_delay_within.value, None);
    assert_eq!(level(&card, "alert_delay_within"), Level::NoData);
    assert_eq!(table(&card, 3), Level::NoData);
    assert_eq!(table(&card, 16), Level::NoData);
    // An old scorecard without the section reads as no data.
    let mut json: serde_json::Value = serde_json::to_value(&card).unwrap();
    json.as_object_mut().unwrap().remove("timeliness");
    let back: Scorecard = serde_json::from_value(json).unwrap();
    assert_eq!(back.timeliness.alert_delay_within.denominator, 0);
}

/// The definitions, written again: (in time, judged) for alerts and
/// notifications, and the pending count.
fn reference(
    from: i64,
    to: i64,
    alert_bound: i64,
    policy: &NotificationPolicy,
    receipts: &[AlertReceipt],
    notes: &[NotificationRecord],
) -> ((u64, u64), (u64, u64), u64) {
    let mut alerts = (0, 0);
    for r in receipts {
        let (fired, received) = (r.fired_at.unix_micros(), r.received_at.unix_micros());
        if from <= received && received < to && received >= fired {
            alerts.1 += 1;
            if received - fired <= alert_bound * S {
                alerts.0 += 1;
            }
        }
    }
    let (mut notified, mut pending) = ((0, 0), 0);
    for n in notes {
        let created = n.created_at.unix_micros();
        if !(from <= created && created < to) || policy.machine_topics.contains(&n.topic) {
            continue;
        }
        let bound = policy.within_seconds as i64 * S;
        match n.delivered_at.map(|d| d.unix_micros()) {
            Some(d) if d < created => {}
            Some(d) => {
                notified.1 += 1;
                if d - created <= bound {
                    notified.0 += 1;
                }
            }
            None if n.dead_at.is_some() || created + bound < to => notified.1 += 1,
            None => pending += 1,
        }
    }
    (alerts, notified, pending)
}

fn arb_receipt() -> impl Strategy<Value = AlertReceipt> {
    (0u8..20, -3 * DAY..40 * DAY, -60i64..900).prop_map(|(id, fired, delay)| {
        let fired = FROM + fired * S;
        receipt(&format!("a{id}"), fired, fired + delay * S + i64::from(id))
    })
}

/// Notifications over the period and around it, a third of them in the last
/// 20 minutes before `to` (where an undelivered one may not be due yet), some
/// given up as dead letters.
fn arb_note() -> impl Strategy<Value = NotificationRecord> {
    let topics = prop::sample::select(vec!["incident.resolved", "notify.stakeholders", "alert.clear"]);
    let created = prop_oneof![2 => -3 * DAY * S..40 * DAY * S, 1 => 31 * DAY * S - 1_200 * S..31 * DAY * S + 60 * S];
    (topics, 0u16..500, created, prop::option::of(-60i64..1_200), any::<bool>()).prop_map(
        |(topic, key, created, delay, dead)| {
            let created = FROM + created;
            let mut n = note(topic, &key.to_string(), created, delay.map(|d| created + d * S));
            if dead && n.delivered_at.is_none() {
                n.dead_at = Some(micros(created + 300 * S));
            }
            n
        },
    )
}

proptest! {
    #[test]
    fn timeliness_matches_the_reference_and_partitions_merge(
        receipts in prop::collection::vec(arb_receipt(), 0..60),
        notes in prop::collection::vec(arb_note(), 0..60),
        alert_bound in 0u64..600,
        within in 0u64..900,
        split in 0usize..60,
    ) {
        let policy = NotificationPolicy { within_seconds: within, machine_topics: vec!["alert.clear".into()] };
        let config = config(31).with_alert_delay_within(alert_bound).with_notifications(policy.clone());
        let card = score(config.clone(), &receipts, &notes);
        let to = FROM + 31 * DAY * S;
        let (alerts, notified, pending) = reference(FROM, to, alert_bound as i64, &policy, &receipts, &notes);
        let t = &card.timeliness;
        prop_assert_eq!((t.alert_delay_within.numerator, t.alert_delay_within.denominator), alerts);
        prop_assert_eq!((t.notified_in_time.numerator, t.notified_in_time.denominator), notified);
        prop_assert_eq!(t.notifications_pending, pending);
        // Two partitions merged give the same scorecard.
        let (r1, r2) = receipts.split_at(split.min(receipts.len()));
        let (n1, n2) = notes.split_at(split.min(notes.len()));
        let mut a = Accumulator::new(config.clone()).unwrap();
        let mut b = Accumulator::new(config).unwrap();
        r1.iter().for_each(|r| a.push_alert_receipt(r));
        n1.iter().for_each(|n| a.push_notification(n));
        r2.iter().for_each(|r| b.push_alert_receipt(r));
        n2.iter().for_each(|n| b.push_notification(n));
        let merged = a.merge(b).unwrap().finish(&Thresholds::maturity_model());
        prop_assert_eq!(merged, card);
    }
}

#[test]
fn partitions_with_other_bounds_do_not_merge() {
    let a = Accumulator::new(config(31)).unwrap();
    for other in [
        config(31).with_alert_delay_within(60),
        config(31).with_notifications(NotificationPolicy { within_seconds: 60, ..NotificationPolicy::default() }),
        config(31).with_authorization_within(60),
    ] {
        let b = Accumulator::new(other).unwrap();
        let err = a.clone().merge(b).unwrap_err();
        assert!(matches!(err, itsm_metrics::MetricsError::ConfigMismatch { .. }), "{err}");
    }
    // A policy given in part takes the rest from the defaults.
    let policy: NotificationPolicy = serde_json::from_str(r#"{"within_seconds": 120}"#).unwrap();
    assert_eq!(policy.machine_topics, vec!["alert.clear".to_owned()]);
}
