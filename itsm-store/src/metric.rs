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

use itsm_core::id::{ChangeId, IncidentId, ProblemId, ServiceId};
use itsm_core::records::{ChangeRecord, IncidentRecord, Record};
use itsm_core::vocabulary::{
    ChangeOutcome, ChangeType, DetectionSource, FailureClass, IncidentKind, Priority, Remediation, ResolvedBy,
};
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
///
/// Definition 2 (migration 0016) added a change's `authorized_at`.
pub const RECORD_DEFINITION: i64 = 2;

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

/// Binds an incident record in [`crate::sql::INCIDENT_RECORD_WRITE`]'s
/// order, with its JSON text ([`record_text`]).
pub(crate) fn push_incident<DB>(
    b: &mut Separated<'_, DB, &'static str>,
    w: &RecordWrite<'_>,
    r: &IncidentRecord,
    text: String,
) where
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
        .push_bind(w.judged.then(|| verdict_text(r.resolution_target_met)))
        .push_bind(text);
}

/// Binds a change record in [`crate::sql::CHANGE_RECORD_WRITE`]'s order,
/// with its JSON text ([`record_text`]).
pub(crate) fn push_change<DB>(
    b: &mut Separated<'_, DB, &'static str>,
    w: &RecordWrite<'_>,
    r: &ChangeRecord,
    text: String,
) where
    DB: Dialect,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
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
        .push_bind(r.remediation.as_str())
        .push_bind(r.automatic_rollback)
        .push_bind(t(r.authorized_at))
        .push_bind(text);
}

/// An incident record's JSON text (the `record` column, a JSON array in
/// [`crate::sql::INCIDENT_RECORD_COLUMNS`]' order; the SLA verdict has its
/// own column).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
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
);

/// A change record's JSON text (in [`crate::sql::CHANGE_RECORD_COLUMNS`]' order).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
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
    u8,
    Option<i64>,
);

/// The JSON text a record row holds beside its columns (`record`): what a
/// scan reads. The same values as the columns, a category's NUL included
/// as the columns store it.
pub(crate) fn record_text(w: &RecordWrite<'_>) -> Result<String, StoreError> {
    let b = |s: &'static str| Cow::Borrowed(s);
    let t = |at: Option<Timestamp>| at.map(|at| at.unix_micros());
    let text = match &w.record {
        Record::Incident(r) => serde_json::to_string(&IncidentRow(
            Cow::Borrowed(r.id.as_str()),
            b(r.kind.as_str()),
            Cow::Borrowed(r.service.as_str()),
            r.category.as_ref().map(|c| Cow::Owned(c.replace('\0', "\u{fffd}"))),
            b(r.priority.as_str()),
            b(r.detected_by.as_str()),
            r.opened_at.unix_micros(),
            t(r.acknowledged_at),
            r.impact_start.unix_micros(),
            t(r.restored_at),
            t(r.resolved_at),
            t(r.closed_at),
            r.resolved_by.map(|v| b(v.as_str())),
            u8::from(r.major),
            i64::from(r.reopen_count),
            r.caused_by_change.as_ref().map(|v| Cow::Borrowed(v.as_str())),
            r.problem_id.as_ref().map(|v| Cow::Borrowed(v.as_str())),
            b(r.failure_class.as_str()),
            u8::from(r.outage),
        )),
        Record::Change(r) => serde_json::to_string(&ChangeRow(
            b(w.kind.as_str()),
            Cow::Borrowed(w.id),
            b(r.change_type.as_str()),
            Cow::Borrowed(r.service.as_str()),
            t(r.requested_at),
            t(r.planned_start),
            t(r.planned_end),
            t(r.started_at),
            t(r.completed_at),
            r.outcome.map(|v| b(v.as_str())),
            b(r.remediation.as_str()),
            u8::from(r.automatic_rollback),
            t(r.authorized_at),
        )),
    };
    text.map_err(|source| StoreError::Serialize { what: "metric record", id: format!("{} {}", w.kind, w.id), source })
}

