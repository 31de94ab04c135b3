//! Importer of the interchange CSV format (`incidents.csv`, `changes.csv`,
//! `outages.csv`) into [`itsm_core::records`].
//!
//! Each file is read from any [`io::Read`] as an iterator of rows
//! ([`Rows`]): every row comes out one at a time as a record or a
//! [`RejectedRow`], so a caller can replay each record (e.g. through the domain
//! state machines) before taking the next. [`Rows::report`] counts accepted
//! and rejected rows and lists every error and warning; nothing is dropped
//! silently. `read_*` functions collect a whole file.
//!
//! Rules (from `interchange-csv.md`):
//! - UTF-8, RFC 4180, one header row; header names exact lower-case; column
//!   order free; unknown columns ignored and listed once as a warning; a
//!   missing required column or a repeated column is a fatal [`ImportError`].
//! - Timestamps RFC 3339 with an offset; an empty cell is "not set"
//!   (typed cells are trimmed of surrounding spaces; ids and text are kept verbatim).
//! - A row error names the file, the line, the column and the reason; a row
//!   with several problems lists them all and counts once as rejected.
//! - Rows whose timestamps contradict each other are rejected: incidents with
//!   `resolved_at`, `acknowledged_at` or `closed_at` before `opened_at`,
//!   `closed_at` before `resolved_at`, or a restore instant (`restored_at`, by
//!   default `resolved_at`) before `impact_start`; changes with `completed_at`
//!   before `started_at` or `planned_end` before `planned_start`; outages whose
//!   `end` is not after `start`. A repeated `id` in one file is rejected too.
//!
//! Choices the format leaves open:
//! - **Priority.** An empty `priority` is derived from `impact` x `urgency` by
//!   [`PriorityMatrix::default`]; an empty `impact` or `urgency` counts as
//!   level 2 (medium), so with both empty the priority is **P3**.
//! - `restored_at` stays `None` when empty (`IncidentRecord::restore_instant`
//!   falls back to `resolved_at`); `impact_start` defaults to `opened_at`.
//! - An empty `failure_class` is `other`; `outcome` `cancelled` becomes
//!   `outcome: None`; an implemented outcome (`successful`,
//!   `successful_with_issues`, `failed`) requires `completed_at`.
//! - Extension column (not in the interchange format, read when present):
//!   `resolution_target_met` (`true`/`false`) on incidents, which the
//!   on-time resolution rate uses; without it the target is unknown.

use std::collections::HashMap;
use std::fmt;
use std::io;

use csv::{ByteRecord, ReaderBuilder};
use itsm_core::Timestamp;
use itsm_core::classify::{
    ChangeOutcome, ChangeType, DetectionSource, FailureClass, Impact, IncidentKind, Priority, PriorityMatrix,
    Remediation, ResolvedBy, Urgency,
};
use itsm_core::id::{ChangeId, IncidentId, ProblemId, ServiceId};
use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
use serde::{Deserialize, Serialize};

/// Columns of `incidents.csv` (the last one is this crate's extension).
pub const INCIDENT_COLUMNS: &[&str] = &[
    "id",
    "kind",
    "service",
    "category",
    "priority",
    "impact",
    "urgency",
    "detected_by",
    "opened_at",
    "acknowledged_at",
    "impact_start",
    "restored_at",
    "resolved_at",
    "closed_at",
    "resolved_by",
    "major",
    "reopen_count",
    "caused_by_change",
    "problem_id",
    "failure_class",
    "outage",
    "resolution_target_met",
];
/// Required columns of `incidents.csv`.
pub const INCIDENT_REQUIRED: &[&str] = &["id", "kind", "service", "opened_at"];
/// Columns of `changes.csv`.
pub const CHANGE_COLUMNS: &[&str] = &[
    "id",
    "type",
    "service",
    "requested_at",
    "planned_start",
    "planned_end",
    "started_at",
    "completed_at",
    "outcome",
    "remediation",
];
/// Required columns of `changes.csv`.
pub const CHANGE_REQUIRED: &[&str] = &["id", "type", "service", "outcome"];
/// Columns of `outages.csv`.
pub const OUTAGE_COLUMNS: &[&str] = &["service", "start", "end", "planned"];
/// Required columns of `outages.csv`.
pub const OUTAGE_REQUIRED: &[&str] = &["service", "start", "end"];

