//! Backend-independent row conversions: a backend decodes its columns into
//! these raw shapes (instants already converted), and they become the public
//! values here.

use itsm_core::classify::Priority;
use itsm_core::id::{ActorId, GroupId, ServiceId};
use itsm_core::{Aggregate, Timestamp};

use crate::error::StoreError;
use crate::model::{ProjectionRow, Recorded, StoredEvent};
use crate::plan::{from_db_version, parse_kind};

/// Projection columns as read.
#[derive(Debug)]
pub(crate) struct RawProjection {
    pub kind: String,
    pub id: String,
    pub version: i64,
    pub status: String,
    pub terminal: bool,
    pub service: Option<String>,
    pub priority: Option<String>,
    pub assignee: Option<String>,
    pub group: Option<String>,
    pub window_start: Option<Timestamp>,
    pub window_end: Option<Timestamp>,
    pub due_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl RawProjection {
    pub(crate) fn into_row(self) -> Result<ProjectionRow, StoreError> {
        let key = format!("{} {}", self.kind, self.id);
        let bad =
            |what: &str, e: &dyn std::fmt::Display| StoreError::corrupt("projection", &key, format!("{what}: {e}"));
        let service = self.service.map(ServiceId::new).transpose().map_err(|e| bad("service", &e))?;
        let assignee = self.assignee.map(ActorId::new).transpose().map_err(|e| bad("assignee", &e))?;
        let group = self.group.map(GroupId::new).transpose().map_err(|e| bad("group", &e))?;
        let priority = match self.priority {
            Some(p) => Some(Priority::parse(&p).ok_or_else(|| bad("priority", &p))?),
            None => None,
        };
        let window = match (self.window_start, self.window_end) {
            (Some(start), Some(end)) => Some((start, end)),
            _ => None,
        };
        Ok(ProjectionRow {
            kind: parse_kind(&self.kind)?,
            id: self.id,
            version: from_db_version(self.version),
            status: self.status,
            terminal: self.terminal,
            service,
            priority,
            assignee,
            group,
            window,
            due_at: self.due_at,
            updated_at: self.updated_at,
        })
    }
}

/// One event of one aggregate as read.
#[derive(Debug)]
pub(crate) struct RawHistory {
    pub position: i64,
    pub version: i64,
    pub payload: String,
    pub actor: String,
    pub recorded_at: Timestamp,
}

impl RawHistory {
    pub(crate) fn decode<A: Aggregate>(self) -> Result<Recorded<A::Event>, StoreError> {
        let event = serde_json::from_str(&self.payload).map_err(|e| StoreError::corrupt("event", self.position, e))?;
        Ok(Recorded {
            position: from_db_version(self.position),
            version: from_db_version(self.version),
            event,
            actor: self.actor,
            recorded_at: self.recorded_at,
        })
    }
}

/// A full event row as read.
#[derive(Debug)]
pub(crate) struct RawEvent {
    pub position: i64,
    pub tenant: String,
    pub kind: String,
    pub aggregate_id: String,
    pub version: i64,
    pub event_name: String,
    pub payload: String,
    pub actor: String,
    pub recorded_at: Timestamp,
    pub chain_position: i64,
    pub hash: String,
}

impl RawEvent {
    pub(crate) fn into_stored(self) -> Result<StoredEvent, StoreError> {
        Ok(StoredEvent {
            position: from_db_version(self.position),
            kind: parse_kind(&self.kind)?,
            tenant: self.tenant,
            aggregate_id: self.aggregate_id,
            version: from_db_version(self.version),
            event_name: self.event_name,
            payload: self.payload,
            actor: self.actor,
            recorded_at: self.recorded_at,
            chain_position: from_db_version(self.chain_position),
            hash: self.hash,
        })
    }
}

/// Parses stored RFC 3339 text (SQLite).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn parse_time(what: &'static str, text: &str) -> Result<Timestamp, StoreError> {
    Timestamp::parse_rfc3339(text).map_err(|e| StoreError::corrupt(what, text, e))
}