/// A record row's name in an error (`incident INC-1`), formatted only
/// when an error names it.
#[derive(Debug, Clone, Copy)]
struct Key<'a>(&'a str, &'a str);

impl std::fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

/// A typed value from a column, or a corrupt-row error naming the row and column.
fn typed<T>(key: Key<'_>, column: &str, text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::corrupt("metric record", key, format!("{column}: {text:?}")))
}

/// An optional typed value from a column.
fn typed_opt<T>(
    key: Key<'_>,
    column: &str,
    text: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| typed(key, column, t, parse)).transpose()
}

/// An instant from its stored microseconds.
fn instant(key: Key<'_>, column: &str, micros: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_unix_micros(micros)
        .ok_or_else(|| StoreError::corrupt("metric record", key, format!("{column}: {micros} is not an instant")))
}

fn instant_opt(key: Key<'_>, column: &str, micros: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    micros.map(|m| instant(key, column, m)).transpose()
}

impl IncidentRow<'_> {
    /// The record, with the SLA verdict stored beside it.
    fn into_record(self, resolution: Option<&str>) -> Result<IncidentRecord, StoreError> {
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
        ) = self;
        let k = Key("incident", &id);
        let resolution_target_met = match resolution {
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
            automatic_rollback,
            authorized_at,
        ) = self;
        let k = Key(&kind, &id);
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
            automatic_rollback: automatic_rollback != 0,
            authorized_at: instant_opt(k, "authorized_at", authorized_at)?,
        };
        Ok((kind.into_owned(), record))
    }
}

/// A page read out of the scan order: refused (never fed to the
/// accumulator in another order). Text compares byte by byte on SQLite
/// (`BINARY`), as Rust compares `str`; PostgreSQL orders the aggregate
/// itself ([`Dialect::JSON_AGG_ORDERED`]) and is not checked.
fn check_order(in_order: bool) -> Result<(), StoreError> {
    if in_order { Ok(()) } else { Err(StoreError::corrupt("metric record", "page", "rows out of the scan order")) }
}

/// The values of record texts joined by newlines (`null` for a row
/// without one), as a scan page reads them: a stream of JSON values, parsed
/// in place. A record text never holds a raw newline (JSON escapes control
/// characters in strings, and neither serde_json nor the databases' JSON
/// builders put one between values), so the last line is the last row.
fn texts<'a, T: serde::Deserialize<'a> + 'a>(
    joined: Option<&'a str>,
    what: &'static str,
) -> impl Iterator<Item = Result<Option<T>, StoreError>> + 'a {
    serde_json::Deserializer::from_str(joined.unwrap_or(""))
        .into_iter::<Option<T>>()
        .map(move |row| row.map_err(|e| StoreError::corrupt("metric record", what, e)))
}

/// The last row of a page's texts, parsed alone.
fn last_row<'a, T: serde::Deserialize<'a>>(joined: Option<&'a str>, what: &str) -> Result<T, StoreError> {
    let last = joined.and_then(|j| j.rsplit('\n').next()).unwrap_or("null");
    serde_json::from_str::<Option<T>>(last)
        .map_err(|e| StoreError::corrupt("metric record", what, e))?
        .ok_or_else(|| no_text(what))
}

/// A row whose record text is missing: the read model needs a rebuild.
fn no_text(what: &str) -> StoreError {
    StoreError::corrupt(
        "metric record",
        what,
        "a row has no record text (run Store::rebuild_metric_records for the tenant)",
    )
}

/// A scan page of incident rows as read: `rows` record texts joined by
/// newlines, and the rows' SLA verdicts as a JSON array in the same order.
#[derive(Debug)]
pub(crate) struct IncidentPage {
    pub rows: i64,
    pub texts: Option<String>,
    pub verdicts: Option<String>,
    /// Whether the page's order is to be checked ([`check_order`]).
    pub check_order: bool,
}

