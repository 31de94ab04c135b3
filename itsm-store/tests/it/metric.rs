//! The metrics read model (`metric_incidents`, `metric_changes`), on both
//! backends: over random histories of incidents (commands one at a time and
//! in import batches) and standard changes, with SLA policy versions added
//! over time (some back-dated), the records the store scans equal the
//! records the test folds from the events each command returned (each
//! aggregate replayed through its machine, the SLA verdict judged by the
//! pure clock under the configuration history the test keeps), in the
//! scan's order; the scorecard from the scan equals the scorecard from that
//! fold; and `verify_metric_records` finds nothing. Then the rows are
//! corrupted and deleted, and a rebuild restores them exactly.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use itsm_core::calendar::Calendar;
use itsm_core::change::{ChangeSpec, ReviewVerdict, StandardChange, StandardCommand, StandardEvent, Window};
use itsm_core::id::{ActorId, ChangeId, ServiceId, TemplateId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentEvent, ResolutionCode, sla_events};
use itsm_core::records::{ChangeRecord, IncidentRecord, Record};
use itsm_core::sla::SlaPolicy;
use itsm_core::versioned::{DomainConfigHistory, Versioned};
use itsm_core::vocabulary::{ChangeOutcome, Remediation, ResolvedBy};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};
use itsm_metrics::{Accumulator, ScorecardConfig, Thresholds};
use itsm_store::{ImportCommand, OnReject, Request, Store, StoreError};
use proptest::prelude::*;

use crate::common::{TestDb, open_titled, scaled_policy, ts, unique};

fn incident_command(action: u8, arg: u8) -> IncidentCommand {
    use itsm_core::vocabulary::{Impact, Urgency};
    match action % 10 {
        0 => IncidentCommand::Acknowledge,
        1 => IncidentCommand::Start,
        2 => IncidentCommand::Hold { reason: itsm_core::vocabulary::HoldReason::AwaitingCaller },
        3 => IncidentCommand::Resume,
        4 => {
            let levels = [(Impact::High, Urgency::High), (Impact::Low, Urgency::Low), (Impact::Medium, Urgency::High)];
            let (impact, urgency) = levels[usize::from(arg) % levels.len()];
            IncidentCommand::Reprioritize { impact, urgency }
        }
        5 => IncidentCommand::AddNote { text: Text::new("status").unwrap(), public: arg.is_multiple_of(2) },
        6 | 7 => IncidentCommand::Resolve {
            code: ResolutionCode::Fixed,
            resolved_by: if arg.is_multiple_of(2) { ResolvedBy::L1 } else { ResolvedBy::L2 },
            restored_at: None,
        },
        8 => IncidentCommand::Reopen { reason: Text::new("came back").unwrap() },
        _ if arg.is_multiple_of(7) => IncidentCommand::Cancel { reason: Text::new("raised in error").unwrap() },
        _ => IncidentCommand::Close,
    }
}

fn change_command(id: &str, action: u8, at: Timestamp) -> StandardCommand {
    match action % 8 {
        0 | 1 => StandardCommand::Schedule {
            window: Window::new(at.plus_seconds(600).unwrap(), at.plus_seconds(4_200).unwrap()).unwrap(),
            override_reason: None,
        },
        2 => StandardCommand::Start,
        // The auto-rollback change's stage fails: it rolls back by itself.
        3 if id.ends_with('2') => StandardCommand::FailStage {
            reason: Text::new("health check failed").unwrap(),
            restored: at.unix_micros() % 3 != 0,
        },
        3 => StandardCommand::Complete {
            outcome: if id.ends_with('1') { ChangeOutcome::Failed } else { ChangeOutcome::Successful },
            remediation: if id.ends_with('1') { Remediation::RolledBack } else { Remediation::None },
        },
        4 => StandardCommand::Review { verdict: ReviewVerdict::ObjectivesMet, notes: Text::new("fine").unwrap() },
        5 => StandardCommand::Close,
        6 => StandardCommand::Cancel { reason: Text::new("not needed").unwrap() },
        _ => StandardCommand::AdvanceStage,
    }
}

