//! Changes through the CAB, windows, blackouts and conflicts, against an
//! embedded SQLite store.
//!
//! A normal change is created, submitted and assessed (an assessment without
//! a backout plan is refused), a CAB member who requested it cannot approve
//! it (`SelfApproval`), two CAB members reach the quorum of a high-risk
//! change, and its first proposed window conflicts with another change on the
//! same service, starts outside the service's maintenance window and runs
//! into a blackout of the service's schedule (in `Europe/Amsterdam`). It is
//! rescheduled into the maintenance window and implemented. Then an emergency
//! change goes through the emergency CAB, and a failed normal change is
//! rolled back, reviewed and closed. The change calendar of the service for
//! the month is printed from the store at the end.
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
//! cargo run -p itsm-examples --example change_calendar
//! cargo run -p itsm-examples --example change_calendar -- --db changes.db
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use clap::Parser;
use itsm_core::change::approval::ApprovalError;
use itsm_core::change::emergency::EmergencyChange;
use itsm_core::change::schedule::{
    Blackout, Booking, Conflict, ServiceSchedule, WeeklyWindow, conflicts, local_to_instant,
};
use itsm_core::change::{
    Assessment, ChangeError, ChangeSpec, EmergencyCommand, NormalChange, NormalCommand, ReviewVerdict, StandardChange,
    StandardCommand, Strategy, Window,
};
use itsm_core::id::{ActorId, ChangeId, GroupId, ServiceId, TemplateId, TenantId, Text};
use itsm_core::vocabulary::{ChangeOutcome, Remediation, Risk};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};
use itsm_examples::db;
use itsm_store::{ExecError, Request, Store};

/// Walks changes through CAB approval, windows, blackouts and conflicts.
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

const ZONE: Tz = chrono_tz::Europe::Amsterdam;

fn at(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).map_err(|e| format!("bad literal time {text}: {e}"))
}

/// A local wall-clock time in [`ZONE`] as an instant.
fn local(date: (i32, u32, u32), hour: u32, minute: u32) -> Result<Timestamp, String> {
    let naive = NaiveDate::from_ymd_opt(date.0, date.1, date.2)
        .and_then(|d| d.and_hms_opt(hour, minute, 0))
        .ok_or_else(|| format!("bad local time {date:?} {hour}:{minute}"))?;
    local_to_instant(ZONE, naive, true).ok_or_else(|| format!("{naive} does not exist in {ZONE}"))
}

fn show(t: Timestamp) -> String {
    t.as_utc().with_timezone(&ZONE).format("%a %d %b %H:%M").to_string()
}

fn show_window(w: &Window) -> String {
    format!("{} - {} ({ZONE})", show(w.start), show(w.end))
}

fn text(s: &str) -> Text {
    Text::new(s).unwrap_or_default()
}

fn id_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn person(tenant: &TenantId, name: &str, roles: &[Role], groups: &[&str]) -> Result<Actor, String> {
    let groups = groups.iter().map(|g| GroupId::new(*g).map_err(id_err)).collect::<Result<Vec<_>, _>>()?;
    Ok(Actor::new(ActorId::new(name).map_err(id_err)?, tenant.clone(), roles.iter().copied()).with_groups(groups))
}

fn spec(id: &str, title: &str) -> Result<ChangeSpec, String> {
    Ok(ChangeSpec {
        id: ChangeId::new(id).map_err(id_err)?,
        service: ServiceId::new("payments").map_err(id_err)?,
        title: text(title),
        strategy: Strategy::BigBang,
        auto_rollback: false,
    })
}

/// The typed change error's variant (and the approval error's, when there is one).
fn variant(e: &ChangeError) -> String {
    match e {
        ChangeError::InvalidTransition { .. } => "ChangeError::InvalidTransition".to_owned(),
        ChangeError::Invalid { .. } => "ChangeError::Invalid".to_owned(),
        ChangeError::Approval { source, .. } => {
            let inner = match source {
                ApprovalError::SelfApproval { .. } => "SelfApproval",
                ApprovalError::NotInGroup { .. } => "NotInGroup",
                ApprovalError::NotAnApproverGroup { .. } => "NotAnApproverGroup",
                ApprovalError::AlreadyApproved { .. } => "AlreadyApproved",
            };
            format!("ChangeError::Approval(ApprovalError::{inner})")
        }
        ChangeError::Forbidden { .. } => "ChangeError::Forbidden".to_owned(),
        ChangeError::NotFound { .. } => "ChangeError::NotFound".to_owned(),
        ChangeError::AlreadyExists { .. } => "ChangeError::AlreadyExists".to_owned(),
        ChangeError::Schedule { .. } => "ChangeError::Schedule".to_owned(),
    }
}

