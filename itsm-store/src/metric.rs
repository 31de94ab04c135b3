//! The metrics read model: every incident's and change's metric record
//! (`itsm_core::records`) as plain columns (`metric_incidents`,
//! `metric_changes`, migration 0012), written in the transaction of each
//! command that changes the aggregate, so a scorecard scans one row per
//! aggregate instead of decoding and folding the event log. The log stays
//! the source of truth: a rebuild writes the rows again from a fold of it, a
//! verification compares the two.
//!
//! An incident's `resolution_target_met` is the SLA verdict of its last
//! resolution clock under the configuration versions in force when its cycle
//! started ([`itsm_core::versioned::DomainConfigHistory::resolution_met`]).
//! It moves only with the clock, so a write whose events did not move the
//! clock leaves the stored verdict as it was (`judged: false`).

use itsm_core::classify::{
    ChangeOutcome, ChangeType, DetectionSource, FailureClass, IncidentKind, Priority, Remediation, ResolvedBy,
};
use itsm_core::id::{ChangeId, IncidentId, ProblemId, ServiceId};
use itsm_core::records::{ChangeRecord, IncidentRecord, Record};
use itsm_core::{AggregateKind, Timestamp};
use std::borrow::Cow;

use sqlx::query_builder::Separated;
use sqlx::{Encode, Type};

use crate::dialect::Dialect;
use crate::error::StoreError;

/// The record definition this library writes. A tenant whose read model was
/// built under an older one (or before the read model existed, listed as 0
/// by migration 0012) is refused by the scans until
/// [`crate::Store::rebuild_metric_records`] has run. Raise it when the
/// records' fields or their derivation change, with a migration that lists
/// every tenant holding records at 0.
pub const RECORD_DEFINITION: i64 = 1;

/// The kinds the read model holds a row for.
pub(crate) const KINDS: [AggregateKind; 4] = [
    AggregateKind::Incident,
    AggregateKind::StandardChange,
    AggregateKind::NormalChange,
    AggregateKind::EmergencyChange,
];

/// Records per multi-row statement (22 binds each; SQLite allows 32,766).
pub(crate) const RECORDS_PER_STATEMENT: usize = 500;

/// One record row to write.
#[derive(Debug, Clone)]
pub(crate) struct RecordWrite<'a> {
    pub tenant: &'a str,
    pub kind: AggregateKind,
    pub id: &'a str,
    /// The aggregate version the record is of.
    pub version: i64,
    pub record: Record,
    /// Whether an incident's `resolution_target_met` was judged by this write
    /// (else the stored verdict stays).
    pub judged: bool,
}

/// The stored form of an SLA verdict.
pub(crate) fn verdict_text(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "missed",
        None => "open",
    }
}

/// Binds an incident record in [`crate::sql::INCIDENT_RECORD_WRITE`]'s order.
pub(crate) fn push_incident<DB>(b: &mut Separated<'_, DB, &'static str>, w: &RecordWrite<'_>, r: &IncidentRecord)
where
    DB: Dialect,
    for<'q> &'q str: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    Option<String>: for<'q> Encode<'q, DB>,
    str: Type<DB>,
    String: Type<DB> + for<'q> Encode<'q, DB>,
    i64: Type<DB> + for<'q> Encode<'q, DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
    Option<i64>: for<'q> Encode<'q, DB>,
{
    let t = |at: Option<Timestamp>| at.map(|at| at.unix_micros());
    b.push_bind(w.tenant)
        .push_bind(r.id.as_str().to_owned())
        .push_bind(w.version)
        .push_bind(r.kind.as_str())
        .push_bind(r.service.as_str().to_owned())
        // PostgreSQL text cannot hold NUL.
        .push_bind(r.category.as_ref().map(|c| c.replace('\0', "\u{fffd}")))
        .push_bind(r.priority.as_str())
        .push_bind(r.detected_by.as_str())
        .push_bind(r.opened_at.unix_micros())
        .push_bind(t(r.acknowledged_at))
        .push_bind(r.impact_start.unix_micros())
        .push_bind(t(r.restored_at))
        .push_bind(t(r.resolved_at))
        .push_bind(t(r.closed_at))
        .push_bind(r.resolved_by.map(|v| v.as_str()))
        .push_bind(r.major)
        .push_bind(i64::from(r.reopen_count))
        .push_bind(r.caused_by_change.as_ref().map(|v| v.as_str()))
        .push_bind(r.problem_id.as_ref().map(|v| v.as_str()))
        .push_bind(r.failure_class.as_str())
        .push_bind(r.outage)
        .push_bind(w.judged.then(|| verdict_text(r.resolution_target_met)));
}

/// Binds a change record in [`crate::sql::CHANGE_RECORD_WRITE`]'s order.
pub(crate) fn push_change<DB>(b: &mut Separated<'_, DB, &'static str>, w: &RecordWrite<'_>, r: &ChangeRecord)
where
    DB: Dialect,
    for<'q> &'q str: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    str: Type<DB>,
    String: Type<DB> + for<'q> Encode<'q, DB>,
    i64: Type<DB> + for<'q> Encode<'q, DB>,
    Option<i64>: for<'q> Encode<'q, DB>,
{
    let t = |at: Option<Timestamp>| at.map(|at| at.unix_micros());
    b.push_bind(w.tenant)
        .push_bind(w.kind.as_str())
        .push_bind(w.id.to_owned())
        .push_bind(w.version)
        .push_bind(r.change_type.as_str())
        .push_bind(r.service.as_str().to_owned())
        .push_bind(t(r.requested_at))
        .push_bind(t(r.planned_start))
        .push_bind(t(r.planned_end))
        .push_bind(t(r.started_at))
        .push_bind(t(r.completed_at))
        .push_bind(r.outcome.map(|v| v.as_str()))
        .push_bind(r.remediation.as_str());
}

/// An incident record as a page carries it (one JSON array per row, in
/// [`crate::sql::INCIDENT_RECORD_JSON`]'s order).
#[derive(Debug, serde::Deserialize)]
struct IncidentRow<'a>(
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    u8,
    i64,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Cow<'a, str>,
    u8,
    #[serde(borrow)] Option<Cow<'a, str>>,
);

/// A change record as a page carries it (in [`crate::sql::CHANGE_RECORD_JSON`]'s order).
#[derive(Debug, serde::Deserialize)]
struct ChangeRow<'a>(
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Cow<'a, str>,
);

