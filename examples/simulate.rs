//! A seeded simulation of one quarter of an organisation around maturity
//! level 2-3: about 5,000 incidents and 600 changes, with outages, holds,
//! reopens, major incidents, failed changes with rollbacks (one rollback that
//! fails), incidents caused by changes and repeat incidents.
//!
//! The simulation produces *commands*, in time order per aggregate; they are
//! decided by the domain machines and written by the store like any portal
//! command. Nothing is inserted raw.

use chrono::TimeZone;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use itsm_core::change::{Assessment, ChangeSpec, NormalCommand, ReviewVerdict, StandardCommand, Strategy, Window};
use itsm_core::change::{EmergencyCommand, Stage};
use itsm_core::id::{ActorId, ChangeId, GroupId, IncidentId, ServiceId, TemplateId, TenantId, Text};
use itsm_core::incident::{IncidentCommand, OpenIncident, ResolutionCode};
use itsm_core::vocabulary::{
    ChangeOutcome, DetectionSource, FailureClass, HoldReason, Impact, IncidentKind, Remediation, ResolvedBy, Risk,
    SupportTier, Urgency,
};
use itsm_core::{Actor, Role, Timestamp};

/// The simulated organisation's service model: five business services over
/// the [`SERVICES`] (which are its configuration items), with the CI/CD
/// pipelines running on the DevOps platform and the HR portal reachable
/// through either the VPN or the intranet.
pub fn service_model() -> itsm_core::service::ServiceModel {
    let parts = |service: &str, items: &[&str]| -> Vec<serde_json::Value> {
        items.iter().map(|i| serde_json::json!({"from": i, "kind": "part_of", "to": service})).collect()
    };
    let mut dependencies = Vec::new();
    dependencies.extend(parts("order-to-cash", &["payments", "erp", "crm", "identity"]));
    dependencies.extend(parts("collaboration", &["email", "identity", "intranet"]));
    dependencies.extend(parts("people", &["hr-portal"]));
    dependencies.extend(parts("analytics", &["data-warehouse"]));
    dependencies.extend(parts("software-delivery", &["ci-pipeline", "cd-pipeline"]));
    for (from, kind, to) in [
        ("data-warehouse", "depends_on", "erp"),
        ("hr-portal", "depends_on", "identity"),
        ("hr-portal", "depends_on", "vpn"),
        ("hr-portal", "depends_on", "intranet"),
        ("ci-pipeline", "runs_on", "devops-platform"),
        ("cd-pipeline", "runs_on", "devops-platform"),
    ] {
        dependencies.push(serde_json::json!({"from": from, "kind": kind, "to": to}));
    }
    let mut items: Vec<serde_json::Value> = [
        ("order-to-cash", "critical"),
        ("collaboration", "high"),
        ("software-delivery", "high"),
        ("people", "medium"),
        ("analytics", "low"),
    ]
    .iter()
    .map(|(id, criticality)| serde_json::json!({"id": id, "kind": "business_service", "criticality": criticality}))
    .collect();
    for (name, _, _) in SERVICES {
        let mut item = serde_json::json!({"id": name, "kind": "component"});
        if *name == "hr-portal" {
            item["any_of"] = serde_json::json!([["vpn", "intranet"]]);
        }
        items.push(item);
    }
    // Built from constants checked by the tests: a refusal is a bug here,
    // and the empty model (nothing rolled up) is the harmless answer.
    serde_json::from_value(serde_json::json!({"items": items, "dependencies": dependencies})).unwrap_or_default()
}

/// The services of the simulated organisation, with their Table 15 class and
/// how often they fail (relative weight).
pub const SERVICES: &[(&str, FailureClass, u32)] = &[
    ("payments", FailureClass::Other, 14),
    ("erp", FailureClass::Other, 12),
    ("crm", FailureClass::Other, 10),
    ("email", FailureClass::Other, 12),
    ("vpn", FailureClass::Other, 8),
    ("identity", FailureClass::Other, 6),
    ("hr-portal", FailureClass::Other, 5),
    ("data-warehouse", FailureClass::Other, 7),
    ("intranet", FailureClass::Other, 6),
    ("ci-pipeline", FailureClass::Ci, 8),
    ("cd-pipeline", FailureClass::Cd, 6),
    ("devops-platform", FailureClass::Platform, 6),
];

