//! Versioned configuration: `in_force_at` against a linear scan, the adding
//! rules against a model, the versions a clock cycle runs under, and JSON
//! round trips of every piece of configuration.

use chrono::{NaiveDate, NaiveTime, Weekday};
use itsm_core::actor::Permissions;
use itsm_core::calendar::Calendar;
use itsm_core::change::schedule::{Blackout, ServiceSchedule, WeeklyWindow};
use itsm_core::change::{ApprovalPolicy, StandardCatalog};
use itsm_core::id::ServiceId;
use itsm_core::sla::{EscalationRules, SlaPolicy};
use itsm_core::versioned::{ConfigHistory, ConfigKind, DomainConfigHistory, VersionError, Versioned};
use itsm_core::vocabulary::{Priority, PriorityMatrix};
use itsm_core::{DomainConfig, Timestamp};
use proptest::prelude::*;

/// 2026-03-02T08:00:00Z.
const T0: i64 = 1_772_438_400;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(T0 + secs).unwrap()
}

fn matrix(n: u32) -> PriorityMatrix {
    let p = Priority::ALL[n as usize % 5];
    PriorityMatrix { cells: [[p; 3]; 3] }
}

/// The version in force at `at`, by a linear scan.
fn scan<T>(versions: &[Versioned<T>], at: Timestamp) -> Option<&Versioned<T>> {
    let mut best: Option<&Versioned<T>> = None;
    for v in versions {
        if v.effective_from <= at
            && best.is_none_or(|b| {
                v.effective_from > b.effective_from || (v.effective_from == b.effective_from && v.version > b.version)
            })
        {
            best = Some(v);
        }
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// Adding follows the model (duplicate, not increasing, accepted), a refused
    /// version changes nothing, and `in_force_at` equals the linear scan at
    /// random instants and around every effective date.
    #[test]
    fn in_force_at_equals_a_linear_scan(
        adds in prop::collection::vec((0u32..12, -20i64..20), 0..24),
        probes in prop::collection::vec(-30i64..30, 0..20),
    ) {
        let mut history = ConfigHistory::<PriorityMatrix>::new();
        let mut accepted: Vec<Versioned<PriorityMatrix>> = Vec::new();
        for (version, offset) in adds {
            // Coarse offsets make ties in effective dates frequent.
            let candidate = Versioned::new(version, ts(offset * 600), matrix(version));
            let expected = match accepted.iter().map(|v| v.version).max() {
                Some(_) if accepted.iter().any(|v| v.version == version) => {
                    Err(VersionError::Duplicate { config: ConfigKind::PriorityMatrix, version })
                }
                Some(latest) if version < latest => {
                    Err(VersionError::NotIncreasing { config: ConfigKind::PriorityMatrix, version, latest })
                }
                _ => Ok(()),
            };
            let before = history.clone();
            let result = history.add(candidate.clone());
            prop_assert_eq!(&result, &expected);
            match result {
                Ok(()) => accepted.push(candidate),
                Err(_) => prop_assert_eq!(&history, &before),
            }
        }
        prop_assert_eq!(history.versions(), &accepted[..]);
        prop_assert_eq!(history.latest(), accepted.last());
        for v in &accepted {
            prop_assert_eq!(history.get(v.version), Some(v));
        }
        let mut instants: Vec<Timestamp> = probes.into_iter().map(|p| ts(p * 300)).collect();
        for v in &accepted {
            for d in [-1, 0, 1] {
                instants.push(Timestamp::from_unix_micros(v.effective_from.unix_micros() + d).unwrap());
            }
        }
        for at in instants {
            let expected = scan(&accepted, at);
            prop_assert_eq!(history.in_force_at(at), expected);
            let required = history.require_at(at);
            match expected {
                Some(v) => prop_assert_eq!(required, Ok(v)),
                None => prop_assert_eq!(required, Err(VersionError::NotInForce { config: ConfigKind::PriorityMatrix, at })),
            }
        }

        // JSON: the whole history, and one row per version rebuilt with `add`.
        let json = serde_json::to_string(&history).unwrap();
        prop_assert_eq!(serde_json::from_str::<ConfigHistory<PriorityMatrix>>(&json).unwrap(), history.clone());
        let mut rebuilt = ConfigHistory::<PriorityMatrix>::new();
        for v in history.versions() {
            let row = serde_json::to_string(v).unwrap();
            rebuilt.add(serde_json::from_str(&row).unwrap()).unwrap();
        }
        prop_assert_eq!(rebuilt, history);
    }

    /// A clock cycle that started at `S` runs under the policy, calendar and
    /// rules in force at `S`, whatever came into force later.
    #[test]
    fn clock_config_takes_the_versions_in_force_at_the_cycle_start(
        policies in prop::collection::vec(-20i64..20, 0..5),
        calendars in prop::collection::vec(-20i64..20, 0..4),
        rules in prop::collection::vec(-20i64..20, 0..3),
        starts in prop::collection::vec(-25i64..25, 1..10),
    ) {
        let mut config = DomainConfigHistory::default();
        let mut policy_versions = Vec::new();
        for (i, offset) in policies.into_iter().enumerate() {
            let version = i as u32 + 1;
            let v = Versioned::new(version, ts(offset * 3600), SlaPolicy { version, ..SlaPolicy::default() });
            config.sla_policies.add(v.clone()).unwrap();
            policy_versions.push(v);
        }
        let mut calendar_versions = Vec::new();
        for (i, offset) in calendars.into_iter().enumerate() {
            let version = i as u32 + 1;
            let mut def = Calendar::five_by_eight(chrono_tz::Europe::Berlin).definition().clone();
            def.version = version;
            let v = Versioned::new(version, ts(offset * 3600), Calendar::new(def).unwrap());
            config.calendars.add(v.clone()).unwrap();
            calendar_versions.push(v);
        }
        let mut rules_versions = Vec::new();
        for (i, offset) in rules.into_iter().enumerate() {
            let version = i as u32 + 1;
            let v = Versioned::new(version, ts(offset * 3600), EscalationRules { version, ..EscalationRules::default() });
            config.escalation_rules.add(v.clone()).unwrap();
            rules_versions.push(v);
        }
        for start in starts {
            let at = ts(start * 3600 + 1);
            let chosen = config.clock_config(at);
            match (scan(&policy_versions, at), scan(&calendar_versions, at)) {
                (Some(policy), Some(calendar)) => {
                    let chosen = chosen.unwrap();
                    prop_assert_eq!(chosen.cycle_started_at, at);
                    prop_assert_eq!(chosen.policy, policy);
                    prop_assert_eq!(chosen.calendar, calendar);
                    prop_assert_eq!(chosen.rules, scan(&rules_versions, at));
                    prop_assert_eq!(chosen.basis().policy.version, policy.version);
                }
                (None, _) => prop_assert_eq!(chosen, Err(VersionError::NotInForce { config: ConfigKind::SlaPolicy, at })),
                (Some(_), None) => prop_assert_eq!(chosen, Err(VersionError::NotInForce { config: ConfigKind::Calendar, at })),
            }
        }
        let json = serde_json::to_string(&config).unwrap();
        prop_assert_eq!(serde_json::from_str::<DomainConfigHistory>(&json).unwrap(), config);
    }
}

fn schedules() -> Vec<ServiceSchedule> {
    vec![ServiceSchedule {
        service: ServiceId::new("payments").unwrap(),
        enforce: Default::default(),
        zone: chrono_tz::Europe::Berlin,
        windows: vec![WeeklyWindow {
            weekday: Weekday::Sat,
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(4, 0, 0).unwrap(),
        }],
        blackouts: vec![Blackout {
            start: NaiveDate::from_ymd_opt(2026, 12, 20).unwrap().and_hms_opt(0, 0, 0).unwrap(),
            end: NaiveDate::from_ymd_opt(2027, 1, 4).unwrap().and_hms_opt(0, 0, 0).unwrap(),
            reason: "year-end freeze".to_owned(),
        }],
    }]
}

/// Every piece of configuration, two versions each.
fn full() -> DomainConfigHistory {
    let mut config = DomainConfigHistory::default();
    for (version, at) in [(1, ts(-86_400)), (2, ts(86_400))] {
        config.sla_policies.add(Versioned::new(version, at, SlaPolicy { version, ..SlaPolicy::default() })).unwrap();
        let mut def = Calendar::five_by_eight(chrono_tz::America::New_York).definition().clone();
        def.version = version;
        config.calendars.add(Versioned::new(version, at, Calendar::new(def).unwrap())).unwrap();
        let rules = EscalationRules { version, ..EscalationRules::default() };
        config.escalation_rules.add(Versioned::new(version, at, rules)).unwrap();
        config.priority_matrices.add(Versioned::new(version, at, matrix(version))).unwrap();
        config.approval_policies.add(Versioned::new(version, at, ApprovalPolicy::default())).unwrap();
        config.standard_catalogs.add(Versioned::new(version, at, StandardCatalog::default())).unwrap();
        let mut schedules = schedules();
        if version == 2 {
            schedules[0].blackouts.clear();
        }
        config.service_schedules.add(Versioned::new(version, at, schedules)).unwrap();
    }
    config
}

#[test]
fn every_piece_round_trips_and_is_chosen_by_instant() {
    let config = full();
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["sla_policies"]["config"], "sla_policy");
    assert_eq!(json["service_schedules"]["versions"][1]["version"], 2);
    let back: DomainConfigHistory = serde_json::from_value(json).unwrap();
    assert_eq!(back, config);

    let domain = config.domain_config_at(ts(0), Permissions::default()).unwrap();
    assert_eq!(
        domain,
        DomainConfig {
            permissions: Permissions::default(),
            priority_matrix: matrix(1),
            approvals: ApprovalPolicy::default(),
            standard_catalog: StandardCatalog::default(),
            schedules: schedules(),
        }
    );
    assert_eq!(config.domain_config_at(ts(86_400), Permissions::default()).unwrap().priority_matrix, matrix(2));
    assert_eq!(config.service_schedules_at(ts(0)).unwrap(), &schedules()[..]);
    assert!(config.service_schedules_at(ts(86_400)).unwrap()[0].blackouts.is_empty());
    let before = ts(-86_401);
    assert_eq!(
        config.domain_config_at(before, Permissions::default()),
        Err(VersionError::NotInForce { config: ConfigKind::PriorityMatrix, at: before })
    );
    let err = config.service_schedules_at(before).map(|_| ()).map_err(|e| e.to_string());
    assert_eq!(err, Err(format!("no service_schedules version is in force at {before}")));
}

