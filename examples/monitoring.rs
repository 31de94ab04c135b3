//! The simulated quarter's monitoring and notification delivery (Tables 3
//! and 16): bursts of alerts on the organisation's configuration items,
//! each burst delivered to the engine a little after it fired (now and then
//! held up in a monitoring backlog), ingested through
//! [`itsm_store::Store::ingest_alerts`] at the instant it arrived; the
//! service desk acknowledges and resolves the alert incidents. Half the
//! bursts on an item others need cascade to what needs it (those alerts
//! join the root-cause incident, Table 4), and a third of the scheduled
//! changes set their item's monitoring off during their window (those
//! alerts are suppressed by the maintenance). A
//! simulated dispatcher delivers the outbox through the store's claim and
//! acknowledgement, each message a few seconds after its event, except
//! during two webhook outages, when messages wait for the endpoint to come
//! back.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use itsm_core::alert::{Alert, AlertSeverity, GroupingPolicy};
use itsm_core::id::ServiceId;
use itsm_core::incident::{Incident, IncidentCommand, ResolutionCode};
use itsm_core::vocabulary::ResolvedBy;
use itsm_core::{Context, DomainConfig, Timestamp};
use itsm_store::{Request, Store};

use crate::simulate::{Cast, quarter};

/// What the monitoring feed did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MonitoringReport {
    /// Alert bursts delivered.
    pub bursts: usize,
    /// Alerts delivered.
    pub alerts: usize,
    /// Bursts held up in the monitoring backlog (delivered minutes late).
    pub backlogged: usize,
    /// Incidents the alerts opened.
    pub opened: usize,
    /// Alerts recorded on the open incident of an item their object needs
    /// (their root cause, under the service model).
    pub root_caused: usize,
    /// Alerts the work of a change set off inside its maintenance window, on
    /// its item or on what needs it.
    pub during_maintenance: usize,
    /// Alerts suppressed by a maintenance window (recorded, no incident):
    /// those, and the bursts that happened to fire inside a window on an item
    /// the work took down.
    pub suppressed: usize,
    /// Commands the store or the domain refused, with reasons.
    pub refused: Vec<String>,
}

/// What the simulated dispatcher delivered.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Messages delivered.
    pub delivered: usize,
    /// Of those, held by a webhook outage.
    pub held: usize,
}

/// Alert bursts per simulated incident: one burst for every 20 incidents
/// (250 in the default quarter of 5,000).
pub const INCIDENTS_PER_BURST: usize = 20;
/// One burst in this many is held up in the monitoring backlog.
const BACKLOG_ONE_IN: u32 = 25;
/// One burst on an item others need in this many cascades: alerts follow on
/// what needs it (symptoms of one root cause, Table 4).
const CASCADE_ONE_IN: u32 = 2;
/// One scheduled change in this many sets its item's monitoring off during
/// its window (maintenance noise, suppressed).
const NOISY_CHANGE_ONE_IN: u32 = 3;
/// The checks an alert reports.
const CHECKS: [&str; 5] = ["cpu", "latency", "errors", "disk", "up"];

fn plus(t: Timestamp, secs: i64) -> Timestamp {
    t.plus_seconds(secs).unwrap_or(t)
}

/// Seconds from an exponential-ish draw with the given median, at least `min`.
fn skewed(rng: &mut StdRng, median: f64, min: i64) -> i64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    ((-u.ln() / std::f64::consts::LN_2) * median).max(min as f64) as i64
}

