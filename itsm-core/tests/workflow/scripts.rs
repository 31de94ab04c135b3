//! Scripted histories reaching every state of every machine, and for any
//! reachable state a representative command of each kind (with an actor
//! allowed to issue it). The table, tenancy and serde tests iterate over every
//! prefix of every script: each prefix is a reachable state.

use itsm_core::change::emergency::AfterTheFact;
use itsm_core::change::{
    Assessment, EmergencyChange, EmergencyCommand, NormalChange, NormalCommand, ReviewVerdict, StandardChange,
    StandardCommand, Window,
};
use itsm_core::id::{ChangeId, IncidentId, ProblemId, ServiceId, TemplateId};
use itsm_core::incident::{Incident, IncidentCommand, OpenIncident, ResolutionCode};
use itsm_core::problem::{KnownErrorRecord, Problem, ProblemClosure, ProblemCommand};
use itsm_core::vocabulary::{
    ChangeOutcome, DetectionSource, HoldReason, Impact, IncidentKind, Priority, Remediation, ResolvedBy, Risk,
    SupportTier, Urgency,
};
use itsm_core::{Aggregate, Context};

use crate::change_model::{EmergencyMachine, NormalMachine, StandardMachine};
use crate::incident_model::IncidentMachine;
use crate::model::{Cmd, Machine};
use crate::problem_model::ProblemMachine;
use crate::support::{actor, aid, canary, config, gid, spec, text, ts};

