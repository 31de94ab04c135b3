//! Backend-independent parts of a write: checking its input, deciding and
//! applying a command, and the rows it produces (events, projection, search
//! text, outbox). The hashes it records are in [`crate::chain`], the retry
//! loop around it in [`crate::retry`].

use std::collections::{HashMap, HashSet};

use itsm_core::{Aggregate, AggregateKind, Context, DomainConfig, OutboxMessage, Summary, Timestamp};
use serde::{Deserialize, Serialize};

use crate::chain::{ChainFields, GENESIS, link};
use crate::error::{ExecError, StoreError};
use crate::model::{Committed, ExpectedVersion, ImportCommand, ImportReport, OnReject, Recorded};

/// One event row to insert.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub version: i64,
    pub name: &'static str,
    pub payload: String,
}

/// Projection columns derived from a state.
#[derive(Debug, Clone)]
pub(crate) struct ProjectionValues {
    pub version: i64,
    pub summary: Summary,
    pub state: String,
    /// The metrics record ([`Aggregate::record`]), for the read model.
    pub record: Option<itsm_core::records::Record>,
}

/// What one decided command writes.
#[derive(Debug)]
pub(crate) struct Plan<A: Aggregate> {
    pub state: A,
    pub events: Vec<A::Event>,
    pub rows: Vec<EventRow>,
    pub projection: ProjectionValues,
    pub outbox: Vec<OutboxRow>,
}

/// An outbox message ready to insert.
#[derive(Debug, Clone)]
pub(crate) struct OutboxRow {
    pub topic: String,
    pub dedup_key: String,
    pub payload: String,
    /// The ordering key: the aggregate the message is about (see [`stream_of`]).
    pub stream: Option<String>,
}

/// The ordering key of an aggregate's outbox messages: `kind/id`. Messages
/// of one key are delivered one at a time, in the order they were written.
pub(crate) fn stream_of(kind: AggregateKind, id: &str) -> String {
    format!("{}/{id}", kind.as_str())
}

/// The stored first result of an idempotency key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdempotentResult {
    pub first_version: u64,
    pub version: u64,
}

/// Refuses text a backend could not store identically (NUL; PostgreSQL has no
/// NUL in text) and empty identifiers.
pub(crate) fn check_text(field: &'static str, text: &str) -> Result<(), StoreError> {
    if text.is_empty() {
        return Err(StoreError::validation(field, "empty"));
    }
    if let Some(at) = text.find('\0') {
        return Err(StoreError::validation(field, format!("NUL byte at {at}")));
    }
    Ok(())
}

/// Refuses an idempotency key that is empty, longer than 255 bytes or holds NUL.
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    check_text("idempotency key", key)?;
    if key.len() > 255 {
        return Err(StoreError::validation("idempotency key", "longer than 255 bytes"));
    }
    Ok(())
}

/// Refuses instants whose RFC 3339 text would not be fixed width (years
/// outside 1..=9999), so text order stays time order on SQLite and both
/// backends accept the same instants.
pub(crate) fn check_time(field: &'static str, at: Timestamp) -> Result<(), StoreError> {
    use chrono::Datelike;
    let year = at.as_utc().year();
    if !(1..=9999).contains(&year) {
        return Err(StoreError::validation(field, format!("year {year} is outside 1..=9999")));
    }
    Ok(())
}

/// A version as stored (signed 64-bit).
pub(crate) fn to_db_version(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::Overflow)
}

/// A stored version (never negative by the schema's CHECK).
pub(crate) fn from_db_version(version: i64) -> u64 {
    u64::try_from(version).unwrap_or(0)
}

/// Checks the expected version against the stored one.
pub(crate) fn check_expected(
    kind: AggregateKind,
    id: &str,
    expected: ExpectedVersion,
    actual: u64,
) -> Result<(), StoreError> {
    if expected.admits(actual) {
        return Ok(());
    }
    // A version expected of an aggregate that does not exist: not found, the
    // same answer as for one the actor may not read.
    if actual == 0 && matches!(expected, ExpectedVersion::Exact(_)) {
        return Err(StoreError::not_found(kind, id));
    }
    Err(StoreError::Conflict { kind, id: id.to_owned(), expected, actual })
}

