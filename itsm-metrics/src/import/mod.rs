//! Importer of the interchange CSV format (`incidents.csv`, `changes.csv`,
//! `outages.csv`) into [`itsm_core::records`].
//!
//! Each file is read from any [`io::Read`] as an iterator of rows
//! ([`Rows`]): every row comes out one at a time as a record or a
//! [`RejectedRow`], so a caller can replay each record (e.g. through the domain
//! state machines) before taking the next. [`Rows::report`] counts accepted
//! and rejected rows and lists every error and warning; nothing is dropped
//! silently. `read_*` functions collect a whole file. [`Rows::par_for_each`]
//! reads the rest of a file on several threads ([`parallel`]), with the same
//! verdicts in the same file order; [`input::open`] opens a plain or
//! gzip-compressed file for any importer.
//!
//! The input is cut into chunks of whole records before the fields are
//! parsed (`split`), so every row is named by its physical line (the header is
//! line 1; LF, CRLF and line breaks inside quoted fields all count), and what
//! the `csv` crate would accept silently is a rejected row instead: a quote
//! that never closes (the row names the line where it opened and how many
//! lines it would have swallowed, and reading resumes on the next line) and
//! a row longer than [`MAX_ROW_BYTES`]. A read error (a truncated or corrupt
//! compressed stream among them) ends the file with [`ImportReport::fatal`].
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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;

use csv::ByteRecord;
use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
use itsm_core::vocabulary::{Impact, PriorityMatrix, Urgency};
use serde::{Deserialize, Serialize};

use parse::{Cells, parse_change, parse_incident, parse_outage};
pub use split::MAX_ROW_BYTES;
use split::{Broken, Chunk, Splitter, line_breaks, line_breaks_before};

pub mod input;
pub mod parallel;
mod parse;
mod split;

/// Known column name -> its index in the header (looked up for every cell).
pub(crate) type Columns = HashMap<&'static str, usize, foldhash::fast::RandomState>;