/// Delivers the quarter's `bursts` of monitoring alerts (seeded), each a little after it
/// fired (the alerts of a backlogged burst minutes late), one timeline in
/// arrival order; the service desk acknowledges each incident they open a
/// few minutes after it opened and resolves it within the hour or so, and
/// resolves again an incident a later alert reopened.
pub async fn monitor(
    store: &Store,
    config: &DomainConfig,
    cast: &Cast,
    seed: u64,
    bursts: usize,
) -> Result<MonitoringReport, String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6d6f_6e69);
    let (from, to) = quarter();
    let span = to.seconds_since(from);
    let policy = GroupingPolicy::default();
    let model = crate::simulate::service_model();
    let mut report = MonitoringReport::default();
    // Every alert with the instant it reaches the engine.
    let mut deliveries: Vec<(Timestamp, Alert)> = Vec::with_capacity(bursts * 3);
    for b in 0..bursts {
        let (_, object, _) = crate::simulate::weighted_service(&mut rng);
        let object = ServiceId::new(object).map_err(|e| e.to_string())?;
        let start = plus(from, rng.random_range(3_600..span - 86_400));
        let backlog = rng.random_ratio(1, BACKLOG_ONE_IN);
        report.backlogged += usize::from(backlog);
        for k in 0..rng.random_range(1..=4usize) {
            let fired = plus(start, rng.random_range(0..120));
            let severity = match rng.random_range(0..10) {
                0..=5 => AlertSeverity::Major,
                6..=8 => AlertSeverity::Minor,
                _ => AlertSeverity::Critical,
            };
            let check = CHECKS[rng.random_range(0..CHECKS.len())];
            let alert = Alert::new("prometheus", format!("q3-{b}-{k}"), object.clone(), check, severity, fired);
            // Seconds usually; minutes from a backlog.
            let delay = if backlog { rng.random_range(240..900) } else { skewed(&mut rng, 12.0, 1).min(170) };
            deliveries.push((plus(fired, delay), alert));
        }
        // Symptoms: what needs the item alerts a few minutes later.
        let downstream: Vec<ServiceId> = model.downstream(&object).into_iter().cloned().collect();
        if !downstream.is_empty() && rng.random_ratio(1, CASCADE_ONE_IN) {
            for k in 0..rng.random_range(1..=2usize) {
                let item = downstream[rng.random_range(0..downstream.len())].clone();
                let fired = plus(start, rng.random_range(60..300));
                let alert =
                    Alert::new("prometheus", format!("q3-{b}-s{k}"), item, "errors", AlertSeverity::Major, fired);
                deliveries.push((plus(fired, skewed(&mut rng, 12.0, 1).min(170)), alert));
            }
        }
        report.bursts += 1;
    }
    // Maintenance noise: some changes' items (and what needs them) alert
    // inside their windows.
    for (n, (change, service, start, end)) in maintenance_windows(store, cast, &model).await?.into_iter().enumerate() {
        if !rng.random_ratio(1, NOISY_CHANGE_ONE_IN) {
            continue;
        }
        let span = end.seconds_since(start).clamp(2, 1_800);
        let mut items = vec![service.clone()];
        items.extend(model.downstream(&service).into_iter().take(1).cloned());
        for (k, item) in items.into_iter().enumerate() {
            let fired = plus(start, rng.random_range(1..span));
            let id = format!("q3-{change}-m{n}-{k}");
            let alert = Alert::new("prometheus", id, item, "up", AlertSeverity::Major, fired);
            deliveries.push((plus(fired, skewed(&mut rng, 12.0, 1).min(170)), alert));
            report.during_maintenance += 1;
        }
    }
    deliveries.sort_by(|a, b| (a.0, &a.1.alert_id).cmp(&(b.0, &b.1.alert_id)));
    // The service desk's commands, due at their instants: run before any later delivery.
    let mut due: BTreeMap<(Timestamp, u64), (itsm_core::id::IncidentId, usize, IncidentCommand)> = BTreeMap::new();
    let mut opened = Vec::new();
    let mut seq = 0u64;
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L1, restored_at: None };
    for (received, alert) in &deliveries {
        run_due(store, config, cast, &mut due, Some(*received), &mut report.refused).await?;
        let ingested = store
            .ingest_alerts(&cast.monitoring, config, &policy, std::slice::from_ref(alert), *received)
            .await
            .map_err(|e| format!("ingesting alert {} received at {received}: {e}", alert.key()))?;
        report.alerts += 1;
        report.root_caused += ingested.root_caused;
        report.suppressed += ingested.suppressed.len();
        report.refused.extend(
            ingested.refused.iter().map(|r| format!("{} {} (alert {}): {}", r.incident, r.command, r.alert, r.reason)),
        );
        for id in ingested.opened {
            let agent = opened.len() % cast.agents.len();
            let acknowledged = plus(*received, skewed(&mut rng, 240.0, 30));
            let resolved = plus(acknowledged, skewed(&mut rng, 1_800.0, 300));
            due.insert((acknowledged, seq), (id.clone(), agent, IncidentCommand::Acknowledge));
            due.insert((resolved, seq + 1), (id.clone(), agent, resolve.clone()));
            seq += 2;
            opened.push(id);
        }
    }
    run_due(store, config, cast, &mut due, None, &mut report.refused).await?;
    // An incident a later alert reopened is resolved again, twenty minutes after its last event.
    for (n, id) in opened.iter().enumerate() {
        let loaded = store.load::<Incident>(&cast.monitoring, id.as_str()).await.map_err(|e| format!("{id}: {e}"))?;
        if !matches!(
            loaded.state.status(),
            itsm_core::incident::IncidentStatus::Resolved | itsm_core::incident::IncidentStatus::Closed
        ) {
            let agent = &cast.agents[n % cast.agents.len()];
            let request =
                Request::new(Context::new(agent, plus(loaded.updated_at, 1_200), config), id.as_str(), &resolve);
            if let Err(e) = store.execute::<Incident>(request).await {
                report.refused.push(format!("{id} resolve: {e}"));
            }
        }
    }
    report.opened = opened.len();
    Ok(report)
}

