//! The demo tenant: on an empty store, the scorecard's simulated quarter
//! (tenant `demo`, so the `scorecard` example scores the same database; its
//! monitoring alerts and delivered notifications too) and
//! a few fresh records at now that the demo logins own: incidents raised by
//! requesters, with public and private notes, and a problem linking two of
//! them; the `vpn` service's change schedule (no maintenance windows, a
//! year-end freeze starting three days from now that needs an override
//! reason), an authorized change waiting for its window, and two changes
//! whose windows overlap. A store that holds records already is used as it
//! is.
//!
//! A demo store (filled now or earlier) keeps the SLA the portal shows its
//! clocks with as stored configuration of every tenant of the users file
//! ([`crate::records::ensure_sla`]), so the metrics read model judges the
//! same verdicts the portal shows, and the simulated organisation's service
//! model ([`crate::records::ensure_service_model`]).

use itsm_core::change::schedule::{Blackout, Enforcement, ScheduleEnforcement, ServiceSchedule};
use itsm_core::change::{Assessment, ChangeSpec, NormalChange, NormalCommand, Strategy, Window};
use itsm_core::id::{ChangeId, GroupId, ServiceId, Text};
use itsm_core::incident::Incident;
use itsm_core::problem::Problem;
use itsm_core::versioned::Versioned;
use itsm_core::vocabulary::Risk;
use itsm_core::{Actor, Aggregate, Context, Timestamp};
use itsm_store::{FillClaim, Request, Store};
use serde_json::json;

use super::auth::Users;
use crate::simulate::{Cast, load_into, simulate};

/// The fill marker the `scorecard` example writes and reads too.
pub const DEMO_FILL: &str = "scorecard-demo";

/// How much to simulate.
#[derive(Debug, Clone, Copy)]
pub struct SeedSize {
    /// Incidents in the simulated quarter.
    pub incidents: usize,
    /// Changes in the simulated quarter.
    pub changes: usize,
}

/// What seeding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeded {
    /// The store was empty and is now filled.
    Filled {
        /// Commands committed.
        commands: usize,
    },
    /// The store held a complete demo fill already.
    AlreadyFilled,
    /// The store holds other records: used as it is.
    Existing,
}

/// Stores the portal's SLA and the simulated organisation's service model
/// for each tenant of `users` that has none yet.
async fn store_sla(store: &Store, users: &Users, now: Timestamp) -> Result<(), String> {
    let tenants: std::collections::BTreeSet<_> = users.users.iter().map(|u| &u.actor.tenant).collect();
    for tenant in tenants {
        crate::records::ensure_sla(store, tenant, now)
            .await
            .map_err(|e| format!("storing the SLA of {tenant}: {e}"))?;
        crate::records::ensure_service_model(store, tenant, now)
            .await
            .map_err(|e| format!("storing the service model of {tenant}: {e}"))?;
    }
    Ok(())
}

fn actor<'a>(users: &'a Users, login: &str) -> Result<&'a Actor, String> {
    users
        .users
        .iter()
        .find(|u| u.login == login)
        .map(|u| &u.actor)
        .ok_or_else(|| format!("the users file has no {login}, which the demo seed needs"))
}

async fn run<A: Aggregate>(
    store: &Store,
    by: &Actor,
    at: Timestamp,
    id: &str,
    command: serde_json::Value,
) -> Result<(), String> {
    let command: A::Command = serde_json::from_value(command).map_err(|e| format!("seed command for {id}: {e}"))?;
    let config = itsm_core::DomainConfig::default();
    store
        .execute::<A>(Request::new(Context::new(by, at, &config), id, &command))
        .await
        .map(|_| ())
        .map_err(|e| format!("seed {} on {id}: {e}", A::command_name(&command)))
}

