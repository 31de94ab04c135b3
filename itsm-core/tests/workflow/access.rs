//! Tenancy and permissions. An actor of tenant B issuing any command on a
//! tenant-A aggregate of any of the five machines, in any scripted state, gets
//! the `NotFound` variant, records no events and learns nothing (the text does
//! not carry the id); an actor without the role gets `Forbidden` (a requester
//! declaring a major incident, a CAB member approving an emergency change...),
//! checked before the state, with nothing recorded, and a text naming the
//! state (`absent` before creation).

use itsm_core::change::{EmergencyCommand, NormalChange, NormalCommand, StandardChange, StandardCommand};
use itsm_core::id::TemplateId;
use itsm_core::incident::{Incident, IncidentCommand};
use itsm_core::problem::{Problem, ProblemCommand};
use itsm_core::vocabulary::Risk;
use itsm_core::{Actor, Aggregate, AggregateKind, Context, Role};

use crate::change_model::{EmergencyMachine, NormalMachine, StandardMachine};
use crate::incident_model::IncidentMachine;
use crate::model::Cmd;
use crate::problem_model::ProblemMachine;
use crate::scripts::{Reached, Scripted, reachable};
use crate::support::{Classify, Kind, actor, aid, canary, check_display, config, gid, spec, tenant_b, text, ts};

fn decide<M: Scripted>(reached: &Reached<M::Agg>, who: &Actor, cmd: &Cmd<M>) -> Result<usize, M::Err> {
    let ctx = Context::new(who, ts(reached.next), config());
    M::Agg::decide(Some(&reached.agg), cmd, &ctx).map(|events| events.len())
}