/// Decodes a stored state.
pub(crate) fn decode_state<A: Aggregate>(id: &str, state: &str) -> Result<A, StoreError> {
    serde_json::from_str(state).map_err(|e| StoreError::corrupt("state", format!("{} {id}", A::KIND), e))
}

/// Decides `command` against `current` (state and version), applies the
/// events, and builds every row the command writes. Pure.
pub(crate) fn decide<A: Aggregate>(
    current: Option<(A, u64)>,
    ctx: &Context<'_>,
    aggregate_id: &str,
    command: &A::Command,
) -> Result<Plan<A>, ExecError<A::Error>> {
    let events = decide_events::<A>(current.as_ref().map(|c| &c.0), ctx, aggregate_id, command)?;
    let (state, version) = match current {
        Some((state, version)) => (Some(state), version),
        None => (None, 0),
    };
    let (state, rows) = apply_events(state, version, ctx, aggregate_id, &events)?;
    let outbox = outbox_rows(A::outbox(&state, &events), A::KIND, aggregate_id)?;
    let last = rows.last().map_or(0, |r| r.version);
    let projection = projection_values(&state, last)?;
    Ok(Plan { state, events, rows, projection, outbox })
}

/// The domain's decision, refusing an empty one.
pub(crate) fn decide_events<A: Aggregate>(
    state: Option<&A>,
    ctx: &Context<'_>,
    aggregate_id: &str,
    command: &A::Command,
) -> Result<Vec<A::Event>, ExecError<A::Error>> {
    let events = A::decide(state, command, ctx).map_err(ExecError::Domain)?;
    if events.is_empty() {
        return Err(StoreError::NoEvent {
            kind: A::KIND,
            id: aggregate_id.to_owned(),
            command: A::command_name(command),
        }
        .into());
    }
    Ok(events)
}

/// Applies decided events and builds their rows, checking that they build
/// the named aggregate in the actor's tenant.
pub(crate) fn apply_events<A: Aggregate>(
    state: Option<A>,
    version: u64,
    ctx: &Context<'_>,
    aggregate_id: &str,
    events: &[A::Event],
) -> Result<(A, Vec<EventRow>), StoreError> {
    let mut next = state;
    let mut rows = Vec::with_capacity(events.len());
    let mut v = version;
    for event in events {
        next = Some(
            A::apply(next, event)
                .map_err(|source| StoreError::DecidedEventRefused { id: aggregate_id.to_owned(), source })?,
        );
        v = v.checked_add(1).ok_or(StoreError::Overflow)?;
        let payload = serde_json::to_string(event).map_err(|source| StoreError::Serialize {
            what: "event",
            id: aggregate_id.to_owned(),
            source,
        })?;
        rows.push(EventRow { version: to_db_version(v)?, name: A::event_name(event), payload });
    }
    let Some(state) = next else {
        return Err(StoreError::NoEvent { kind: A::KIND, id: aggregate_id.to_owned(), command: "(none)" });
    };
    if state.id() != aggregate_id {
        return Err(StoreError::validation(
            "aggregate id",
            format!("the command is for {aggregate_id} but its events build {}", state.id()),
        ));
    }
    if state.tenant() != &ctx.actor.tenant {
        return Err(StoreError::validation("tenant", "the events build an aggregate of another tenant"));
    }
    Ok((state, rows))
}

/// Projection columns of a state at a version.
pub(crate) fn projection_values<A: Aggregate>(state: &A, version: i64) -> Result<ProjectionValues, StoreError> {
    let summary = state.summary();
    if let Some((start, end)) = summary.window {
        check_time("window start", start)?;
        check_time("window end", end)?;
    }
    let record = state.record();
    let text = serde_json::to_string(state).map_err(|source| StoreError::Serialize {
        what: "state",
        id: state.id().to_owned(),
        source,
    })?;
    Ok(ProjectionValues { version, summary, state: text, record })
}

/// What commands add to an aggregate's search rows: whether it was created
/// (its title is written), and the notes added (text, public), in order.
#[derive(Debug, Default)]
pub(crate) struct SearchDelta {
    pub created: bool,
    pub notes: Vec<(String, bool)>,
}