/// The simulated people: one actor per role family, in one tenant.
#[derive(Debug, Clone)]
pub struct Cast {
    /// Service desk agents (first line).
    pub agents: Vec<Actor>,
    /// Second and third line resolvers.
    pub resolvers: Vec<Actor>,
    /// The monitoring integration.
    pub monitoring: Actor,
    /// Incident manager.
    pub incident_manager: Actor,
    /// Problem manager: reviews the problem proposals (and links incidents).
    pub problem_manager: Actor,
    /// Change requesters.
    pub requesters: Vec<Actor>,
    /// Change managers.
    pub change_managers: Vec<Actor>,
    /// CAB members (group `cab`, and `change-managers` for low risk).
    pub cab: Vec<Actor>,
    /// Emergency CAB members (group `ecab`).
    pub ecab: Vec<Actor>,
    /// Implementers.
    pub implementers: Vec<Actor>,
}

fn actor(tenant: &TenantId, name: String, roles: &[Role], groups: &[&str]) -> Actor {
    let id = ActorId::new(name).unwrap_or_else(|_| unreachable_id());
    Actor::new(id, tenant.clone(), roles.iter().copied())
        .with_groups(groups.iter().filter_map(|g| GroupId::new(*g).ok()))
}

fn unreachable_id() -> ActorId {
    // Only reached if a literal above were invalid; the literals are fixed and valid.
    ActorId::new("simulated").expect("literal id is valid")
}

impl Cast {
    /// The cast of a tenant.
    pub fn new(tenant: &TenantId) -> Cast {
        let many = |prefix: &str, n: usize, roles: &[Role], groups: &[&str]| -> Vec<Actor> {
            (1..=n).map(|i| actor(tenant, format!("{prefix}-{i}"), roles, groups)).collect()
        };
        Cast {
            agents: many("agent", 8, &[Role::Agent], &["service-desk"]),
            resolvers: many("resolver", 12, &[Role::Resolver], &["l2-apps", "l3-platform"]),
            monitoring: actor(tenant, "monitoring".to_owned(), &[Role::Automation], &[]),
            incident_manager: actor(tenant, "incident-manager".to_owned(), &[Role::IncidentManager], &[]),
            problem_manager: actor(
                tenant,
                "problem-manager".to_owned(),
                &[Role::ProblemManager, Role::IncidentManager],
                &[],
            ),
            requesters: many("requester", 10, &[Role::Requester], &[]),
            change_managers: many("change-manager", 2, &[Role::ChangeManager], &["change-managers"]),
            cab: many("cab-member", 5, &[Role::CabMember], &["cab", "change-managers"]),
            ecab: many("ecab-member", 3, &[Role::EmergencyCabMember], &["ecab"]),
            implementers: many("implementer", 10, &[Role::Implementer], &[]),
        }
    }
}

/// One simulated command: who, when, which aggregate, what.
#[derive(Debug, Clone)]
pub struct Step<C> {
    /// Who issues it.
    pub actor: Actor,
    /// When it is issued.
    pub at: Timestamp,
    /// The aggregate id.
    pub id: String,
    /// The command.
    pub command: C,
}

/// The simulated quarter, as commands per machine, each list in time order
/// per aggregate (aggregates follow one another).
#[derive(Debug, Default)]
pub struct Simulation {
    /// Incident commands.
    pub incidents: Vec<Step<IncidentCommand>>,
    /// Normal change commands.
    pub normal: Vec<Step<NormalCommand>>,
    /// Standard change commands.
    pub standard: Vec<Step<StandardCommand>>,
    /// Emergency change commands.
    pub emergency: Vec<Step<EmergencyCommand>>,
    /// How many incidents were simulated.
    pub incident_count: usize,
    /// How many changes were simulated.
    pub change_count: usize,
}

/// The simulated period: the third quarter of 2026, `[from, to)`.
pub fn quarter() -> (Timestamp, Timestamp) {
    let at = |m| Timestamp::from_utc(chrono::Utc.with_ymd_and_hms(2026, m, 1, 0, 0, 0).single().expect("valid date"));
    (at(7), at(10))
}

fn text(s: &str) -> Text {
    Text::new(s).unwrap_or_default()
}

fn plus(t: Timestamp, secs: i64) -> Timestamp {
    t.plus_seconds(secs).unwrap_or(t)
}

/// A log-normal-ish duration in seconds with the given median, by the
/// Box-Muller transform (sigma about 1).
fn lognormal(rng: &mut StdRng, median_secs: f64, sigma: f64) -> i64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    let v = median_secs * (sigma * z).exp();
    v.clamp(60.0, 60.0 * 86_400.0) as i64
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A service of [`SERVICES`], drawn by its weight.
pub(crate) fn weighted_service(rng: &mut StdRng) -> (usize, &'static str, FailureClass) {
    let total: u32 = SERVICES.iter().map(|s| s.2).sum();
    let mut roll = rng.random_range(0..total);
    for (i, (name, class, w)) in SERVICES.iter().enumerate() {
        if roll < *w {
            return (i, name, *class);
        }
        roll -= w;
    }
    (0, SERVICES[0].0, SERVICES[0].1)
}

