//! Automatic rollback as data (Table 8 level 4), table-driven: a change with
//! `auto_rollback` whose stage fails its health checks ends its first attempt
//! by itself (`fail_stage` → `rolled_back_automatically`), failed and rolled
//! back or with a failed rollback, and its metrics record says the rollback
//! was automatic; a change without `auto_rollback`, or one not being
//! implemented, refuses `fail_stage` and stays as it was.

use itsm_core::change::{ChangeSpec, Stage, StandardChange, StandardCommand, StandardEvent, Strategy, Window};
use itsm_core::id::{ActorId, ChangeId, ServiceId, TemplateId, TenantId, Text};
use itsm_core::vocabulary::{ChangeOutcome, Remediation};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_409_600 + secs).unwrap()
}

fn actor(role: Role) -> Actor {
    Actor::new(ActorId::new("deployer").unwrap(), TenantId::new("acme").unwrap(), [role])
}

fn three_stages() -> Strategy {
    let stage = |name: &str, percent| Stage { name: name.to_owned(), percent };
    Strategy::Phased { stages: vec![stage("canary", 5), stage("half", 50), stage("all", 100)] }
}

/// One row: the change's strategy and `auto_rollback`, the stages advanced
/// before the failure (`None`: never started), whether the rollback restored
/// the prior state, and what must follow: `Some((stage, remediation))` for an
/// automatic rollback at that stage, `None` for a refusal.
struct Row {
    name: &'static str,
    strategy: Strategy,
    auto_rollback: bool,
    advanced: Option<usize>,
    restored: bool,
    expect: Option<(usize, Remediation)>,
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "canary fails, rollback restores",
            strategy: three_stages(),
            auto_rollback: true,
            advanced: Some(0),
            restored: true,
            expect: Some((0, Remediation::RolledBack)),
        },
        Row {
            name: "second stage fails, rollback fails",
            strategy: three_stages(),
            auto_rollback: true,
            advanced: Some(1),
            restored: false,
            expect: Some((1, Remediation::RollbackFailed)),
        },
        Row {
            name: "last stage fails",
            strategy: three_stages(),
            auto_rollback: true,
            advanced: Some(2),
            restored: true,
            expect: Some((2, Remediation::RolledBack)),
        },
        Row {
            name: "blue-green switch fails health checks",
            strategy: Strategy::BlueGreen,
            auto_rollback: true,
            advanced: Some(0),
            restored: true,
            expect: Some((0, Remediation::RolledBack)),
        },
        Row {
            name: "no auto_rollback: a person completes it",
            strategy: three_stages(),
            auto_rollback: false,
            advanced: Some(1),
            restored: true,
            expect: None,
        },
        Row {
            name: "not started",
            strategy: three_stages(),
            auto_rollback: true,
            advanced: None,
            restored: true,
            expect: None,
        },
    ]
}

#[test]
fn a_failed_stage_rolls_back_by_itself_only_where_the_change_says_so() {
    let config = DomainConfig::default();
    let manager = actor(Role::ChangeManager);
    let deployer = actor(Role::Automation);
    for row in rows() {
        let spec = ChangeSpec {
            id: ChangeId::new("CHG-7").unwrap(),
            service: ServiceId::new("payments").unwrap(),
            title: Text::new("roll out gateway 4.2").unwrap(),
            strategy: row.strategy.clone(),
            auto_rollback: row.auto_rollback,
        };
        let mut commands = vec![
            (&manager, StandardCommand::Create { spec, template: TemplateId::new("os-patch").unwrap() }),
            (
                &manager,
                StandardCommand::Schedule { window: Window::new(ts(3_600), ts(7_200)).unwrap(), override_reason: None },
            ),
        ];
        if let Some(advanced) = row.advanced {
            commands.push((&deployer, StandardCommand::Start));
            commands.extend(std::iter::repeat_n((&deployer, StandardCommand::AdvanceStage), advanced));
        }
        let mut change: Option<StandardChange> = None;
        let mut clock = 0;
        for (who, command) in &commands {
            clock += 600;
            let ctx = Context::new(who, ts(clock), &config);
            let (next, _) = StandardChange::execute(change.take(), command, &ctx)
                .unwrap_or_else(|e| panic!("{}: {} refused: {e}", row.name, command.name()));
            change = Some(next);
        }
        let before = change.clone().unwrap();
        let failed_at = ts(clock + 600);
        let fail =
            StandardCommand::FailStage { reason: Text::new("5xx rate 7% > 2%").unwrap(), restored: row.restored };
        let got = StandardChange::execute(change, &fail, &Context::new(&deployer, failed_at, &config));
        match (got, row.expect) {
            (Ok((after, events)), Some((stage, remediation))) => {
                let [StandardEvent::RolledBackAutomatically { stage: got_stage, completion, .. }] = events.as_slice()
                else {
                    panic!("{}: one rolled_back_automatically event, got {events:?}", row.name)
                };
                assert_eq!(*got_stage, stage, "{}", row.name);
                assert_eq!(
                    (completion.outcome, completion.remediation, completion.automatic, completion.completed_at),
                    (ChangeOutcome::Failed, remediation, true, failed_at),
                    "{}",
                    row.name
                );
                assert_eq!(after.status().as_str(), "completed", "{}", row.name);
                // The stakeholders hear of it (Table 8 level 4: notified automatically).
                let told = StandardChange::outbox(&after, &events);
                assert_eq!(told.len(), 1, "{}", row.name);
                assert_eq!(told[0].payload["event"], "rolled_back_automatically", "{}", row.name);
                let record = after.to_record();
                assert!(record.automatic_rollback, "{}", row.name);
                assert_eq!(record.remediation, remediation, "{}", row.name);
                assert_eq!(record.outcome, Some(ChangeOutcome::Failed), "{}", row.name);
                // Replaying the stored events gives the same change.
                let json = serde_json::to_string(&events[0]).unwrap();
                assert!(json.contains(r#""event":"rolled_back_automatically""#), "{}: {json}", row.name);
                let back: StandardEvent = serde_json::from_str(&json).unwrap();
                assert_eq!(StandardChange::apply(Some(before), &back).unwrap(), after, "{}", row.name);
            }
            (Err(error), None) => {
                let text = error.to_string();
                assert!(text.contains("CHG-7") && text.contains("fail_stage"), "{}: {text}", row.name);
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", row.name),
        }
    }
}

#[test]
fn a_person_cannot_report_an_automatic_rollback_through_complete() {
    // The manual completion never sets `automatic`, and the strict fold
    // refuses a `completed` event that claims it.
    let completion = itsm_core::change::Completion::rolled_back_automatically(ts(0), ts(60), true).unwrap();
    assert!(completion.automatic);
    let mut forged = completion.clone();
    forged.outcome = ChangeOutcome::Successful;
    forged.remediation = Remediation::None;
    assert!(forged.validate().is_err(), "automatic implies a failed attempt that rolled back");
}
