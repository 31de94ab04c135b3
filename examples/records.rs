//! Loading metrics records from a store: events are streamed page by page,
//! folded per aggregate through the domain machines, and turned into the
//! records the metrics crate computes from. Each incident's resolution target
//! is judged by the SLA clock under the given policy and calendar.

use futures_util::TryStreamExt;
use itsm_core::calendar::Calendar;
use itsm_core::change::{EmergencyChange, NormalChange, StandardChange};
use itsm_core::id::TenantId;
use itsm_core::incident::{Incident, IncidentEvent, sla_events};
use itsm_core::records::{ChangeRecord, IncidentRecord};
use itsm_core::sla::{SlaPolicy, TargetKind, last_clock};
use itsm_core::{Aggregate, AggregateKind, Timestamp};
use itsm_store::{Store, StoreError};

/// Why records could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored history does not fold (corrupt or from an incompatible version).
    #[error("{kind} {id}: {source}")]
    Replay {
        /// Aggregate kind.
        kind: AggregateKind,
        /// Aggregate id.
        id: String,
        /// Why.
        source: itsm_core::ApplyError,
    },
}

/// Folds every aggregate of a kind. The store streams events ordered by
/// aggregate and version, so one aggregate is held at a time and memory stays
/// bounded by the largest history plus the records produced.
async fn fold<A: Aggregate>(
    store: &Store,
    tenant: &TenantId,
    mut emit: impl FnMut(A, &[A::Event]),
) -> Result<(), LoadError> {
    let mut current: Option<(String, Option<A>, Vec<A::Event>)> = None;
    let mut stream = std::pin::pin!(store.stream_events(tenant, A::KIND));
    while let Some(stored) = stream.try_next().await? {
        let event: A::Event = stored.decode()?;
        if current.as_ref().is_some_and(|(id, _, _)| *id != stored.aggregate_id)
            && let Some((_, Some(state), events)) = current.take()
        {
            emit(state, &events);
        }
        let (id, state, events) = current.get_or_insert_with(|| (stored.aggregate_id.clone(), None, Vec::new()));
        let next = A::apply(state.take(), &event).map_err(|source| LoadError::Replay {
            kind: A::KIND,
            id: id.clone(),
            source,
        })?;
        *state = Some(next);
        events.push(event);
    }
    if let Some((_, Some(state), events)) = current {
        emit(state, &events);
    }
    Ok(())
}

/// Whether the incident's last resolution cycle met its target, as of `now`;
/// `None` while unresolved or when the policy has no target for it.
pub fn resolution_met(
    events: &[IncidentEvent],
    policy: &SlaPolicy,
    calendar: &Calendar,
    now: Timestamp,
) -> Option<bool> {
    let last = last_clock(&sla_events(events), policy, calendar, now, TargetKind::Resolution).ok()??;
    last.ended_at?;
    Some(!last.is_breached())
}

/// Streams every incident of a tenant as a record (with the SLA verdict), in
/// id order, to `each`; memory stays bounded by one aggregate's history.
pub async fn for_each_incident_record(
    store: &Store,
    tenant: &TenantId,
    policy: &SlaPolicy,
    calendar: &Calendar,
    now: Timestamp,
    mut each: impl FnMut(IncidentRecord),
) -> Result<(), LoadError> {
    fold::<Incident>(store, tenant, |incident, events| {
        let mut record = incident.to_record();
        record.resolution_target_met = resolution_met(events, policy, calendar, now);
        each(record);
    })
    .await
}

/// Every incident of a tenant as a record (with the SLA verdict), in id order.
pub async fn incident_records(
    store: &Store,
    tenant: &TenantId,
    policy: &SlaPolicy,
    calendar: &Calendar,
    now: Timestamp,
) -> Result<Vec<IncidentRecord>, LoadError> {
    let mut out = Vec::new();
    for_each_incident_record(store, tenant, policy, calendar, now, |r| out.push(r)).await?;
    Ok(out)
}

/// Streams every change of a tenant (standard, then normal, then emergency,
/// each in id order) as a record to `each`; memory stays bounded by one
/// aggregate's history.
pub async fn for_each_change_record(
    store: &Store,
    tenant: &TenantId,
    mut each: impl FnMut(ChangeRecord),
) -> Result<(), LoadError> {
    fold::<StandardChange>(store, tenant, |c, _| each(c.to_record())).await?;
    fold::<NormalChange>(store, tenant, |c, _| each(c.to_record())).await?;
    fold::<EmergencyChange>(store, tenant, |c, _| each(c.to_record())).await
}