/// One scripted step: who issues which command.
pub type Line<M> = (&'static str, Cmd<M>);

/// A machine with scripted histories.
pub trait Scripted: Machine {
    /// Histories that, with their prefixes, reach every state.
    fn scripts() -> Vec<Vec<Line<Self>>>;

    /// Representative commands of kind `name` for the state `agg`, each with
    /// an actor permitted to issue it.
    fn candidates(agg: &Self::Agg, name: &'static str) -> Vec<Line<Self>>;

    /// Every status name of the machine.
    fn statuses() -> Vec<&'static str>;
}

/// One reachable state: the aggregate, its history, and when the next
/// command may come.
pub struct Reached<A: Aggregate> {
    /// The aggregate.
    pub agg: A,
    /// Its history.
    pub events: Vec<A::Event>,
    /// A valid instant for the next command (seconds after `BASE`).
    pub next: i64,
}

/// Runs every script, asserting each line is accepted, and returns the state
/// after every non-empty prefix.
pub fn reachable<M: Scripted>() -> Vec<Reached<M::Agg>> {
    let mut out = Vec::new();
    for script in M::scripts() {
        let mut state: Option<M::Agg> = None;
        let mut events = Vec::new();
        for (i, (who, cmd)) in script.iter().enumerate() {
            let now = ts(60 * (i as i64 + 1));
            let ctx = Context::new(actor(who), now, config());
            let (next, new) = M::Agg::execute(state, cmd, &ctx)
                .unwrap_or_else(|e| panic!("script line {i} ({who}: {cmd:?}) refused: {e}"));
            events.extend(new);
            state = Some(next.clone());
            out.push(Reached { agg: next, events: events.clone(), next: 60 * (i as i64 + 2) });
        }
    }
    out
}

/// The first of `names` that may issue `command` on `A`.
fn permitted<A: Aggregate>(names: &[&'static str], command: &str) -> &'static str {
    names
        .iter()
        .copied()
        .find(|n| config().permissions.permits(actor(n), A::KIND, command))
        .unwrap_or_else(|| panic!("none of {names:?} may {command} a {}", A::KIND))
}

fn lines<M: Machine>(who: &'static str, cmds: Vec<Cmd<M>>) -> Vec<Line<M>> {
    cmds.into_iter().map(|c| (who, c)).collect()
}

// ---------------------------------------------------------------- incident

fn open(id: &str) -> IncidentCommand {
    IncidentCommand::Open(OpenIncident::new(
        IncidentId::new(id).unwrap(),
        IncidentKind::Production,
        ServiceId::new("payments").unwrap(),
        text("card payments failing"),
        Impact::Medium,
        Urgency::Medium,
        DetectionSource::Monitoring,
    ))
}

fn iid(id: &str) -> IncidentId {
    IncidentId::new(id).unwrap()
}

impl Scripted for IncidentMachine {
    fn scripts() -> Vec<Vec<Line<Self>>> {
        use IncidentCommand as C;
        let resolve = || C::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None };
        vec![
            vec![
                ("agent", open("INC-1")),
                ("agent", C::Assign { group: gid("service-desk"), assignee: Some(aid("agent")) }),
                ("agent", C::Acknowledge),
                ("agent", C::Start),
                ("agent", C::Hold { reason: HoldReason::AwaitingVendor }),
                ("agent", C::Hold { reason: HoldReason::AwaitingCaller }),
                ("req", C::Resume),
                ("resolver", resolve()),
                ("req", C::Reopen { reason: text("still failing") }),
                ("resolver", resolve()),
                ("req", C::Close),
                ("im", C::LinkProblem { problem: ProblemId::new("PRB-1").unwrap() }),
            ],
            vec![("agent", open("INC-2")), ("agent", C::Cancel { reason: text("duplicate") })],
            // Resolved and closed before anyone acknowledged it (an auto-resolved incident, a response logged late).
            vec![("agent", open("INC-5")), ("agent", resolve()), ("req", C::Close)],
            // In progress and on hold without ever being acknowledged.
            vec![
                ("agent", open("INC-4")),
                ("agent", resolve()),
                ("req", C::Reopen { reason: text("not fixed") }),
                ("agent", C::Hold { reason: HoldReason::AwaitingEvidence }),
            ],
            // A major incident, reviewed after its resolution, its action items done before and after closure.
            vec![
                ("agent", open("INC-7")),
                ("im", C::DeclareMajor),
                ("resolver", resolve()),
                (
                    "im",
                    C::RecordReview {
                        summary: text("a certificate expired"),
                        actions: vec![text("monitor certificate expiry"), text("renew automatically")],
                    },
                ),
                ("agent", C::CompleteAction { action: 0 }),
                ("req", C::Close),
                ("agent", C::CompleteAction { action: 1 }),
            ],
            // A major incident closed before its review.
            vec![("agent", open("INC-8")), ("im", C::DeclareMajor), ("resolver", resolve()), ("req", C::Close)],
            // Proposed as a major incident, the proposal pending through each open state.
            vec![
                ("agent", open("INC-6")),
                ("agent", C::ProposeMajor { reason: text("checkout down for every customer") }),
                ("agent", C::Assign { group: gid("service-desk"), assignee: None }),
                ("agent", C::Start),
                ("agent", C::Hold { reason: HoldReason::AwaitingVendor }),
            ],
            vec![
                ("bot", open("INC-3")),
                ("im", C::SetParent { parent: iid("INC-P") }),
                ("im", C::Assign { group: gid("network"), assignee: None }),
                ("im", C::Start),
                ("im", C::Hold { reason: HoldReason::AwaitingChange }),
                ("bot", C::CascadeResolve { parent: iid("INC-P"), resolved_by: ResolvedBy::Automation }),
            ],
        ]
    }

    fn candidates(agg: &Incident, name: &'static str) -> Vec<Line<Self>> {
        use IncidentCommand as C;
        let who = permitted::<Incident>(&["im", "agent", "bot"], name);
        let cmds = match name {
            "open" => vec![open(agg.incident_id().as_str())],
            "assign" => vec![C::Assign { group: gid("dba"), assignee: None }],
            "acknowledge" => vec![C::Acknowledge],
            "start" => vec![C::Start],
            "hold" => HoldReason::ALL.iter().map(|&reason| C::Hold { reason }).collect(),
            "resume" => vec![C::Resume],
            "record_impact" => {
                let start = agg.to_record().impact_start;
                vec![
                    C::RecordImpact { impact_start: None, restored_at: Some(start) },
                    C::RecordImpact { impact_start: Some(start), restored_at: None },
                ]
            }
            "resolve" => {
                vec![C::Resolve { code: ResolutionCode::Workaround, resolved_by: ResolvedBy::L1, restored_at: None }]
            }
            "reopen" => vec![C::Reopen { reason: text("again") }],
            "close" => vec![C::Close],
            "cancel" => vec![C::Cancel { reason: text("raised in error") }],
            "reprioritize" => vec![
                C::Reprioritize { impact: Impact::High, urgency: Urgency::High },
                C::Reprioritize { impact: Impact::Low, urgency: Urgency::Low },
            ],
            "escalate_tier" => {
                SupportTier::ALL.iter().map(|&tier| C::EscalateTier { tier, group: gid("dba") }).collect()
            }
            "propose_major" => vec![C::ProposeMajor { reason: text("checkout down for every customer") }],
            "decline_major" => vec![C::DeclineMajor { reason: text("one customer only") }],
            "declare_major" => vec![C::DeclareMajor],
            "record_review" => vec![C::RecordReview {
                summary: text("a certificate expired"),
                actions: vec![text("monitor certificate expiry"), text("renew automatically")],
            }],
            "complete_action" => vec![C::CompleteAction { action: 0 }, C::CompleteAction { action: 1 }],
            "link_problem" => vec![C::LinkProblem { problem: ProblemId::new("PRB-9").unwrap() }],
            "link_change" => vec![C::LinkChange { change: ChangeId::new("CHG-9").unwrap() }],
            "set_parent" => vec![C::SetParent { parent: iid("INC-P9") }],
            "link_child" => vec![C::LinkChild { child: iid("INC-C9") }],
            "cascade_resolve" => vec![C::CascadeResolve {
                parent: agg.parent().cloned().unwrap_or_else(|| iid("INC-P")),
                resolved_by: ResolvedBy::L3,
            }],
            "add_note" => vec![C::AddNote { text: text("called the vendor"), public: true }],
            "correlate_alert" => vec![C::CorrelateAlert {
                alert: itsm_core::alert::AlertRef {
                    source: "prometheus".into(),
                    alert_id: "cpu-high-9".into(),
                    fingerprint: "payments/cpu".into(),
                    severity: itsm_core::alert::AlertSeverity::Major,
                    fired_at: ts(0),
                },
            }],
            other => panic!("unknown incident command {other}"),
        };
        lines::<Self>(who, cmds)
    }

    fn statuses() -> Vec<&'static str> {
        itsm_core::incident::IncidentStatus::ALL.iter().map(|s| s.as_str()).collect()
    }
}

// ---------------------------------------------------------------- problem

fn known_error() -> KnownErrorRecord {
    KnownErrorRecord {
        symptom: text("card payments time out"),
        root_cause: text("connection pool exhausted"),
        workaround: text("restart the gateway"),
    }
}

impl Scripted for ProblemMachine {
    fn scripts() -> Vec<Vec<Line<Self>>> {
        use ProblemCommand as C;
        let open = C::Open {
            id: ProblemId::new("PRB-1").unwrap(),
            service: ServiceId::new("payments").unwrap(),
            title: text("repeated card failures"),
            incidents: [iid("INC-1")].into(),
        };
        vec![lines::<Self>(
            "pm",
            vec![
                open,
                C::Assess { priority: Priority::P2 },
                C::StartAnalysis,
                C::RecordKnownError(known_error()),
                C::RecordKnownError(known_error()),
                C::StartFix { change: ChangeId::new("CHG-1").unwrap() },
                C::Resolve { closure: ProblemClosure::FixApplied },
                C::Reanalyze { reason: text("it came back") },
                C::RecordKnownError(known_error()),
                C::Resolve { closure: ProblemClosure::RiskAccepted },
                C::Close,
            ],
        )]
    }

    fn candidates(agg: &Problem, name: &'static str) -> Vec<Line<Self>> {
        use ProblemCommand as C;
        let cmds = match name {
            "open" => vec![C::Open {
                id: agg.problem_id().clone(),
                service: ServiceId::new("payments").unwrap(),
                title: text("again"),
                incidents: Default::default(),
            }],
            "assess" => vec![C::Assess { priority: Priority::P1 }],
            "start_analysis" => vec![C::StartAnalysis],
            "record_known_error" => vec![C::RecordKnownError(known_error())],
            "start_fix" => vec![C::StartFix { change: ChangeId::new("CHG-2").unwrap() }],
            "resolve" => ProblemClosure::ALL.iter().map(|&closure| C::Resolve { closure }).collect(),
            "reanalyze" => vec![C::Reanalyze { reason: text("new evidence") }],
            "close" => vec![C::Close],
            "link_incident" => vec![C::LinkIncident { incident: iid("INC-9") }],
            other => panic!("unknown problem command {other}"),
        };
        lines::<Self>("pm", cmds)
    }

    fn statuses() -> Vec<&'static str> {
        itsm_core::problem::ProblemStatus::ALL.iter().map(|s| s.as_str()).collect()
    }
}

// ---------------------------------------------------------------- changes

/// A valid window starting an hour after `BASE` + `at`.
pub fn window_at(at: i64) -> Window {
    Window { start: ts(at + 3_600), end: ts(at + 7_200) }
}

impl Scripted for StandardMachine {
    fn scripts() -> Vec<Vec<Line<Self>>> {
        use StandardCommand as C;
        let create = |id: &str| C::Create { spec: spec(id, canary()), template: TemplateId::new("os-patch").unwrap() };
        let done = || C::Complete { outcome: ChangeOutcome::Successful, remediation: Remediation::None };
        vec![
            vec![
                ("req", create("CHG-1")),
                ("cm", C::Schedule { window: window_at(0), override_reason: None }),
                ("cm", C::Schedule { window: window_at(600), override_reason: None }),
                ("impl", C::Start),
                ("impl", C::AdvanceStage),
                ("impl", done()),
                ("cm", C::Review { verdict: ReviewVerdict::ObjectivesMet, notes: text("fine") }),
                ("cm", C::Close),
            ],
            vec![("req", create("CHG-2")), ("cm", C::Cancel { reason: text("not needed") })],
        ]
    }

    fn candidates(agg: &StandardChange, name: &'static str) -> Vec<Line<Self>> {
        use StandardCommand as C;
        let who = permitted::<StandardChange>(&["impl", "cm", "req"], name);
        let cmds = match name {
            "create" => vec![C::Create { spec: agg.spec().clone(), template: TemplateId::new("os-patch").unwrap() }],
            "schedule" => vec![C::Schedule { window: window_at(10_000), override_reason: None }],
            "start" => vec![C::Start],
            "advance_stage" => vec![C::AdvanceStage],
            "complete" => vec![C::Complete { outcome: ChangeOutcome::Failed, remediation: Remediation::RolledBack }],
            "review" => vec![C::Review { verdict: ReviewVerdict::PartlyMet, notes: text("slow") }],
            "close" => vec![C::Close],
            "cancel" => vec![C::Cancel { reason: text("superseded") }],
            "fail_stage" => vec![C::FailStage { reason: text("health check failed"), restored: true }],
            other => panic!("unknown standard command {other}"),
        };
        lines::<Self>(who, cmds)
    }

    fn statuses() -> Vec<&'static str> {
        itsm_core::change::standard::StandardStatus::ALL.iter().map(|s| s.as_str()).collect()
    }
}