fn conflict_text(c: &Conflict) -> String {
    match c {
        Conflict::Overlap { other } => format!("overlaps {other} on the same service"),
        Conflict::SharedBusinessService { other, business_service } => {
            format!("overlaps {other}, which touches business service {business_service} too")
        }
        Conflict::OutsideMaintenanceWindow { service } => format!("not inside the maintenance windows of {service}"),
        Conflict::InBlackout { service, reason } => format!("inside a blackout of {service}: {reason}"),
        Conflict::ImplementerDoubleBooked { implementer, other } => format!("{implementer} is booked on {other}"),
    }
}

struct Demo {
    store: Store,
    config: DomainConfig,
}

impl Demo {
    /// Executes a command and prints the resulting state and version.
    async fn run<A: Aggregate<Error = ChangeError>>(
        &self,
        actor: &Actor,
        now: Timestamp,
        id: &str,
        what: &str,
        command: A::Command,
    ) -> Result<A, String> {
        let ctx = Context::new(actor, now, &self.config);
        match self.store.execute(Request::<A>::new(ctx, id, &command)).await {
            Ok(done) => {
                println!(
                    "{}  {id} {what} [{}] -> {}, version {}",
                    show(now),
                    actor.id,
                    done.state.summary().status,
                    done.version
                );
                Ok(done.state)
            }
            Err(e) => Err(format!("{id} {what}: {e}")),
        }
    }

    /// Executes a command that must be refused and prints the typed refusal.
    async fn refused<A: Aggregate<Error = ChangeError>>(
        &self,
        actor: &Actor,
        now: Timestamp,
        id: &str,
        what: &str,
        command: A::Command,
    ) -> Result<(), String> {
        let ctx = Context::new(actor, now, &self.config);
        match self.store.execute(Request::<A>::new(ctx, id, &command)).await {
            Err(ExecError::Domain(e)) => {
                println!("{}  {id} {what} [{}] -> refused, {}: {e}", show(now), actor.id, variant(&e));
                Ok(())
            }
            Err(e) => Err(format!("{id} {what}: {e}")),
            Ok(_) => Err(format!("{id} {what} was accepted but must be refused")),
        }
    }

    /// The conflicts of `change` proposed in `window`, against the other
    /// changes the store has on the service that month and the schedule.
    async fn check(
        &self,
        actor: &Actor,
        change: &str,
        window: Window,
        implementer: &ActorId,
        schedule: &ServiceSchedule,
    ) -> Result<Vec<Conflict>, String> {
        let (from, to) = (local((2026, 4, 1), 0, 0)?, local((2026, 5, 1), 0, 0)?);
        let rows = self.store.change_calendar(actor, &schedule.service, from, to).await.map_err(id_err)?;
        let others: Vec<Booking> = rows
            .iter()
            .filter(|r| !r.terminal)
            .filter_map(|r| {
                let (start, end) = r.window?;
                Some(Booking {
                    change: ChangeId::new(r.id.as_str()).ok()?,
                    service: r.service.clone()?,
                    window: Window::new(start, end)?,
                    implementer: r.assignee.clone(),
                })
            })
            .collect();
        let proposed = Booking {
            change: ChangeId::new(change).map_err(id_err)?,
            service: schedule.service.clone(),
            window,
            implementer: Some(implementer.clone()),
        };
        Ok(conflicts(&proposed, &others, std::slice::from_ref(schedule), None))
    }
}

async fn run(args: Args) -> Result<(), String> {
    let (path, temporary) = match &args.db {
        Some(path) => (path.clone(), false),
        None => (db::temporary("change-calendar"), true),
    };
    let store = db::open(&path, args.replace, db::Existing::Refuse).await?;
    let result = narrate(Demo { store: store.clone(), config: DomainConfig::default() }).await;
    store.close().await;
    if temporary {
        db::remove_temporary(&path);
    }
    result
}