/// Fills an empty store (see the module docs).
pub async fn seed(store: &Store, users: &Users, size: SeedSize, now: Timestamp) -> Result<Seeded, String> {
    match store.claim_fill(DEMO_FILL, now).await.map_err(|e| e.to_string())? {
        FillClaim::Claimed => store_sla(store, users, now).await?,
        FillClaim::Complete { .. } => {
            store_sla(store, users, now).await?;
            return Ok(Seeded::AlreadyFilled);
        }
        FillClaim::Incomplete { started_at } => {
            return Err(format!(
                "the database holds a demo fill started at {started_at} and never completed (interrupted, or running \
                 elsewhere now); use another database"
            ));
        }
        FillClaim::Occupied => return Ok(Seeded::Existing),
    }
    let tenant = itsm_core::id::TenantId::new("demo").map_err(|e| e.to_string())?;
    let cast = Cast::new(&tenant);
    let sim = simulate(2026, &cast, size.incidents, size.changes);
    let config = itsm_core::DomainConfig::default();
    let report = load_into(store, &config, &sim, &mut |_| {}).await?;
    // The quarter's monitoring alerts and its notifications as delivered, as the scorecard's fill has them.
    crate::monitoring::monitor(store, &config, &cast, 2026, size.incidents / crate::monitoring::INCIDENTS_PER_BURST)
        .await?;
    crate::monitoring::deliver_notifications(store, 2026).await?;
    let (agent, requester, other_requester, manager) = (
        actor(users, "agent-1")?,
        actor(users, "requester-1")?,
        actor(users, "requester-2")?,
        actor(users, "problem-manager")?,
    );
    let at = |minutes_ago: i64| now.plus_seconds(-60 * minutes_ago).unwrap_or(now);
    let open = |id: &str, title: &str, service: &str, impact: &str| {
        json!({"command": "open", "id": id, "kind": "production", "service": service, "title": title,
               "impact": impact, "urgency": "2", "source": "user"})
    };
    run::<Incident>(store, requester, at(90), "INC-DEMO-1", open("INC-DEMO-1", "VPN drops every hour", "vpn", "2"))
        .await?;
    run::<Incident>(
        store,
        agent,
        at(80),
        "INC-DEMO-1",
        json!({"command": "assign", "group": "service-desk", "assignee": "agent-1"}),
    )
    .await?;
    run::<Incident>(
        store,
        agent,
        at(75),
        "INC-DEMO-1",
        json!({"command": "add_note", "text": "We are looking into the VPN concentrator.", "public": true}),
    )
    .await?;
    run::<Incident>(store, agent, at(70), "INC-DEMO-1", json!({"command": "add_note", "text": "Concentrator firmware is two releases behind; vendor case 4411.", "public": false})).await?;
    run::<Incident>(
        store,
        other_requester,
        at(60),
        "INC-DEMO-2",
        open("INC-DEMO-2", "Printer on floor 3 offline", "printing", "3"),
    )
    .await?;
    run::<Incident>(
        store,
        agent,
        at(30),
        "INC-DEMO-3",
        open("INC-DEMO-3", "VPN login slow for remote staff", "vpn", "1"),
    )
    .await?;
    run::<Incident>(store, agent, at(25), "INC-DEMO-3", json!({"command": "assign", "group": "service-desk"})).await?;
    run::<Problem>(
        store,
        manager,
        at(20),
        "PRB-DEMO-1",
        json!({"command": "open", "id": "PRB-DEMO-1", "service": "vpn", "title": "VPN concentrator instability",
               "incidents": ["INC-DEMO-1", "INC-DEMO-3"]}),
    )
    .await?;
    let changes = seed_changes(store, users, &cast, now).await?;
    store.complete_fill(DEMO_FILL, now).await.map_err(|e| e.to_string())?;
    Ok(Seeded::Filled { commands: report.committed + 8 + changes })
}

/// The service the demo's change schedule covers.
pub const DEMO_SERVICE: &str = "vpn";