/// A problem with one cell or row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The file name given to the reader.
    pub file: String,
    /// 1-based line number where the row starts (the header is line 1).
    pub line: u64,
    /// The column concerned, if one is.
    pub column: Option<String>,
    /// Why the row was rejected.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "{}:{}: column {}: {}", self.file, self.line, c, self.reason),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.reason),
        }
    }
}

/// A rejected row with all its problems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// Line where the row starts.
    pub line: u64,
    /// Its problems (at least one).
    pub errors: Vec<RowError>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImportReport {
    /// The file name.
    pub file: String,
    /// Rows turned into records.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Every row error, in file order.
    pub errors: Vec<RowError>,
    /// Warnings (unknown columns, listed once).
    pub warnings: Vec<String>,
    /// A read error that ended the file early (the rows after it were not read).
    pub fatal: Option<String>,
}

/// Why a file could not be imported at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The header row could not be read.
    #[error("{file}: cannot read the header row: {reason}")]
    Header {
        /// The file name.
        file: String,
        /// Why.
        reason: String,
    },
    /// A required column is absent.
    #[error("{file}: required column `{column}` is missing")]
    MissingColumn {
        /// The file name.
        file: String,
        /// The column.
        column: String,
    },
    /// A column appears twice.
    #[error("{file}: column `{column}` appears more than once")]
    DuplicateColumn {
        /// The file name.
        file: String,
        /// The column.
        column: String,
    },
}

/// Options of the incident importer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Matrix deriving an empty priority from impact x urgency.
    pub priority_matrix: PriorityMatrix,
    /// Impact assumed when the cell is empty.
    pub default_impact: Impact,
    /// Urgency assumed when the cell is empty.
    pub default_urgency: Urgency,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            priority_matrix: PriorityMatrix::default(),
            default_impact: Impact::Medium,
            default_urgency: Urgency::Medium,
        }
    }
}

type Parser<T> = fn(&mut Cells<'_>, &ImportOptions) -> Option<T>;

/// Where each physical line of the input starts, recorded as the bytes pass
/// through, so a record's byte offset maps to the line a person sees in an
/// editor. (The csv crate's own line count is one too low for CRLF files, and
/// points at the blank lines before a record rather than at the record.)
#[derive(Debug)]
struct LineTable {
    starts: Vec<u64>,
    blank: Vec<bool>,
    offset: u64,
}

impl LineTable {
    fn new() -> Self {
        LineTable { starts: vec![0], blank: vec![true], offset: 0 }
    }

    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.offset += 1;
            match b {
                b'\n' => {
                    self.starts.push(self.offset);
                    self.blank.push(true);
                }
                b'\r' => {}
                _ => {
                    if let Some(last) = self.blank.last_mut() {
                        *last = false;
                    }
                }
            }
        }
    }

    /// The 1-based line of the first non-blank line at or after `byte`.
    fn line_of(&self, byte: u64) -> u64 {
        let mut i = self.starts.partition_point(|&s| s <= byte).saturating_sub(1);
        while self.blank.get(i).copied().unwrap_or(false) && i + 1 < self.starts.len() {
            i += 1;
        }
        i as u64 + 1
    }
}

/// A reader that records line starts into a shared [`LineTable`].
struct Counting<R> {
    inner: R,
    table: std::sync::Arc<std::sync::Mutex<LineTable>>,
}

impl<R: io::Read> io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut table) = self.table.lock() {
            table.scan(&buf[..n.min(buf.len())]);
        }
        Ok(n)
    }
}

/// The rows of one file as records, one at a time.
pub struct Rows<R: io::Read, T> {
    reader: csv::Reader<Counting<R>>,
    lines: std::sync::Arc<std::sync::Mutex<LineTable>>,
    columns: HashMap<&'static str, usize>,
    width: usize,
    parse: Parser<T>,
    id_column: bool,
    options: ImportOptions,
    seen_ids: HashMap<String, u64>,
    report: ImportReport,
    record: ByteRecord,
    /// The physical line of the last row read (accepted or rejected).
    last_line: u64,
    done: bool,
}

impl<R: io::Read, T> fmt::Debug for Rows<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rows").field("report", &self.report).field("done", &self.done).finish()
    }
}