/// An assessment of `risk` naming `implementer`.
pub fn assessment(risk: Risk, implementer: &str) -> Assessment {
    Assessment {
        risk,
        impact: text("payments degraded for 5 minutes"),
        backout_plan: text("redeploy the previous release"),
        implementer: aid(implementer),
    }
}

impl Scripted for NormalMachine {
    fn scripts() -> Vec<Vec<Line<Self>>> {
        use NormalCommand as C;
        let head = |id: &str| {
            vec![
                ("req", C::Create(spec(id, canary()))),
                ("req", C::Submit),
                ("cm", C::Assess(assessment(Risk::Moderate, "impl"))),
            ]
        };
        let mut full = head("CHG-1");
        full.extend([
            ("cab1", C::Approve { group: gid("cab") }),
            ("cab2", C::Approve { group: gid("cab") }),
            ("cm", C::Schedule { window: window_at(0), override_reason: None }),
            ("cm", C::Schedule { window: window_at(600), override_reason: None }),
            ("impl", C::Start),
            ("impl", C::AdvanceStage),
            (
                "impl",
                C::Complete { outcome: ChangeOutcome::SuccessfulWithIssues, remediation: Remediation::FixedForward },
            ),
            ("cm", C::Review { verdict: ReviewVerdict::PartlyMet, notes: text("fixed forward") }),
            ("cm", C::Close),
        ]);
        let mut rejected = head("CHG-2");
        rejected.push(("cab2", C::Reject { group: gid("cab"), reason: text("too risky") }));
        let mut cancelled = head("CHG-3");
        cancelled.push(("cm", C::Cancel { reason: text("no longer needed") }));
        // The policy has no step for a low-risk normal change: the assessment
        // authorizes it at once (submitted -> authorized).
        let unapproved = vec![
            ("req", C::Create(spec("CHG-4", canary()))),
            ("req", C::Submit),
            ("cm", C::Assess(assessment(Risk::Low, "impl"))),
            ("cm", C::Schedule { window: window_at(0), override_reason: None }),
            ("impl", C::Start),
        ];
        vec![full, rejected, cancelled, unapproved]
    }