/// Simulates the quarter with a seed.
pub fn simulate(seed: u64, cast: &Cast, incidents: usize, changes: usize) -> Simulation {
    let mut rng = StdRng::seed_from_u64(seed);
    let (from, to) = quarter();
    let span = to.seconds_since(from);
    let mut sim = Simulation { incident_count: incidents, change_count: changes, ..Simulation::default() };

    // Changes first: failed ones cause incidents below.
    let mut failed_changes: Vec<(String, &'static str, Timestamp)> = Vec::new();
    for n in 0..changes {
        let (_, service, _) = weighted_service(&mut rng);
        let id = format!("CHG{:05}", n + 1);
        let requested = plus(from, rng.random_range(0..span - 10 * 86_400));
        let roll: f64 = rng.random();
        let strategy = if rng.random_bool(0.2) {
            Strategy::Phased {
                stages: vec![
                    Stage { name: "canary".to_owned(), percent: 5 },
                    Stage { name: "half".to_owned(), percent: 50 },
                    Stage { name: "all".to_owned(), percent: 100 },
                ],
            }
        } else if rng.random_bool(0.2) {
            Strategy::BlueGreen
        } else {
            Strategy::BigBang
        };
        let stages = strategy.stage_count();
        let spec = ChangeSpec {
            id: ChangeId::new(id.as_str()).unwrap_or_else(|_| unreachable_change()),
            service: ServiceId::new(service).unwrap_or_else(|_| unreachable_service()),
            title: text("planned change"),
            strategy,
            auto_rollback: rng.random_bool(0.3),
        };
        // First-attempt outcome: about 2% failed for normal changes (level 2), more for emergency.
        let fail_p = if roll < 0.70 {
            0.022
        } else if roll < 0.92 {
            0.008
        } else {
            0.06
        };
        let (outcome, remediation) = first_attempt(fail_p, &mut rng);
        let implementer = pick(&mut rng, &cast.implementers).clone();
        let start = plus(requested, rng.random_range(2 * 86_400..7 * 86_400));
        let duration = rng.random_range(1_800..4 * 3_600);
        let end = plus(start, duration);
        if outcome == ChangeOutcome::Failed || remediation != Remediation::None {
            failed_changes.push((id.clone(), service, end));
        }
        // A failed change with `auto_rollback` that was rolled back rolls back
        // by itself at the stage that failed its health checks.
        let automatic = spec.auto_rollback
            && outcome == ChangeOutcome::Failed
            && matches!(remediation, Remediation::RolledBack | Remediation::RollbackFailed);
        let advances = if automatic { rng.random_range(0..stages) } else { stages - 1 };
        let health = || text("error rate above the canary's health check");
        let restored = remediation == Remediation::RolledBack;
        if roll < 0.70 {
            let requester = pick(&mut rng, &cast.requesters).clone();
            let manager = pick(&mut rng, &cast.change_managers).clone();
            let risk = *pick(&mut rng, &[Risk::Low, Risk::Moderate, Risk::Moderate, Risk::High]);
            let mut steps = vec![
                (requester.clone(), requested, NormalCommand::Create(spec.clone())),
                (requester.clone(), plus(requested, 600), NormalCommand::Submit),
                (
                    manager.clone(),
                    plus(requested, 3_600),
                    NormalCommand::Assess(Assessment {
                        risk,
                        impact: text("service restart during the window"),
                        backout_plan: text("redeploy the previous release"),
                        implementer: implementer.id.clone(),
                    }),
                ),
            ];
            if rng.random_bool(0.02) {
                let voter = cast.cab[0].clone();
                let grp = if risk == Risk::Low { "change-managers" } else { "cab" };
                steps.push((
                    voter,
                    plus(requested, 86_400),
                    NormalCommand::Reject { group: group(grp), reason: text("risk too high for the quarter") },
                ));
            } else {
                let votes = if risk == Risk::High { 2 } else { 1 };
                let grp = if risk == Risk::Low { "change-managers" } else { "cab" };
                for v in 0..votes {
                    steps.push((
                        cast.cab[v].clone(),
                        plus(requested, 86_400 + v as i64 * 600),
                        NormalCommand::Approve { group: group(grp) },
                    ));
                }
                let window = Window::new(plus(start, -600), plus(end, 3_600)).unwrap_or(Window { start, end });
                steps.push((
                    manager.clone(),
                    plus(requested, 90_000),
                    NormalCommand::Schedule { window, override_reason: None },
                ));
                if rng.random_bool(0.03) {
                    steps.push((
                        requester.clone(),
                        plus(requested, 100_000),
                        NormalCommand::Cancel { reason: text("no longer needed") },
                    ));
                } else {
                    steps.push((implementer.clone(), start, NormalCommand::Start));
                    for s in 1..=advances {
                        steps.push((implementer.clone(), plus(start, s as i64 * 300), NormalCommand::AdvanceStage));
                    }
                    let ending = if automatic {
                        NormalCommand::FailStage { reason: health(), restored }
                    } else {
                        NormalCommand::Complete { outcome, remediation }
                    };
                    steps.push((implementer.clone(), end, ending));
                    let verdict = if outcome == ChangeOutcome::Successful {
                        ReviewVerdict::ObjectivesMet
                    } else {
                        ReviewVerdict::PartlyMet
                    };
                    steps.push((
                        manager.clone(),
                        plus(end, 86_400),
                        NormalCommand::Review { verdict, notes: text("reviewed in the weekly change meeting") },
                    ));
                    steps.push((manager, plus(end, 90_000), NormalCommand::Close));
                }
            }
            sim.normal.extend(steps.into_iter().map(|(actor, at, command)| Step {
                actor,
                at,
                id: id.clone(),
                command,
            }));
        } else if roll < 0.92 {
            let template = *pick(&mut rng, &["restart-service", "os-patch", "cert-renewal"]);
            let window = Window::new(plus(start, -600), plus(end, 3_600)).unwrap_or(Window { start, end });
            let manager = pick(&mut rng, &cast.change_managers).clone();
            let mut steps = vec![
                (
                    implementer.clone(),
                    requested,
                    StandardCommand::Create {
                        spec: spec.clone(),
                        template: TemplateId::new(template).unwrap_or_else(|_| unreachable_template()),
                    },
                ),
                (manager.clone(), plus(requested, 600), StandardCommand::Schedule { window, override_reason: None }),
                (implementer.clone(), start, StandardCommand::Start),
            ];
            for s in 1..=advances {
                steps.push((implementer.clone(), plus(start, s as i64 * 300), StandardCommand::AdvanceStage));
            }
            let ending = if automatic {
                StandardCommand::FailStage { reason: health(), restored }
            } else {
                StandardCommand::Complete { outcome, remediation }
            };
            steps.push((implementer.clone(), end, ending));
            steps.push((manager, plus(end, 3_600), StandardCommand::Close));
            sim.standard.extend(steps.into_iter().map(|(actor, at, command)| Step {
                actor,
                at,
                id: id.clone(),
                command,
            }));
        } else {
            let requester = pick(&mut rng, &cast.requesters).clone();
            let manager = pick(&mut rng, &cast.change_managers).clone();
            let voter = pick(&mut rng, &cast.ecab).clone();
            let mut steps = Vec::new();
            if rng.random_bool(0.15) {
                steps.push((
                    manager.clone(),
                    plus(end, 3_600),
                    EmergencyCommand::RecordAfterTheFact(itsm_core::change::emergency::AfterTheFact {
                        spec: spec.clone(),
                        risk: Risk::High,
                        justification: text("outage fix applied during the night"),
                        implementer: implementer.id.clone(),
                        started_at: start,
                        completed_at: end,
                        outcome,
                        remediation,
                    }),
                ));
                steps.push((voter, plus(end, 7_200), EmergencyCommand::Approve { group: group("ecab") }));
            } else {
                let submitted = plus(start, -3_600);
                steps.push((
                    requester,
                    submitted,
                    EmergencyCommand::Submit {
                        spec: spec.clone(),
                        risk: Risk::High,
                        justification: text("production fault"),
                    },
                ));
                steps.push((voter, plus(submitted, 900), EmergencyCommand::Approve { group: group("ecab") }));
                steps.push((implementer.clone(), start, EmergencyCommand::Start));
                for s in 1..=advances {
                    steps.push((implementer.clone(), plus(start, s as i64 * 300), EmergencyCommand::AdvanceStage));
                }
                let ending = if automatic {
                    EmergencyCommand::FailStage { reason: health(), restored }
                } else {
                    EmergencyCommand::Complete { outcome, remediation }
                };
                steps.push((implementer.clone(), end, ending));
            }
            steps.push((
                manager.clone(),
                plus(end, 86_400),
                EmergencyCommand::Review {
                    verdict: ReviewVerdict::PartlyMet,
                    notes: text("emergency change reviewed"),
                },
            ));
            steps.push((manager, plus(end, 90_000), EmergencyCommand::Close));
            sim.emergency.extend(steps.into_iter().map(|(actor, at, command)| Step {
                actor,
                at,
                id: id.clone(),
                command,
            }));
        }
    }

    // Incidents.
    let categories_per_service = 1_500u32;
    let mut caused: usize = 0;
    for n in 0..incidents {
        let (_, service, class) = weighted_service(&mut rng);
        let id = format!("INC{:06}", n + 1);
        let kind = *pick(
            &mut rng,
            &[
                IncidentKind::Production,
                IncidentKind::Production,
                IncidentKind::Production,
                IncidentKind::Business,
                IncidentKind::Desktop,
                IncidentKind::Desktop,
                IncidentKind::ServiceRequest,
                IncidentKind::Security,
            ],
        );
        let impact =
            *pick(&mut rng, &[Impact::High, Impact::Medium, Impact::Medium, Impact::Medium, Impact::Low, Impact::Low]);
        let urgency = *pick(&mut rng, &[Urgency::High, Urgency::Medium, Urgency::Medium, Urgency::Low, Urgency::Low]);
        let source = *pick(
            &mut rng,
            &[
                DetectionSource::Monitoring,
                DetectionSource::Monitoring,
                DetectionSource::User,
                DetectionSource::User,
                DetectionSource::User,
                DetectionSource::ServiceDesk,
                DetectionSource::Automation,
            ],
        );
        // Zipf-like categories: a few common symptoms repeat.
        let category = {
            let r: f64 = rng.random();
            let c = (r.powf(1.3) * f64::from(categories_per_service)) as u32;
            format!("symptom-{c:04}")
        };
        let mut opened = plus(from, rng.random_range(0..span));
        let mut caused_by = None;
        if caused < failed_changes.len() && rng.random_bool(0.02) {
            let (change, change_service, end) = &failed_changes[caused];
            caused += 1;
            caused_by = Some((change.clone(), *change_service));
            opened = plus(*end, rng.random_range(300..7_200));
        }
        let service = caused_by.as_ref().map(|c| c.1).unwrap_or(service);
        let severe = impact == Impact::High || urgency == Urgency::High;
        let outage = kind == IncidentKind::Production && impact == Impact::High && urgency == Urgency::High;
        let mut open = OpenIncident::new(
            IncidentId::new(id.as_str()).unwrap_or_else(|_| unreachable_incident()),
            kind,
            ServiceId::new(service).unwrap_or_else(|_| unreachable_service()),
            text("simulated incident"),
            impact,
            urgency,
            source,
        );
        open.category = Text::new(category).ok();
        open.failure_class = class;
        open.outage = outage;
        open.caused_by_change = caused_by.as_ref().and_then(|(c, _)| ChangeId::new(c.as_str()).ok());
        let agent = pick(&mut rng, &cast.agents).clone();
        let opener = if source == DetectionSource::Monitoring { cast.monitoring.clone() } else { agent.clone() };
        let mut steps: Vec<(Actor, Timestamp, IncidentCommand)> = vec![(opener, opened, IncidentCommand::Open(open))];
        let ack = plus(opened, lognormal(&mut rng, if severe { 240.0 } else { 1_200.0 }, 0.8));
        steps.push((agent.clone(), ack, IncidentCommand::Acknowledge));
        steps.push((
            agent.clone(),
            plus(ack, 60),
            IncidentCommand::Assign { group: group("service-desk"), assignee: Some(agent.id.clone()) },
        ));
        let mut t = plus(ack, 120);
        steps.push((agent.clone(), t, IncidentCommand::Start));
        // Major incidents: the agent proposes one, the incident manager declares it five minutes later.
        let major = impact == Impact::High && kind == IncidentKind::Production && rng.random_bool(0.5);
        if major {
            let reason = text("production service down at high impact");
            steps.push((agent.clone(), plus(t, 60), IncidentCommand::ProposeMajor { reason }));
            t = plus(t, 300);
            steps.push((cast.incident_manager.clone(), t, IncidentCommand::DeclareMajor));
        }
        // Resolution tier: about 55% first line, automation for a share of monitoring incidents.
        let resolver = pick(&mut rng, &cast.resolvers).clone();
        let tier_roll: f64 = rng.random();
        let resolved_by = if source == DetectionSource::Monitoring && tier_roll < 0.15 {
            ResolvedBy::Automation
        } else if tier_roll < 0.58 {
            ResolvedBy::L1
        } else if tier_roll < 0.85 {
            ResolvedBy::L2
        } else if tier_roll < 0.97 {
            ResolvedBy::L3
        } else {
            ResolvedBy::Vendor
        };
        let mut worker = agent.clone();
        if matches!(resolved_by, ResolvedBy::L2 | ResolvedBy::L3 | ResolvedBy::Vendor) {
            let tier = if resolved_by == ResolvedBy::L2 { SupportTier::L2 } else { SupportTier::L3 };
            let grp = if tier == SupportTier::L2 { "l2-apps" } else { "l3-platform" };
            t = plus(t, lognormal(&mut rng, 1_800.0, 0.7));
            steps.push((agent.clone(), t, IncidentCommand::EscalateTier { tier, group: group(grp) }));
            worker = resolver;
        }
        if rng.random_bool(0.18) {
            let reason = *pick(
                &mut rng,
                &[
                    HoldReason::AwaitingCaller,
                    HoldReason::AwaitingCaller,
                    HoldReason::AwaitingVendor,
                    HoldReason::AwaitingEvidence,
                    HoldReason::AwaitingChange,
                ],
            );
            t = plus(t, lognormal(&mut rng, 1_800.0, 0.7));
            steps.push((worker.clone(), t, IncidentCommand::Hold { reason }));
            t = plus(t, lognormal(&mut rng, 4.0 * 3_600.0, 0.9));
            steps.push((worker.clone(), t, IncidentCommand::Resume));
        }
        let median = match (class, impact, urgency) {
            (FailureClass::Ci | FailureClass::Cd, _, _) => 1.2 * 3_600.0,
            (FailureClass::Platform, _, _) => 2.0 * 3_600.0,
            (FailureClass::Other, Impact::High, Urgency::High) => 1.5 * 3_600.0,
            (FailureClass::Other, Impact::High, _) | (FailureClass::Other, _, Urgency::High) => 5.0 * 3_600.0,
            (FailureClass::Other, Impact::Medium, _) => 14.0 * 3_600.0,
            (FailureClass::Other, Impact::Low, _) => 30.0 * 3_600.0,
        };
        let restore = plus(opened, lognormal(&mut rng, median, 0.9)).max(plus(t, 60));
        if restore < to || rng.random_bool(0.5) {
            // Outages: service is restored first (fail-over, restart), the cause is fixed later.
            let restored_at = outage.then(|| plus(opened, lognormal(&mut rng, 40.0 * 60.0, 0.6)).min(restore));
            let code = ResolutionCode::Fixed;
            steps.push((worker.clone(), restore, IncidentCommand::Resolve { code, resolved_by, restored_at }));
            if rng.random_bool(0.03) {
                let reopened = plus(restore, lognormal(&mut rng, 86_400.0, 0.8));
                steps.push((
                    agent.clone(),
                    reopened,
                    IncidentCommand::Reopen { reason: text("caller reports the fault again") },
                ));
                let again = plus(reopened, lognormal(&mut rng, 4.0 * 3_600.0, 0.8));
                steps.push((worker.clone(), again, IncidentCommand::Resolve { code, resolved_by, restored_at }));
                t = again;
            } else {
                t = restore;
            }
            // The post-incident review a day after the (last) resolution; its first action item is
            // done the next day, the second an hour after the closure. Steps of an incident
            // run in the order listed, so each is listed in time order.
            if major {
                let review = IncidentCommand::RecordReview {
                    summary: text("restored by fail-over; the cause was fixed in a follow-up change"),
                    actions: vec![text("alert on the failing dependency"), text("rehearse the fail-over")],
                };
                steps.push((cast.incident_manager.clone(), plus(t, 86_400), review));
                steps.push((agent.clone(), plus(t, 2 * 86_400), IncidentCommand::CompleteAction { action: 0 }));
            }
            if rng.random_bool(0.9) {
                steps.push((agent.clone(), plus(t, 3 * 86_400), IncidentCommand::Close));
            }
            if major {
                steps.push((agent.clone(), plus(t, 3 * 86_400 + 3_600), IncidentCommand::CompleteAction { action: 1 }));
            }
        }
        sim.incidents.extend(steps.into_iter().map(|(actor, at, command)| Step { actor, at, id: id.clone(), command }));
    }
    sim
}

/// The first attempt's outcome: failed with probability `fail_p` (mostly
/// rolled back, sometimes fixed forward, rarely a rollback that fails).
fn first_attempt(fail_p: f64, rng: &mut StdRng) -> (ChangeOutcome, Remediation) {
    if rng.random_bool(fail_p) {
        let r: f64 = rng.random();
        if r < 0.55 {
            (ChangeOutcome::Failed, Remediation::RolledBack)
        } else if r < 0.6 {
            (ChangeOutcome::Failed, Remediation::RollbackFailed)
        } else if r < 0.85 {
            (ChangeOutcome::SuccessfulWithIssues, Remediation::FixedForward)
        } else {
            (ChangeOutcome::Failed, Remediation::FixedForward)
        }
    } else if rng.random_bool(0.03) {
        (ChangeOutcome::SuccessfulWithIssues, Remediation::None)
    } else {
        (ChangeOutcome::Successful, Remediation::None)
    }
}

fn group(name: &str) -> GroupId {
    GroupId::new(name).unwrap_or_else(|_| GroupId::new("group").expect("literal id is valid"))
}

fn unreachable_change() -> ChangeId {
    ChangeId::new("CHG").expect("literal id is valid")
}

fn unreachable_service() -> ServiceId {
    ServiceId::new("service").expect("literal id is valid")
}

fn unreachable_incident() -> IncidentId {
    IncidentId::new("INC").expect("literal id is valid")
}

fn unreachable_template() -> TemplateId {
    TemplateId::new("os-patch").expect("literal id is valid")
}

/// What loading a simulation into a store did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Commands committed.
    pub committed: usize,
    /// Events written.
    pub events: usize,
    /// Commands the domain refused (a simulation bug if not zero), with reasons.
    pub refused: Vec<String>,
}