/// Bytes per chunk read at a time (1 MiB).
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

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
    /// The file holds no header row (it is empty or blank).
    #[error("{file}: the file is empty: expected a header row with at least the columns {expected}")]
    Empty {
        /// The file name.
        file: String,
        /// The required columns.
        expected: String,
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

/// What one file's rows are: its columns, how a row becomes a record, and
/// how the record's id is found (for the repeated-id rule).
pub(crate) struct Schema<T> {
    file: String,
    header: Vec<String>,
    columns: Columns,
    width: usize,
    parse: Parser<T>,
    id_of: Option<fn(&T) -> &str>,
    options: ImportOptions,
}

/// A schema read from a header, the rest of the first chunk, and the warnings.
type Opened<T> = (Schema<T>, Option<Chunk>, Vec<String>);

/// A row of a chunk, parsed.
pub(crate) enum Parsed<T> {
    /// A record (its line, the record, and the hash of its id for the
    /// repeated-id rule, computed while parsing, off the file-order step).
    Record(u64, T, Option<u64>),
    /// A rejected row.
    Rejected(RejectedRow),
}

impl<T> Schema<T> {
    /// Reads the header row through `splitter` and checks the columns.
    fn open<R: io::Read>(
        file: &str,
        splitter: &mut Splitter<R>,
        known: &'static [&'static str],
        required: &[&str],
        parse: Parser<T>,
        id_of: Option<fn(&T) -> &str>,
        options: ImportOptions,
    ) -> Result<Opened<T>, ImportError> {
        let header_error = |reason: String| ImportError::Header { file: file.to_owned(), reason };
        let first = loop {
            match splitter.next_chunk() {
                Ok(Some(chunk)) if chunk.bytes.iter().all(|b| matches!(b, b'\n' | b'\r')) => {
                    if let Some(broken) = chunk.broken {
                        return Err(header_error(format!(
                            "the header row on line {} {}",
                            broken.line(),
                            broken_reason(&broken, &[])
                        )));
                    }
                }
                Ok(Some(chunk)) => break chunk,
                Ok(None) => {
                    return Err(ImportError::Empty { file: file.to_owned(), expected: required.join(", ") });
                }
                Err(e) => return Err(header_error(e.to_string())),
            }
        };
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&first.bytes[..]);
        let mut header = ByteRecord::new();
        match reader.read_byte_record(&mut header) {
            Ok(true) => {}
            Ok(false) => return Err(ImportError::Empty { file: file.to_owned(), expected: required.join(", ") }),
            Err(e) => return Err(header_error(e.to_string())),
        }
        let header_end = usize::try_from(reader.position().byte()).unwrap_or(first.bytes.len()).min(first.bytes.len());
        let mut columns = Columns::default();
        let mut names = Vec::with_capacity(header.len());
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
                None => unknown.push(name.clone()),
            }
            names.push(name);
        }
        for r in required {
            if !columns.contains_key(r) {
                return Err(ImportError::MissingColumn { file: file.to_owned(), column: (*r).to_owned() });
            }
        }
        let mut warnings = Vec::new();
        if !unknown.is_empty() {
            warnings.push(format!("{file}: unknown columns ignored: {}", unknown.join(", ")));
        }
        let schema =
            Schema { file: file.to_owned(), header: names, columns, width: header.len(), parse, id_of, options };
        // The rest of the first chunk holds the first rows.
        let rest = Chunk {
            index: first.index,
            first_line: first.first_line + line_breaks_before(&first.bytes, header_end),
            bytes: first.bytes[header_end..].to_vec(),
            broken: first.broken,
        };
        let rest = (!rest.bytes.is_empty() || rest.broken.is_some()).then_some(rest);
        Ok((schema, rest, warnings))
    }

    fn error(&self, line: u64, column: Option<&str>, reason: String) -> RowError {
        RowError { file: self.file.clone(), line, column: column.map(str::to_owned), reason }
    }

    /// Parses the rows of one chunk into `out`, in file order, with their
    /// physical lines.
    pub(crate) fn parse_chunk(&self, chunk: &Chunk, out: &mut Vec<Parsed<T>>) {
        let bytes = &chunk.bytes[..];
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
        let mut record = ByteRecord::new();
        let (mut counted_to, mut line) = (0usize, chunk.first_line);
        // A byte slice cannot fail to read, and the records are split already.
        while let Ok(true) = reader.read_byte_record(&mut record) {
            let mut start = record.position().map_or(counted_to, |p| usize::try_from(p.byte()).unwrap_or(counted_to));
            while matches!(bytes.get(start), Some(b'\n' | b'\r')) {
                start += 1;
            }
            let start = start.clamp(counted_to, bytes.len());
            line += line_breaks(&bytes[counted_to..start]);
            counted_to = start;
            if record.len() != self.width {
                let end = usize::try_from(reader.position().byte()).unwrap_or(bytes.len()).clamp(start, bytes.len());
                let body = bytes[start..end].trim_ascii_end();
                let last = line + line_breaks(body);
                let reason = if last > line {
                    format!(
                        "row on lines {line}-{last} has {} fields, the header has {} (a quoted field spans lines; is a quote missing?)",
                        record.len(),
                        self.width
                    )
                } else {
                    format!("row has {} fields, the header has {}", record.len(), self.width)
                };
                out.push(Parsed::Rejected(RejectedRow { line, errors: vec![self.error(line, None, reason)] }));
                continue;
            }
            let mut cells =
                Cells { file: &self.file, line, record: &record, columns: &self.columns, errors: Vec::new() };
            let parsed = (self.parse)(&mut cells, &self.options);
            let mut errors = cells.errors;
            match parsed {
                Some(r) if errors.is_empty() => {
                    let key = self.id_of.map(|id_of| Ids::hash(id_of(&r)));
                    out.push(Parsed::Record(line, r, key));
                }
                _ => {
                    if errors.is_empty() {
                        errors.push(self.error(line, None, "row rejected".to_owned()));
                    }
                    out.push(Parsed::Rejected(RejectedRow { line, errors }));
                }
            }
        }
        if let Some(broken) = &chunk.broken {
            let line = broken.line();
            let column = match broken {
                Broken::Unterminated { field, .. } => self.header.get(*field).map(String::as_str),
                Broken::TooLong { .. } => None,
            };
            let reason = broken_reason(broken, &self.header);
            out.push(Parsed::Rejected(RejectedRow { line, errors: vec![self.error(line, column, reason)] }));
        }
    }
}

