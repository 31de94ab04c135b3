//! One incident's life, narrated, against an embedded SQLite store.
//!
//! A monitoring alert opens a P2 production incident; it is acknowledged,
//! assigned, put on hold awaiting the caller (the SLA clock pauses) and
//! resumed. The resolution clock reaches its 75 % warning threshold, the due
//! escalations are recorded exactly once in the store (a second run records
//! nothing), the incident is escalated from first to second line, resolved,
//! reopened when the caller calls back, resolved again and closed. Every step prints the
//! state, the version and the clock (elapsed, paused, remaining, percent,
//! deadline). A refused command (closing a new incident) shows its typed
//! error, and the outbox is drained at the end.
//!
//! Times are simulated and passed in; nothing reads the system clock.
//!
//! `--db PATH` creates a new database at PATH and never deletes what is there: a database
//! of this library already at PATH is refused unless `--replace` is given (the
//! narrated ids need a new database), and anything else (a directory, a
//! device, another application's database, any other file) is refused,
//! `--replace` or not.
//!
//! ```sh
//! cargo run -p itsm-examples --example incident_lifecycle
//! cargo run -p itsm-examples --example incident_lifecycle -- --db lifecycle.db
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use itsm_core::calendar::Calendar;
use itsm_core::id::{ActorId, GroupId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentError, OpenIncident, ResolutionCode, sla_events};
use itsm_core::sla::{ClockState, EscalationRules, SlaPolicy, TargetClock, TargetKind, clocks, due_escalations};
use itsm_core::vocabulary::{DetectionSource, HoldReason, Impact, IncidentKind, ResolvedBy, SupportTier, Urgency};
use itsm_core::{Actor, Context, DomainConfig, Role, Timestamp};
use itsm_examples::db;
use itsm_store::{Committed, ExecError, ExpectedVersion, QueueFilter, Request, Store};

/// Narrates an incident's lifecycle through the domain and the store.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// SQLite file to write (created; a database of this library already there is refused unless --replace);
    /// default: a temporary file, removed at the end.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Replace the --db file if it holds a database of this library (anything else is never replaced).
    #[arg(long)]
    replace: bool,
}

const INCIDENT: &str = "INC-1001";

fn at(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).map_err(|e| format!("bad literal time {text}: {e}"))
}

fn short(t: Timestamp) -> String {
    t.as_utc().format("%a %d %H:%M").to_string()
}

fn person(tenant: &TenantId, name: &str, roles: &[Role], groups: &[&str]) -> Result<Actor, String> {
    let id = ActorId::new(name).map_err(|e| e.to_string())?;
    let groups = groups.iter().map(|g| GroupId::new(*g).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
    Ok(Actor::new(id, tenant.clone(), roles.iter().copied()).with_groups(groups))
}

fn group(name: &str) -> Result<GroupId, String> {
    GroupId::new(name).map_err(|e| e.to_string())
}

fn text(s: &str) -> Text {
    Text::new(s).unwrap_or_default()
}

/// The typed error's variant name, for display.
fn variant(e: &IncidentError) -> &'static str {
    match e {
        IncidentError::InvalidTransition { .. } => "InvalidTransition",
        IncidentError::Invalid { .. } => "Invalid",
        IncidentError::Forbidden { .. } => "Forbidden",
        IncidentError::NotFound { .. } => "NotFound",
        IncidentError::AlreadyExists { .. } => "AlreadyExists",
    }
}

fn clock_state(state: &ClockState) -> String {
    match state {
        ClockState::Running => "running".to_owned(),
        ClockState::Paused => "paused".to_owned(),
        ClockState::Met { at } => format!("met at {}", short(*at)),
        ClockState::Breached { at } => format!("breached at {}", short(*at)),
        ClockState::Cancelled { at } => format!("cancelled at {}", short(*at)),
    }
}

fn clock_text(c: &TargetClock) -> String {
    let deadline = c.deadline.map(short).unwrap_or_else(|| "-".to_owned());
    format!(
        "{} clock {}: elapsed {}, paused {}, remaining {}, {}% of {}, deadline {}",
        c.target,
        clock_state(&c.state),
        c.elapsed,
        c.paused,
        c.remaining,
        c.percent,
        c.goal,
        deadline
    )
}

