//! The hashes a write records: the request hash an idempotency key is
//! checked against, and the audit evidence (each aggregate's hash chain of
//! its events, and the tenant checkpoints over the chain heads as a Merkle
//! root). ARCHITECTURE.md says what they prove and what they cost.

use itsm_core::Aggregate;
use sha2::{Digest, Sha256};

use crate::error::StoreError;

/// Hash of an empty chain (hex).
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash identifying a keyed request: kind, aggregate id and command JSON.
pub(crate) fn request_hash<A: Aggregate>(aggregate_id: &str, command: &A::Command) -> Result<String, StoreError> {
    let json = serde_json::to_vec(command).map_err(|e| StoreError::validation("command", e.to_string()))?;
    let mut h = Sha256::new();
    field(&mut h, A::KIND.as_str().as_bytes());
    field(&mut h, aggregate_id.as_bytes());
    field(&mut h, &json);
    Ok(hex::encode(h.finalize()))
}

/// The fields of an event row the audit chain covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainFields<'a> {
    pub tenant: &'a str,
    pub kind: &'a str,
    pub aggregate_id: &'a str,
    pub version: i64,
    pub event_name: &'a str,
    pub payload: &'a str,
    pub actor: &'a str,
    /// RFC 3339 with microseconds, as [`Timestamp::to_rfc3339`] gives it.
    pub recorded_at: &'a str,
    /// The tenant chain position of an event written before store design 2
    /// (linked in tenant order); `None` for an event linked to the previous
    /// event of its aggregate.
    pub chain_position: Option<i64>,
}

/// `h_n = SHA-256(h_{n-1} || canonical bytes of row n)`, hex. The canonical
/// bytes are a domain tag and each field as a big-endian u64 length followed
/// by its UTF-8 bytes; integers as decimal text. `h_{n-1}` is the previous
/// event of the same aggregate (tag `itsm-event-v2`), or for an event written
/// before store design 2 the previous event of the tenant (tag
/// `itsm-event-v1`, which also covers the chain position). An undecodable
/// `prev` (a tampered head) hashes as its text, so it never verifies.
pub(crate) fn link(prev: &str, row: &ChainFields<'_>) -> String {
    let mut h = Sha256::new();
    match hex::decode(prev) {
        Ok(bytes) => h.update(bytes),
        Err(_) => h.update(prev.as_bytes()),
    }
    field(&mut h, if row.chain_position.is_some() { b"itsm-event-v1" } else { b"itsm-event-v2" });
    field(&mut h, row.tenant.as_bytes());
    field(&mut h, row.kind.as_bytes());
    field(&mut h, row.aggregate_id.as_bytes());
    field(&mut h, row.version.to_string().as_bytes());
    field(&mut h, row.event_name.as_bytes());
    field(&mut h, row.payload.as_bytes());
    field(&mut h, row.actor.as_bytes());
    field(&mut h, row.recorded_at.as_bytes());
    if let Some(position) = row.chain_position {
        field(&mut h, position.to_string().as_bytes());
    }
    hex::encode(h.finalize())
}

/// A leaf of a checkpoint's Merkle tree: one aggregate's chain head.
pub(crate) fn leaf(kind: &str, id: &str, version: i64, hash: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    field(&mut h, b"itsm-leaf-v1");
    field(&mut h, kind.as_bytes());
    field(&mut h, id.as_bytes());
    field(&mut h, version.to_string().as_bytes());
    field(&mut h, hash.as_bytes());
    h.finalize().into()
}

/// The Merkle root (RFC 6962 shape: interior nodes `SHA-256(0x01 || l || r)`,
/// an odd node promoted unchanged) of leaves in (kind, id) order, hex; the
/// empty tree hashes to [`GENESIS`].
pub(crate) fn merkle_root(mut level: Vec<[u8; 32]>) -> String {
    if level.is_empty() {
        return GENESIS.to_owned();
    }
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut pairs = level.chunks_exact(2);
        for pair in &mut pairs {
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(pair[0]);
            h.update(pair[1]);
            next.push(h.finalize().into());
        }
        next.extend_from_slice(pairs.remainder());
        level = next;
    }
    hex::encode(level[0])
}

/// The hash of a checkpoint: its predecessor's hash, tenant, sequence number,
/// instant, counts and root.
pub(crate) fn checkpoint_hash(prev: &str, c: &CheckpointFields<'_>) -> String {
    let mut h = Sha256::new();
    field(&mut h, b"itsm-checkpoint-v1");
    field(&mut h, prev.as_bytes());
    field(&mut h, c.tenant.as_bytes());
    field(&mut h, c.seq.to_string().as_bytes());
    field(&mut h, c.taken_at.as_bytes());
    field(&mut h, c.aggregates.to_string().as_bytes());
    field(&mut h, c.events.to_string().as_bytes());
    field(&mut h, c.root.as_bytes());
    hex::encode(h.finalize())
}

/// What a checkpoint's hash covers.
pub(crate) struct CheckpointFields<'a> {
    pub tenant: &'a str,
    pub seq: i64,
    /// RFC 3339 with microseconds.
    pub taken_at: &'a str,
    pub aggregates: i64,
    pub events: i64,
    pub root: &'a str,
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(payload: &str) -> ChainFields<'_> {
        ChainFields {
            tenant: "t",
            kind: "incident",
            aggregate_id: "INC1",
            version: 1,
            event_name: "opened",
            payload,
            actor: "a",
            recorded_at: "2026-01-01T00:00:00.000000Z",
            chain_position: None,
        }
    }

    #[test]
    fn link_depends_on_every_byte_and_the_predecessor() {
        let a = link(GENESIS, &row("{}"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, link(GENESIS, &row("{ }")));
        assert_ne!(a, link(&a, &row("{}")));
        assert_eq!(a, link(GENESIS, &row("{}")));
    }
}