async fn narrate(demo: Demo) -> Result<(), String> {
    let tenant = TenantId::new("acme").map_err(id_err)?;
    let rita = person(&tenant, "rita", &[Role::Requester, Role::CabMember], &["cab"])?;
    let max = person(&tenant, "max", &[Role::ChangeManager], &["change-managers"])?;
    let cab1 = person(&tenant, "cab-1", &[Role::CabMember], &["cab"])?;
    let cab2 = person(&tenant, "cab-2", &[Role::CabMember], &["cab"])?;
    let cab3 = person(&tenant, "cab-3", &[Role::CabMember], &["cab"])?;
    let ecab = person(&tenant, "ecab-1", &[Role::EmergencyCabMember], &["ecab"])?;
    let ivan = person(&tenant, "ivan", &[Role::Implementer], &[])?;
    let sam = person(&tenant, "sam", &[Role::Implementer], &[])?;
    let payments = ServiceId::new("payments").map_err(id_err)?;
    let time = |h, m| NaiveTime::from_hms_opt(h, m, 0).ok_or_else(|| format!("bad time {h}:{m}"));
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(0, 0, 0)).ok_or("bad date");
    let schedule = ServiceSchedule {
        service: payments.clone(),
        enforce: Default::default(),
        zone: ZONE,
        windows: vec![WeeklyWindow { weekday: Weekday::Sat, start: time(22, 0)?, end: time(4, 0)? }],
        blackouts: vec![Blackout {
            start: day(2026, 4, 5)?,
            end: day(2026, 4, 7)?,
            reason: "Easter freeze".to_owned(),
        }],
    };
    println!("Change calendar (tenant acme, service payments, times in {ZONE})");
    println!(
        "maintenance window: Saturday 22:00 - Sunday 04:00; blackout: Easter freeze, Sun 05 Apr 00:00 - Tue 07 Apr 00:00"
    );
    println!("approval policy: normal high risk -> cab, at least 2; moderate -> cab, any; emergency -> ecab, any\n");

    println!("-- A standard change already booked on the service");
    let renew = StandardCommand::Create {
        spec: spec("CHG-100", "renew the payments TLS certificate")?,
        template: TemplateId::new("cert-renewal").map_err(id_err)?,
    };
    demo.run::<StandardChange>(
        &sam,
        at("2026-03-20T10:00:00Z")?,
        "CHG-100",
        "create from template cert-renewal",
        renew,
    )
    .await?;
    let w100 = Window::new(local((2026, 4, 4), 22, 30)?, local((2026, 4, 4), 23, 30)?).ok_or("empty window")?;
    let what = format!("schedule {}", show_window(&w100));
    demo.run::<StandardChange>(
        &max,
        at("2026-03-20T10:05:00Z")?,
        "CHG-100",
        &what,
        StandardCommand::Schedule { window: w100, override_reason: None },
    )
    .await?;

    println!("\n-- A normal change through the CAB");
    let chg = "CHG-101";
    let create = NormalCommand::Create(spec(chg, "upgrade the payment gateway to 5.2")?);
    demo.run::<NormalChange>(&rita, at("2026-03-23T09:00:00Z")?, chg, "create", create).await?;
    demo.run::<NormalChange>(&rita, at("2026-03-23T09:05:00Z")?, chg, "submit", NormalCommand::Submit).await?;
    let mut assessment = Assessment {
        risk: Risk::High,
        impact: text("card payments unavailable for up to 30 minutes"),
        backout_plan: text(""),
        implementer: ivan.id.clone(),
    };
    let assess = NormalCommand::Assess(assessment.clone());
    demo.refused::<NormalChange>(&max, at("2026-03-23T10:00:00Z")?, chg, "assess without a backout plan", assess)
        .await?;
    assessment.backout_plan = text("redeploy gateway 5.1 from the release archive");
    let assessed = demo
        .run::<NormalChange>(
            &max,
            at("2026-03-23T10:10:00Z")?,
            chg,
            "assess (high risk, backout plan)",
            NormalCommand::Assess(assessment),
        )
        .await?;
    if let Some(a) = assessed.assessment() {
        println!("    implementer {}, approval needed from cab (at least 2)", a.implementer);
    }
    let cab = GroupId::new("cab").map_err(id_err)?;
    let approve = || NormalCommand::Approve { group: cab.clone() };
    demo.refused::<NormalChange>(
        &rita,
        at("2026-03-24T09:00:00Z")?,
        chg,
        "approve for cab (rita requested it)",
        approve(),
    )
    .await?;
    demo.run::<NormalChange>(&cab1, at("2026-03-24T09:10:00Z")?, chg, "approve for cab (1 of 2)", approve()).await?;
    demo.run::<NormalChange>(&cab2, at("2026-03-24T09:20:00Z")?, chg, "approve for cab (2 of 2, quorum)", approve())
        .await?;

    println!("\n-- Scheduling: the first proposal conflicts");
    let proposed = Window::new(local((2026, 4, 4), 21, 0)?, local((2026, 4, 5), 1, 0)?).ok_or("empty window")?;
    let found = demo.check(&max, chg, proposed, &ivan.id, &schedule).await?;
    println!("proposed {}: {} conflict(s)", show_window(&proposed), found.len());
    for c in &found {
        println!("    - {}", conflict_text(c));
    }
    let what = format!("schedule {} (booked despite the warning)", show_window(&proposed));
    demo.run::<NormalChange>(
        &max,
        at("2026-03-24T10:00:00Z")?,
        chg,
        &what,
        NormalCommand::Schedule { window: proposed, override_reason: None },
    )
    .await?;
    let month = (local((2026, 4, 1), 0, 0)?, local((2026, 5, 1), 0, 0)?);
    for pair in demo.store.conflicts(&max, &payments, month.0, month.1).await.map_err(id_err)? {
        println!("    store: {} and {} overlap on payments", pair.first.id, pair.second.id);
    }
    let window = Window::new(local((2026, 4, 11), 22, 0)?, local((2026, 4, 12), 2, 0)?).ok_or("empty window")?;
    let found = demo.check(&max, chg, window, &ivan.id, &schedule).await?;
    println!("rescheduled into the maintenance window {}: {} conflict(s)", show_window(&window), found.len());
    demo.run::<NormalChange>(
        &max,
        at("2026-03-24T10:30:00Z")?,
        chg,
        "reschedule",
        NormalCommand::Schedule { window, override_reason: None },
    )
    .await?;
    let pairs = demo.store.conflicts(&max, &payments, month.0, month.1).await.map_err(id_err)?;
    println!("    store: {} overlapping pair(s) on payments in April", pairs.len());

    println!("\n-- Implementation");
    demo.run::<StandardChange>(&sam, local((2026, 4, 4), 22, 30)?, "CHG-100", "start", StandardCommand::Start).await?;
    let ok = || (ChangeOutcome::Successful, Remediation::None);
    let (outcome, remediation) = ok();
    demo.run::<StandardChange>(
        &sam,
        local((2026, 4, 4), 22, 50)?,
        "CHG-100",
        "complete: successful",
        StandardCommand::Complete { outcome, remediation },
    )
    .await?;
    demo.run::<StandardChange>(&max, local((2026, 4, 6), 9, 0)?, "CHG-100", "close", StandardCommand::Close).await?;
    demo.run::<NormalChange>(&ivan, window.start, chg, "start", NormalCommand::Start).await?;
    let (outcome, remediation) = ok();
    demo.run::<NormalChange>(
        &ivan,
        local((2026, 4, 11), 23, 40)?,
        chg,
        "complete: successful",
        NormalCommand::Complete { outcome, remediation },
    )
    .await?;
    let review =
        NormalCommand::Review { verdict: ReviewVerdict::ObjectivesMet, notes: text("gateway 5.2 live, no incidents") };
    demo.run::<NormalChange>(&max, local((2026, 4, 13), 9, 0)?, chg, "review: objectives met", review).await?;
    demo.run::<NormalChange>(&max, local((2026, 4, 13), 9, 5)?, chg, "close", NormalCommand::Close).await?;

    println!("\n-- An emergency change");
    let chg = "CHG-102";
    let submit = EmergencyCommand::Submit {
        spec: spec(chg, "hotfix card-authorisation timeouts")?,
        risk: Risk::High,
        justification: text("P1 incident INC-2040: card authorisations time out"),
    };
    demo.run::<EmergencyChange>(&rita, local((2026, 4, 8), 15, 0)?, chg, "submit to the emergency CAB", submit).await?;
    let ecab_approve = EmergencyCommand::Approve { group: GroupId::new("ecab").map_err(id_err)? };
    demo.run::<EmergencyChange>(&ecab, local((2026, 4, 8), 15, 10)?, chg, "approve for ecab", ecab_approve).await?;
    demo.run::<EmergencyChange>(&ivan, local((2026, 4, 8), 15, 30)?, chg, "start", EmergencyCommand::Start).await?;
    let (outcome, remediation) = ok();
    demo.run::<EmergencyChange>(
        &ivan,
        local((2026, 4, 8), 16, 0)?,
        chg,
        "complete: successful",
        EmergencyCommand::Complete { outcome, remediation },
    )
    .await?;
    demo.refused::<EmergencyChange>(
        &max,
        local((2026, 4, 8), 16, 5)?,
        chg,
        "close before the review",
        EmergencyCommand::Close,
    )
    .await?;
    let review = EmergencyCommand::Review { verdict: ReviewVerdict::ObjectivesMet, notes: text("timeouts gone") };
    demo.run::<EmergencyChange>(&max, local((2026, 4, 9), 9, 0)?, chg, "review (mandatory)", review).await?;
    demo.run::<EmergencyChange>(&max, local((2026, 4, 9), 9, 5)?, chg, "close", EmergencyCommand::Close).await?;

    println!("\n-- A failed normal change, rolled back");
    let chg = "CHG-103";
    let create = NormalCommand::Create(spec(chg, "database minor version upgrade")?);
    demo.run::<NormalChange>(&rita, at("2026-04-06T08:00:00Z")?, chg, "create", create).await?;
    demo.run::<NormalChange>(&rita, at("2026-04-06T08:05:00Z")?, chg, "submit", NormalCommand::Submit).await?;
    let assessment = Assessment {
        risk: Risk::Moderate,
        impact: text("read-only mode for 20 minutes"),
        backout_plan: text("restore the pre-upgrade snapshot"),
        implementer: ivan.id.clone(),
    };
    demo.run::<NormalChange>(
        &max,
        at("2026-04-06T09:00:00Z")?,
        chg,
        "assess (moderate risk)",
        NormalCommand::Assess(assessment),
    )
    .await?;
    demo.run::<NormalChange>(&cab3, at("2026-04-07T09:00:00Z")?, chg, "approve for cab (any)", approve()).await?;
    let window = Window::new(local((2026, 4, 18), 22, 0)?, local((2026, 4, 19), 2, 0)?).ok_or("empty window")?;
    let found = demo.check(&max, chg, window, &ivan.id, &schedule).await?;
    let what = format!("schedule {} ({} conflicts)", show_window(&window), found.len());
    demo.run::<NormalChange>(
        &max,
        at("2026-04-07T10:00:00Z")?,
        chg,
        &what,
        NormalCommand::Schedule { window, override_reason: None },
    )
    .await?;
    demo.run::<NormalChange>(&ivan, window.start, chg, "start", NormalCommand::Start).await?;
    let failed = NormalCommand::Complete { outcome: ChangeOutcome::Failed, remediation: Remediation::RolledBack };
    let done = demo
        .run::<NormalChange>(&ivan, local((2026, 4, 18), 23, 30)?, chg, "complete: failed, rolled back", failed)
        .await?;
    let record = done.to_record();
    println!(
        "    record: outcome {}, remediation {}",
        record.outcome.map(|o| o.as_str()).unwrap_or("-"),
        record.remediation
    );
    let review = NormalCommand::Review {
        verdict: ReviewVerdict::NotMet,
        notes: text("replication lag after the upgrade; rolled back"),
    };
    demo.run::<NormalChange>(&max, local((2026, 4, 20), 9, 0)?, chg, "review: objectives not met", review).await?;
    demo.run::<NormalChange>(&max, local((2026, 4, 20), 9, 5)?, chg, "close", NormalCommand::Close).await?;

    println!("\nChange calendar of payments, April 2026 (from the store):");
    let rows = demo.store.change_calendar(&max, &payments, month.0, month.1).await.map_err(id_err)?;
    println!("  {:<36}  {:<8}  {:<16}  {:<9}  implementer", "window", "change", "type", "status");
    for row in &rows {
        let window =
            row.window.and_then(|(s, e)| Window::new(s, e)).map(|w| format!("{} - {}", show(w.start), show(w.end)));
        println!(
            "  {:<36}  {:<8}  {:<16}  {:<9}  {}",
            window.unwrap_or_else(|| "-".to_owned()),
            row.id,
            row.kind.as_str(),
            row.status,
            row.assignee.as_ref().map(ActorId::as_str).unwrap_or("-")
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    itsm_examples::run_main("change_calendar", run(Args::parse()))
}