fn create_change(id: &str) -> StandardCommand {
    StandardCommand::Create {
        spec: ChangeSpec {
            id: ChangeId::new(id).unwrap(),
            service: ServiceId::new("mail").unwrap(),
            title: Text::new("patch the relay").unwrap(),
            strategy: itsm_core::change::Strategy::BigBang,
            auto_rollback: id.ends_with('2'),
        },
        template: TemplateId::new("os-patch").unwrap(),
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// A command on incident `n` (opened first).
    Incident { n: u8, action: u8, arg: u8 },
    /// The same, as a batch of commands on incidents through `import_batch`.
    Import { commands: Vec<(u8, u8, u8)> },
    /// A command on standard change `n` (created first).
    Change { n: u8, action: u8 },
    /// An SLA policy version effective `offset` seconds from now.
    Policy { scale: u8, new_cycle: bool, offset: i32 },
    /// Time passes.
    Wait { secs: u16 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u8..5, any::<u8>(), any::<u8>()).prop_map(|(n, action, arg)| Step::Incident { n, action, arg }),
        2 => prop::collection::vec((0u8..5, any::<u8>(), any::<u8>()), 1..6).prop_map(|commands| Step::Import { commands }),
        4 => (0u8..3, any::<u8>()).prop_map(|(n, action)| Step::Change { n, action }),
        1 => (5u8..150, any::<bool>(), -30_000i32..5_000).prop_map(|(scale, new_cycle, offset)| Step::Policy { scale, new_cycle, offset }),
        2 => (1u16..20_000).prop_map(|secs| Step::Wait { secs }),
    ]
}

/// The test's own fold: every aggregate's events, as the store returned them.
#[derive(Default)]
struct Reference {
    incidents: BTreeMap<String, Vec<IncidentEvent>>,
    changes: BTreeMap<String, Vec<StandardEvent>>,
    history: DomainConfigHistory,
}

impl Reference {
    fn incident_records(&self) -> Vec<IncidentRecord> {
        let mut out: Vec<IncidentRecord> = self
            .incidents
            .values()
            .map(|events| {
                let state = Incident::replay(events).unwrap().unwrap();
                let mut r = state.to_record();
                // Judged as of the last event: every event has happened by then.
                let last = events.iter().map(IncidentEvent::at).max().unwrap();
                r.resolution_target_met = self.history.resolution_met(&sla_events(events), last).unwrap();
                r
            })
            .collect();
        out.sort_by(|a, b| (a.opened_at, a.id.as_str()).cmp(&(b.opened_at, b.id.as_str())));
        out
    }

    fn change_records(&self) -> Vec<ChangeRecord> {
        self.changes.values().map(|events| StandardChange::replay(events).unwrap().unwrap().to_record()).collect()
    }
}

fn scorecard(incidents: &[IncidentRecord], changes: &[ChangeRecord]) -> serde_json::Value {
    let config = ScorecardConfig::new(ts(-86_400), ts(40 * 86_400)).unwrap();
    let mut acc = Accumulator::new(config).unwrap();
    for r in incidents {
        acc.push_incident(r).unwrap();
    }
    acc.no_more_incidents();
    for c in changes {
        acc.push_change(c);
    }
    serde_json::to_value(acc.finish(&Thresholds::default())).unwrap()
}

async fn scanned(store: &Store, tenant: &TenantId) -> Result<(Vec<IncidentRecord>, Vec<ChangeRecord>), StoreError> {
    let incidents = store.incident_records(tenant).try_collect().await?;
    let changes = store.change_records(tenant).try_collect().await?;
    Ok((incidents, changes))
}