impl<R: io::Read, T> Rows<R, T> {
    /// The physical line a record starting at `byte` is on (0 when unknown).
    fn line_at(&self, byte: Option<u64>) -> u64 {
        match (byte, self.lines.lock()) {
            (Some(byte), Ok(table)) => table.line_of(byte),
            (None, _) | (_, Err(_)) => 0,
        }
    }

    fn open(
        file: &str,
        reader: R,
        known: &'static [&'static str],
        required: &[&str],
        parse: Parser<T>,
        id_column: bool,
        options: ImportOptions,
    ) -> Result<Rows<R, T>, ImportError> {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(LineTable::new()));
        let counting = Counting { inner: reader, table: std::sync::Arc::clone(&lines) };
        let mut reader = ReaderBuilder::new().has_headers(true).flexible(true).from_reader(counting);
        let header = reader
            .byte_headers()
            .map_err(|e| ImportError::Header { file: file.to_owned(), reason: e.to_string() })?
            .clone();
        let mut columns = HashMap::new();
        let mut unknown = Vec::new();
        let mut seen = HashMap::new();
        for (i, raw) in header.iter().enumerate() {
            let name = String::from_utf8_lossy(raw);
            let name = if i == 0 { name.trim_start_matches('\u{feff}').to_owned() } else { name.into_owned() };
            if seen.insert(name.clone(), i).is_some() {
                return Err(ImportError::DuplicateColumn { file: file.to_owned(), column: name });
            }
            match known.iter().find(|k| **k == name) {
                Some(k) => {
                    columns.insert(*k, i);
                }
                None => unknown.push(name),
            }
        }
        for r in required {
            if !columns.contains_key(r) {
                return Err(ImportError::MissingColumn { file: file.to_owned(), column: (*r).to_owned() });
            }
        }
        let mut report = ImportReport { file: file.to_owned(), ..ImportReport::default() };
        if !unknown.is_empty() {
            report.warnings.push(format!("{file}: unknown columns ignored: {}", unknown.join(", ")));
        }
        Ok(Rows {
            reader,
            lines,
            columns,
            width: header.len(),
            parse,
            id_column,
            options,
            seen_ids: HashMap::new(),
            report,
            record: ByteRecord::new(),
            last_line: 0,
            done: false,
        })
    }

    /// Whether the file's header has this (known) column, e.g. `outage`:
    /// a caller can tell "no outage recorded" from "outages not exported".
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.contains_key(name)
    }

    /// The physical line of the row the iterator returned last (0 before the
    /// first): a caller that rejects an accepted record later (for example,
    /// when replaying it through the domain) can still name its line.
    pub fn last_line(&self) -> u64 {
        self.last_line
    }

    /// The report so far (complete once the iterator is exhausted).
    pub fn report(&self) -> &ImportReport {
        &self.report
    }

    /// The report, consuming the rows.
    pub fn into_report(self) -> ImportReport {
        self.report
    }

    fn reject(&mut self, line: u64, errors: Vec<RowError>) -> RejectedRow {
        self.report.rejected += 1;
        self.report.errors.extend(errors.iter().cloned());
        RejectedRow { line, errors }
    }
}

impl<R: io::Read, T> Iterator for Rows<R, T> {
    type Item = Result<T, RejectedRow>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let file = self.report.file.clone();
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                let line = self.line_at(self.record.position().map(|p| p.byte()));
                self.last_line = line;
                if self.record.len() != self.width {
                    let reason = format!("row has {} fields, the header has {}", self.record.len(), self.width);
                    let err = RowError { file, line, column: None, reason };
                    return Some(Err(self.reject(line, vec![err])));
                }
                let mut cells =
                    Cells { file: &file, line, record: &self.record, columns: &self.columns, errors: Vec::new() };
                let parsed = (self.parse)(&mut cells, &self.options);
                let mut errors = cells.errors;
                if let (Some(_), true) = (&parsed, self.id_column) {
                    let id = cells_id(&self.record, &self.columns);
                    if let Some(first) = self.seen_ids.get(&id) {
                        errors.push(RowError {
                            file: file.clone(),
                            line,
                            column: Some("id".to_owned()),
                            reason: format!("duplicate id `{id}`, first accepted on line {first}"),
                        });
                    } else if errors.is_empty() {
                        self.seen_ids.insert(id, line);
                    }
                }
                match parsed {
                    Some(record) if errors.is_empty() => {
                        self.report.accepted += 1;
                        Some(Ok(record))
                    }
                    _ => {
                        if errors.is_empty() {
                            errors.push(RowError { file, line, column: None, reason: "row rejected".to_owned() });
                        }
                        Some(Err(self.reject(line, errors)))
                    }
                }
            }
            Err(e) => {
                let line = self.line_at(e.position().map(|p| p.byte()));
                match e.kind() {
                    csv::ErrorKind::Io(_) => {
                        self.done = true;
                        self.report.fatal = Some(format!("{file}: read error after line {line}: {e}"));
                        None
                    }
                    _ => {
                        let err = RowError { file, line, column: None, reason: e.to_string() };
                        Some(Err(self.reject(line, vec![err])))
                    }
                }
            }
        }
    }
}

