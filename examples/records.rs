//! Loading metrics records from a store: events are streamed page by page,
//! folded per aggregate through the domain machines, and turned into the
//! records the metrics crate computes from. Each incident's resolution target
//! is judged by the SLA clock under the given policy and calendar.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use itsm_core::calendar::Calendar;
use itsm_core::change::{EmergencyChange, NormalChange, StandardChange};
use itsm_core::id::TenantId;
use itsm_core::incident::{Incident, IncidentEvent, sla_events};
use itsm_core::records::{ChangeRecord, IncidentRecord};
use itsm_core::sla::{SlaPolicy, TargetKind, clocks};
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

async fn fold<A: Aggregate>(store: &Store, tenant: &TenantId) -> Result<Vec<(A, Vec<A::Event>)>, LoadError> {
    let mut states: HashMap<String, (Option<A>, Vec<A::Event>)> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut stream = std::pin::pin!(store.stream_events(tenant, A::KIND));
    while let Some(stored) = stream.try_next().await? {
        let event: A::Event = stored.decode()?;
        let entry = states.entry(stored.aggregate_id.clone()).or_insert_with(|| {
            order.push(stored.aggregate_id.clone());
            (None, Vec::new())
        });
        let next = A::apply(entry.0.take(), &event)
            .map_err(|source| LoadError::Replay { kind: A::KIND, id: stored.aggregate_id.clone(), source })?;
        entry.0 = Some(next);
        entry.1.push(event);
    }
    Ok(order
        .into_iter()
        .filter_map(|id| states.remove(&id))
        .filter_map(|(state, events)| state.map(|s| (s, events)))
        .collect())
}

/// Whether the incident's last resolution cycle met its target, as of `now`;
/// `None` while unresolved or when the policy has no target for it.
pub fn resolution_met(events: &[IncidentEvent], policy: &SlaPolicy, calendar: &Calendar, now: Timestamp) -> Option<bool> {
    let clocks = clocks(&sla_events(events), policy, calendar, now).ok()?;
    let last = clocks.iter().filter(|c| c.target == TargetKind::Resolution).max_by_key(|c| c.cycle)?;
    last.ended_at?;
    Some(!last.is_breached())
}

/// Every incident of a tenant as a record (with the SLA verdict), in the
/// order the store first saw them.
pub async fn incident_records(
    store: &Store,
    tenant: &TenantId,
    policy: &SlaPolicy,
    calendar: &Calendar,
    now: Timestamp,
) -> Result<Vec<IncidentRecord>, LoadError> {
    Ok(fold::<Incident>(store, tenant)
        .await?
        .into_iter()
        .map(|(incident, events)| {
            let mut record = incident.to_record();
            record.resolution_target_met = resolution_met(&events, policy, calendar, now);
            record
        })
        .collect())
}

/// Every change of a tenant (all three types) as a record.
pub async fn change_records(store: &Store, tenant: &TenantId) -> Result<Vec<ChangeRecord>, LoadError> {
    let mut out: Vec<ChangeRecord> = Vec::new();
    out.extend(fold::<StandardChange>(store, tenant).await?.into_iter().map(|(c, _)| c.to_record()));
    out.extend(fold::<NormalChange>(store, tenant).await?.into_iter().map(|(c, _)| c.to_record()));
    out.extend(fold::<EmergencyChange>(store, tenant).await?.into_iter().map(|(c, _)| c.to_record()));
    Ok(out)
}