/// Why a row that could not be split is rejected.
fn broken_reason(broken: &Broken, header: &[String]) -> String {
    match broken {
        Broken::Unterminated { quote_line, field, swallowed, to_end, .. } => {
            let column = header.get(*field).map(|c| format!(" in column `{c}`")).unwrap_or_default();
            let extent = if *to_end {
                format!("runs to the end of the file, over {swallowed} more line(s)")
            } else {
                format!("is still open after {} MiB, over {swallowed} more line(s)", MAX_ROW_BYTES >> 20)
            };
            format!(
                "unterminated quote: the quote opened on line {quote_line}{column} never closes ({extent}); \
                 the row is rejected and reading resumes on line {}",
                quote_line + 1
            )
        }
        Broken::TooLong { .. } => {
            format!(
                "the row is longer than {} MiB without a line end; reading resumes on the next line",
                MAX_ROW_BYTES >> 20
            )
        }
    }
}

/// The repeated-id rule, in file order: the first accepted row of an id
/// keeps it, and a later accepted row with the same id is rejected.
///
/// The ids seen are kept compactly, as this is the one piece of an import's
/// memory that grows with its rows: their bytes in 1 MiB blocks, and a hash
/// table of 16-byte entries (where the id is, and its line).
#[derive(Default)]
pub(crate) struct Ids {
    blocks: Vec<Vec<u8>>,
    table: hashbrown::HashTable<IdEntry>,
}

/// Where a seen id's bytes are (block, offset, length packed) and the line
/// that first held it.
#[derive(Clone, Copy)]
pub(crate) struct IdEntry {
    at: u64,
    line: u64,
}

const ID_BLOCK: usize = 1 << 20;

impl Ids {
    /// The hash the table uses for an id.
    pub(crate) fn hash(id: &str) -> u64 {
        use std::hash::BuildHasher;
        foldhash::fast::FixedState::with_seed(0x1d5).hash_one(id)
    }

    fn bytes(blocks: &[Vec<u8>], at: u64) -> &[u8] {
        let (block, offset, len) = ((at >> 28) as usize, ((at >> 8) & 0xF_FFFF) as usize, (at & 0xFF) as usize);
        blocks.get(block).and_then(|b| b.get(offset..offset + len)).unwrap_or_default()
    }

    /// Keeps `id` (at most 255 bytes, as every id is) and returns where it is.
    fn store(&mut self, id: &[u8]) -> u64 {
        let len = id.len().min(0xFF);
        if self.blocks.last().is_none_or(|b| b.len() + len > ID_BLOCK) {
            self.blocks.push(Vec::with_capacity(ID_BLOCK));
        }
        let block = self.blocks.len() - 1;
        let last = &mut self.blocks[block];
        let offset = last.len();
        last.extend_from_slice(&id[..len]);
        ((block as u64) << 28) | ((offset as u64) << 8) | len as u64
    }

    /// The line that first held `id` (hashed as [`Ids::hash`]), or records it on `line`.
    fn first_or_insert(&mut self, id: &str, hash: u64, line: u64) -> Option<u64> {
        let blocks = &self.blocks;
        if let Some(seen) = self.table.find(hash, |e| Ids::bytes(blocks, e.at) == id.as_bytes()) {
            return Some(seen.line);
        }
        let at = self.store(id.as_bytes());
        let blocks = &self.blocks;
        self.table.insert_unique(hash, IdEntry { at, line }, |e| {
            std::str::from_utf8(Ids::bytes(blocks, e.at)).map_or(0, Ids::hash)
        });
        None
    }

    /// Applies the rule to one chunk's rows, in file order, handing each
    /// row on as a kept record or a rejected row.
    pub(crate) fn settle<T>(
        &mut self,
        schema: &Schema<T>,
        rows: Vec<Parsed<T>>,
        mut each: impl FnMut(Result<(u64, T), RejectedRow>),
    ) {
        for row in rows {
            match row {
                Parsed::Record(line, record, hash) => {
                    let first = match (schema.id_of, hash) {
                        (Some(id_of), Some(hash)) => self.first_or_insert(id_of(&record), hash, line),
                        _ => None,
                    };
                    match first {
                        Some(first) => {
                            let id = schema.id_of.map(|id_of| id_of(&record).to_owned()).unwrap_or_default();
                            let reason = format!("duplicate id `{id}`, first accepted on line {first}");
                            each(Err(RejectedRow { line, errors: vec![schema.error(line, Some("id"), reason)] }));
                        }
                        None => each(Ok((line, record))),
                    }
                }
                Parsed::Rejected(row) => each(Err(row)),
            }
        }
    }
}