/// Every change of a tenant (all three types) as a record.
pub async fn change_records(store: &Store, tenant: &TenantId) -> Result<Vec<ChangeRecord>, LoadError> {
    let mut out = Vec::new();
    for_each_change_record(store, tenant, |r| out.push(r)).await?;
    Ok(out)
}

/// Stores the SLA policy and calendar the examples judge by
/// ([`crate::interchange::sla`]) as configuration version 1, effective from
/// 2000-01-01, when the tenant has no SLA policy yet: the store then keeps
/// due instants, and the SLA verdicts of its metrics read model, under them.
/// Storing them judges again the verdicts of the incidents already there.
pub async fn ensure_sla(store: &Store, tenant: &TenantId, now: Timestamp) -> Result<(), StoreError> {
    let history = store.config_history(tenant).await?;
    if !history.sla_policies.is_empty() {
        return Ok(());
    }
    let from = Timestamp::from_unix_secs(946_684_800).unwrap_or(now);
    let (policy, calendar) = crate::interchange::sla();
    if history.calendars.is_empty() {
        store.add_config_version(tenant, itsm_core::versioned::Versioned::new(1, from, calendar), now).await?;
    }
    store.add_config_version(tenant, itsm_core::versioned::Versioned::new(1, from, policy), now).await
}

/// Stores the simulated organisation's service model
/// ([`crate::simulate::service_model`]) as version 1, effective from
/// 2000-01-01, when the tenant has none yet: the scorecard then rolls
/// availability up to its business services.
pub async fn ensure_service_model(store: &Store, tenant: &TenantId, now: Timestamp) -> Result<(), StoreError> {
    let history = store.config_history(tenant).await?;
    if !history.service_models.is_empty() {
        return Ok(());
    }
    let from = Timestamp::from_unix_secs(946_684_800).unwrap_or(now);
    let model = crate::simulate::service_model();
    store.add_config_version(tenant, itsm_core::versioned::Versioned::new(1, from, model), now).await
}

/// Records between two `settle_before` calls of [`accumulate`] (each is a
/// pass over the services).
const SETTLE_EVERY: usize = 4_096;

/// Streams a tenant's records from the store's metrics read model
/// ([`Store::incident_records`] in opening order, settling repeat verdicts
/// as it goes, then [`Store::change_records`]) into `acc`; when the store
/// says the read model is behind this library's record definition, it is
/// rebuilt from the event log first ([`Store::rebuild_metric_records`],
/// told to `say` before and after, and logged). Returns the incidents and
/// changes read.
pub async fn accumulate(
    store: &Store,
    tenant: &TenantId,
    acc: &mut itsm_metrics::Accumulator,
    now: Timestamp,
    mut say: impl FnMut(&str),
) -> Result<(usize, usize), String> {
    let mut scan = std::pin::pin!(store.incident_records(tenant));
    let mut next = scan.try_next().await;
    if let Err(StoreError::MetricModelStale { built, current, .. }) = &next {
        tracing::warn!(tenant = %tenant, built, current, "rebuilding the metrics read model from the event log");
        say(&format!(
            "the metrics read model of {tenant} is behind this library (definition {built}, now {current}): rebuilding it from the event log"
        ));
        let report = store.rebuild_metric_records(tenant, now).await.map_err(|e| e.to_string())?;
        tracing::info!(tenant = %tenant, incidents = report.incidents, changes = report.changes, "metrics read model rebuilt");
        say(&format!("rebuilt {} incident and {} change records", report.incidents, report.changes));
        scan.set(store.incident_records(tenant));
        next = scan.try_next().await;
    }
    let mut incidents = 0usize;
    while let Some(r) = next.map_err(|e| e.to_string())? {
        acc.push_incident(&r).map_err(|e| e.to_string())?;
        incidents += 1;
        if incidents.is_multiple_of(SETTLE_EVERY) {
            acc.settle_before(r.opened_at);
        }
        next = scan.try_next().await;
    }
    acc.no_more_incidents();
    let mut changes = 0usize;
    let mut scan = std::pin::pin!(store.change_records(tenant));
    while let Some(c) = scan.try_next().await.map_err(|e| e.to_string())? {
        acc.push_change(&c);
        changes += 1;
    }
    // Tables 3 and 16: the alerts as received and the notifications as delivered.
    let mut scan = std::pin::pin!(store.alert_receipts(tenant));
    while let Some(r) = scan.try_next().await.map_err(|e| e.to_string())? {
        acc.push_alert_receipt(&r);
    }
    let mut scan = std::pin::pin!(store.notification_records(tenant));
    while let Some(n) = scan.try_next().await.map_err(|e| e.to_string())? {
        acc.push_notification(&n);
    }
    Ok((incidents, changes))
}