fn check_other_tenant<M: Scripted>() {
    let mallory = actor("mallory");
    assert_ne!(mallory.tenant, reached_tenant::<M>());
    let mut checked = 0;
    for reached in reachable::<M>() {
        let status = reached.agg.summary().status;
        for &name in M::NAMES {
            for (who, cmd) in M::candidates(&reached.agg, name) {
                // The permitted actor itself, moved to the other tenant, and
                // an all-powerful actor of the other tenant.
                let twin = Actor { tenant: tenant_b(), ..actor(who).clone() };
                for outsider in [&twin, mallory] {
                    let err = decide::<M>(&reached, outsider, &cmd).err().unwrap_or_else(|| {
                        panic!("{}: {name} by {} of {} accepted", M::Agg::KIND, outsider.id, outsider.tenant)
                    });
                    assert_eq!(err.kind(), Kind::NotFound, "{}: {name} in {status}: {err}", M::Agg::KIND);
                    check_display(&err, Some((reached.agg.id(), status)), name, outsider);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 0);
}

fn reached_tenant<M: Scripted>() -> itsm_core::id::TenantId {
    reachable::<M>().first().expect("scripts reach a state").agg.tenant().clone()
}

/// Another tenant's incident is indistinguishable from a missing one.
#[test]
fn other_tenant_cannot_touch_an_incident() {
    check_other_tenant::<IncidentMachine>();
}

/// Another tenant's problem is indistinguishable from a missing one.
#[test]
fn other_tenant_cannot_touch_a_problem() {
    check_other_tenant::<ProblemMachine>();
}

/// Another tenant's standard change is indistinguishable from a missing one.
#[test]
fn other_tenant_cannot_touch_a_standard_change() {
    check_other_tenant::<StandardMachine>();
}

/// Another tenant's normal change is indistinguishable from a missing one.
#[test]
fn other_tenant_cannot_touch_a_normal_change() {
    check_other_tenant::<NormalMachine>();
}

/// Another tenant's emergency change is indistinguishable from a missing one.
#[test]
fn other_tenant_cannot_touch_an_emergency_change() {
    check_other_tenant::<EmergencyMachine>();
}

/// An actor without roles is `Forbidden` for every command in every state,
/// before any state rule is considered.
#[test]
fn an_actor_without_roles_is_forbidden_everything() {
    fn go<M: Scripted>() {
        let nobody = actor("nobody");
        for reached in reachable::<M>() {
            let status = reached.agg.summary().status;
            for &name in M::NAMES {
                for (_, cmd) in M::candidates(&reached.agg, name) {
                    let err = decide::<M>(&reached, nobody, &cmd).expect_err("refused");
                    assert_eq!(err.kind(), Kind::Forbidden, "{name} in {status}: {err}");
                    check_display(&err, Some((reached.agg.id(), status)), name, nobody);
                }
            }
        }
    }
    go::<IncidentMachine>();
    go::<ProblemMachine>();
    go::<StandardMachine>();
    go::<NormalMachine>();
    go::<EmergencyMachine>();
}

fn first_state<M: Scripted>(status: &str) -> Reached<M::Agg> {
    reachable::<M>()
        .into_iter()
        .find(|r| r.agg.summary().status == status)
        .unwrap_or_else(|| panic!("no scripted {} is {status}", M::Agg::KIND))
}

fn forbidden<M: Scripted>(status: &str, roles: &[Role], cmd: Cmd<M>) {
    let who = Actor::new(aid("someone"), crate::support::tenant_a(), roles.iter().copied())
        .with_groups(["cab", "ecab", "change-managers"].map(gid));
    let reached = first_state::<M>(status);
    let name = M::Agg::command_name(&cmd);
    assert!(!config().permissions.permits(&who, M::Agg::KIND, name));
    let err = decide::<M>(&reached, &who, &cmd).err().unwrap_or_else(|| panic!("{roles:?} may {name}"));
    assert_eq!(err.kind(), Kind::Forbidden, "{roles:?} {name}: {err}");
    check_display(&err, Some((reached.agg.id(), status)), name, &who);
}

/// Roles that do not grant a command get `Forbidden`, whatever the state.
#[test]
fn forbidden_roles_get_the_forbidden_variant() {
    use Role as R;
    forbidden::<IncidentMachine>("new", &[R::Requester], IncidentCommand::DeclareMajor);
    forbidden::<IncidentMachine>("assigned", &[R::Requester, R::Resolver], IncidentCommand::DeclareMajor);
    forbidden::<IncidentMachine>("new", &[R::Requester], IncidentCommand::Assign { group: gid("dba"), assignee: None });
    forbidden::<IncidentMachine>("closed", &[R::ChangeManager], IncidentCommand::Reopen { reason: text("x") });
    forbidden::<ProblemMachine>(
        "new",
        &[R::Agent, R::Resolver],
        ProblemCommand::Assess { priority: itsm_core::vocabulary::Priority::P1 },
    );
    forbidden::<ProblemMachine>("resolved", &[R::IncidentManager], ProblemCommand::Close);
    forbidden::<StandardMachine>("scheduled", &[R::Requester, R::CabMember], StandardCommand::Start);
    forbidden::<StandardMachine>("completed", &[R::Implementer], StandardCommand::Close);
    forbidden::<NormalMachine>(
        "assessed",
        &[R::Requester, R::EmergencyCabMember],
        NormalCommand::Approve { group: gid("cab") },
    );
    forbidden::<NormalMachine>(
        "assessed",
        &[R::ChangeManager],
        NormalCommand::Approve { group: gid("change-managers") },
    );
    forbidden::<NormalMachine>(
        "completed",
        &[R::Implementer],
        NormalCommand::Review { verdict: itsm_core::change::ReviewVerdict::ObjectivesMet, notes: text("x") },
    );
    forbidden::<NormalMachine>("scheduled", &[R::CabMember], NormalCommand::Start);
    forbidden::<EmergencyMachine>("submitted", &[R::CabMember], EmergencyCommand::Approve { group: gid("ecab") });
    forbidden::<EmergencyMachine>(
        "submitted",
        &[R::Implementer],
        EmergencyCommand::Reject { group: gid("ecab"), reason: text("x") },
    );
}

/// Creation commands check the role too (nothing is created).
#[test]
fn forbidden_creation_creates_nothing() {
    let requester = actor("req");
    let ctx = Context::new(requester, ts(0), config());
    let record = EmergencyCommand::RecordAfterTheFact(crate::scripts::after_the_fact("CHG-1", Risk::High, "impl"));
    let err = <itsm_core::change::EmergencyChange as Aggregate>::decide(None, &record, &ctx).unwrap_err();
    assert_eq!(err.kind(), Kind::Forbidden, "{err}");
    check_display(&err, None, "record_after_the_fact", requester);
    assert!(err.to_string().contains("CHG-1"), "{err}");

    let cab = actor("cab1");
    let ctx = Context::new(cab, ts(0), config());
    let create = NormalCommand::Create(spec("CHG-2", canary()));
    let err = NormalChange::decide(None, &create, &ctx).unwrap_err();
    assert_eq!(err.kind(), Kind::Forbidden);
    check_display(&err, None, "create", cab);
    let create =
        StandardCommand::Create { spec: spec("CHG-3", canary()), template: TemplateId::new("os-patch").unwrap() };
    let err = StandardChange::decide(None, &create, &ctx).unwrap_err();
    assert_eq!(err.kind(), Kind::Forbidden);
    check_display(&err, None, "create", cab);
    let open = ProblemCommand::Open {
        id: itsm_core::id::ProblemId::new("PRB-1").unwrap(),
        service: itsm_core::id::ServiceId::new("payments").unwrap(),
        title: text("x"),
        incidents: Default::default(),
    };
    let err = Problem::decide(None, &open, &Context::new(actor("req"), ts(0), config())).unwrap_err();
    assert_eq!(err.kind(), Kind::Forbidden);
    check_display(&err, None, "open", actor("req"));
    let nobody = actor("nobody");
    let reached = first_state::<IncidentMachine>("new");
    let open = IncidentMachine::candidates(&reached.agg, "open").remove(0).1;
    let err = Incident::decide(None, &open, &Context::new(nobody, ts(0), config())).unwrap_err();
    assert_eq!(err.kind(), Kind::Forbidden);
    check_display(&err, None, "open", nobody);
    assert!(!config().permissions.permits(nobody, AggregateKind::Incident, "open"));
}

/// A `Forbidden` text names the state the aggregate is in, and a creation
/// command on an existing change is refused naming that very command.
#[test]
fn refusals_name_the_state_and_the_refused_creation_command() {
    let reached = first_state::<NormalMachine>("scheduled");
    let err = decide::<NormalMachine>(&reached, actor("cab1"), &NormalCommand::Start).unwrap_err();
    assert_eq!(err.kind(), Kind::Forbidden);
    assert!(err.to_string().contains(&format!("{} (scheduled)", reached.agg.id())), "{err}");
    for status in ["submitted", "authorized", "completed"] {
        let reached = first_state::<EmergencyMachine>(status);
        for name in ["submit", "record_after_the_fact"] {
            for (who, cmd) in EmergencyMachine::candidates(&reached.agg, name) {
                let err = decide::<EmergencyMachine>(&reached, actor(who), &cmd).unwrap_err();
                assert_eq!(err.kind(), Kind::AlreadyExists, "{name} in {status}: {err}");
                let text = err.to_string();
                assert!(text.starts_with(&format!("cannot {name} ")), "{text}");
                assert!(text.contains(&format!("({status})")), "{text}");
            }
        }
    }
}