impl IncidentPage {
    /// The (opening, id) of the page's last row, when the page is full
    /// (a next page may follow): read from its last text alone, so the next
    /// page can be read while this one is decoded.
    pub(crate) fn cursor(&self, limit: i64) -> Result<Option<(i64, String)>, StoreError> {
        if self.rows < limit {
            return Ok(None);
        }
        let row: IncidentRow<'_> = last_row(self.texts.as_deref(), "incident page")?;
        Ok(Some((row.6, row.0.into_owned())))
    }

    /// The page's records, checked against its row count and, on SQLite,
    /// its order.
    pub(crate) fn decode(self) -> Result<Vec<IncidentRecord>, StoreError> {
        const WHAT: &str = "incident page";
        let verdicts: Vec<Option<Cow<'_, str>>> = match self.verdicts.as_deref() {
            None => Vec::new(),
            Some(json) => serde_json::from_str(json).map_err(|e| StoreError::corrupt("metric record", WHAT, e))?,
        };
        let miscounted = |texts: usize| {
            StoreError::corrupt(
                "metric record",
                WHAT,
                format!("{} rows, {texts} record texts, {} verdicts", self.rows, verdicts.len()),
            )
        };
        // One pass: each text becomes its record as it is parsed.
        let mut page = Vec::with_capacity(verdicts.len());
        for row in texts::<IncidentRow<'_>>(self.texts.as_deref(), WHAT) {
            let row = row?.ok_or_else(|| no_text(WHAT))?;
            let Some(verdict) = verdicts.get(page.len()) else { return Err(miscounted(page.len() + 1)) };
            page.push(row.into_record(verdict.as_deref())?);
        }
        if i64::try_from(page.len()).ok() != Some(self.rows) || verdicts.len() != page.len() {
            return Err(miscounted(page.len()));
        }
        if self.check_order {
            check_order(
                page.windows(2).all(|w| (w[0].opened_at, w[0].id.as_str()) < (w[1].opened_at, w[1].id.as_str())),
            )?;
        }
        Ok(page)
    }
}

/// A scan page of change rows as read: `rows` record texts joined by
/// newlines.
#[derive(Debug)]
pub(crate) struct ChangePage {
    pub rows: i64,
    pub texts: Option<String>,
    /// Whether the page's order is to be checked ([`check_order`]).
    pub check_order: bool,
}

impl ChangePage {
    /// The (kind, id) of the page's last row when the page is full, read
    /// from its last text alone.
    pub(crate) fn cursor(&self, limit: i64) -> Result<Option<(String, String)>, StoreError> {
        if self.rows < limit {
            return Ok(None);
        }
        let row: ChangeRow<'_> = last_row(self.texts.as_deref(), "change page")?;
        Ok(Some((row.0.into_owned(), row.1.into_owned())))
    }

    /// The page's records, checked against its row count and, on SQLite,
    /// its (kind, id) order.
    pub(crate) fn decode(self) -> Result<Vec<ChangeRecord>, StoreError> {
        const WHAT: &str = "change page";
        let mut page = Vec::with_capacity(usize::try_from(self.rows).unwrap_or(0));
        let mut last_kind = String::new();
        for row in texts::<ChangeRow<'_>>(self.texts.as_deref(), WHAT) {
            let (kind, record) = row?.ok_or_else(|| no_text(WHAT))?.into_record()?;
            if self.check_order {
                let last: Option<&ChangeRecord> = page.last();
                check_order(
                    last.is_none_or(|last| {
                        (last_kind.as_str(), last.id.as_str()) < (kind.as_str(), record.id.as_str())
                    }),
                )?;
                last_kind = kind;
            }
            page.push(record);
        }
        if i64::try_from(page.len()).ok() != Some(self.rows) {
            return Err(StoreError::corrupt(
                "metric record",
                WHAT,
                format!("{} rows, {} record texts", self.rows, page.len()),
            ));
        }
        Ok(page)
    }
}