/// Commands per import transaction.
pub const BATCH: usize = 2_000;

async fn load_steps<A: itsm_core::Aggregate>(
    store: &itsm_store::Store,
    config: &itsm_core::DomainConfig,
    steps: &[Step<A::Command>],
    report: &mut LoadReport,
    progress: &mut dyn FnMut(usize),
) -> Result<(), itsm_store::ExecError<A::Error>> {
    for chunk in steps.chunks(BATCH) {
        let batch: Vec<itsm_store::ImportCommand<'_, A>> = chunk
            .iter()
            .map(|s| itsm_store::ImportCommand {
                actor: &s.actor,
                now: s.at,
                aggregate_id: &s.id,
                command: s.command.clone(),
            })
            .collect();
        let done = store.import_batch(config, &batch, itsm_store::OnReject::Skip).await?;
        report.committed += done.committed;
        report.events += done.events;
        report.refused.extend(
            done.rejected.iter().map(|(i, e)| format!("{} {}: {e}", chunk[*i].id, A::command_name(&chunk[*i].command))),
        );
        progress(chunk.len());
    }
    Ok(())
}

/// Issues every simulated command through the domain and the store (changes
/// first, since incidents refer to the changes that caused them).
pub async fn load_into(
    store: &itsm_store::Store,
    config: &itsm_core::DomainConfig,
    sim: &Simulation,
    progress: &mut dyn FnMut(usize),
) -> Result<LoadReport, String> {
    use itsm_core::change::{EmergencyChange, NormalChange, StandardChange};
    use itsm_core::incident::Incident;
    let mut report = LoadReport::default();
    load_steps::<StandardChange>(store, config, &sim.standard, &mut report, progress)
        .await
        .map_err(|e| e.to_string())?;
    load_steps::<NormalChange>(store, config, &sim.normal, &mut report, progress).await.map_err(|e| e.to_string())?;
    load_steps::<EmergencyChange>(store, config, &sim.emergency, &mut report, progress)
        .await
        .map_err(|e| e.to_string())?;
    load_steps::<Incident>(store, config, &sim.incidents, &mut report, progress).await.map_err(|e| e.to_string())?;
    Ok(report)
}