impl SearchDelta {
    /// What `events` add (`created`: they open the aggregate).
    pub(crate) fn of<A: Aggregate>(created: bool, events: &[A::Event]) -> SearchDelta {
        let mut delta = SearchDelta { created, ..SearchDelta::default() };
        delta.absorb::<A>(events);
        delta
    }

    fn absorb<A: Aggregate>(&mut self, events: &[A::Event]) {
        self.notes.extend(events.iter().filter_map(A::note).map(|(text, public)| (text.to_owned(), public)));
    }

    /// Whether there is nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        !self.created && self.notes.is_empty()
    }
}

/// An aggregate's search rows to write: its title, and what its commands
/// added.
pub(crate) struct SearchRow<'a> {
    pub tenant: &'a str,
    pub id: &'a str,
    pub title: &'a str,
    pub delta: SearchDelta,
}

/// An event decided during an import, ready to insert.
#[derive(Debug)]
pub(crate) struct PendingEvent {
    /// Index of its command in the batch (tenant, id, actor, instant).
    pub command: usize,
    pub version: i64,
    pub name: &'static str,
    pub payload: String,
    pub hash: String,
}

/// The in-memory side of an import: current states, each aggregate's chain
/// head, and the rows to write, all decided before anything is written.
pub(crate) struct Batch<A: Aggregate> {
    states: HashMap<(String, String), (A, u64)>,
    /// Each aggregate's chain head (the hash of its last event).
    heads: HashMap<(String, String), String>,
    /// The SLA clock events each aggregate's commands added in the batch.
    clocks: HashMap<(String, String), Vec<itsm_core::SlaEvent>>,
    known: HashSet<(String, AggregateKind, String)>,
    touched: HashMap<(String, String), Timestamp>,
    order: Vec<(String, String)>,
    pub events: Vec<PendingEvent>,
    written: usize,
    pub outbox: Vec<(String, Vec<OutboxRow>, Timestamp)>,
    /// What the batch adds to each aggregate's search rows.
    pub search: HashMap<(String, String), SearchDelta>,
    committed: usize,
    rejected: Vec<(usize, A::Error)>,
}

impl<A: Aggregate> Default for Batch<A> {
    fn default() -> Self {
        Batch {
            states: HashMap::new(),
            heads: HashMap::new(),
            clocks: HashMap::new(),
            known: HashSet::new(),
            touched: HashMap::new(),
            order: Vec::new(),
            events: Vec::new(),
            written: 0,
            outbox: Vec::new(),
            search: HashMap::new(),
            committed: 0,
            rejected: Vec::new(),
        }
    }
}

impl<A: Aggregate> Batch<A> {
    /// Records a stored aggregate's state, version and chain head.
    pub(crate) fn preload(&mut self, tenant: &str, id: String, state: A, version: u64, head: String) {
        let key = (tenant.to_owned(), id);
        self.heads.insert(key.clone(), head);
        self.states.insert(key, (state, version));
    }

    /// Whether a referenced aggregate is known to exist.
    pub(crate) fn exists(&self, tenant: &str, kinds: &[AggregateKind], id: &str) -> bool {
        let key = (tenant.to_owned(), id.to_owned());
        kinds.iter().any(|&kind| {
            (kind == A::KIND && self.states.contains_key(&key))
                || self.known.contains(&(tenant.to_owned(), kind, id.to_owned()))
        })
    }

    /// Remembers that a referenced aggregate exists (as one of `kinds`).
    pub(crate) fn known(&mut self, tenant: &str, kinds: &[AggregateKind], id: &str) {
        for &kind in kinds {
            self.known.insert((tenant.to_owned(), kind, id.to_owned()));
        }
    }

    /// Whether the batch holds a state for the aggregate.
    pub(crate) fn has_state(&self, tenant: &str, id: &str) -> bool {
        self.states.contains_key(&(tenant.to_owned(), id.to_owned()))
    }

    /// An aggregate's state in the batch, if loaded or decided.
    pub(crate) fn state(&self, tenant: &str, id: &str) -> Option<&A> {
        self.states.get(&(tenant.to_owned(), id.to_owned())).map(|(state, _)| state)
    }