    fn candidates(agg: &NormalChange, name: &'static str) -> Vec<Line<Self>> {
        use NormalCommand as C;
        let one = |who, cmd| vec![(who, cmd)];
        match name {
            "create" => one("req", C::Create(agg.spec().clone())),
            "submit" => one("req", C::Submit),
            // Every risk: with approval steps (assessed) and without (authorized).
            "assess" => Risk::ALL.iter().map(|&risk| ("cm", C::Assess(assessment(risk, "impl")))).collect(),
            // Listed members (`cab4` claims no group), and actors refused
            // membership: `claimer` claims the group but is not listed,
            // `deputy` acts for the listed `cab2`.
            "approve" => ["cab1", "cab2", "impl2", "cab4", "claimer", "deputy"]
                .map(|who| (who, C::Approve { group: gid("cab") }))
                .to_vec(),
            "reject" => one("cab2", C::Reject { group: gid("cab"), reason: text("no backout test") }),
            "schedule" => one("cm", C::Schedule { window: window_at(10_000), override_reason: None }),
            "start" => one("impl", C::Start),
            "advance_stage" => one("impl", C::AdvanceStage),
            "complete" => {
                one("impl", C::Complete { outcome: ChangeOutcome::Successful, remediation: Remediation::None })
            }
            "review" => one("cm", C::Review { verdict: ReviewVerdict::ObjectivesMet, notes: text("ok") }),
            "close" => one("cm", C::Close),
            "cancel" => one("cm", C::Cancel { reason: text("withdrawn") }),
            "fail_stage" => one("impl", C::FailStage { reason: text("health check failed"), restored: true }),
            other => panic!("unknown normal command {other}"),
        }
    }