struct Demo {
    store: Store,
    config: DomainConfig,
    policy: SlaPolicy,
    rules: EscalationRules,
    calendar: Calendar,
    tenant: TenantId,
    version: u64,
}

impl Demo {
    /// The system actor that reads the incident for the SLA clock and the
    /// escalation run (an integration: it reads every incident of the tenant).
    fn system(&self) -> Result<Actor, String> {
        Ok(Actor::new(ActorId::new("sla-clock").map_err(|e| e.to_string())?, self.tenant.clone(), [Role::Automation]))
    }

    /// The incident's clocks as of `now`, replayed from its stored history.
    async fn clocks(&self, now: Timestamp) -> Result<Vec<TargetClock>, String> {
        let history = self.store.history::<Incident>(&self.system()?, INCIDENT).await.map_err(|e| e.to_string())?;
        let events: Vec<_> = history.into_iter().map(|r| r.event).collect();
        clocks(&sla_events(&events), &self.policy, &self.calendar, now).map_err(|e| e.to_string())
    }

    async fn clock(&self, now: Timestamp, target: TargetKind) -> Result<TargetClock, String> {
        self.clocks(now)
            .await?
            .into_iter()
            .filter(|c| c.target == target)
            .max_by_key(|c| c.cycle)
            .ok_or_else(|| format!("no {target} clock"))
    }

    /// Executes one command on the incident, expecting the version last seen,
    /// and prints the step with the state, the version and the resolution clock.
    async fn step(
        &mut self,
        actor: &Actor,
        now: Timestamp,
        what: &str,
        command: IncidentCommand,
    ) -> Result<Committed<Incident>, String> {
        self.keyed_step(actor, now, what, command, None).await
    }

    /// [`Demo::step`] with an optional idempotency key.
    async fn keyed_step(
        &mut self,
        actor: &Actor,
        now: Timestamp,
        what: &str,
        command: IncidentCommand,
        key: Option<&str>,
    ) -> Result<Committed<Incident>, String> {
        let expected = if self.version == 0 { ExpectedVersion::Absent } else { ExpectedVersion::Exact(self.version) };
        let ctx = Context::new(actor, now, &self.config);
        let mut request = Request::<Incident>::new(ctx, INCIDENT, &command).if_version(expected);
        if let Some(key) = key {
            request = request.idempotency_key(key);
        }
        let done = self.store.execute(request).await.map_err(|e| format!("{what}: {e}"))?;
        self.version = done.version;
        println!("{}  {what} [{}]", short(now), actor.id);
        println!("    state {}, version {}, tier {}", done.state.status(), done.version, done.state.tier());
        let clock = self.clock(now, TargetKind::Resolution).await?;
        println!("    {}", clock_text(&clock));
        Ok(done)
    }

    /// Evaluates the due escalations and records each new one in the store.
    async fn escalate(&self, now: Timestamp) -> Result<usize, String> {
        let history = self.store.history::<Incident>(&self.system()?, INCIDENT).await.map_err(|e| e.to_string())?;
        let events: Vec<_> = history.into_iter().map(|r| r.event).collect();
        let id = IncidentId::new(INCIDENT).map_err(|e| e.to_string())?;
        let due = due_escalations(&id, &sla_events(&events), &self.policy, &self.rules, &self.calendar, now)
            .map_err(|e| e.to_string())?;
        let mut recorded = 0;
        for escalation in &due {
            let payload = serde_json::to_value(escalation).map_err(|e| e.to_string())?;
            let new = self
                .store
                .record_escalation(&self.tenant, &escalation.id, &payload, now)
                .await
                .map_err(|e| e.to_string())?;
            recorded += usize::from(new);
            println!(
                "    {} ({:?}, due {}): {}",
                escalation.id,
                escalation.action,
                short(escalation.due_at),
                if new { "recorded" } else { "already recorded, nothing new" }
            );
        }
        Ok(recorded)
    }
}

async fn run(args: Args) -> Result<(), String> {
    let (path, temporary) = match &args.db {
        Some(path) => (path.clone(), false),
        None => (db::temporary("incident-lifecycle"), true),
    };
    let store = db::open(&path, args.replace, db::Existing::Refuse).await?;
    let result = narrate(store.clone()).await;
    store.close().await;
    if temporary {
        db::remove_temporary(&path);
    }
    result
}

