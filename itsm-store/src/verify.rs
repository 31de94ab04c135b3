//! [`Store::verify_chain`]: re-computes a tenant's audit evidence.
//!
//! 1. The tenant chain of events written before store design 2 (positions
//!    1.., each hash covering the previous one), against `chain_heads`.
//! 2. The chain of checkpoints (each hash covers its fields and the previous
//!    checkpoint's hash), and the latest checkpoint's Merkle root over the
//!    heads the checkpoints recorded.
//! 3. Every aggregate's chain (versions 1.., each hash covering the previous
//!    event of the aggregate), its end against the projection's chain head,
//!    and every head a checkpoint recorded against the event it names.

use std::collections::{BTreeMap, HashMap};

use itsm_core::AggregateKind;

use crate::chain::{self, ChainFields, GENESIS, link};
use crate::model::{BreakAt, BreakReason, ChainBreak, ChainReport, EventCursor, StoredEvent};
use crate::plan::{self, from_db_version};
use crate::{PAGE_SIZE, Store, StoreError};

fn fields<'a>(e: &'a StoredEvent, recorded_at: &'a str) -> ChainFields<'a> {
    ChainFields {
        tenant: &e.tenant,
        kind: e.kind.as_str(),
        aggregate_id: &e.aggregate_id,
        version: i64::try_from(e.version).unwrap_or(i64::MAX),
        event_name: &e.event_name,
        payload: &e.payload,
        actor: &e.actor,
        recorded_at,
        chain_position: e.chain_position.map(|p| i64::try_from(p).unwrap_or(i64::MAX)),
    }
}

fn event_at(e: &StoredEvent) -> BreakAt {
    BreakAt::Event { kind: e.kind, id: e.aggregate_id.clone(), version: e.version }
}

pub(crate) async fn run(store: &Store, tenant: &str) -> Result<ChainReport, StoreError> {
    let mut report = ChainReport { tenant: tenant.to_owned(), events: 0, aggregates: 0, checkpoints: 0, broken: None };
    if let Some(broken) = legacy(store, tenant).await? {
        report.broken = Some(broken);
        return Ok(report);
    }
    // The checkpoints, and the heads they recorded by (kind, id, version).
    let (checkpoints, heads) = store.checkpoint_rows(tenant).await?;
    let mut prev = GENESIS.to_owned();
    for (i, c) in checkpoints.iter().enumerate() {
        let at = BreakAt::Checkpoint { seq: from_db_version(c.seq) };
        let expected_seq = i64::try_from(i + 1).unwrap_or(i64::MAX);
        if c.seq != expected_seq {
            report.broken = Some(ChainBreak {
                at: BreakAt::Checkpoint { seq: from_db_version(expected_seq) },
                reason: BreakReason::Gap { found: from_db_version(c.seq) },
            });
            return Ok(report);
        }
        let taken_at = c.taken_at.0.to_rfc3339();
        let computed = chain::checkpoint_hash(
            &prev,
            &chain::CheckpointFields {
                tenant,
                seq: c.seq,
                taken_at: &taken_at,
                aggregates: c.aggregates,
                events: c.events,
                root: &c.root,
            },
        );
        if c.prev_hash != prev || computed != c.hash {
            report.broken = Some(ChainBreak { at, reason: BreakReason::CheckpointHash });
            return Ok(report);
        }
        prev.clone_from(&c.hash);
        report.checkpoints += 1;
    }
    let mut recorded: HashMap<(String, String, i64), String> = HashMap::new();
    if let Some(latest) = checkpoints.last() {
        let mut leaves: BTreeMap<(&str, &str), (i64, &str)> = BTreeMap::new();
        for h in heads.iter().filter(|h| h.seq <= latest.seq) {
            leaves.insert((h.kind.as_str(), h.id.as_str()), (h.version, h.hash.as_str()));
        }
        let root = chain::merkle_root(
            leaves.iter().map(|((kind, id), (version, hash))| chain::leaf(kind, id, *version, hash)).collect(),
        );
        let events: i64 = leaves.values().map(|l| l.0).sum();
        if root != latest.root || events != latest.events {
            let at = BreakAt::Checkpoint { seq: from_db_version(latest.seq) };
            report.broken = Some(ChainBreak { at, reason: BreakReason::RootMismatch });
            return Ok(report);
        }
    }
    for h in heads {
        recorded.insert((h.kind, h.id, h.version), h.hash);
    }
    for &kind in AggregateKind::ALL {
        if let Some(broken) = aggregates(store, tenant, kind, &mut recorded, &mut report).await? {
            report.broken = Some(broken);
            return Ok(report);
        }
    }
    // A recorded head whose event is gone.
    if let Some(((kind, id, version), _)) = recorded.into_iter().min() {
        let kind = plan::parse_kind(&kind)?;
        let at = BreakAt::Event { kind, id, version: from_db_version(version) };
        report.broken = Some(ChainBreak { at, reason: BreakReason::CheckpointMismatch });
    }
    Ok(report)
}