/// A typed value from a column, or a corrupt-row error naming the row and column.
fn typed<T>(key: &str, column: &str, text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::corrupt("metric record", key, format!("{column}: {text:?}")))
}

/// An optional typed value from a column.
fn typed_opt<T>(
    key: &str,
    column: &str,
    text: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| typed(key, column, t, parse)).transpose()
}

/// An instant from its stored microseconds.
fn instant(key: &str, column: &str, micros: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_unix_micros(micros)
        .ok_or_else(|| StoreError::corrupt("metric record", key, format!("{column}: {micros} is not an instant")))
}

fn instant_opt(key: &str, column: &str, micros: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    micros.map(|m| instant(key, column, m)).transpose()
}

impl IncidentRow<'_> {
    fn into_record(self) -> Result<IncidentRecord, StoreError> {
        let IncidentRow(
            id,
            kind,
            service,
            category,
            priority,
            detected_by,
            opened_at,
            acknowledged_at,
            impact_start,
            restored_at,
            resolved_at,
            closed_at,
            resolved_by,
            major,
            reopen_count,
            caused_by_change,
            problem_id,
            failure_class,
            outage,
            resolution,
        ) = self;
        let key = format!("incident {id}");
        let k = key.as_str();
        let resolution_target_met = match resolution.as_deref() {
            Some("met") => Some(true),
            Some("missed") => Some(false),
            Some("open") | None => None,
            Some(other) => return Err(StoreError::corrupt("metric record", k, format!("resolution: {other:?}"))),
        };
        Ok(IncidentRecord {
            kind: typed(k, "kind", &kind, IncidentKind::parse)?,
            service: typed(k, "service", &service, |s| ServiceId::new(s).ok())?,
            category: category.map(Cow::into_owned),
            priority: typed(k, "priority", &priority, Priority::parse)?,
            detected_by: typed(k, "detected_by", &detected_by, DetectionSource::parse)?,
            opened_at: instant(k, "opened_at", opened_at)?,
            acknowledged_at: instant_opt(k, "acknowledged_at", acknowledged_at)?,
            impact_start: instant(k, "impact_start", impact_start)?,
            restored_at: instant_opt(k, "restored_at", restored_at)?,
            resolved_at: instant_opt(k, "resolved_at", resolved_at)?,
            closed_at: instant_opt(k, "closed_at", closed_at)?,
            resolved_by: typed_opt(k, "resolved_by", resolved_by.as_deref(), ResolvedBy::parse)?,
            major: major != 0,
            reopen_count: u32::try_from(reopen_count)
                .map_err(|e| StoreError::corrupt("metric record", k, format!("reopen_count: {e}")))?,
            caused_by_change: typed_opt(k, "caused_by_change", caused_by_change.as_deref(), |s| ChangeId::new(s).ok())?,
            problem_id: typed_opt(k, "problem_id", problem_id.as_deref(), |s| ProblemId::new(s).ok())?,
            failure_class: typed(k, "failure_class", &failure_class, FailureClass::parse)?,
            outage: outage != 0,
            resolution_target_met,
            id: typed(k, "id", &id, |s| IncidentId::new(s).ok())?,
        })
    }
}