async fn case(db: &TestDb, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let store = &db.store;
    let tenant = TenantId::new(unique("metric")).unwrap();
    let actor = Actor::new(ActorId::new("agent").unwrap(), tenant.clone(), Role::ALL.iter().copied());
    let config = DomainConfig::default();
    let mut reference = Reference::default();
    let mut now = ts(0);
    let initial = Versioned::new(1, ts(-1_000_000), scaled_policy(1, 100, false));
    reference.history.sla_policies.add(initial.clone()).unwrap();
    store.add_config_version(&tenant, initial, now).await.unwrap();
    let calendar = Versioned::new(1, ts(-1_000_000), Calendar::twenty_four_seven(chrono_tz::UTC));
    reference.history.calendars.add(calendar.clone()).unwrap();
    store.add_config_version(&tenant, calendar, now).await.unwrap();
    let mut version = 1;
    let incident_command_for = |reference: &Reference, id: &str, action: u8, arg: u8| {
        if reference.incidents.contains_key(id) { incident_command(action, arg) } else { open_titled(id, "mail down") }
    };
    for step in steps {
        now = now.plus_seconds(61).unwrap();
        match step {
            Step::Incident { n, action, arg } => {
                let id = format!("INC-{n}");
                let command = incident_command_for(&reference, &id, action, arg);
                let ctx = Context::new(&actor, now, &config);
                if let Ok(c) = store.execute::<Incident>(Request::new(ctx, &id, &command)).await {
                    reference.incidents.entry(id).or_default().extend(c.events.into_iter().map(|r| r.event));
                }
            }
            Step::Import { commands } => {
                let ids: Vec<String> = commands.iter().map(|(n, _, _)| format!("INC-{n}")).collect();
                // A batch sees its own earlier commands: an incident opened in
                // it takes its later commands.
                let mut known: Vec<String> = reference.incidents.keys().cloned().collect();
                let mut batch = Vec::new();
                for ((_, action, arg), id) in commands.iter().zip(&ids) {
                    let command = if known.contains(id) {
                        incident_command(*action, *arg)
                    } else {
                        known.push(id.clone());
                        open_titled(id, "mail down")
                    };
                    batch.push(ImportCommand::<Incident> { actor: &actor, now, aggregate_id: id, command });
                }
                store.import_batch(&config, &batch, OnReject::Skip).await.unwrap();
                // The events of the commands the batch committed, read back.
                for id in &ids {
                    if let Ok(history) = store.history::<Incident>(&actor, id).await {
                        reference.incidents.insert(id.clone(), history.into_iter().map(|r| r.event).collect());
                    }
                }
            }
            Step::Change { n, action } => {
                let id = format!("CHG-{n}");
                let command = if reference.changes.contains_key(&id) {
                    change_command(&id, action, now)
                } else {
                    create_change(&id)
                };
                let ctx = Context::new(&actor, now, &config);
                if let Ok(c) = store.execute::<StandardChange>(Request::new(ctx, &id, &command)).await {
                    reference.changes.entry(id).or_default().extend(c.events.into_iter().map(|r| r.event));
                }
            }
            Step::Policy { scale, new_cycle, offset } => {
                version += 1;
                let v = Versioned::new(
                    version,
                    now.plus_seconds(i64::from(offset)).unwrap(),
                    scaled_policy(version, scale, new_cycle),
                );
                reference.history.sla_policies.add(v.clone()).unwrap();
                store.add_config_version(&tenant, v, now).await.unwrap();
            }
            Step::Wait { secs } => now = now.plus_seconds(i64::from(secs)).unwrap(),
        }
    }
    let (incidents, changes) = scanned(store, &tenant).await.unwrap();
    let want_incidents = reference.incident_records();
    let want_changes = reference.change_records();
    prop_assert_eq!(&incidents, &want_incidents, "incident records");
    let mut sorted_changes = changes.clone();
    sorted_changes.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    prop_assert_eq!(&sorted_changes, &want_changes, "change records");
    prop_assert_eq!(scorecard(&incidents, &changes), scorecard(&want_incidents, &want_changes), "scorecards");
    let report = store.verify_metric_records(&tenant).await.unwrap();
    prop_assert!(report.is_consistent(), "verify: {:?}", report);
    prop_assert_eq!(report.incidents, want_incidents.len() as u64);
    prop_assert_eq!(report.changes, want_changes.len() as u64);
    Ok(())
}