/// Walks every aggregate of one kind. Consumes the recorded heads it meets.
async fn aggregates(
    store: &Store,
    tenant: &str,
    kind: AggregateKind,
    recorded: &mut HashMap<(String, String, i64), String>,
    report: &mut ChainReport,
) -> Result<Option<ChainBreak>, StoreError> {
    let mut heads: HashMap<String, (i64, Option<String>)> =
        store.aggregate_heads(tenant, kind).await?.into_iter().map(|h| (h.id, (h.version, h.chain_hash))).collect();
    let tenant_id =
        itsm_core::id::TenantId::new(tenant).map_err(|e| StoreError::validation("tenant", e.to_string()))?;
    // The aggregate being walked: id, last version, last hash.
    let mut current: Option<(String, u64, String)> = None;
    let mut after: Option<EventCursor> = None;
    loop {
        let page = store.events_page(&tenant_id, kind, after.as_ref(), PAGE_SIZE).await?;
        let full = page.len() == PAGE_SIZE as usize;
        after = page.last().map(StoredEvent::cursor);
        for e in &page {
            if current.as_ref().is_none_or(|c| c.0 != e.aggregate_id) {
                if let Some(done) = current.take()
                    && let Some(broken) = end_of(kind, done, &mut heads)
                {
                    return Ok(Some(broken));
                }
                report.aggregates += 1;
                current = Some((e.aggregate_id.clone(), 0, GENESIS.to_owned()));
            }
            let Some(walk) = current.as_mut() else { continue };
            if e.version != walk.1 + 1 {
                return Ok(Some(ChainBreak {
                    at: BreakAt::Event { kind, id: e.aggregate_id.clone(), version: walk.1 + 1 },
                    reason: BreakReason::Gap { found: e.version },
                }));
            }
            // Events of the tenant chain were verified in tenant order.
            if e.chain_position.is_none() {
                let recorded_at = e.recorded_at.to_rfc3339();
                if link(&walk.2, &fields(e, &recorded_at)) != e.hash {
                    return Ok(Some(ChainBreak { at: event_at(e), reason: BreakReason::HashMismatch }));
                }
            }
            let key = (kind.as_str().to_owned(), e.aggregate_id.clone(), i64::try_from(e.version).unwrap_or(i64::MAX));
            if let Some(hash) = recorded.remove(&key)
                && hash != e.hash
            {
                return Ok(Some(ChainBreak { at: event_at(e), reason: BreakReason::CheckpointMismatch }));
            }
            walk.1 = e.version;
            walk.2.clone_from(&e.hash);
            report.events += 1;
        }
        if !full {
            break;
        }
    }
    if let Some(done) = current.take()
        && let Some(broken) = end_of(kind, done, &mut heads)
    {
        return Ok(Some(broken));
    }
    // A projection without events.
    if let Some((id, (version, _))) = heads.into_iter().min() {
        let at = BreakAt::Aggregate { kind, id };
        return Ok(Some(ChainBreak {
            at,
            reason: BreakReason::ProjectionMismatch { events: 0, projection: from_db_version(version) },
        }));
    }
    Ok(None)
}

/// Checks an aggregate's last event against its projection head.
fn end_of(
    kind: AggregateKind,
    (id, version, hash): (String, u64, String),
    heads: &mut HashMap<String, (i64, Option<String>)>,
) -> Option<ChainBreak> {
    let head = heads.remove(&id);
    let projection = head.as_ref().map_or(0, |h| from_db_version(h.0));
    let matches = head.as_ref().is_some_and(|h| projection == version && h.1.as_deref() == Some(hash.as_str()));
    if matches {
        return None;
    }
    Some(ChainBreak {
        at: BreakAt::Aggregate { kind, id },
        reason: BreakReason::ProjectionMismatch { events: version, projection },
    })
}

/// Verifies the tenant chain of events written before store design 2.
async fn legacy(store: &Store, tenant: &str) -> Result<Option<ChainBreak>, StoreError> {
    let Some((head_position, head_hash)) = store.legacy_head(tenant).await? else { return Ok(None) };
    let mut prev = GENESIS.to_owned();
    let mut expected: i64 = 1;
    'pages: while expected <= head_position {
        let page = store.legacy_chain_page(tenant, expected - 1).await?;
        if page.is_empty() {
            break;
        }
        for row in page {
            let position = row.chain_position.map_or(0, |p| i64::try_from(p).unwrap_or(i64::MAX));
            if position > head_position {
                break 'pages;
            }
            let at = BreakAt::TenantChain { position: from_db_version(expected) };
            if position != expected {
                return Ok(Some(ChainBreak { at, reason: BreakReason::Gap { found: from_db_version(position) } }));
            }
            let recorded_at = row.recorded_at.to_rfc3339();
            if link(&prev, &fields(&row, &recorded_at)) != row.hash {
                return Ok(Some(ChainBreak { at, reason: BreakReason::HashMismatch }));
            }
            prev = row.hash;
            expected += 1;
        }
    }
    let verified = expected - 1;
    if verified != head_position || prev != head_hash {
        return Ok(Some(ChainBreak {
            at: BreakAt::TenantChain { position: from_db_version(verified + 1) },
            reason: BreakReason::HeadMismatch { head_position: from_db_version(head_position) },
        }));
    }
    Ok(None)
}
