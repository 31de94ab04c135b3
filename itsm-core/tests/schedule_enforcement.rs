//! Schedule enforcement (`check_schedule`, and the `schedule` command of
//! normal and standard changes): over random windows, maintenance windows,
//! blackouts, enforcement settings and override reasons, the verdict equals
//! a reference decision written here from the rule as stated (refused if any
//! conflict is refused; else an override reason is needed for the
//! overridable ones and, when given, recorded with exactly those), with the
//! conflicts themselves taken from the conflict report (`conflicts`), not
//! from the enforcement code. The machines refuse or record accordingly.

use chrono::{NaiveDate, NaiveTime, Weekday};
use itsm_core::aggregate::ExecuteError;
use itsm_core::change::schedule::{
    Blackout, Booking, Conflict, Enforcement, ScheduleEnforcement, ScheduleRefusal, ServiceSchedule, WeeklyWindow,
    check_schedule, conflicts,
};
use itsm_core::change::{
    Assessment, ChangeError, ChangeSpec, NormalChange, NormalCommand, NormalEvent, StandardChange, StandardCommand,
    StandardEvent, Strategy, Window,
};
use itsm_core::id::{ActorId, ChangeId, ServiceId, TemplateId, TenantId, Text};
use itsm_core::vocabulary::{ChangeType, Risk};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};
use proptest::prelude::*;

const ENFORCEMENTS: [Enforcement; 3] = [Enforcement::Allow, Enforcement::Override, Enforcement::Refuse];

/// 2026-03-02 (a Monday) 00:00 UTC plus `hours`.
fn at(hours: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_409_600 + hours * 3600).unwrap()
}

fn schedule(service: &str, enforce: ScheduleEnforcement, blackout_day: Option<u32>) -> ServiceSchedule {
    ServiceSchedule {
        service: ServiceId::new(service).unwrap(),
        enforce,
        zone: chrono_tz::UTC,
        windows: vec![WeeklyWindow {
            weekday: Weekday::Sat,
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(4, 0, 0).unwrap(),
        }],
        blackouts: blackout_day
            .map(|d| Blackout {
                start: NaiveDate::from_ymd_opt(2026, 3, d).unwrap().and_hms_opt(0, 0, 0).unwrap(),
                end: NaiveDate::from_ymd_opt(2026, 3, d + 1).unwrap().and_hms_opt(0, 0, 0).unwrap(),
                reason: "freeze".to_owned(),
            })
            .into_iter()
            .collect(),
    }
}

/// The reference verdict: `Ok(Some((reason, overridden)))` or `Ok(None)`;
/// `Err((refused, conflicts))`, refused outright or needing an override.
type Verdict = Result<Option<(Text, Vec<Conflict>)>, (bool, Vec<Conflict>)>;

/// The reference verdict.
fn reference(found: &[Conflict], enforce: ScheduleEnforcement, reason: Option<&Text>) -> Verdict {
    let of = |c: &Conflict| match c {
        Conflict::OutsideMaintenanceWindow { .. } => enforce.outside_windows,
        Conflict::InBlackout { .. } => enforce.blackouts,
        Conflict::Overlap { .. }
        | Conflict::SharedBusinessService { .. }
        | Conflict::ImplementerDoubleBooked { .. } => Enforcement::Allow,
    };
    let refused: Vec<Conflict> = found.iter().filter(|c| of(c) == Enforcement::Refuse).cloned().collect();
    if !refused.is_empty() {
        return Err((true, refused));
    }
    let needs: Vec<Conflict> = found.iter().filter(|c| of(c) == Enforcement::Override).cloned().collect();
    if needs.is_empty() {
        return Ok(None);
    }
    match reason {
        Some(r) => Ok(Some((r.clone(), needs))),
        None => Err((false, needs)),
    }
}

fn actor() -> Actor {
    Actor::new(ActorId::new("cm").unwrap(), TenantId::new("acme").unwrap(), [Role::ChangeManager])
}

fn spec(id: &str) -> ChangeSpec {
    ChangeSpec {
        id: ChangeId::new(id).unwrap(),
        service: ServiceId::new("payments").unwrap(),
        title: Text::new("patch the gateway").unwrap(),
        strategy: Strategy::BigBang,
        auto_rollback: false,
    }
}