/// What the problem manager's review of the proposals did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProposalReview {
    /// Problems proposed from the stored incidents.
    pub proposed: usize,
    /// Proposals accepted: problems opened, their incidents linked.
    pub accepted: usize,
    /// Commands the domain or the store refused, with reasons.
    pub refused: Vec<String>,
}

/// The problem manager reviews the quarter at `at` (or an hour after the
/// last recorded incident event, if later): the problem proposals
/// over the tenant's stored incident records
/// ([`itsm_core::problem::proposals`]), of which seven in ten are accepted
/// (the rest judged not worth a problem), each accepted one through its
/// commands: the problem opened (`PRB-<n>`), then each incident linked.
pub async fn review_problem_proposals(
    store: &itsm_store::Store,
    config: &itsm_core::DomainConfig,
    cast: &Cast,
    at: Timestamp,
) -> Result<ProposalReview, String> {
    use futures_util::TryStreamExt;
    use itsm_core::incident::Incident;
    use itsm_core::problem::{Problem, ProposalRule, proposals};
    let tenant = &cast.problem_manager.tenant;
    let records: Vec<itsm_core::records::IncidentRecord> =
        store.incident_records(tenant).try_collect().await.map_err(|e| e.to_string())?;
    // The review follows the last recorded incident event (incidents of the
    // quarter may close after it ends).
    let last = records
        .iter()
        .flat_map(|r| [Some(r.opened_at), r.acknowledged_at, r.restored_at, r.resolved_at, r.closed_at])
        .flatten()
        .max();
    let at = last.and_then(|t| t.plus_seconds(3_600)).map_or(at, |t| t.max(at));
    let found = proposals(&records, &ProposalRule::default());
    let mut review = ProposalReview { proposed: found.len(), ..ProposalReview::default() };
    let manager = &cast.problem_manager;
    let mut opens = Vec::new();
    let mut links = Vec::new();
    for (n, proposal) in found.iter().enumerate().filter(|(n, _)| n % 10 < 7) {
        let title = match proposal.reason {
            itsm_core::problem::ProposalReason::Major => format!("major incident on {}", proposal.service),
            itsm_core::problem::ProposalReason::Repeats { repeats } => {
                format!("{repeats} repeat incidents on {}", proposal.service)
            }
        };
        let accepted = proposal
            .accept(itsm_core::id::ProblemId::new(format!("PRB-{n:05}")).map_err(|e| e.to_string())?, text(&title));
        opens.push((format!("PRB-{n:05}"), accepted.open));
        let problem = format!("PRB-{n:05}");
        links
            .extend(accepted.links.into_iter().map(|(id, command)| (id.as_str().to_owned(), problem.clone(), command)));
    }
    let mut refused = Vec::new();
    review.accepted = import_as::<Problem>(store, config, manager, at, &opens, &mut refused).await?;
    // Incidents are linked only to the problems actually opened.
    let not_opened: std::collections::BTreeSet<&str> = refused.iter().map(|(id, _)| id.as_str()).collect();
    links.retain(|(_, problem, _)| !not_opened.contains(problem.as_str()));
    let links: Vec<(String, IncidentCommand)> = links.into_iter().map(|(id, _, command)| (id, command)).collect();
    import_as::<Incident>(store, config, manager, at, &links, &mut refused).await?;
    review.refused = refused.into_iter().map(|(_, reason)| reason).collect();
    Ok(review)
}