fn cells_id(record: &ByteRecord, columns: &HashMap<&'static str, usize>) -> String {
    columns.get("id").and_then(|&i| record.get(i)).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
}

/// Typed access to one row's cells, collecting errors.
struct Cells<'a> {
    file: &'a str,
    line: u64,
    record: &'a ByteRecord,
    columns: &'a HashMap<&'static str, usize>,
    errors: Vec<RowError>,
}

impl Cells<'_> {
    fn error(&mut self, column: &str, reason: impl Into<String>) {
        self.errors.push(RowError {
            file: self.file.to_owned(),
            line: self.line,
            column: Some(column.to_owned()),
            reason: reason.into(),
        });
    }

    /// The raw cell, `None` when the column is absent or the cell empty.
    fn raw(&mut self, column: &str) -> Option<String> {
        let i = *self.columns.get(column)?;
        let bytes = self.record.get(i)?;
        match std::str::from_utf8(bytes) {
            Ok("") => None,
            Ok(s) => Some(s.to_owned()),
            Err(_) => {
                self.error(column, "not valid UTF-8");
                None
            }
        }
    }

    /// A trimmed typed cell.
    fn typed(&mut self, column: &str) -> Option<String> {
        self.raw(column).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
    }

    fn required_text(&mut self, column: &str) -> Option<String> {
        let v = self.raw(column);
        if v.is_none() && !self.errors.iter().any(|e| e.column.as_deref() == Some(column)) {
            self.error(column, "required value is empty");
        }
        v
    }

    fn timestamp(&mut self, column: &str) -> Option<Timestamp> {
        let text = self.typed(column)?;
        match Timestamp::parse_rfc3339(&text) {
            Ok(t) => Some(t),
            Err(_) => {
                self.error(column, format!("`{text}` is not an RFC 3339 timestamp with an offset"));
                None
            }
        }
    }

    fn required_timestamp(&mut self, column: &str) -> Option<Timestamp> {
        let present = self.typed(column).is_some();
        if !present {
            if !self.errors.iter().any(|e| e.column.as_deref() == Some(column)) {
                self.error(column, "required value is empty");
            }
            return None;
        }
        self.timestamp(column)
    }

    fn choice<E>(&mut self, column: &str, parse: fn(&str) -> Option<E>, expected: &str) -> Option<E> {
        let text = self.typed(column)?;
        match parse(&text) {
            Some(v) => Some(v),
            None => {
                self.error(column, format!("`{text}` is not one of {expected}"));
                None
            }
        }
    }

    fn required_choice<E>(&mut self, column: &str, parse: fn(&str) -> Option<E>, expected: &str) -> Option<E> {
        if self.typed(column).is_none() {
            if !self.errors.iter().any(|e| e.column.as_deref() == Some(column)) {
                self.error(column, "required value is empty");
            }
            return None;
        }
        self.choice(column, parse, expected)
    }

    fn boolean(&mut self, column: &str) -> Option<bool> {
        self.choice(
            column,
            |s| match s {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            "true, false",
        )
    }

    fn count(&mut self, column: &str) -> Option<u32> {
        let text = self.typed(column)?;
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            self.error(column, format!("`{text}` is not a non-negative integer"));
            return None;
        }
        match text.parse::<u32>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(column, format!("`{text}` is too large"));
                None
            }
        }
    }

    fn id<I>(
        &mut self,
        column: &str,
        make: fn(String) -> Result<I, itsm_core::id::IdError>,
        required: bool,
    ) -> Option<I> {
        let text = if required { self.required_text(column)? } else { self.raw(column)? };
        match make(text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(column, e.to_string());
                None
            }
        }
    }

    fn before(&mut self, later_col: &str, later: Option<Timestamp>, earlier_col: &str, earlier: Option<Timestamp>) {
        if let (Some(l), Some(e)) = (later, earlier)
            && l < e
        {
            self.error(later_col, format!("{later_col} ({l}) is before {earlier_col} ({e})"));
        }
    }
}