async fn narrate(store: Store) -> Result<(), String> {
    let tenant = TenantId::new("acme").map_err(|e| e.to_string())?;
    let monitoring = person(&tenant, "monitoring", &[Role::Automation], &[])?;
    let ann = person(&tenant, "ann", &[Role::Agent], &["service-desk"])?;
    let bob = person(&tenant, "bob", &[Role::Resolver], &["l2-apps"])?;
    let caller = person(&tenant, "carla", &[Role::Requester], &[])?;
    let mut demo = Demo {
        store,
        config: DomainConfig::default(),
        policy: SlaPolicy::default(),
        rules: EscalationRules::default(),
        calendar: Calendar::twenty_four_seven(chrono_tz::Europe::Amsterdam),
        tenant: tenant.clone(),
        version: 0,
    };
    println!(
        "Incident lifecycle (tenant acme, SLA policy v{}, 24x7 calendar, times simulated, UTC)",
        demo.policy.version
    );
    println!(
        "P2 targets: response 30 min, resolution 8 h; warnings at 50/75/100 %; an awaiting-caller hold pauses the clock\n"
    );

    let mut open = OpenIncident::new(
        IncidentId::new(INCIDENT).map_err(|e| e.to_string())?,
        IncidentKind::Production,
        ServiceId::new("payments").map_err(|e| e.to_string())?,
        text("card payments time out"),
        Impact::High,
        Urgency::Medium,
        DetectionSource::Monitoring,
    );
    open.category = Some(text("gateway-timeout"));
    let open = IncidentCommand::Open(open);
    let t0 = at("2026-03-02T09:00:00Z")?;
    let key = Some("alert/pay-gw-7781");
    let opened = demo.keyed_step(&monitoring, t0, "open (monitoring alert pay-gw-7781)", open.clone(), key).await?;
    println!("    priority P{} from impact 1 x urgency 2", opened.state.priority());
    // Monitoring delivers the same alert again: the idempotency key returns the first result.
    let ctx = Context::new(&monitoring, at("2026-03-02T09:01:00Z")?, &demo.config);
    let again = demo
        .store
        .execute(Request::<Incident>::new(ctx, INCIDENT, &open).idempotency_key("alert/pay-gw-7781"))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{}  same alert delivered again: replayed {}, version still {}, no new event",
        short(at("2026-03-02T09:01:00Z")?),
        again.replayed,
        again.version
    );

    let t = at("2026-03-02T09:20:00Z")?;
    demo.step(&ann, t, "acknowledge", IncidentCommand::Acknowledge).await?;
    println!("    {}", clock_text(&demo.clock(t, TargetKind::Response).await?));
    let assign = IncidentCommand::Assign { group: group("service-desk")?, assignee: Some(ann.id.clone()) };
    demo.step(&ann, at("2026-03-02T09:25:00Z")?, "assign to service-desk / ann", assign).await?;
    demo.step(&ann, at("2026-03-02T09:30:00Z")?, "start work", IncidentCommand::Start).await?;
    let hold = IncidentCommand::Hold { reason: HoldReason::AwaitingCaller };
    demo.step(&ann, at("2026-03-02T10:00:00Z")?, "hold: awaiting caller", hold).await?;
    let t = at("2026-03-02T11:00:00Z")?;
    println!("{}  (an hour later, still waiting)", short(t));
    println!("    {}", clock_text(&demo.clock(t, TargetKind::Resolution).await?));
    // The caller answers the agent (carla reads only what she raised, so the agent resumes it).
    demo.step(&ann, at("2026-03-02T11:30:00Z")?, "resume (caller answered)", IncidentCommand::Resume).await?;

    let t = at("2026-03-02T16:45:00Z")?;
    let clock = demo.clock(t, TargetKind::Resolution).await?;
    println!("{}  warning check", short(t));
    println!("    {}", clock_text(&clock));
    for w in &clock.thresholds {
        let when = w.at.map(short).unwrap_or_else(|| "-".to_owned());
        println!("    threshold {}%: {} ({when})", w.percent, if w.reached { "reached" } else { "not reached" });
    }
    println!("{}  due escalations, first run", short(t));
    let first = demo.escalate(t).await?;
    println!("    recorded {first}");
    let t = at("2026-03-02T16:46:00Z")?;
    println!("{}  due escalations, second run", short(t));
    let second = demo.escalate(t).await?;
    println!("    recorded {second} (each escalation is executed exactly once)");

    let escalate = IncidentCommand::EscalateTier { tier: SupportTier::L2, group: group("l2-apps")? };
    demo.step(&ann, at("2026-03-02T16:50:00Z")?, "escalate L1 -> L2 (l2-apps)", escalate).await?;
    let l2 = demo.store.queue(&bob, &QueueFilter::Group(group("l2-apps")?), 10).await.map_err(|e| e.to_string())?;
    for row in &l2 {
        println!("    l2-apps queue: {} P{} {}", row.id, row.priority.map(|p| p.as_str()).unwrap_or("-"), row.status);
    }
    let take = IncidentCommand::Assign { group: group("l2-apps")?, assignee: Some(bob.id.clone()) };
    demo.step(&bob, at("2026-03-02T16:55:00Z")?, "bob takes it", take).await?;
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None };
    demo.step(&bob, at("2026-03-02T17:10:00Z")?, "resolve (gateway pool resized)", resolve.clone()).await?;
    let reopen = IncidentCommand::Reopen { reason: text("timeouts are back") };
    let reopened = demo.step(&bob, at("2026-03-03T09:00:00Z")?, "reopen (the caller called back)", reopen).await?;
    println!("    reopen count {}", reopened.state.reopen_count());
    demo.step(&bob, at("2026-03-03T09:45:00Z")?, "resolve again", resolve).await?;
    let closed = demo.step(&bob, at("2026-03-05T10:00:00Z")?, "close", IncidentCommand::Close).await?;
    let record = closed.state.to_record();
    println!(
        "    record: reopened {} time(s), resolved by {}, resolved at {}",
        record.reopen_count,
        record.resolved_by.map(|r| r.as_str()).unwrap_or("-"),
        record.resolved_at.map(short).unwrap_or_default()
    );

    println!("\nA refused command:");
    let mut second = OpenIncident::new(
        IncidentId::new("INC-1002").map_err(|e| e.to_string())?,
        IncidentKind::Desktop,
        ServiceId::new("laptops").map_err(|e| e.to_string())?,
        text("docking station not detected"),
        Impact::Low,
        Urgency::Low,
        DetectionSource::User,
    );
    second.category = Some(text("docking"));
    let t = at("2026-03-05T10:05:00Z")?;
    let ctx = Context::new(&caller, t, &demo.config);
    let opened = demo
        .store
        .execute(
            Request::<Incident>::new(ctx, "INC-1002", &IncidentCommand::Open(second))
                .if_version(ExpectedVersion::Absent),
        )
        .await
        .map_err(|e| e.to_string())?;
    println!("{}  open INC-1002 [carla]: state {}, version {}", short(t), opened.state.status(), opened.version);
    let t = at("2026-03-05T10:06:00Z")?;
    let ctx = Context::new(&ann, t, &demo.config);
    match demo.store.execute(Request::<Incident>::new(ctx, "INC-1002", &IncidentCommand::Close)).await {
        Err(ExecError::Domain(e)) => {
            println!("{}  close INC-1002 [ann]: refused, IncidentError::{}: {e}", short(t), variant(&e))
        }
        Err(e) => return Err(e.to_string()),
        Ok(_) => return Err("closing a new incident was accepted".to_owned()),
    }

    let t = at("2026-03-05T10:10:00Z")?;
    // A claim hands out one message per incident at a time (each incident's
    // messages are delivered in order), so the notifier claims until done.
    let mut items = Vec::new();
    let mut acked = 0;
    loop {
        let batch = demo.store.claim("notifier", Duration::from_secs(60), 100, t).await.map_err(|e| e.to_string())?;
        if batch.is_empty() {
            break;
        }
        for item in &batch {
            acked += usize::from(demo.store.ack(item.id, "notifier", t).await.map_err(|e| e.to_string())?);
        }
        items.extend(batch);
    }
    println!("\nOutbox: {} message(s) claimed by notifier, in order per incident", items.len());
    for item in &items {
        println!("    {:<18} {}", item.topic, item.dedup_key);
    }
    let left = demo.store.claim("notifier", Duration::from_secs(60), 100, t).await.map_err(|e| e.to_string())?;
    println!("    acknowledged {acked}; left to deliver: {}", left.len());
    Ok(())
}

fn main() -> ExitCode {
    itsm_examples::run_main("incident_lifecycle", run(Args::parse()))
}