/// Issues `commands` (aggregate id, command) as `actor` at `at`, in import
/// batches that skip what the domain refuses (in `refused`: the aggregate
/// id and why); returns how many were committed.
async fn import_as<A: itsm_core::Aggregate>(
    store: &itsm_store::Store,
    config: &itsm_core::DomainConfig,
    actor: &Actor,
    at: Timestamp,
    commands: &[(String, A::Command)],
    refused: &mut Vec<(String, String)>,
) -> Result<usize, String> {
    let mut committed = 0;
    for chunk in commands.chunks(BATCH) {
        let batch: Vec<itsm_store::ImportCommand<'_, A>> = chunk
            .iter()
            .map(|(id, command)| itsm_store::ImportCommand {
                actor,
                now: at,
                aggregate_id: id,
                command: command.clone(),
            })
            .collect();
        let done = store.import_batch(config, &batch, itsm_store::OnReject::Skip).await.map_err(|e| e.to_string())?;
        committed += done.committed;
        refused.extend(done.rejected.iter().map(|(i, e)| {
            let (id, command) = &chunk[*i];
            (id.clone(), format!("{id} {}: {e}", A::command_name(command)))
        }));
    }
    Ok(committed)
}

impl Simulation {
    /// Total number of commands.
    pub fn commands(&self) -> usize {
        self.incidents.len() + self.normal.len() + self.standard.len() + self.emergency.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_model_holds_every_simulated_service() {
        let model = service_model();
        let business: Vec<&str> = model.business_services().map(|(id, _)| id.as_str()).collect();
        assert_eq!(business, ["order-to-cash", "collaboration", "software-delivery", "people", "analytics"]);
        for (name, _, _) in SERVICES {
            let id = ServiceId::new(*name).unwrap();
            assert!(model.item(&id).is_some(), "{name}");
            assert!(!model.impacted_by(&id).is_empty(), "{name} rolls up to a business service");
        }
        // The HR portal survives the VPN alone.
        let vpn = ServiceId::new("vpn").unwrap();
        assert!(!model.down([&vpn]).contains(&ServiceId::new("people").unwrap()));
    }
}