/// The scheduled windows of the quarter's changes (not cancelled or
/// rejected) on the simulated services,
/// as `(change, service, start, end)` in start order, read through the store's
/// change calendar.
async fn maintenance_windows(
    store: &Store,
    cast: &Cast,
    model: &itsm_core::service::ServiceModel,
) -> Result<Vec<(String, ServiceId, Timestamp, Timestamp)>, String> {
    let (from, to) = quarter();
    let reader = cast.change_managers.first().ok_or("the cast has no change manager")?;
    let mut out = Vec::new();
    for item in model.items() {
        let rows = store
            .change_calendar(reader, &item.id, from, to)
            .await
            .map_err(|e| format!("reading the change calendar of {}: {e}", item.id))?;
        for row in rows {
            if matches!(row.status.as_str(), "cancelled" | "rejected") {
                continue;
            }
            if let Some((start, end)) = row.window {
                out.push((row.id, item.id.clone(), start, end));
            }
        }
    }
    out.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
    Ok(out)
}

/// Runs the service desk's commands due at or before `until` (all of them
/// when `None`), in time order; a refusal is recorded, not fatal.
async fn run_due(
    store: &Store,
    config: &DomainConfig,
    cast: &Cast,
    due: &mut BTreeMap<(Timestamp, u64), (itsm_core::id::IncidentId, usize, IncidentCommand)>,
    until: Option<Timestamp>,
    refused: &mut Vec<String>,
) -> Result<(), String> {
    while let Some(entry) = due.first_entry() {
        let at = entry.key().0;
        if until.is_some_and(|u| at > u) {
            break;
        }
        let (id, agent, command) = entry.remove();
        let agent = &cast.agents[agent % cast.agents.len()];
        let request = Request::new(Context::new(agent, at, config), id.as_str(), &command);
        if let Err(e) = store.execute::<Incident>(request).await {
            refused.push(format!("{id} {}: {e}", <Incident as itsm_core::Aggregate>::command_name(&command)));
        }
    }
    Ok(())
}

/// The webhook outages of the quarter: `[start, end)` offsets in seconds
/// from its start, during which nothing is delivered.
const OUTAGES: [(i64, i64); 2] =
    [(20 * 86_400 + 9 * 3_600, 20 * 86_400 + 11 * 3_600), (61 * 86_400, 61 * 86_400 + 5_400)];

/// Delivers every pending outbox message of the store (all tenants) as a
/// dispatcher running through the quarter would have: through
/// [`Store::claim`] and [`Store::ack`], each message acknowledged a few
/// seconds after it was created, after the earlier messages of its stream,
/// and not during a webhook outage (`OUTAGES`: held to its end).
pub async fn deliver_notifications(store: &Store, seed: u64) -> Result<DeliveryReport, String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6e6f_7466);
    let (from, _) = quarter();
    // One long lease from before the quarter (a century: longer than any message can wait in a store of
    // today): each message is acknowledged at its own simulated instant.
    let claimed_at = plus(from, -86_400);
    let lease = Duration::from_secs(36_500 * 86_400);
    let outages: Vec<(Timestamp, Timestamp)> = OUTAGES.iter().map(|(s, e)| (plus(from, *s), plus(from, *e))).collect();
    let mut stream_last: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut report = DeliveryReport::default();
    loop {
        let items = store
            .claim("simulated-dispatcher", lease, 500, claimed_at)
            .await
            .map_err(|e| format!("claiming outbox messages: {e}"))?;
        if items.is_empty() {
            return Ok(report);
        }
        for item in items {
            let mut at = plus(item.created_at, skewed(&mut rng, 4.0, 1));
            if let Some(stream) = &item.stream
                && let Some(last) = stream_last.get(stream)
            {
                at = at.max(*last);
            }
            if let Some((_, end)) = outages.iter().find(|(start, end)| *start <= at && at < *end) {
                at = plus(*end, skewed(&mut rng, 30.0, 1));
                report.held += 1;
            }
            if !store.ack(item.id, "simulated-dispatcher", at).await.map_err(|e| format!("acknowledging: {e}"))? {
                return Err(format!("outbox message {} lost its lease before {at}", item.id));
            }
            if let Some(stream) = item.stream {
                stream_last.insert(stream, at);
            }
            report.delivered += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_fall_inside_the_quarter_and_every_service_is_a_modelled_item() {
        let (from, to) = quarter();
        for (s, e) in OUTAGES {
            assert!(s < e && plus(from, e) < to);
        }
        let model = crate::simulate::service_model();
        for (name, _, _) in crate::simulate::SERVICES {
            assert!(model.item(&ServiceId::new(*name).unwrap()).is_some());
        }
    }
}