impl ChangeRow<'_> {
    /// The aggregate kind's name and the record.
    fn into_record(self) -> Result<(String, ChangeRecord), StoreError> {
        let ChangeRow(
            kind,
            id,
            change_type,
            service,
            requested_at,
            planned_start,
            planned_end,
            started_at,
            completed_at,
            outcome,
            remediation,
        ) = self;
        let key = format!("{kind} {id}");
        let k = key.as_str();
        let record = ChangeRecord {
            id: typed(k, "id", &id, |s| ChangeId::new(s).ok())?,
            change_type: typed(k, "change_type", &change_type, ChangeType::parse)?,
            service: typed(k, "service", &service, |s| ServiceId::new(s).ok())?,
            requested_at: instant_opt(k, "requested_at", requested_at)?,
            planned_start: instant_opt(k, "planned_start", planned_start)?,
            planned_end: instant_opt(k, "planned_end", planned_end)?,
            started_at: instant_opt(k, "started_at", started_at)?,
            completed_at: instant_opt(k, "completed_at", completed_at)?,
            outcome: typed_opt(k, "outcome", outcome.as_deref(), ChangeOutcome::parse)?,
            remediation: typed(k, "remediation", &remediation, Remediation::parse)?,
        };
        Ok((kind.into_owned(), record))
    }
}

/// A page read out of the scan order: refused (never fed to the
/// accumulator in another order). Text compares byte by byte on SQLite
/// (`BINARY`), as Rust compares `str`; PostgreSQL orders the aggregate
/// itself ([`Dialect::JSON_AGG_ORDERED`]) and is not checked.
pub(crate) fn check_order(in_order: bool) -> Result<(), StoreError> {
    if in_order { Ok(()) } else { Err(StoreError::corrupt("metric record", "page", "rows out of the scan order")) }
}

/// The incident records of a page (a JSON array of rows; `None`: no row).
pub(crate) fn incident_page(json: Option<&str>) -> Result<Vec<IncidentRecord>, StoreError> {
    let Some(json) = json else { return Ok(Vec::new()) };
    let rows: Vec<IncidentRow<'_>> =
        serde_json::from_str(json).map_err(|e| StoreError::corrupt("metric record", "incident page", e))?;
    rows.into_iter().map(IncidentRow::into_record).collect()
}

/// The change records of a page, each with its aggregate kind's name.
pub(crate) fn change_page(json: Option<&str>) -> Result<Vec<(String, ChangeRecord)>, StoreError> {
    let Some(json) = json else { return Ok(Vec::new()) };
    let rows: Vec<ChangeRow<'_>> =
        serde_json::from_str(json).map_err(|e| StoreError::corrupt("metric record", "change page", e))?;
    rows.into_iter().map(ChangeRow::into_record).collect()
}

/// What a rebuild or a verification of a tenant's metrics read model
/// covered, and for a verification what differs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricModelReport {
    /// Incidents folded from the event log.
    pub incidents: u64,
    /// Changes (all three types) folded from the event log.
    pub changes: u64,
    /// Aggregates whose stored record differs from the fold of their events
    /// (at most [`MAX_MISMATCHES`] listed; `mismatched` counts them all).
    pub mismatches: Vec<RecordMismatch>,
    /// How many aggregates differ in all (missing rows included).
    pub mismatched: u64,
    /// How many of them have no row at all.
    pub missing_rows: u64,
    /// Rows of the read model that no aggregate of the log accounts for.
    pub extra_rows: u64,
}

impl MetricModelReport {
    /// Whether the read model equals the fold of the event log.
    pub fn is_consistent(&self) -> bool {
        self.mismatched == 0 && self.extra_rows == 0
    }
}

/// Most mismatches a verification lists.
pub const MAX_MISMATCHES: usize = 100;

/// One aggregate whose read model row differs from the fold of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMismatch {
    /// The aggregate's kind.
    pub kind: AggregateKind,
    /// The aggregate's id.
    pub id: String,
    /// The stored row (`None`: missing).
    pub stored: Option<Record>,
    /// The record folded from the events.
    pub folded: Record,
}

impl std::fmt::Display for RecordMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.stored {
            None => write!(f, "{} {}: no read model row", self.kind, self.id),
            Some(stored) => {
                write!(
                    f,
                    "{} {}: read model row {stored:?} differs from the fold {:?}",
                    self.kind, self.id, self.folded
                )
            }
        }
    }
}