#[test]
fn invalid_json_is_refused_with_the_config_and_version_named() {
    let json = serde_json::to_value(full()).unwrap();
    let refused = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut value = json.clone();
        edit(&mut value);
        serde_json::from_value::<DomainConfigHistory>(value).err().map(|e| e.to_string()).unwrap_or_default()
    };
    // Versions out of order.
    let err = refused(&|v| v["priority_matrices"]["versions"].as_array_mut().unwrap().reverse());
    assert!(err.contains("priority_matrix version 1 must be higher than the latest version 2"), "{err}");
    // A duplicate.
    let err = refused(&|v| {
        let first = v["standard_catalogs"]["versions"][0].clone();
        v["standard_catalogs"]["versions"].as_array_mut().unwrap().push(first);
    });
    assert!(err.contains("standard_catalog version 1 is already recorded"), "{err}");
    // A policy recorded as version 2 that says it is version 1.
    let err = refused(&|v| v["sla_policies"]["versions"][1]["value"]["version"] = 1.into());
    assert!(err.contains("sla_policy version 2 holds a value that states version 1"), "{err}");
    // A history of another configuration.
    let err = refused(&|v| v["calendars"]["config"] = "sla_policy".into());
    assert!(err.contains("expected a calendar history, found a sla_policy history"), "{err}");
    // Unknown fields, and an invalid value inside a version (the calendar validates itself).
    assert!(!refused(&|v| v["approval_policies"]["extra"] = 1.into()).is_empty());
    assert!(!refused(&|v| v["calendars"]["versions"][0]["value"]["time_zone"] = "Mars/Olympus".into()).is_empty());
    // An empty object is an empty configuration.
    assert_eq!(serde_json::from_str::<DomainConfigHistory>("{}").unwrap(), DomainConfigHistory::default());
}
