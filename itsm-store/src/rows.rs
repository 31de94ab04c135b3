//! Rows as read ([`sqlx::FromRow`] on both backends; instants as [`DbTime`]),
//! and their conversion into the public values.

use itsm_core::Aggregate;
use itsm_core::id::{ActorId, GroupId, ServiceId};
use itsm_core::vocabulary::Priority;

use crate::dialect::DbTime;
use crate::error::StoreError;
use crate::model::{ProjectionRow, Recorded, StoredEvent};
use crate::plan::{from_db_version, parse_kind};

/// Projection columns as read.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RawProjection {
    pub kind: String,
    pub id: String,
    pub version: i64,
    pub status: String,
    pub terminal: bool,
    pub service: Option<String>,
    pub priority: Option<String>,
    pub assignee: Option<String>,
    #[sqlx(rename = "assignment_group")]
    pub group: Option<String>,
    pub window_start: Option<DbTime>,
    pub window_end: Option<DbTime>,
    pub due_at: Option<DbTime>,
    pub updated_at: DbTime,
    pub title: Option<String>,
    pub requester: Option<String>,
    pub opened_at: Option<DbTime>,
    pub major: bool,
    pub breach_at: Option<DbTime>,
}

impl RawProjection {
    pub(crate) fn into_row(self) -> Result<ProjectionRow, StoreError> {
        let key = format!("{} {}", self.kind, self.id);
        let bad =
            |what: &str, e: &dyn std::fmt::Display| StoreError::corrupt("projection", &key, format!("{what}: {e}"));
        let service = self.service.map(ServiceId::new).transpose().map_err(|e| bad("service", &e))?;
        let assignee = self.assignee.map(ActorId::new).transpose().map_err(|e| bad("assignee", &e))?;
        let group = self.group.map(GroupId::new).transpose().map_err(|e| bad("group", &e))?;
        let requester = self.requester.map(ActorId::new).transpose().map_err(|e| bad("requester", &e))?;
        let title = self.title.ok_or_else(|| bad("title", &"missing"))?;
        let opened_at = self.opened_at.ok_or_else(|| bad("opened_at", &"missing"))?.0;
        let priority = match self.priority {
            Some(p) => Some(Priority::parse(&p).ok_or_else(|| bad("priority", &p))?),
            None => None,
        };
        let window = match (self.window_start, self.window_end) {
            (Some(start), Some(end)) => Some((start.0, end.0)),
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
            due_at: self.due_at.map(|t| t.0),
            updated_at: self.updated_at.0,
            title,
            requester,
            opened_at,
            major: self.major,
            breach_at: self.breach_at.map(|t| t.0),
        })
    }
}

/// One event of one aggregate as read.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RawHistory {
    pub position: i64,
    pub version: i64,
    pub payload: String,
    pub actor: String,
    pub recorded_at: DbTime,
}

impl RawHistory {
    pub(crate) fn decode<A: Aggregate>(self) -> Result<Recorded<A::Event>, StoreError> {
        let event = serde_json::from_str(&self.payload).map_err(|e| StoreError::corrupt("event", self.position, e))?;
        Ok(Recorded {
            position: from_db_version(self.position),
            version: from_db_version(self.version),
            event,
            actor: self.actor,
            recorded_at: self.recorded_at.0,
        })
    }
}

/// A full event row as read.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RawEvent {
    pub position: i64,
    pub tenant: String,
    pub aggregate_id: String,
    pub version: i64,
    pub event_name: String,
    pub payload: String,
    #[sqlx(rename = "aggregate_kind")]
    pub kind: String,
    pub actor: String,
    pub recorded_at: DbTime,
    /// The tenant chain position of an event written before store design 2.
    pub chain_position: Option<i64>,
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
            recorded_at: self.recorded_at.0,
            chain_position: self.chain_position.map(from_db_version),
            hash: self.hash,
        })
    }
}