/// The rows of one file as records, one at a time.
pub struct Rows<R: io::Read, T> {
    splitter: Splitter<R>,
    schema: Schema<T>,
    /// The first chunk's rows after the header.
    first: Option<Chunk>,
    queue: VecDeque<Result<(u64, T), RejectedRow>>,
    ids: Ids,
    report: ImportReport,
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
    fn open(
        file: &str,
        reader: R,
        known: &'static [&'static str],
        required: &[&str],
        parse: Parser<T>,
        id_of: Option<fn(&T) -> &str>,
        options: ImportOptions,
    ) -> Result<Rows<R, T>, ImportError> {
        let mut splitter = Splitter::new(reader, CHUNK_BYTES);
        let (schema, first, warnings) = Schema::open(file, &mut splitter, known, required, parse, id_of, options)?;
        let report = ImportReport { file: file.to_owned(), warnings, ..ImportReport::default() };
        Ok(Rows {
            splitter,
            schema,
            first,
            queue: VecDeque::new(),
            ids: Ids::default(),
            report,
            last_line: 0,
            done: false,
        })
    }

    /// Reads the rest of the file in chunks of about `bytes` (default 1 MiB):
    /// smaller chunks spread a small file over more threads in
    /// [`Rows::par_for_each`].
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.splitter.set_chunk_bytes(bytes);
        // The rows read with the header are split again at the new size.
        if let Some(first) = self.first.take()
            && let Err(first) = self.splitter.unread(first)
        {
            self.first = Some(first);
        }
        self
    }

    /// Whether the file's header has this (known) column, e.g. `outage`:
    /// a caller can tell "no outage recorded" from "outages not exported".
    pub fn has_column(&self, name: &str) -> bool {
        self.schema.columns.contains_key(name)
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

    /// Parses the next chunk into the queue; false at the end of the input.
    fn refill(&mut self) -> bool {
        let chunk = match self.first.take() {
            Some(chunk) => chunk,
            None => match self.splitter.next_chunk() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return false,
                Err(e) => {
                    self.report.fatal = Some(read_failure(&self.schema.file, self.last_line, &e));
                    return false;
                }
            },
        };
        let mut rows = Vec::new();
        self.schema.parse_chunk(&chunk, &mut rows);
        let Rows { ids, schema, queue, .. } = self;
        ids.settle(schema, rows, |row| queue.push_back(row));
        true
    }
}

/// What a read error says: the file, the last line read, and the cause (a
/// truncated or corrupt compressed stream among them).
fn read_failure(file: &str, last_line: u64, e: &io::Error) -> String {
    format!("{file}: read error after line {last_line}: {e}; nothing after it was read")
}

impl<R: io::Read, T> Iterator for Rows<R, T> {
    type Item = Result<T, RejectedRow>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.queue.pop_front() {
                return Some(match row {
                    Ok((line, record)) => {
                        self.last_line = line;
                        self.report.accepted += 1;
                        Ok(record)
                    }
                    Err(rejected) => {
                        self.last_line = rejected.line;
                        self.report.rejected += 1;
                        self.report.errors.extend(rejected.errors.iter().cloned());
                        Err(rejected)
                    }
                });
            }
            if self.done || !self.refill() {
                self.done = true;
                return None;
            }
        }
    }
}

fn incident_id(r: &IncidentRecord) -> &str {
    r.id.as_str()
}

fn change_id(r: &ChangeRecord) -> &str {
    r.id.as_str()
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
    Rows::open(file, reader, INCIDENT_COLUMNS, INCIDENT_REQUIRED, parse_incident, Some(incident_id), options)
}

/// Rows of a `changes.csv`.
pub fn changes<R: io::Read>(file: &str, reader: R) -> Result<Rows<R, ChangeRecord>, ImportError> {
    Rows::open(file, reader, CHANGE_COLUMNS, CHANGE_REQUIRED, parse_change, Some(change_id), ImportOptions::default())
}

/// Rows of an `outages.csv`.
pub fn outages<R: io::Read>(file: &str, reader: R) -> Result<Rows<R, OutageRecord>, ImportError> {
    Rows::open(file, reader, OUTAGE_COLUMNS, OUTAGE_REQUIRED, parse_outage, None, ImportOptions::default())
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