/// A stored record row in both its forms: from its columns, and from its
/// record text (`None`: the row has none, or it does not parse).
pub(crate) type StoredRow = (Record, Option<Record>);

/// One record text as a verification reads it: `None` when missing or
/// not the record's shape.
fn text_of<'a, T: serde::Deserialize<'a>>(text: Option<&'a str>) -> Option<T> {
    serde_json::from_str(text?).ok()
}

/// The incident rows a verification reads: a JSON array of
/// `[[columns], verdict, record text]` per row.
pub(crate) fn stored_incidents(rows: Option<&str>) -> Result<Vec<StoredRow>, StoreError> {
    let Some(rows) = rows else { return Ok(Vec::new()) };
    /// An incident row's columns, its verdict and its record text.
    type Stored<'a> = (IncidentRow<'a>, Option<Cow<'a, str>>, Option<Cow<'a, str>>);
    let rows: Vec<Stored<'_>> =
        serde_json::from_str(rows).map_err(|e| StoreError::corrupt("metric record", "incident rows", e))?;
    rows.into_iter()
        .map(|(row, verdict, text)| {
            let verdict = verdict.as_deref();
            let text = text_of::<IncidentRow<'_>>(text.as_deref()).and_then(|t| t.into_record(verdict).ok());
            Ok((Record::Incident(row.into_record(verdict)?), text.map(Record::Incident)))
        })
        .collect()
}

/// The change rows a verification reads: a JSON array of
/// `[[columns], record text]` per row.
pub(crate) fn stored_changes(rows: Option<&str>) -> Result<Vec<StoredRow>, StoreError> {
    let Some(rows) = rows else { return Ok(Vec::new()) };
    let rows: Vec<(ChangeRow<'_>, Option<Cow<'_, str>>)> =
        serde_json::from_str(rows).map_err(|e| StoreError::corrupt("metric record", "change rows", e))?;
    rows.into_iter()
        .map(|(row, text)| {
            let text = text_of::<ChangeRow<'_>>(text.as_deref()).and_then(|t| t.into_record().ok());
            Ok((Record::Change(row.into_record()?.1), text.map(|(_, r)| Record::Change(r))))
        })
        .collect()
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
    /// The stored row, from its columns (`None`: missing).
    pub stored: Option<Record>,
    /// The stored row's record text, which scans read (`None`: no row, no
    /// text, or a text that is not a record).
    pub stored_text: Option<Record>,
    /// The record folded from the events.
    pub folded: Record,
}

impl std::fmt::Display for RecordMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.stored, &self.stored_text) {
            (None, _) => write!(f, "{} {}: no read model row", self.kind, self.id),
            (Some(stored), _) if *stored != self.folded => {
                write!(
                    f,
                    "{} {}: read model row {stored:?} differs from the fold {:?}",
                    self.kind, self.id, self.folded
                )
            }
            (Some(_), None) => write!(f, "{} {}: the read model row has no valid record text", self.kind, self.id),
            (Some(_), Some(text)) => write!(
                f,
                "{} {}: the read model row's record text {text:?} differs from the fold {:?}",
                self.kind, self.id, self.folded
            ),
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
                let (stored, stored_text) = match stored.remove(&f.id) {
                    Some((columns, text)) => (Some(columns), text),
                    None => {
                        report.missing_rows += 1;
                        (None, None)
                    }
                };
                if stored.as_ref() != Some(&f.record) || stored_text.as_ref() != Some(&f.record) {
                    report.mismatched += 1;
                    if report.mismatches.len() < MAX_MISMATCHES {
                        report.mismatches.push(RecordMismatch {
                            kind: A::KIND,
                            id: f.id,
                            stored,
                            stored_text,
                            folded: f.record,
                        });
                    }
                }
            }
            Ok(())
        }
    }
}