fn run(db: &TestDb, rt: &tokio::runtime::Runtime, cases: u32) {
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(steps in prop::collection::vec(step(), 1..40))| {
        rt.block_on(case(db, steps))?;
    });
}

#[test]
fn read_model_equals_the_fold_sqlite() {
    crate::common::on_sqlite(|db, rt| run(db, rt, 40));
}

#[cfg(feature = "postgres")]
#[test]
fn read_model_equals_the_fold_postgres() {
    crate::common::on_postgres(|db, rt| run(db, rt, 20));
}

/// Corrupt rows, deleted rows and a tenant listed as never built: scans
/// refuse the stale tenant, verification names the damage, and a rebuild
/// restores exactly what the commands had written.
async fn rebuild_restores(db: &TestDb) {
    let store = &db.store;
    let tenant = TenantId::new(unique("rebuild")).unwrap();
    let actor = Actor::new(ActorId::new("agent").unwrap(), tenant.clone(), Role::ALL.iter().copied());
    let config = DomainConfig::default();
    store.add_config_version(&tenant, Versioned::new(1, ts(-10), SlaPolicy::default()), ts(0)).await.unwrap();
    store
        .add_config_version(&tenant, Versioned::new(1, ts(-10), Calendar::twenty_four_seven(chrono_tz::UTC)), ts(0))
        .await
        .unwrap();
    for i in 0..30 {
        let id = format!("INC-{i:02}");
        let at = i64::from(i) * 100;
        let ctx = Context::new(&actor, ts(at), &config);
        store.execute::<Incident>(Request::new(ctx, &id, &open_titled(&id, "relay down"))).await.unwrap();
        if i % 3 != 0 {
            let resolve = IncidentCommand::Resolve {
                code: ResolutionCode::Fixed,
                resolved_by: ResolvedBy::L1,
                // Some within the target, some long after it.
                restored_at: None,
            };
            let later = if i % 2 == 0 { 600 } else { 10 * 86_400 };
            let ctx = Context::new(&actor, ts(at + later), &config);
            store.execute::<Incident>(Request::new(ctx, &id, &resolve)).await.unwrap();
        }
    }
    for i in 0..5 {
        let id = format!("CHG-{i}");
        let ctx = Context::new(&actor, ts(50_000), &config);
        store.execute::<StandardChange>(Request::new(ctx, &id, &create_change(&id))).await.unwrap();
    }
    // CHG-2 rolls back by itself: its text and column carry the flag.
    for (k, action) in [0u8, 2, 3].into_iter().enumerate() {
        let at = ts(50_000 + 60 * (k as i64 + 1));
        let ctx = Context::new(&actor, at, &config);
        store
            .execute::<StandardChange>(Request::new(ctx, "CHG-2", &change_command("CHG-2", action, at)))
            .await
            .unwrap();
    }
    let before = scanned(store, &tenant).await.unwrap();
    assert_eq!(before.0.len(), 30);
    assert_eq!(before.1.len(), 5);
    let flagged: Vec<&str> = before.1.iter().filter(|c| c.automatic_rollback).map(|c| c.id.as_str()).collect();
    assert_eq!(flagged, ["CHG-2"]);
    let met: Vec<Option<bool>> = before.0.iter().map(|r| r.resolution_target_met).collect();
    assert!(met.contains(&Some(true)) && met.contains(&Some(false)) && met.contains(&None), "{met:?}");
    assert!(store.verify_metric_records(&tenant).await.unwrap().is_consistent());

    let t = tenant.as_str();
    db.raw(&[
        &format!(
            "UPDATE metric_incidents SET reopen_count = 7, resolution = 'missed' WHERE tenant = '{t}' AND id = 'INC-01'"
        ),
        &format!("DELETE FROM metric_incidents WHERE tenant = '{t}' AND id IN ('INC-02', 'INC-03')"),
        &format!("DELETE FROM metric_changes WHERE tenant = '{t}' AND id = 'CHG-4'"),
        &format!(
            "INSERT INTO metric_changes (tenant, kind, id, version, change_type, service, remediation) \
             VALUES ('{t}', 'standard_change', 'CHG-GHOST', 1, 'standard', 'mail', 'none')"
        ),
    ])
    .await
    .unwrap();
    let report = store.verify_metric_records(&tenant).await.unwrap();
    assert!(!report.is_consistent());
    assert_eq!(report.mismatched, 4, "{report:?}");
    assert_eq!(report.missing_rows, 3, "{report:?}");
    assert_eq!(report.extra_rows, 1, "{report:?}");
    let named: Vec<&str> = report.mismatches.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(named, ["INC-01", "INC-02", "INC-03", "CHG-4"]);
    assert!(report.mismatches[1].to_string().contains("INC-02: no read model row"), "{}", report.mismatches[1]);
    // The columns edited, the record text (what scans read) not: both forms are checked.
    assert_eq!(report.mismatches[0].stored_text.as_ref(), Some(&Record::Incident(before.0[1].clone())));

    // The record text alone corrupt (its columns intact): a verification
    // names the row, and a scan refuses a row without a text rather than
    // skip it.
    let text = "replace(record, '\"l1\"', '\"l2\"')";
    db.raw(&[
        &format!("UPDATE metric_incidents SET record = {text} WHERE tenant = '{t}' AND id = 'INC-04'"),
        &format!("UPDATE metric_incidents SET record = 'not json' WHERE tenant = '{t}' AND id = 'INC-05'"),
        &format!("UPDATE metric_changes SET record = NULL WHERE tenant = '{t}' AND id = 'CHG-3'"),
    ])
    .await
    .unwrap();
    let report = store.verify_metric_records(&tenant).await.unwrap();
    let named: Vec<&str> = report.mismatches.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(named, ["INC-01", "INC-02", "INC-03", "INC-04", "INC-05", "CHG-3", "CHG-4"], "{report:?}");
    let inc04 = &report.mismatches[3];
    assert_eq!(inc04.stored.as_ref(), Some(&inc04.folded));
    match &inc04.stored_text {
        Some(Record::Incident(r)) => assert_eq!(r.resolved_by, Some(ResolvedBy::L2)),
        other => panic!("INC-04's text should read as a record resolved by L2: {other:?}"),
    }
    assert!(inc04.to_string().contains("record text"), "{inc04}");
    assert!(report.mismatches[4].to_string().contains("INC-05: the read model row has no valid record text"));
    assert_eq!(report.mismatches[5].stored_text, None);
    let refused = store.change_records(&tenant).try_collect::<Vec<_>>().await.unwrap_err();
    assert!(matches!(refused, StoreError::Corrupt { .. }), "{refused}");
    assert!(refused.to_string().contains("rebuild_metric_records"), "{refused}");
    let refused = store.incident_records(&tenant).try_collect::<Vec<_>>().await.unwrap_err();
    assert!(matches!(refused, StoreError::Corrupt { .. }), "{refused}");

    // A store upgraded from before the record texts: migration 0013's
    // statements give every row its text from its columns, and 0015's give
    // each change's text its automatic-rollback flag.
    let (texts, flags, authorized) = match db.backend() {
        itsm_store::BackendKind::Sqlite => (
            include_str!("../../migrations/sqlite/0013_metric_record_text.sql"),
            include_str!("../../migrations/sqlite/0015_automatic_rollback.sql"),
            include_str!("../../migrations/sqlite/0016_authorized_at.sql"),
        ),
        itsm_store::BackendKind::Postgres => (
            include_str!("../../migrations/postgres/0013_metric_record_text.sql"),
            include_str!("../../migrations/postgres/0015_automatic_rollback.sql"),
            include_str!("../../migrations/postgres/0016_authorized_at.sql"),
        ),
    };
    store.rebuild_metric_records(&tenant, ts(90_000)).await.unwrap();
    db.raw(&[
        &format!("UPDATE metric_incidents SET record = NULL WHERE tenant = '{t}'"),
        &format!("UPDATE metric_changes SET record = NULL WHERE tenant = '{t}'"),
        &format!(
            "{} WHERE tenant = '{t}'",
            crate::common::migration_statement(texts, "UPDATE metric_incidents SET record")
        ),
        &format!(
            "{} WHERE tenant = '{t}'",
            crate::common::migration_statement(texts, "UPDATE metric_changes SET record")
        ),
        &format!(
            "{} WHERE tenant = '{t}'",
            crate::common::migration_statement(flags, "UPDATE metric_changes SET record")
        ),
        &format!(
            "{} WHERE tenant = '{t}'",
            crate::common::migration_statement(authorized, "UPDATE metric_changes SET record")
        ),
    ])
    .await
    .unwrap();
    assert_eq!(scanned(store, &tenant).await.unwrap(), before);
    assert!(store.verify_metric_records(&tenant).await.unwrap().is_consistent());

    // A store upgraded from before the authorization instants: migration
    // 0016 lists the tenant (it holds no normal or emergency change here, so
    // the test lists it as the statement would one that did) behind the
    // record definition, and its scans refuse until the rebuild.
    let listing = crate::common::migration_statement(authorized, "INSERT INTO metric_models")
        .replace("kind IN ('normal_change', 'emergency_change')", "kind = 'standard_change'");
    db.raw(&[&listing.replace("ON CONFLICT", &format!("AND tenant = '{t}' ON CONFLICT"))]).await.unwrap();
    let refused = store.change_records(&tenant).try_collect::<Vec<_>>().await.unwrap_err();
    assert!(matches!(refused, StoreError::MetricModelStale { built: 1, current: 2, .. }), "{refused}");
    store.rebuild_metric_records(&tenant, ts(90_500)).await.unwrap();
    assert_eq!(scanned(store, &tenant).await.unwrap(), before);
    // Built at definition 1 with no normal or emergency change: 0016 moves
    // the tenant to 2 (nothing to learn), and its scans go on.
    let bump = crate::common::migration_statement(authorized, "UPDATE metric_models");
    db.raw(&[
        &format!("UPDATE metric_models SET definition = 1 WHERE tenant = '{t}'"),
        &format!("{bump} AND tenant = '{t}'"),
    ])
    .await
    .unwrap();
    assert_eq!(scanned(store, &tenant).await.unwrap(), before);

    // A store upgraded from before the read model: no rows, no listing;
    // migration 0012's statement lists every tenant holding records as
    // never built.
    let migration = match db.backend() {
        itsm_store::BackendKind::Sqlite => include_str!("../../migrations/sqlite/0012_metric_records.sql"),
        itsm_store::BackendKind::Postgres => include_str!("../../migrations/postgres/0012_metric_records.sql"),
    };
    let listing = crate::common::migration_statement(migration, "INSERT INTO metric_models");
    db.raw(&[
        &format!("DELETE FROM metric_incidents WHERE tenant = '{t}'"),
        &format!("DELETE FROM metric_changes WHERE tenant = '{t}'"),
        &format!("DELETE FROM metric_models WHERE tenant = '{t}'"),
        &format!("{listing} AND tenant = '{t}'"),
    ])
    .await
    .unwrap();
    let refused = scanned(store, &tenant).await.unwrap_err();
    assert!(matches!(refused, StoreError::MetricModelStale { built: 0, current: 2, .. }), "{refused}");
    assert!(refused.to_string().contains(&format!("tenant {t}")), "{refused}");
    assert!(refused.to_string().contains("rebuild_metric_records"), "{refused}");

    let rebuilt = store.rebuild_metric_records(&tenant, ts(100_000)).await.unwrap();
    assert_eq!((rebuilt.incidents, rebuilt.changes), (30, 5));
    let after = scanned(store, &tenant).await.unwrap();
    assert_eq!(after, before);
    assert!(store.verify_metric_records(&tenant).await.unwrap().is_consistent());
    // Another tenant's rows were not touched by the rebuild.
}