    /// The refusal of the last command skipped, if any.
    pub(crate) fn last_rejection(&self) -> Option<&A::Error> {
        self.rejected.last().map(|r| &r.1)
    }

    /// Decides one command against the batch's current state: its events, or
    /// `None` when the domain refused it and `on_reject` skips it.
    pub(crate) fn decide(
        &mut self,
        index: usize,
        c: &ImportCommand<'_, A>,
        config: &DomainConfig,
        on_reject: OnReject,
    ) -> Result<Option<Vec<A::Event>>, ExecError<A::Error>> {
        check_text("aggregate id", c.aggregate_id)?;
        check_time("now", c.now)?;
        let tenant = c.actor.tenant.as_str();
        let key = (tenant.to_owned(), c.aggregate_id.to_owned());
        let ctx = Context::new(c.actor, c.now, config);
        let current = self.states.remove(&key);
        let created = current.is_none();
        let events = match decide_events::<A>(current.as_ref().map(|c| &c.0), &ctx, c.aggregate_id, &c.command) {
            Ok(events) => events,
            Err(ExecError::Domain(e)) if on_reject == OnReject::Skip => {
                if let Some(current) = current {
                    self.states.insert(key, current);
                }
                self.rejected.push((index, e));
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let (state, version) = match current {
            Some((state, version)) => (Some(state), version),
            None => (None, 0),
        };
        let (state, rows) = apply_events(state, version, &ctx, c.aggregate_id, &events)?;
        let outbox = outbox_rows(A::outbox(&state, &events), A::KIND, c.aggregate_id)?;
        if !outbox.is_empty() {
            self.outbox.push((tenant.to_owned(), outbox, c.now));
        }
        let recorded_at = c.now.to_rfc3339();
        let head = self.heads.entry(key.clone()).or_insert_with(|| GENESIS.to_owned());
        let actor = c.actor.id.as_str();
        let mut last = version;
        for row in rows {
            let hash = link(
                head,
                &ChainFields {
                    tenant,
                    kind: A::KIND.as_str(),
                    aggregate_id: c.aggregate_id,
                    version: row.version,
                    event_name: row.name,
                    payload: &row.payload,
                    actor,
                    recorded_at: &recorded_at,
                    chain_position: None,
                },
            );
            head.clone_from(&hash);
            last = from_db_version(row.version);
            self.events.push(PendingEvent {
                command: index,
                version: row.version,
                name: row.name,
                payload: row.payload,
                hash,
            });
        }
        let clock = A::clock_events(&events);
        if !clock.is_empty() {
            self.clocks.entry(key.clone()).or_default().extend(clock);
        }
        let delta = SearchDelta::of::<A>(created, &events);
        if !delta.is_empty() {
            let doc = self.search.entry(key.clone()).or_default();
            doc.created |= delta.created;
            doc.notes.extend(delta.notes);
        }
        if self.touched.insert(key.clone(), c.now).is_none() {
            self.order.push(key.clone());
        }
        self.states.insert(key, (state, last));
        self.committed += 1;
        Ok(Some(events))
    }

    /// Hands the decided events over for writing.
    pub(crate) fn take_events(&mut self) -> Vec<PendingEvent> {
        self.written = self.events.len();
        std::mem::take(&mut self.events)
    }

    /// The projection rows of every aggregate the batch changed: tenant, id,
    /// values, instant of its last command, chain head.
    pub(crate) fn dirty_projections(&self) -> Result<Vec<DirtyProjection<'_>>, StoreError> {
        self.order
            .iter()
            .filter_map(|key| Some((key, self.states.get(key)?, self.touched.get(key)?, self.heads.get(key)?)))
            .map(|((tenant, id), (state, version), at, head)| {
                Ok(DirtyProjection {
                    tenant,
                    id,
                    values: projection_values(state, to_db_version(*version)?)?,
                    at: *at,
                    chain_hash: head,
                    new_clock: self.clocks.get(&(tenant.clone(), id.clone())),
                    clock: None,
                })
            })
            .collect()
    }

    /// What the import did.
    pub(crate) fn report(self) -> ImportReport<A::Error> {
        ImportReport { committed: self.committed, events: self.written, rejected: self.rejected }
    }
}

/// A projection row an import writes.
pub(crate) struct DirtyProjection<'a> {
    pub tenant: &'a str,
    pub id: &'a str,
    pub values: ProjectionValues,
    pub at: Timestamp,
    pub chain_hash: &'a str,
    /// SLA clock events the batch added (none: the clock is unchanged).
    pub new_clock: Option<&'a Vec<itsm_core::SlaEvent>>,
    /// The clock after them, filled in before writing.
    pub clock: Option<crate::config::ClockState>,
}

