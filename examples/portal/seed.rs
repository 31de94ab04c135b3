//! The demo tenant: on an empty store, the scorecard's simulated quarter
//! (tenant `demo`, so the `scorecard` example scores the same database) and
//! a few fresh records at now that the demo logins own: incidents raised by
//! requesters, with public and private notes, and a problem linking two of
//! them. A store that holds records already is used as it is.

use itsm_core::incident::Incident;
use itsm_core::problem::Problem;
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
        FillClaim::Claimed => {}
        FillClaim::Complete { .. } => return Ok(Seeded::AlreadyFilled),
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
    store.complete_fill(DEMO_FILL, now).await.map_err(|e| e.to_string())?;
    Ok(Seeded::Filled { commands: report.committed + 8 })
}