/// The demo freeze on [`DEMO_SERVICE`]: from midnight (Europe/Amsterdam)
/// three days after `now`'s local date, for three days: at least 47 hours
/// ahead, so the seeded windows (within 25 hours) stay clear of it on a day
/// the clocks change.
pub fn demo_schedule(now: Timestamp) -> Result<ServiceSchedule, String> {
    let zone = chrono_tz::Europe::Amsterdam;
    let today = now.as_utc().with_timezone(&zone).date_naive();
    let day = |n: u64| {
        today
            .checked_add_days(chrono::Days::new(n))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .ok_or_else(|| format!("no date {n} days after {today}"))
    };
    Ok(ServiceSchedule {
        service: ServiceId::new(DEMO_SERVICE).map_err(|e| e.to_string())?,
        zone,
        windows: Vec::new(),
        blackouts: vec![Blackout { start: day(3)?, end: day(6)?, reason: "year-end freeze".to_owned() }],
        enforce: ScheduleEnforcement { outside_windows: Enforcement::Allow, blackouts: Enforcement::Override },
    })
}

/// The demo's change schedule and changes (see the module docs); returns
/// the commands committed.
async fn seed_changes(store: &Store, users: &Users, cast: &Cast, now: Timestamp) -> Result<usize, String> {
    let tenant = &actor(users, "change-manager-1")?.tenant;
    let day_ago = now.plus_seconds(-86_400).unwrap_or(now);
    store
        .add_config_version(tenant, Versioned::new(1, day_ago, vec![demo_schedule(now)?]), now)
        .await
        .map_err(|e| format!("seed the change schedule: {e}"))?;
    let manager = actor(users, "change-manager-1")?;
    let (approver, implementer) = match (cast.cab.first(), cast.implementers.first()) {
        (Some(a), Some(i)) => (a, i),
        _ => return Err("the simulated cast has no CAB member or implementer".to_owned()),
    };
    let text = |t: &str| Text::new(t).map_err(|e| e.to_string());
    // Whole hours from now, so the windows read well on the calendar.
    let hour = Timestamp::from_unix_secs(now.unix_secs() - now.unix_secs().rem_euclid(3_600) + 3_600).unwrap_or(now);
    let at = |hours: i64| hour.plus_seconds(hours * 3_600).unwrap_or(hour);
    let plans = [
        ("CHG-DEMO-1", "VPN concentrator firmware upgrade", None),
        ("CHG-DEMO-2", "VPN firewall rule clean-up", Some((at(20), at(23)))),
        ("CHG-DEMO-3", "VPN certificate rotation", Some((at(22), at(24)))),
    ];
    let mut committed = 0;
    for (n, (id, title, window)) in plans.into_iter().enumerate() {
        let minutes = i64::try_from(n).unwrap_or(0) * 5;
        let when = |m: i64| now.plus_seconds(-60 * (50 - minutes - m)).unwrap_or(now);
        let spec = ChangeSpec {
            id: ChangeId::new(id).map_err(|e| e.to_string())?,
            service: ServiceId::new(DEMO_SERVICE).map_err(|e| e.to_string())?,
            title: text(title)?,
            strategy: Strategy::BigBang,
            auto_rollback: false,
        };
        let mut steps = vec![
            (manager, when(0), NormalCommand::Create(spec)),
            (manager, when(1), NormalCommand::Submit),
            (
                manager,
                when(2),
                NormalCommand::Assess(Assessment {
                    risk: Risk::Low,
                    impact: text("VPN sessions reconnect once")?,
                    backout_plan: text("restore the previous configuration")?,
                    implementer: implementer.id.clone(),
                }),
            ),
            (
                approver,
                when(3),
                NormalCommand::Approve { group: GroupId::new("change-managers").map_err(|e| e.to_string())? },
            ),
        ];
        if let Some((start, end)) = window {
            let window = Window::new(start, end).ok_or_else(|| format!("{id}: an empty window"))?;
            steps.push((manager, when(4), NormalCommand::Schedule { window, override_reason: None }));
        }
        for (by, at, command) in steps {
            let config = itsm_core::DomainConfig::default();
            store
                .execute::<NormalChange>(Request::new(Context::new(by, at, &config), id, &command))
                .await
                .map_err(|e| format!("seed {} on {id}: {e}", NormalChange::command_name(&command)))?;
            committed += 1;
        }
    }
    Ok(committed)
}