/// Serializes outbox messages, refusing NUL in topic or key; their ordering
/// key is the aggregate that emitted them ([`stream_of`]).
pub(crate) fn outbox_rows(
    messages: Vec<OutboxMessage>,
    kind: AggregateKind,
    aggregate_id: &str,
) -> Result<Vec<OutboxRow>, StoreError> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let stream = stream_of(kind, aggregate_id);
    messages
        .into_iter()
        .map(|m| {
            check_text("outbox topic", &m.topic)?;
            check_text("outbox dedup key", &m.dedup_key)?;
            let payload = serde_json::to_string(&m.payload).map_err(|source| StoreError::Serialize {
                what: "outbox payload",
                id: m.dedup_key.clone(),
                source,
            })?;
            Ok(OutboxRow { topic: m.topic, dedup_key: m.dedup_key, payload, stream: Some(stream.to_owned()) })
        })
        .collect()
}

/// Builds the [`Committed`] value of a freshly written plan.
pub(crate) fn committed<A: Aggregate>(
    plan: Plan<A>,
    aggregate_id: &str,
    actor: &str,
    now: Timestamp,
    positions: &[i64],
) -> Committed<A> {
    let version = from_db_version(plan.projection.version);
    let events = plan
        .events
        .into_iter()
        .zip(&plan.rows)
        .zip(positions)
        .map(|((event, row), &position)| Recorded {
            position: from_db_version(position),
            version: from_db_version(row.version),
            event,
            actor: actor.to_owned(),
            recorded_at: now,
        })
        .collect();
    Committed {
        aggregate_id: aggregate_id.to_owned(),
        version,
        events,
        state: plan.state,
        replayed: false,
        cascaded: Vec::new(),
    }
}

/// Folds replayed events into the [`Committed`] value of a stored first result.
pub(crate) fn replayed<A: Aggregate>(
    aggregate_id: &str,
    result: &IdempotentResult,
    history: Vec<Recorded<A::Event>>,
) -> Result<Committed<A>, StoreError> {
    let mut state = None;
    let mut events = Vec::new();
    for recorded in history {
        state = Some(A::apply(state, &recorded.event)?);
        if recorded.version >= result.first_version {
            events.push(recorded);
        }
    }
    let state = state.ok_or_else(|| StoreError::corrupt("idempotency result", aggregate_id, "no events"))?;
    Ok(Committed {
        aggregate_id: aggregate_id.to_owned(),
        version: result.version,
        events,
        state,
        replayed: true,
        cascaded: Vec::new(),
    })
}

/// Parses a stored aggregate kind.
pub(crate) fn parse_kind(text: &str) -> Result<AggregateKind, StoreError> {
    AggregateKind::parse(text).ok_or_else(|| StoreError::corrupt("kind", text, "unknown aggregate kind"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_checks_refuse_nul_and_empty() {
        assert!(check_text("x", "a\0b").is_err());
        assert!(check_text("x", "").is_err());
        assert!(check_text("x", "💳").is_ok());
        assert!(check_key(&"k".repeat(256)).is_err());
    }

    #[test]
    fn expected_versions_admit() {
        assert!(ExpectedVersion::Any.admits(7));
        assert!(ExpectedVersion::Absent.admits(0));
        assert!(!ExpectedVersion::Absent.admits(1));
        assert!(ExpectedVersion::Exact(9).admits(9));
        assert!(!ExpectedVersion::Exact(u64::MAX).admits(10));
        assert_eq!(to_db_version(u64::MAX).unwrap_err().to_string(), "version overflow");
    }
}