    fn statuses() -> Vec<&'static str> {
        itsm_core::change::normal::NormalStatus::ALL.iter().map(|s| s.as_str()).collect()
    }
}

/// An after-the-fact record implemented by `implementer`, between 2 h and 1 h
/// before `BASE` + 60 s.
pub fn after_the_fact(id: &str, risk: Risk, implementer: &str) -> AfterTheFact {
    AfterTheFact {
        spec: spec(id, itsm_core::change::Strategy::BigBang),
        risk,
        justification: text("payments were down"),
        implementer: aid(implementer),
        started_at: ts(-7_200),
        completed_at: ts(-3_600),
        outcome: ChangeOutcome::Successful,
        remediation: Remediation::None,
    }
}

impl Scripted for EmergencyMachine {
    fn scripts() -> Vec<Vec<Line<Self>>> {
        use EmergencyCommand as C;
        let submit = |id: &str, risk| C::Submit { spec: spec(id, canary()), risk, justification: text("outage") };
        let review = || C::Review { verdict: ReviewVerdict::ObjectivesMet, notes: text("restored") };
        vec![
            vec![
                ("req", submit("CHG-1", Risk::High)),
                ("ecab1", C::Approve { group: gid("ecab") }),
                ("ecab3", C::Approve { group: gid("ecab") }),
                ("impl", C::Start),
                ("impl", C::AdvanceStage),
                ("impl", C::Complete { outcome: ChangeOutcome::Failed, remediation: Remediation::RolledBack }),
                ("cm", review()),
                ("cm", C::Close),
            ],
            vec![
                ("cm", C::RecordAfterTheFact(after_the_fact("CHG-2", Risk::Moderate, "impl"))),
                ("claimer", C::Approve { group: gid("sre") }),
                ("cm", review()),
                ("cm", C::Close),
            ],
            vec![("req", submit("CHG-3", Risk::Low)), ("req", C::Cancel { reason: text("fixed itself") })],
            vec![
                ("req", submit("CHG-4", Risk::Moderate)),
                ("ecab3", C::Reject { group: gid("sre"), reason: text("no") }),
            ],
        ]
    }