fn parse_incident(c: &mut Cells<'_>, options: &ImportOptions) -> Option<IncidentRecord> {
    let id = c.id("id", IncidentId::new, true);
    let kind =
        c.required_choice("kind", IncidentKind::parse, "production, business, security, desktop, service_request");
    let service = c.id("service", ServiceId::new, true);
    let category = c.raw("category");
    let priority = c.choice("priority", Priority::parse, "1, 2, 3, 4, 5");
    let impact = c.choice("impact", Impact::parse, "1, 2, 3");
    let urgency = c.choice("urgency", Urgency::parse, "1, 2, 3");
    let detected_by = c
        .choice("detected_by", DetectionSource::parse, "monitoring, user, service_desk, automation")
        .unwrap_or(DetectionSource::User);
    let opened_at = c.required_timestamp("opened_at");
    let acknowledged_at = c.timestamp("acknowledged_at");
    let impact_start = c.timestamp("impact_start");
    let restored_at = c.timestamp("restored_at");
    let resolved_at = c.timestamp("resolved_at");
    let closed_at = c.timestamp("closed_at");
    let resolved_by = c.choice("resolved_by", ResolvedBy::parse, "l1, l2, l3, automation, vendor");
    let major = c.boolean("major").unwrap_or(false);
    let reopen_count = c.count("reopen_count").unwrap_or(0);
    let caused_by_change = c.id("caused_by_change", ChangeId::new, false);
    let problem_id = c.id("problem_id", ProblemId::new, false);
    let failure_class =
        c.choice("failure_class", FailureClass::parse, "ci, cd, platform, other").unwrap_or(FailureClass::Other);
    let outage = c.boolean("outage").unwrap_or(false);
    let resolution_target_met = c.boolean("resolution_target_met");
    // Contradicting instants.
    c.before("resolved_at", resolved_at, "opened_at", opened_at);
    c.before("acknowledged_at", acknowledged_at, "opened_at", opened_at);
    c.before("closed_at", closed_at, "opened_at", opened_at);
    c.before("closed_at", closed_at, "resolved_at", resolved_at);
    let impact_start_or_default = impact_start.or(opened_at);
    match restored_at {
        Some(_) => c.before("restored_at", restored_at, "impact_start", impact_start_or_default),
        None => {
            // With both defaults, `resolved_at` against `opened_at` is checked above.
            if let (Some(r), Some(s)) = (resolved_at, impact_start)
                && r < s
            {
                c.error(
                    "resolved_at",
                    format!("resolved_at ({r}), the default restored_at, is before impact_start ({s})"),
                );
            }
        }
    }
    let priority = priority.unwrap_or_else(|| {
        options
            .priority_matrix
            .priority(impact.unwrap_or(options.default_impact), urgency.unwrap_or(options.default_urgency))
    });
    if !c.errors.is_empty() {
        return None;
    }
    let opened_at = opened_at?;
    Some(IncidentRecord {
        id: id?,
        kind: kind?,
        service: service?,
        category,
        priority,
        detected_by,
        opened_at,
        acknowledged_at,
        impact_start: impact_start.unwrap_or(opened_at),
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
        resolution_target_met,
    })
}

/// A change outcome cell: `cancelled` is `Some(None)`.
fn parse_outcome(text: &str) -> Option<Option<ChangeOutcome>> {
    if text == "cancelled" { Some(None) } else { ChangeOutcome::parse(text).map(Some) }
}