/// What to do with folded records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// Write them (a rebuild).
    Rebuild,
    /// Compare them with the stored rows (a verification).
    Verify,
}

/// One aggregate's record folded from its events.
pub(crate) struct Folded {
    pub id: String,
    pub version: i64,
    pub record: Record,
}

/// Folds every aggregate of kind `A` of a tenant from the event log into
/// its record (an incident's SLA verdict judged under `config` as of its last
/// event), one aggregate at a time, and hands them on in batches of
/// [`RECORDS_PER_STATEMENT`]: written for a rebuild, compared for a
/// verification. Memory: one aggregate's history and one batch.
pub(crate) async fn fold_kind<A: itsm_core::Aggregate>(
    store: &crate::Store,
    tenant: &itsm_core::id::TenantId,
    config: &itsm_core::versioned::DomainConfigHistory,
    pass: Pass,
    report: &mut MetricModelReport,
) -> Result<(), StoreError> {
    use futures_util::TryStreamExt;

    struct Current<A: itsm_core::Aggregate> {
        id: String,
        state: Option<A>,
        events: Vec<A::Event>,
        version: i64,
        last: Timestamp,
    }

    let finish =
        |c: Current<A>| -> Result<Option<Folded>, StoreError> {
            let Some(state) = c.state else { return Ok(None) };
            let Some(mut record) = state.record() else { return Ok(None) };
            if let Record::Incident(r) = &mut record {
                let clock = A::clock_events(&c.events);
                r.resolution_target_met = config
                    .resolution_met(&clock, c.last)
                    .map_err(|source| StoreError::Clock { kind: A::KIND, id: c.id.clone(), source })?;
            }
            Ok(Some(Folded { id: c.id, version: c.version, record }))
        };
    let mut batch: Vec<Folded> = Vec::with_capacity(RECORDS_PER_STATEMENT);
    let mut current: Option<Current<A>> = None;
    let mut stream = std::pin::pin!(store.stream_events(tenant, A::KIND));
    loop {
        let next = stream.try_next().await?;
        let boundary = match (&current, &next) {
            (Some(c), Some(e)) => c.id != e.aggregate_id,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if boundary && let Some(done) = current.take() {
            if let Some(folded) = finish(done)? {
                batch.push(folded);
            }
            if batch.len() >= RECORDS_PER_STATEMENT {
                hand_on::<A>(store, tenant, pass, std::mem::take(&mut batch), report).await?;
            }
        }
        let Some(stored) = next else { break };
        let event: A::Event = stored.decode()?;
        let c = current.get_or_insert_with(|| Current {
            id: stored.aggregate_id.clone(),
            state: None,
            events: Vec::new(),
            version: 0,
            last: stored.recorded_at,
        });
        c.state = Some(A::apply(c.state.take(), &event)?);
        c.events.push(event);
        c.version = i64::try_from(stored.version).map_err(|_| StoreError::Overflow)?;
        c.last = c.last.max(stored.recorded_at);
    }
    hand_on::<A>(store, tenant, pass, batch, report).await
}

/// A batch of folded records: written, or compared with the stored rows.
async fn hand_on<A: itsm_core::Aggregate>(
    store: &crate::Store,
    tenant: &itsm_core::id::TenantId,
    pass: Pass,
    batch: Vec<Folded>,
    report: &mut MetricModelReport,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let n = batch.len() as u64;
    if A::KIND == AggregateKind::Incident {
        report.incidents += n;
    } else {
        report.changes += n;
    }
    match pass {
        Pass::Rebuild => {
            let writes: Vec<RecordWrite<'_>> = batch
                .iter()
                .map(|f| RecordWrite {
                    tenant: tenant.as_str(),
                    kind: A::KIND,
                    id: &f.id,
                    version: f.version,
                    record: f.record.clone(),
                    judged: true,
                })
                .collect();
            store.write_records(&writes).await
        }
        Pass::Verify => {
            let ids: Vec<&str> = batch.iter().map(|f| f.id.as_str()).collect();
            let mut stored = store.stored_records(tenant, A::KIND, &ids).await?;
            for f in batch {
                let row = stored.remove(&f.id);
                if row.is_none() {
                    report.missing_rows += 1;
                }
                if row.as_ref() != Some(&f.record) {
                    report.mismatched += 1;
                    if report.mismatches.len() < MAX_MISMATCHES {
                        report.mismatches.push(RecordMismatch {
                            kind: A::KIND,
                            id: f.id,
                            stored: row,
                            folded: f.record,
                        });
                    }
                }
            }
            Ok(())
        }
    }
}