#[test]
fn rebuild_restores_the_read_model_sqlite() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(crate::common::sqlite());
    rt.block_on(rebuild_restores(&db));
    rt.block_on(db.cleanup());
}

#[cfg(feature = "postgres")]
#[test]
fn rebuild_restores_the_read_model_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(crate::common::postgres()) else { return };
    rt.block_on(rebuild_restores(&db));
    rt.block_on(db.cleanup());
}

/// A scan is a plain value until polled: made outside any runtime, then
/// driven inside one; dropped after its first record, the read in flight
/// stops and the store goes on serving.
#[test]
fn a_scan_is_made_anywhere_and_dropped_early() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(crate::common::sqlite());
    let tenant = TenantId::new(unique("scan")).unwrap();
    let actor = Actor::new(ActorId::new("agent").unwrap(), tenant.clone(), Role::ALL.iter().copied());
    rt.block_on(async {
        let config = DomainConfig::default();
        let batch: Vec<String> = (0..5_000).map(|i| format!("INC-{i:05}")).collect();
        let commands: Vec<ImportCommand<'_, Incident>> = batch
            .iter()
            .enumerate()
            .map(|(i, id)| ImportCommand {
                actor: &actor,
                now: ts(i as i64),
                aggregate_id: id,
                command: open_titled(id, "disk full"),
            })
            .collect();
        db.store.import_batch(&config, &commands, OnReject::Abort).await.unwrap();
        // Two pages of changes and a bit: the next page's cursor is the
        // (kind, id) of the last row's text.
        let ids: Vec<String> = (0..2_100).map(|i| format!("CHG-{i:05}")).collect();
        let changes: Vec<ImportCommand<'_, StandardChange>> = ids
            .iter()
            .map(|id| ImportCommand { actor: &actor, now: ts(10_000), aggregate_id: id, command: create_change(id) })
            .collect();
        db.store.import_batch(&config, &changes, OnReject::Abort).await.unwrap();
        let scanned: Vec<String> =
            db.store.change_records(&tenant).map_ok(|r| r.id.as_str().to_owned()).try_collect().await.unwrap();
        assert_eq!(scanned, ids);
    });
    // Made outside the runtime: nothing runs yet.
    let scan = db.store.incident_records(&tenant);
    let all: Vec<IncidentRecord> = rt.block_on(scan.try_collect()).unwrap();
    assert_eq!(all.len(), 5_000);
    assert!(all.windows(2).all(|w| w[0].opened_at < w[1].opened_at));
    rt.block_on(async {
        let mut scan = std::pin::pin!(db.store.incident_records(&tenant));
        let first = scan.try_next().await.unwrap().unwrap();
        assert_eq!(first.id.as_str(), "INC-00000");
    });
    // Dropped after one record (a second page was being read): the store still answers.
    let again: Vec<IncidentRecord> = rt.block_on(db.store.incident_records(&tenant).try_collect()).unwrap();
    assert_eq!(again, all);
    rt.block_on(db.cleanup());
}