/// The configuration of these tests: `schedules`, and normal changes of low
/// risk authorised at assessment (no approval step).
fn config_with(schedules: Vec<ServiceSchedule>) -> DomainConfig {
    let mut config = DomainConfig { schedules, ..DomainConfig::default() };
    config.approvals.set(ChangeType::Normal, Risk::Low, vec![]);
    config
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn verdict_equals_the_reference(
        start in 0i64..(14 * 24),
        hours in 1i64..30,
        outside in 0usize..3,
        blackout in 0usize..3,
        blackout_day in proptest::option::of(2u32..16),
        other_service in any::<bool>(),
        with_reason in any::<bool>(),
    ) {
        let enforce = ScheduleEnforcement { outside_windows: ENFORCEMENTS[outside], blackouts: ENFORCEMENTS[blackout] };
        let service = ServiceId::new("payments").unwrap();
        let schedules = vec![schedule(if other_service { "mail" } else { "payments" }, enforce, blackout_day)];
        let window = Window::new(at(start), at(start + hours)).unwrap();
        let reason = with_reason.then(|| Text::new("vendor fix cannot wait").unwrap());
        let booking = Booking { change: ChangeId::new("CHG-1").unwrap(), service: service.clone(), window, implementer: None };
        let found = conflicts(&booking, &[], &schedules, None);
        let got = check_schedule(&service, &window, &schedules, reason.as_ref());
        match (got, reference(&found, enforce, reason.as_ref())) {
            (Ok(None), Ok(None)) => {}
            (Ok(Some(o)), Ok(Some((r, c)))) => prop_assert_eq!((o.reason, o.conflicts), (r, c)),
            (Err(ScheduleRefusal::Refused { conflicts }), Err((true, c))) => prop_assert_eq!(conflicts, c),
            (Err(ScheduleRefusal::OverrideRequired { conflicts }), Err((false, c))) => prop_assert_eq!(conflicts, c),
            (got, want) => prop_assert!(false, "got {:?}, the reference says {:?}", got, want),
        }
    }

    #[test]
    fn the_machines_refuse_or_record_as_checked(
        start in 0i64..(14 * 24),
        hours in 1i64..30,
        outside in 0usize..3,
        blackout in 0usize..3,
        blackout_day in proptest::option::of(2u32..16),
        with_reason in any::<bool>(),
    ) {
        let enforce = ScheduleEnforcement { outside_windows: ENFORCEMENTS[outside], blackouts: ENFORCEMENTS[blackout] };
        let config = config_with(vec![schedule("payments", enforce, blackout_day)]);
        let window = Window::new(at(start), at(start + hours)).unwrap();
        let reason = with_reason.then(|| Text::new("vendor fix cannot wait").unwrap());
        let expected = check_schedule(&ServiceId::new("payments").unwrap(), &window, &config.schedules, reason.as_ref());
        let who = actor();
        let ctx = Context::new(&who, at(-1), &config);

        // A standard change from the default catalogue.
        let create = StandardCommand::Create { spec: spec("CHG-S"), template: TemplateId::new("restart-service").unwrap() };
        let (change, _) = StandardChange::execute(None, &create, &ctx).expect("create");
        let schedule_it = StandardCommand::Schedule { window, override_reason: reason.clone() };
        match (StandardChange::execute(Some(change), &schedule_it, &ctx), &expected) {
            (Ok((_, events)), Ok(overridden)) => {
                let recorded = events.iter().find_map(|e| match e {
                    StandardEvent::Scheduled { overridden, .. } => Some(overridden.clone()),
                    _ => None,
                });
                prop_assert_eq!(recorded, Some(overridden.clone()));
            }
            (Err(ExecuteError::Rejected(ChangeError::Schedule { refusal, command, .. })), Err(want)) => {
                prop_assert_eq!(&refusal, want);
                prop_assert_eq!(command, "schedule");
            }
            (got, want) => prop_assert!(false, "standard change: {:?}, expected {:?}", got.map(|(_, e)| e), want),
        }

        // A normal change, authorised, scheduled the same way.
        let normal = normal_authorized(&config);
        let schedule_it = NormalCommand::Schedule { window, override_reason: reason.clone() };
        match (NormalChange::execute(Some(normal), &schedule_it, &ctx), &expected) {
            (Ok((_, events)), Ok(overridden)) => {
                let recorded = events.iter().find_map(|e| match e {
                    NormalEvent::Scheduled { overridden, .. } => Some(overridden.clone()),
                    _ => None,
                });
                prop_assert_eq!(recorded, Some(overridden.clone()));
            }
            (Err(ExecuteError::Rejected(ChangeError::Schedule { refusal, .. })), Err(want)) => {
                prop_assert_eq!(&refusal, want)
            }
            (got, want) => prop_assert!(false, "normal change: {:?}, expected {:?}", got.map(|(_, e)| e), want),
        }
    }
}

/// A normal change taken to authorised (low risk: no approval step).
fn normal_authorized(config: &DomainConfig) -> NormalChange {
    let tenant = TenantId::new("acme").unwrap();
    let rita = Actor::new(ActorId::new("rita").unwrap(), tenant, [Role::Requester]);
    let cm = actor();
    let steps = [
        (&rita, NormalCommand::Create(spec("CHG-N"))),
        (&rita, NormalCommand::Submit),
        (
            &cm,
            NormalCommand::Assess(Assessment {
                risk: Risk::Low,
                impact: Text::new("gateway restarts").unwrap(),
                backout_plan: Text::new("previous build").unwrap(),
                implementer: ActorId::new("ivan").unwrap(),
            }),
        ),
    ];
    let mut change = None;
    for (who, command) in &steps {
        let ctx = Context::new(who, at(-2), config);
        change = Some(NormalChange::execute(change, command, &ctx).expect("to authorised").0);
    }
    let change = change.expect("created");
    assert_eq!(change.status().as_str(), "authorized");
    change
}
