//! Schedule enforcement from the stored configuration, on both backends: a
//! tenant's stored service schedules (maintenance windows, blackouts, and
//! their enforcement) decide the `schedule` command of a standard change, not
//! the caller's configuration; a refusal writes nothing and is classified as
//! refused by the rules; an override reason is recorded in the `scheduled`
//! event; a tenant without stored schedules is not enforced.

use chrono::{NaiveDate, NaiveTime, Weekday};
use itsm_core::change::schedule::{
    Blackout, Conflict, Enforcement, ScheduleEnforcement, ScheduleRefusal, ServiceSchedule, WeeklyWindow,
};
use itsm_core::change::{
    ChangeError, ChangeSpec, StandardChange, StandardCommand, StandardEvent, StandardState, Strategy, Window,
};
use itsm_core::id::{ActorId, ChangeId, ServiceId, TemplateId, TenantId, Text};
use itsm_core::versioned::Versioned;
use itsm_core::{Actor, Context, DomainConfig, Role, Timestamp};
use itsm_store::{ErrorKind, ExecError, Request, Store};

use crate::common::{TestDb, unique};

/// 2026-03-02 (a Monday) 00:00 UTC plus `hours`.
fn at(hours: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_409_600 + hours * 3600).unwrap()
}

fn payments_schedule() -> ServiceSchedule {
    ServiceSchedule {
        service: ServiceId::new("payments").unwrap(),
        zone: chrono_tz::UTC,
        // Saturday 22:00 to Sunday 04:00.
        windows: vec![WeeklyWindow {
            weekday: Weekday::Sat,
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(4, 0, 0).unwrap(),
        }],
        // The weekend of 14-15 March is frozen.
        blackouts: vec![Blackout {
            start: NaiveDate::from_ymd_opt(2026, 3, 14).unwrap().and_hms_opt(0, 0, 0).unwrap(),
            end: NaiveDate::from_ymd_opt(2026, 3, 16).unwrap().and_hms_opt(0, 0, 0).unwrap(),
            reason: "quarter close".to_owned(),
        }],
        enforce: ScheduleEnforcement { outside_windows: Enforcement::Override, blackouts: Enforcement::Refuse },
    }
}

async fn create(store: &Store, actor: &Actor, id: &str) {
    let spec = ChangeSpec {
        id: ChangeId::new(id).unwrap(),
        service: ServiceId::new("payments").unwrap(),
        title: Text::new("patch the gateway").unwrap(),
        strategy: Strategy::BigBang,
        auto_rollback: false,
    };
    let create = StandardCommand::Create { spec, template: TemplateId::new("os-patch").unwrap() };
    let config = DomainConfig::default();
    store.execute::<StandardChange>(Request::new(Context::new(actor, at(-100), &config), id, &create)).await.unwrap();
}

async fn schedule(
    store: &Store,
    actor: &Actor,
    id: &str,
    window: (i64, i64),
    reason: Option<&str>,
) -> Result<itsm_store::Committed<StandardChange>, ExecError<ChangeError>> {
    let window = Window::new(at(window.0), at(window.1)).unwrap();
    let command = StandardCommand::Schedule { window, override_reason: reason.map(|r| Text::new(r).unwrap()) };
    // The caller's configuration has no schedules: the stored ones apply.
    let config = DomainConfig::default();
    store.execute::<StandardChange>(Request::new(Context::new(actor, at(-50), &config), id, &command)).await
}

async fn check_stored_schedules_are_enforced(db: &TestDb) {
    let store = &db.store;
    let tenant = TenantId::new(unique("sched")).unwrap();
    let cm = Actor::new(ActorId::new("carl").unwrap(), tenant.clone(), [Role::ChangeManager]);
    store
        .add_config_version(&tenant, Versioned::new(1, at(-1000), vec![payments_schedule()]), at(-1000))
        .await
        .unwrap();
    create(store, &cm, "CHG-1").await;

    // In the blackout (Saturday 14 March 23:00-01:00): refused, nothing written.
    let refused = schedule(store, &cm, "CHG-1", (12 * 24 - 1, 12 * 24 + 1), Some("urgent")).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Rules, "{refused}");
    let ExecError::Domain(ChangeError::Schedule { refusal: ScheduleRefusal::Refused { conflicts }, .. }) = &refused
    else {
        panic!("expected a schedule refusal, got {refused:?}");
    };
    assert_eq!(
        conflicts,
        &vec![Conflict::InBlackout {
            service: ServiceId::new("payments").unwrap(),
            reason: "quarter close".to_owned()
        }]
    );
    assert!(refused.to_string().contains("CHG-1") && refused.to_string().contains("schedule"), "{refused}");
    assert_eq!(store.load::<StandardChange>(&cm, "CHG-1").await.unwrap().version, 1);

    // Outside the maintenance windows (a Tuesday noon), without a reason:
    // an override is required.
    let needs = schedule(store, &cm, "CHG-1", (24 + 12, 24 + 13), None).await.unwrap_err();
    assert!(
        matches!(
            &needs,
            ExecError::Domain(ChangeError::Schedule { refusal: ScheduleRefusal::OverrideRequired { .. }, .. })
        ),
        "{needs:?}"
    );
    // With a reason: scheduled, and the override recorded in the event.
    let done = schedule(store, &cm, "CHG-1", (24 + 12, 24 + 13), Some("vendor fix cannot wait")).await.unwrap();
    assert!(matches!(done.state.state(), StandardState::Scheduled { .. }));
    let history = store.history::<StandardChange>(&cm, "CHG-1").await.unwrap();
    let Some(StandardEvent::Scheduled { overridden: Some(o), .. }) = history.last().map(|r| &r.event) else {
        panic!("no recorded override in {history:?}");
    };
    assert_eq!(o.reason.as_str(), "vendor fix cannot wait");
    assert_eq!(o.conflicts, vec![Conflict::OutsideMaintenanceWindow { service: ServiceId::new("payments").unwrap() }]);

    // Inside the window (Saturday 7 March 22:00-23:00): no override needed or recorded.
    create(store, &cm, "CHG-2").await;
    schedule(store, &cm, "CHG-2", (5 * 24 + 22, 5 * 24 + 23), None).await.unwrap();
    let history = store.history::<StandardChange>(&cm, "CHG-2").await.unwrap();
    assert!(matches!(history.last().map(|r| &r.event), Some(StandardEvent::Scheduled { overridden: None, .. })));

    // Another tenant without stored schedules: not enforced.
    let other = TenantId::new(unique("sched_free")).unwrap();
    let cm2 = Actor::new(ActorId::new("carl").unwrap(), other, [Role::ChangeManager]);
    create(store, &cm2, "CHG-1").await;
    schedule(store, &cm2, "CHG-1", (12 * 24 - 1, 12 * 24 + 1), None).await.unwrap();
}

crate::on_both_backends!(check_stored_schedules_are_enforced);