fn parse_change(c: &mut Cells<'_>, _options: &ImportOptions) -> Option<ChangeRecord> {
    let id = c.id("id", ChangeId::new, true);
    let change_type = c.required_choice("type", ChangeType::parse, "standard, normal, emergency");
    let service = c.id("service", ServiceId::new, true);
    let requested_at = c.timestamp("requested_at");
    let planned_start = c.timestamp("planned_start");
    let planned_end = c.timestamp("planned_end");
    let started_at = c.timestamp("started_at");
    let completed_at = c.timestamp("completed_at");
    let outcome = c.required_choice("outcome", parse_outcome, "successful, successful_with_issues, failed, cancelled");
    let remediation = c
        .choice("remediation", Remediation::parse, "none, rolled_back, rollback_failed, fixed_forward")
        .unwrap_or(Remediation::None);
    c.before("completed_at", completed_at, "started_at", started_at);
    c.before("planned_end", planned_end, "planned_start", planned_start);
    if let Some(Some(o)) = outcome
        && completed_at.is_none()
        && !c.errors.iter().any(|e| e.column.as_deref() == Some("completed_at"))
    {
        c.error("completed_at", format!("required when outcome is {o}"));
    }
    if !c.errors.is_empty() {
        return None;
    }
    Some(ChangeRecord {
        id: id?,
        change_type: change_type?,
        service: service?,
        requested_at,
        planned_start,
        planned_end,
        started_at,
        completed_at,
        outcome: outcome?,
        remediation,
    })
}

fn parse_outage(c: &mut Cells<'_>, _options: &ImportOptions) -> Option<OutageRecord> {
    let service = c.id("service", ServiceId::new, true);
    let start = c.required_timestamp("start");
    let end = c.required_timestamp("end");
    let planned = c.boolean("planned").unwrap_or(false);
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        c.error("end", format!("end ({e}) is not after start ({s})"));
    }
    if !c.errors.is_empty() {
        return None;
    }
    Some(OutageRecord { service: service?, start: start?, end: end?, planned })
}

/// Rows of an `incidents.csv` read from `reader`; `file` names it in errors.
pub fn incidents<R: io::Read>(file: &str, reader: R) -> Result<Rows<R, IncidentRecord>, ImportError> {
    incidents_with(file, reader, ImportOptions::default())
}

/// Rows of an `incidents.csv` with explicit options.
pub fn incidents_with<R: io::Read>(
    file: &str,
    reader: R,
    options: ImportOptions,
) -> Result<Rows<R, IncidentRecord>, ImportError> {
    Rows::open(file, reader, INCIDENT_COLUMNS, INCIDENT_REQUIRED, parse_incident, true, options)
}

/// Rows of a `changes.csv`.
pub fn changes<R: io::Read>(file: &str, reader: R) -> Result<Rows<R, ChangeRecord>, ImportError> {
    Rows::open(file, reader, CHANGE_COLUMNS, CHANGE_REQUIRED, parse_change, true, ImportOptions::default())
}

/// Rows of an `outages.csv`.
pub fn outages<R: io::Read>(file: &str, reader: R) -> Result<Rows<R, OutageRecord>, ImportError> {
    Rows::open(file, reader, OUTAGE_COLUMNS, OUTAGE_REQUIRED, parse_outage, false, ImportOptions::default())
}

fn collect<R: io::Read, T>(mut rows: Rows<R, T>) -> (Vec<T>, ImportReport) {
    let mut out = Vec::new();
    out.extend(rows.by_ref().flatten());
    (out, rows.into_report())
}

/// Reads a whole `incidents.csv`: the accepted records and the report.
pub fn read_incidents<R: io::Read>(file: &str, reader: R) -> Result<(Vec<IncidentRecord>, ImportReport), ImportError> {
    Ok(collect(incidents(file, reader)?))
}

/// Reads a whole `changes.csv`.
pub fn read_changes<R: io::Read>(file: &str, reader: R) -> Result<(Vec<ChangeRecord>, ImportReport), ImportError> {
    Ok(collect(changes(file, reader)?))
}

/// Reads a whole `outages.csv`.
pub fn read_outages<R: io::Read>(file: &str, reader: R) -> Result<(Vec<OutageRecord>, ImportReport), ImportError> {
    Ok(collect(outages(file, reader)?))
}