    fn candidates(agg: &EmergencyChange, name: &'static str) -> Vec<Line<Self>> {
        use EmergencyCommand as C;
        let one = |who, cmd| vec![(who, cmd)];
        match name {
            "submit" => {
                one("req", C::Submit { spec: agg.spec().clone(), risk: Risk::High, justification: text("again") })
            }
            "record_after_the_fact" => {
                let mut record = after_the_fact("CHG-9", Risk::High, "impl");
                record.spec = agg.spec().clone();
                one("cm", C::RecordAfterTheFact(record))
            }
            // ecab lists its members (`claimer` claims it but is not listed,
            // `deputy` acts for the listed `ecab3`); sre lists none, so the
            // claimed groups decide.
            "approve" => [
                ("ecab1", "ecab"),
                ("ecab3", "ecab"),
                ("impl2", "ecab"),
                ("claimer", "ecab"),
                ("deputy", "ecab"),
                ("ecab1", "sre"),
                ("claimer", "sre"),
                ("deputy", "sre"),
            ]
            .map(|(who, group)| (who, C::Approve { group: gid(group) }))
            .to_vec(),
            "reject" => one("ecab1", C::Reject { group: gid("ecab"), reason: text("too broad") }),
            "start" => one("impl", C::Start),
            "advance_stage" => one("impl", C::AdvanceStage),
            "complete" => {
                one("impl", C::Complete { outcome: ChangeOutcome::Successful, remediation: Remediation::None })
            }
            "review" => one("cm", C::Review { verdict: ReviewVerdict::NotMet, notes: text("caused an incident") }),
            "close" => one("cm", C::Close),
            "cancel" => one("cm", C::Cancel { reason: text("vendor fixed it") }),
            "fail_stage" => one("impl", C::FailStage { reason: text("health check failed"), restored: true }),
            other => panic!("unknown emergency command {other}"),
        }
    }

    fn statuses() -> Vec<&'static str> {
        itsm_core::change::emergency::EmergencyStatus::ALL.iter().map(|s| s.as_str()).collect()
    }
}