/// Migration 0016 gives the stored states of authorized changes their
/// `authorized_at` from the event log: a state written before it (the field
/// stripped here) is patched by the migration's statements, so the next
/// command's record keeps the instant.
async fn states_learn_their_authorization(db: &TestDb) {
    use itsm_core::change::{EmergencyChange, EmergencyCommand};
    use itsm_core::vocabulary::{ChangeType, Risk};
    let store = &db.store;
    let tenant = TenantId::new(unique("authorized")).unwrap();
    let actor = Actor::new(ActorId::new("ecab-1").unwrap(), tenant.clone(), Role::ALL.iter().copied())
        .with_groups([itsm_core::id::GroupId::new("ecab").unwrap()]);
    let requester = Actor::new(ActorId::new("req").unwrap(), tenant.clone(), Role::ALL.iter().copied());
    let mut config = DomainConfig::default();
    // Low-risk emergency changes need no ECAB: no authorization instant.
    config.approvals.set(ChangeType::Emergency, Risk::Low, vec![]);
    let submit = |id: &str, risk| EmergencyCommand::Submit {
        spec: ChangeSpec {
            id: ChangeId::new(id).unwrap(),
            service: ServiceId::new("mail").unwrap(),
            title: Text::new("hotfix the relay").unwrap(),
            strategy: itsm_core::change::Strategy::BigBang,
            auto_rollback: false,
        },
        risk,
        justification: Text::new("mail is down").unwrap(),
    };
    let run = |who: &'static Actor, id: &'static str, at: i64, command: EmergencyCommand| {
        let config = config.clone();
        async move {
            let ctx = Context::new(who, ts(at), &config);
            store.execute::<EmergencyChange>(Request::new(ctx, id, &command)).await.unwrap();
        }
    };
    let requester: &'static Actor = Box::leak(Box::new(requester));
    let actor: &'static Actor = Box::leak(Box::new(actor));
    run(requester, "EMG-1", 100, submit("EMG-1", Risk::High)).await;
    run(actor, "EMG-1", 200, EmergencyCommand::Approve { group: itsm_core::id::GroupId::new("ecab").unwrap() }).await;
    run(requester, "EMG-2", 300, submit("EMG-2", Risk::Low)).await;
    let authorized =
        |records: &[ChangeRecord]| -> Vec<Option<Timestamp>> { records.iter().map(|r| r.authorized_at).collect() };
    let before: Vec<ChangeRecord> = store.change_records(&tenant).try_collect().await.unwrap();
    assert_eq!(authorized(&before), [Some(ts(200)), None]);

    // The states as written before migration 0016, then its statements.
    let t = tenant.as_str();
    let (strip, migration) = match db.backend() {
        itsm_store::BackendKind::Sqlite => (
            format!("UPDATE aggregates SET state = json_remove(state, '$.authorized_at') WHERE tenant = '{t}'"),
            include_str!("../../migrations/sqlite/0016_authorized_at.sql"),
        ),
        itsm_store::BackendKind::Postgres => (
            format!("UPDATE aggregates SET state = (state::jsonb - 'authorized_at')::text WHERE tenant = '{t}'"),
            include_str!("../../migrations/postgres/0016_authorized_at.sql"),
        ),
    };
    let patches: Vec<String> = migration
        .split(';')
        .map(|s| s.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n"))
        .filter(|s| s.trim_start().starts_with("UPDATE aggregates"))
        .map(|s| format!("{s} AND tenant = '{t}'"))
        .collect();
    assert_eq!(patches.len(), 1);
    let mut statements = vec![strip.as_str()];
    statements.extend(patches.iter().map(String::as_str));
    db.raw(&statements).await.unwrap();

    // The next commands write records from the patched states.
    run(requester, "EMG-1", 400, EmergencyCommand::Start).await;
    run(requester, "EMG-2", 500, EmergencyCommand::Start).await;
    let after: Vec<ChangeRecord> = store.change_records(&tenant).try_collect().await.unwrap();
    assert_eq!(authorized(&after), [Some(ts(200)), None]);
    assert!(after.iter().all(|r| r.started_at.is_some()));
}

#[test]
fn states_learn_their_authorization_sqlite() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(crate::common::sqlite());
    rt.block_on(states_learn_their_authorization(&db));
    rt.block_on(db.cleanup());
}

#[cfg(feature = "postgres")]
#[test]
fn states_learn_their_authorization_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(crate::common::postgres()) else { return };
    rt.block_on(states_learn_their_authorization(&db));
    rt.block_on(db.cleanup());
}
