//! Reading the Rabobank ITIL data of the BPI Challenge 2014 (B.F. van Dongen,
//! 4TU.ResearchData, DOI 10.4121/uuid:c3e5d162-0cfd-4bb0-bd82-af5268819c35)
//! into incidents replayed through the incident state machine and change
//! records for the metrics crate.
//!
//! The data's licence is not clear (the 4TU General Terms of Use, as third
//! parties record it), so it is read from `../shared/data/` and never copied
//! into this repository; the tests below use rows made up for them.
//!
//! # Format
//!
//! `Detail_Incident.csv` and `Detail_Change.csv`: `;`-separated, CRLF, ASCII,
//! no quoting, one header row; columns are found by name. Incident times are
//! `dd/mm/yyyy HH:MM:SS`, change times `d-m-yyyy H:MM`. `#N/B` (not
//! available) and `#MULTIVALUE` (several values, only counted) are read as
//! empty. The incident file ends with 203 rows of empty fields: they are
//! counted as blank rows, not rejected. Any other row that cannot be used is
//! rejected with its file, line and reason; nothing is dropped silently.
//!
//! A row with a record time after the end of the extract ([`extract_end`],
//! 2014-04-01 in Amsterdam) is rejected as a data-entry error: ten changes
//! (19 rows) have an actual start or end between April 2014 and 2021,
//! after their record was closed.
//!
//! # Mapping
//!
//! **Time zone.** The timestamps carry no zone; they are Rabobank's local time
//! and are read in `Europe/Amsterdam`. A local time in the spring-forward gap
//! maps to the end of the gap, one in the fall-back overlap to the earlier
//! instant; both are counted (`dst_adjusted`).
//!
//! **Incidents** (one row each) are replayed through the incident machine:
//!
//! * `Open Time` -> `open`. The service is the affected service component
//!   (`Service Component WBS (aff)`); the category is the affected CI and the
//!   knowledge document, `CI Name (aff)/KM number`. The scorecard's repeat key
//!   (service, category) is therefore *same service component, same affected
//!   CI, same KM document* within 30 days: the affected CI alone is too coarse
//!   (over 90 % of incidents have another on the same CI within 30 days).
//! * Priority `1..5` is kept exactly: BPIC scores impact and urgency on five
//!   levels, the domain on three and derives the priority from them, so the
//!   incident is opened with the (impact, urgency) pair the default matrix
//!   maps to the logged priority (P1 = 1x1, P2 = 1x2, P3 = 2x2, P4 = 2x3,
//!   P5 = 3x3). The logged impact and urgency are not carried.
//! * Kind: category `incident` -> production, or desktop when the affected CI
//!   type is `computer`, `displaydevice`, `officeelectronics` or `Phone`;
//!   `request for information` and `request for change` -> service request;
//!   `complaint` -> business. Detection source: user when the incident has a
//!   related interaction (a call to the service desk), service desk otherwise;
//!   the data has no monitoring source.
//! * `Reopen Time` -> a resolution and a reopen (count 1) at that instant: the
//!   first resolution's time is not in the data, and the reopen instant is the
//!   latest it can have been. Only the last reopen is recorded, so the reopen
//!   count is at most 1.
//! * `Resolved Time` -> `resolve` (service restored then). Resolved by: `l1`
//!   when `# Reassignments` is 0 (it never left the first group), `l2`
//!   otherwise, a proxy since the data names no tier. Resolution code
//!   `no_fault_found` for closure code `No error - works as designed`, `fixed`
//!   otherwise.
//! * `Close Time` -> `close`, when `Status` is `Closed` (the 9 `Work in
//!   progress` incidents are left resolved). An incident closed without a
//!   `Resolved Time` (1,780 of them) cannot be closed by the machine, which
//!   refuses to close an unresolved incident: the refusal is counted under its
//!   typed reason and the incident stays open, so it is censored (unrestored)
//!   in MTTR rather than given an invented restore time.
//! * Not used: `Handle Time` (effort), `Alert Status` (always `closed`), the
//!   caused-by CI, `# Related Incidents` (children) and `Related Change`
//!   (its direction is ambiguous: many precede the change). No SLA is in the
//!   data, so no resolution target is judged.
//!
//! **Changes** (one row per change x affected CI, grouped by `Change ID`)
//! become [`ChangeRecord`]s (they are not replayed: the data has no approvals
//! or states to drive the change machines with):
//!
//! * type: `emergency` when `Emergency Change` is `Y`; `standard` for the
//!   `Standard Change Type` and `Standard Activity Type` families; `normal`
//!   otherwise (`Release Type`, `Master Change`).
//! * service: the first row's `Service Component WBS (aff)` (changes on
//!   several CIs are counted in `multi_ci`).
//! * requested at `Change record Open Time`; planned window `Planned
//!   Start`..`Planned End`; started at `Actual Start`; completed at `Actual
//!   End`. A change without an `Actual End` was not implemented (outcome
//!   none). Change-level fields are taken from the first row that has a value
//!   (the rows of 83 changes disagree; counted in `inconsistent`).
//! * outcome: **failed** when `# Related Incidents` ("incidents caused by this
//!   change", the largest over its rows) is not zero, successful otherwise.
//!   There is no rollback data, so the remediation is always `none` and the
//!   rollback failure rate has no rollback attempts to count: "no data".
//!
//! The extract holds only records *closed* between 2013-10-01 and 2014-03-31,
//! so counts near the period's edges are biased low.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use itsm_core::id::{ActorId, ChangeId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentError, OpenIncident, ResolutionCode};
use itsm_core::records::ChangeRecord;
use itsm_core::vocabulary::{
    ChangeOutcome, ChangeType, DetectionSource, Impact, IncidentKind, Priority, Remediation, ResolvedBy, Urgency,
};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, ExecuteError, Role, Timestamp};

pub use crate::servicenow::Replayed;

/// The zone the naive timestamps are read in.
pub const ZONE: Tz = chrono_tz::Europe::Amsterdam;

/// The end of the extract, 2014-04-01T00:00 in Amsterdam: the data holds
/// records closed before it, so a record time after it is a data-entry error
/// (a few changes have an actual end in 2015 or 2021) and its row is rejected.
pub fn extract_end() -> Timestamp {
    Timestamp::parse_rfc3339("2014-04-01T00:00:00+02:00").expect("literal time is valid")
}

/// Checks that no time of a row is after [`extract_end`].
fn within_extract(times: &[(&str, Option<Timestamp>)]) -> Result<(), String> {
    let end = extract_end();
    match times.iter().find(|(_, t)| t.is_some_and(|t| t > end)) {
        Some((name, Some(t))) => Err(format!("{name} {t} is after the extract ends ({end})")),
        Some((_, None)) | None => Ok(()),
    }
}

/// The importing actor: an agent of tenant `bpic-2014`.
pub fn actor() -> Actor {
    Actor::new(
        ActorId::new("bpic2014-import").expect("literal id is valid"),
        TenantId::new("bpic-2014").expect("literal id is valid"),
        [Role::Agent],
    )
}

/// A row that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRejection {
    /// The file name as given.
    pub file: String,
    /// The 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// The record's id, when the row has one.
    pub id: Option<String>,
    /// Why.
    pub reason: String,
}

impl fmt::Display for RowRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{}:{}: {id}: {}", self.file, self.line, self.reason),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.reason),
        }
    }
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum Bpic2014Error {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file has no header line.
    #[error("{file}: the file is empty (no header line)")]
    Empty {
        /// The file.
        file: String,
    },
    /// A required column is missing from the header.
    #[error("{file}: the header has no `{column}` column")]
    MissingColumn {
        /// The file.
        file: String,
        /// The column.
        column: &'static str,
    },
}

/// What reading and replaying `Detail_Incident.csv` gave.
#[derive(Debug, Default)]
pub struct IncidentImport {
    /// Data rows read (blank ones included).
    pub rows: u64,
    /// Rows whose every field is empty (the file's 203 trailing rows).
    pub blank_rows: u64,
    /// Rows not used, with file, line and reason.
    pub rejected: Vec<RowRejection>,
    /// Replayed incidents, by id.
    pub incidents: BTreeMap<String, Replayed>,
    /// Commands accepted by the machine, by command name.
    pub accepted: BTreeMap<String, u64>,
    /// Commands refused by the machine, by typed reason (`command while state: reason`).
    pub refused: BTreeMap<String, u64>,
    /// Incidents whose `Status` is not `Closed` (their close time is not replayed).
    pub not_closed: u64,
    /// Local times in a DST gap or overlap (see the module docs).
    pub dst_adjusted: u64,
}

/// What reading `Detail_Change.csv` gave.
#[derive(Debug, Default)]
pub struct ChangeImport {
    /// Data rows read (blank ones included).
    pub rows: u64,
    /// Rows whose every field is empty.
    pub blank_rows: u64,
    /// Rows not used, with file, line and reason.
    pub rejected: Vec<RowRejection>,
    /// One record per change, in order of first appearance.
    pub records: Vec<ChangeRecord>,
    /// Changes with more than one affected-CI row.
    pub multi_ci: u64,
    /// Changes whose rows disagree on a change-level field.
    pub inconsistent: u64,
    /// Changes with `# Related Incidents` above zero (mapped to outcome failed).
    pub with_related_incidents: u64,
    /// Local times in a DST gap or overlap.
    pub dst_adjusted: u64,
}

fn is_placeholder(text: &str) -> bool {
    matches!(text, "#N/B" | "#MULTIVALUE")
}

/// A cell's value: `None` when empty or a placeholder.
fn value(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty() && !is_placeholder(text)).then_some(text)
}

/// Reads a local time in [`ZONE`]; `Err` names the problem.
fn local_time(text: &str, format: &str, dst_adjusted: &mut u64) -> Result<Timestamp, String> {
    let naive = NaiveDateTime::parse_from_str(text, format).map_err(|e| format!("`{text}` is not a time ({e})"))?;
    match ZONE.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => {
            Timestamp::try_from_utc(t.to_utc()).ok_or_else(|| format!("`{text}` is outside the years 0000 to 9999"))
        }
        chrono::LocalResult::Ambiguous(_, _) | chrono::LocalResult::None => {
            *dst_adjusted += 1;
            itsm_core::change::schedule::local_to_instant(ZONE, naive, true)
                .ok_or_else(|| format!("`{text}` does not exist in {ZONE}"))
        }
    }
}

/// The cell at `col` ("" when the row is short).
fn cell<'a>(row: &[&'a str], col: usize) -> &'a str {
    row.get(col).map(|c| c.trim()).unwrap_or("")
}

fn optional_time(
    row: &[&str],
    col: usize,
    name: &str,
    format: &str,
    dst: &mut u64,
) -> Result<Option<Timestamp>, String> {
    match value(cell(row, col)) {
        Some(text) => local_time(text, format, dst).map(Some).map_err(|e| format!("{name}: {e}")),
        None => Ok(None),
    }
}

fn count(row: &[&str], col: usize, name: &str) -> Result<u64, String> {
    match value(cell(row, col)) {
        Some(text) => text.parse().map_err(|_| format!("{name}: `{text}` is not a count")),
        None => Ok(0),
    }
}

/// One line: its number and its text, or why it is not text.
type Line = (u64, Result<String, String>);

/// The file's lines, numbered from 1 (the header), without line ends. The
/// format has no quoting, so one line is one record.
struct Lines<R> {
    file: String,
    input: std::io::BufReader<R>,
    number: u64,
    buffer: Vec<u8>,
}

impl<R: Read> Lines<R> {
    fn new(file: &str, input: R) -> Self {
        Lines { file: file.to_owned(), input: std::io::BufReader::new(input), number: 0, buffer: Vec::new() }
    }

    /// The next line as text (`Err(reason)` when it is not UTF-8), or `None` at the end.
    fn next_line(&mut self) -> Result<Option<Line>, Bpic2014Error> {
        use std::io::BufRead;
        self.buffer.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.buffer)
            .map_err(|source| Bpic2014Error::Io { file: self.file.clone(), source })?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        while matches!(self.buffer.last(), Some(b'\n' | b'\r')) {
            self.buffer.pop();
        }
        let text = std::str::from_utf8(&self.buffer).map(str::to_owned).map_err(|e| format!("not UTF-8 text: {e}"));
        Ok(Some((self.number, text)))
    }

    /// Reads the header and finds the `names` columns in it.
    fn columns(&mut self, names: &[&'static str]) -> Result<Vec<usize>, Bpic2014Error> {
        let header = match self.next_line()? {
            Some((_, Ok(text))) => text,
            Some((_, Err(_))) | None => return Err(Bpic2014Error::Empty { file: self.file.clone() }),
        };
        let header = header.trim_start_matches('\u{feff}');
        let fields: Vec<&str> = header.split(';').map(str::trim).collect();
        names
            .iter()
            .map(|name| {
                fields
                    .iter()
                    .position(|h| h == name)
                    .ok_or(Bpic2014Error::MissingColumn { file: self.file.clone(), column: name })
            })
            .collect()
    }
}

const INCIDENT_TIME: &str = "%d/%m/%Y %H:%M:%S";
const CHANGE_TIME: &str = "%d-%m-%Y %H:%M";

const INCIDENT_COLUMNS: [&str; 16] = [
    "Incident ID",
    "Status",
    "Priority",
    "Category",
    "KM number",
    "# Reassignments",
    "Open Time",
    "Reopen Time",
    "Resolved Time",
    "Close Time",
    "Closure Code",
    "CI Name (aff)",
    "CI Type (aff)",
    "Service Component WBS (aff)",
    "# Related Interactions",
    "Related Interaction",
];

/// One usable incident row.
#[derive(Debug, Clone)]
struct IncidentRow {
    id: IncidentId,
    closed: bool,
    priority: Priority,
    kind: IncidentKind,
    category: String,
    service: ServiceId,
    source: DetectionSource,
    reassigned: bool,
    open: Timestamp,
    reopen: Option<Timestamp>,
    resolved: Option<Timestamp>,
    close: Option<Timestamp>,
    code: ResolutionCode,
}

/// The (impact, urgency) pair the default matrix maps to `priority`.
pub fn levels_for(priority: Priority) -> (Impact, Urgency) {
    match priority {
        Priority::P1 => (Impact::High, Urgency::High),
        Priority::P2 => (Impact::High, Urgency::Medium),
        Priority::P3 => (Impact::Medium, Urgency::Medium),
        Priority::P4 => (Impact::Medium, Urgency::Low),
        Priority::P5 => (Impact::Low, Urgency::Low),
    }
}

fn kind_of(category: &str, ci_type: &str) -> Option<IncidentKind> {
    Some(match category {
        "incident" => match ci_type {
            "computer" | "displaydevice" | "officeelectronics" | "Phone" => IncidentKind::Desktop,
            _ => IncidentKind::Production,
        },
        "request for information" | "request for change" => IncidentKind::ServiceRequest,
        "complaint" => IncidentKind::Business,
        _ => return None,
    })
}

fn incident_row(row: &[&str], idx: &[usize], dst: &mut u64) -> Result<IncidentRow, String> {
    let get = |i: usize| cell(row, idx[i]);
    let id = IncidentId::new(get(0)).map_err(|e| e.to_string())?;
    let priority =
        value(get(2)).and_then(Priority::parse).ok_or_else(|| format!("Priority `{}` is not 1..5", get(2)))?;
    let category = value(get(3)).ok_or("no Category")?;
    let kind = kind_of(category, get(12)).ok_or_else(|| format!("unknown Category `{category}`"))?;
    let ci = value(get(11)).ok_or("no CI Name (aff)")?;
    let service = value(get(13)).ok_or("no Service Component WBS (aff)")?;
    let service = ServiceId::new(service).map_err(|e| e.to_string())?;
    let km = value(get(4)).unwrap_or("-");
    let open = value(get(6)).ok_or("no Open Time")?;
    let open = local_time(open, INCIDENT_TIME, dst).map_err(|e| format!("Open Time: {e}"))?;
    let reopen = optional_time(row, idx[7], "Reopen Time", INCIDENT_TIME, dst)?;
    let resolved = optional_time(row, idx[8], "Resolved Time", INCIDENT_TIME, dst)?;
    let close = optional_time(row, idx[9], "Close Time", INCIDENT_TIME, dst)?;
    within_extract(&[
        ("Open Time", Some(open)),
        ("Reopen Time", reopen),
        ("Resolved Time", resolved),
        ("Close Time", close),
    ])?;
    let reassignments = count(row, idx[5], "# Reassignments")?;
    let interactions = count(row, idx[14], "# Related Interactions")?;
    let source =
        if interactions > 0 || value(get(15)).is_some() { DetectionSource::User } else { DetectionSource::ServiceDesk };
    let code =
        if get(10) == "No error - works as designed" { ResolutionCode::NoFaultFound } else { ResolutionCode::Fixed };
    Ok(IncidentRow {
        id,
        closed: get(1) == "Closed",
        priority,
        kind,
        category: format!("{ci}/{km}"),
        service,
        source,
        reassigned: reassignments > 0,
        open,
        reopen,
        resolved,
        close,
        code,
    })
}

fn refusal(err: &IncidentError) -> String {
    match err {
        IncidentError::InvalidTransition { state, command, .. } => {
            format!("{command} while {state}: invalid transition")
        }
        IncidentError::Invalid { state, command, reason, .. } => {
            let kind = if reason.contains("precedes") { "time went backwards" } else { reason.as_str() };
            format!("{command} while {state}: {kind}")
        }
        IncidentError::Forbidden { command, .. } => format!("{command}: forbidden"),
        IncidentError::NotFound { command } => format!("{command}: not found"),
        IncidentError::AlreadyExists { .. } => "open: already exists".to_owned(),
    }
}

fn replay_row(
    row: &IncidentRow,
    actor: &Actor,
    config: &DomainConfig,
    out: &mut IncidentImport,
) -> Result<Replayed, String> {
    let (impact, urgency) = levels_for(row.priority);
    let title = Text::new(format!("{} (BPIC 2014)", row.id)).map_err(|e| e.to_string())?;
    let mut open = OpenIncident::new(row.id.clone(), row.kind, row.service.clone(), title, impact, urgency, row.source);
    open.category = Some(Text::new(row.category.as_str()).map_err(|e| e.to_string())?);
    let open = IncidentCommand::Open(open);
    let (mut state, mut events) = Incident::execute(None, &open, &Context::new(actor, row.open, config))
        .map_err(|e| format!("open refused: {e}"))?;
    *out.accepted.entry("open".to_owned()).or_default() += 1;
    let mut commands = vec![(row.open, open)];
    let resolved_by = if row.reassigned { ResolvedBy::L2 } else { ResolvedBy::L1 };
    let resolve = IncidentCommand::Resolve { code: row.code, resolved_by, restored_at: None };
    let mut steps: Vec<(Timestamp, IncidentCommand)> = Vec::new();
    if let Some(at) = row.reopen {
        steps.push((at, resolve.clone()));
        steps.push((
            at,
            IncidentCommand::Reopen { reason: Text::new("reopened (BPIC 2014 Reopen Time)").unwrap_or_default() },
        ));
    }
    if let Some(at) = row.resolved {
        steps.push((at, resolve));
    }
    if let Some(at) = row.close.filter(|_| row.closed) {
        steps.push((at, IncidentCommand::Close));
    }
    for (at, command) in steps {
        match Incident::execute(Some(state.clone()), &command, &Context::new(actor, at, config)) {
            Ok((next, evs)) => {
                state = next;
                events.extend(evs);
                *out.accepted.entry(command.name().to_owned()).or_default() += 1;
                commands.push((at, command));
            }
            Err(ExecuteError::Rejected(err)) => *out.refused.entry(refusal(&err)).or_default() += 1,
            Err(other) => *out.refused.entry(format!("{}: {other}", command.name())).or_default() += 1,
        }
    }
    Ok(Replayed { state, events, commands })
}

fn blank(row: &[&str]) -> bool {
    row.iter().all(|f| f.trim().is_empty())
}

/// Reads `Detail_Incident.csv` (plain text; wrap a `.gz` in a decoder) and
/// replays every usable row through the incident machine.
pub fn read_incidents(file: &str, input: impl Read, config: &DomainConfig) -> Result<IncidentImport, Bpic2014Error> {
    let mut lines = Lines::new(file, input);
    let idx = lines.columns(&INCIDENT_COLUMNS)?;
    let actor = actor();
    let mut out = IncidentImport::default();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    while let Some((line, text)) = lines.next_line()? {
        out.rows += 1;
        let reject = |out: &mut IncidentImport, id: Option<&str>, reason: String| {
            out.rejected.push(RowRejection { file: file.to_owned(), line, id: id.map(str::to_owned), reason });
        };
        let text = match text {
            Ok(text) => text,
            Err(reason) => {
                reject(&mut out, None, reason);
                continue;
            }
        };
        let record: Vec<&str> = text.split(';').collect();
        if blank(&record) {
            out.blank_rows += 1;
            continue;
        }
        let id = value(cell(&record, idx[0]));
        if let Some(id) = id {
            if let Some(first) = first_line.get(id) {
                reject(&mut out, Some(id), format!("duplicate Incident ID (first at line {first})"));
                continue;
            }
            first_line.insert(id.to_owned(), line);
        }
        let row = match incident_row(&record, &idx, &mut out.dst_adjusted) {
            Ok(row) => row,
            Err(reason) => {
                reject(&mut out, id, reason);
                continue;
            }
        };
        if !row.closed {
            out.not_closed += 1;
        }
        match replay_row(&row, &actor, config, &mut out) {
            Ok(done) => {
                out.incidents.insert(row.id.as_str().to_owned(), done);
            }
            Err(reason) => reject(&mut out, id, reason),
        }
    }
    Ok(out)
}

const CHANGE_COLUMNS: [&str; 15] = [
    "Change ID",
    "Service Component WBS (aff)",
    "Change Type",
    "Emergency Change",
    "Planned Start",
    "Planned End",
    "Actual Start",
    "Actual End",
    "Change record Open Time",
    "# Related Incidents",
    "CI Name (aff)",
    "Risk Assessment",
    "CAB-approval needed",
    "Change record Close Time",
    "Originated from",
];

/// One usable change row.
#[derive(Debug, Clone, PartialEq)]
struct ChangeRow {
    service: ServiceId,
    change_type: ChangeType,
    planned_start: Option<Timestamp>,
    planned_end: Option<Timestamp>,
    started: Option<Timestamp>,
    completed: Option<Timestamp>,
    requested: Option<Timestamp>,
    related_incidents: u64,
    /// The change-level fields as text, to detect rows that disagree.
    fields: Vec<String>,
}

/// The change type for `Change Type` and `Emergency Change`.
pub fn change_type_of(change_type: &str, emergency: &str) -> ChangeType {
    if emergency == "Y" {
        ChangeType::Emergency
    } else if change_type.starts_with("Standard ") {
        ChangeType::Standard
    } else {
        ChangeType::Normal
    }
}

fn change_row(row: &[&str], idx: &[usize], dst: &mut u64) -> Result<ChangeRow, String> {
    let get = |i: usize| cell(row, idx[i]);
    let service = value(get(1)).ok_or("no Service Component WBS (aff)")?;
    let service = ServiceId::new(service).map_err(|e| e.to_string())?;
    let kind = value(get(2)).ok_or("no Change Type")?;
    let time = |i: usize, name: &str, dst: &mut u64| optional_time(row, idx[i], name, CHANGE_TIME, dst);
    let planned_start = time(4, "Planned Start", dst)?;
    let planned_end = time(5, "Planned End", dst)?;
    let started = time(6, "Actual Start", dst)?;
    let completed = time(7, "Actual End", dst)?;
    let requested = time(8, "Change record Open Time", dst)?;
    if let (Some(s), Some(e)) = (started, completed)
        && e < s
    {
        return Err(format!("Actual End {e} is before Actual Start {s}"));
    }
    within_extract(&[("Actual Start", started), ("Actual End", completed), ("Change record Open Time", requested)])?;
    let related_incidents = count(row, idx[9], "# Related Incidents")?;
    let fields = [2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14].iter().map(|i| get(*i).to_owned()).collect();
    Ok(ChangeRow {
        service,
        change_type: change_type_of(kind, get(3)),
        planned_start,
        planned_end,
        started,
        completed,
        requested,
        related_incidents,
        fields,
    })
}

/// Reads `Detail_Change.csv` (plain text) into one record per change.
pub fn read_changes(file: &str, input: impl Read) -> Result<ChangeImport, Bpic2014Error> {
    let mut lines = Lines::new(file, input);
    let idx = lines.columns(&CHANGE_COLUMNS)?;
    let mut out = ChangeImport::default();
    let mut order: Vec<ChangeId> = Vec::new();
    let mut rows: HashMap<ChangeId, Vec<ChangeRow>> = HashMap::new();
    while let Some((line, text)) = lines.next_line()? {
        out.rows += 1;
        let text = match text {
            Ok(text) => text,
            Err(reason) => {
                out.rejected.push(RowRejection { file: file.to_owned(), line, id: None, reason });
                continue;
            }
        };
        let record: Vec<&str> = text.split(';').collect();
        if blank(&record) {
            out.blank_rows += 1;
            continue;
        }
        let id_text = value(cell(&record, idx[0])).map(str::to_owned);
        let parsed = id_text
            .as_deref()
            .ok_or_else(|| "no Change ID".to_owned())
            .and_then(|id| ChangeId::new(id).map_err(|e| e.to_string()))
            .and_then(|id| change_row(&record, &idx, &mut out.dst_adjusted).map(|row| (id, row)));
        match parsed {
            Ok((id, row)) => {
                let entry = rows.entry(id.clone()).or_default();
                if entry.is_empty() {
                    order.push(id);
                }
                entry.push(row);
            }
            Err(reason) => out.rejected.push(RowRejection { file: file.to_owned(), line, id: id_text, reason }),
        }
    }
    for id in order {
        let Some(group) = rows.remove(&id) else { continue };
        let Some(first) = group.first() else { continue };
        if group.len() > 1 {
            out.multi_ci += 1;
        }
        if group.iter().any(|r| r.fields != first.fields) {
            out.inconsistent += 1;
        }
        let pick = |f: fn(&ChangeRow) -> Option<Timestamp>| group.iter().find_map(f);
        let related = group.iter().map(|r| r.related_incidents).max().unwrap_or(0);
        if related > 0 {
            out.with_related_incidents += 1;
        }
        let completed = pick(|r| r.completed);
        let outcome = completed.map(|_| if related > 0 { ChangeOutcome::Failed } else { ChangeOutcome::Successful });
        out.records.push(ChangeRecord {
            id,
            change_type: first.change_type,
            service: first.service.clone(),
            requested_at: pick(|r| r.requested),
            planned_start: pick(|r| r.planned_start),
            planned_end: pick(|r| r.planned_end),
            started_at: pick(|r| r.started),
            completed_at: completed,
            outcome,
            remediation: Remediation::None,
            automatic_rollback: false,
            authorized_at: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INCIDENT_HEADER: &str = "CI Name (aff);CI Type (aff);CI Subtype (aff);Service Component WBS (aff);Incident ID;Status;Impact;Urgency;Priority;Category;KM number;Alert Status;# Reassignments;Open Time;Reopen Time;Resolved Time;Close Time;Handle Time (Hours);Closure Code;# Related Interactions;Related Interaction;# Related Incidents;# Related Changes;Related Change;CI Name (CBy);CI Type (CBy);CI Subtype (CBy);ServiceComp WBS (CBy);;;";

    fn incident(fields: &str) -> String {
        format!("{fields};;;\r\n")
    }

    /// Made-up rows in the file's shape (not taken from the data set).
    fn incidents_csv() -> String {
        let mut s = format!("{INCIDENT_HEADER}\r\n");
        // Resolved and closed, first line.
        s += &incident(
            "APP1;application;Web;WBS1;IM1;Closed;4;4;4;incident;KM1;closed;0;01/10/2013 09:00:00;;01/10/2013 11:30:00;01/10/2013 12:00:00;1,5;Software;1;SD1;;;;APP1;application;Web;WBS1",
        );
        // Reopened, reassigned, desktop.
        s += &incident(
            "PC1;computer;Laptop;WBS2;IM2;Closed;3;3;3;incident;KM2;closed;2;02/10/2013 08:00:00;03/10/2013 10:00:00;03/10/2013 12:00:00;04/10/2013 08:00:00;2,0;Hardware;0;;;;;PC1;computer;Laptop;WBS2",
        );
        // Closed without a resolution: the close is refused.
        s += &incident(
            "APP1;application;Web;WBS1;IM3;Closed;5;5;5;request for information;#N/B;closed;0;05/10/2013 09:00:00;;;05/10/2013 10:00:00;0,1;;1;SD3;;;;APP1;application;Web;WBS1",
        );
        // Bad priority, bad time, duplicate id.
        s += &incident(
            "APP1;application;Web;WBS1;IM4;Closed;4;4;9;incident;KM1;closed;0;06/10/2013 09:00:00;;;06/10/2013 10:00:00;0,1;;1;SD4;;;;APP1;application;Web;WBS1",
        );
        s += &incident(
            "APP1;application;Web;WBS1;IM5;Closed;4;4;4;incident;KM1;closed;0;2013-10-06 09:00;;;06/10/2013 10:00:00;0,1;;1;SD5;;;;APP1;application;Web;WBS1",
        );
        s += &incident(
            "APP1;application;Web;WBS1;IM1;Closed;4;4;4;incident;KM1;closed;0;06/10/2013 09:00:00;;;06/10/2013 10:00:00;0,1;;1;SD6;;;;APP1;application;Web;WBS1",
        );
        // Work in progress: resolved, not closed. Opened in the spring-forward gap.
        s += &incident(
            "APP2;application;Web;WBS1;IM6;Work in progress;2;2;2;incident;KM3;closed;0;30/03/2014 02:30:00;;30/03/2014 05:00:00;31/03/2014 10:00:00;0,1;Other;1;SD7;;;;APP2;application;Web;WBS1",
        );
        s += &incident(";;;;;;;;;;;;;;;;;;;;;;;;;;;");
        s
    }

    #[test]
    fn incidents_map_and_every_row_is_accounted_for() {
        let r =
            read_incidents("Detail_Incident.csv", incidents_csv().as_bytes(), &DomainConfig::default()).expect("read");
        assert_eq!(r.rows, 8);
        assert_eq!(r.blank_rows, 1);
        let reasons: Vec<String> = r.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].starts_with("Detail_Incident.csv:5: IM4: Priority `9`"), "{reasons:?}");
        assert!(reasons[1].starts_with("Detail_Incident.csv:6: IM5: Open Time:"), "{reasons:?}");
        assert_eq!(reasons[2], "Detail_Incident.csv:7: IM1: duplicate Incident ID (first at line 2)");
        assert_eq!(r.incidents.len() as u64 + r.rejected.len() as u64 + r.blank_rows, r.rows);

        let one = r.incidents["IM1"].state.to_record();
        assert_eq!(one.opened_at, Timestamp::parse_rfc3339("2013-10-01T07:00:00Z").expect("time"));
        assert_eq!(one.resolved_at, Timestamp::parse_rfc3339("2013-10-01T09:30:00Z").ok());
        assert!(one.closed_at.is_some());
        assert_eq!(
            (one.priority, one.resolved_by, one.kind),
            (Priority::P4, Some(ResolvedBy::L1), IncidentKind::Production)
        );
        assert_eq!((one.service.as_str(), one.category.as_deref()), ("WBS1", Some("APP1/KM1")));
        assert_eq!(one.detected_by, DetectionSource::User);

        let two = r.incidents["IM2"].state.to_record();
        assert_eq!((two.reopen_count, two.resolved_by, two.kind), (1, Some(ResolvedBy::L2), IncidentKind::Desktop));
        assert_eq!(two.detected_by, DetectionSource::ServiceDesk);

        let three = r.incidents["IM3"].state.to_record();
        assert_eq!((three.resolved_at, three.closed_at), (None, None));
        assert_eq!(three.category.as_deref(), Some("APP1/-"));
        assert_eq!(r.refused.get("close while new: invalid transition"), Some(&1));

        let six = r.incidents["IM6"].state.to_record();
        assert_eq!(six.opened_at, Timestamp::parse_rfc3339("2014-03-30T01:00:00Z").expect("time"), "gap end");
        assert_eq!((six.resolved_at.is_some(), six.closed_at), (true, None));
        assert_eq!((r.not_closed, r.dst_adjusted), (1, 1));
        assert_eq!(r.accepted.get("reopen"), Some(&1));
    }

    const CHANGE_HEADER: &str = "CI Name (aff);CI Type (aff);CI Subtype (aff);Service Component WBS (aff);Change ID;Change Type;Risk Assessment;Emergency Change;CAB-approval needed;Planned Start;Planned End;Scheduled Downtime Start;Scheduled Downtime End;Actual Start;Actual End;Requested End Date;Change record Open Time;Change record Close Time;Originated from;# Related Interactions;# Related Incidents";

    /// Fuzzing regression (`fuzz/corpus/bpic2014_changes/regression-negative-year.csv`): a
    /// year `-13` was read as an instant no JSON or SQLite text can hold.
    #[test]
    fn times_outside_the_years_0000_to_9999_are_refused() {
        let mut dst = 0;
        let err = local_time("1-10--13 9:00", CHANGE_TIME, &mut dst).unwrap_err();
        assert_eq!(err, "`1-10--13 9:00` is outside the years 0000 to 9999");
        let mut s = format!("{CHANGE_HEADER}\r\n");
        s += "A1;application;Web;WBS1;C1;Standard Change Type 01;Minor Change;N;N;1-10--13 7:00;1-10-2013 9:00;;;;;;30-9-2013 12:00;2-10-2013 9:00;Problem;;\r\n";
        let r = read_changes("Detail_Change.csv", s.as_bytes()).expect("read");
        assert!(r.records.is_empty() && r.rejected.len() == 1, "{:?}", r.records);
    }

    #[test]
    fn changes_group_by_id_and_related_incidents_mean_failed() {
        let mut s = format!("{CHANGE_HEADER}\r\n");
        s += "A1;application;Web;WBS1;C1;Standard Change Type 01;Minor Change;N;N;1-10-2013 7:00;1-10-2013 9:00;;;1-10-2013 7:05;1-10-2013 8:00;;30-9-2013 12:00;2-10-2013 9:00;Problem;;\r\n";
        s += "A2;application;Web;WBS9;C1;Standard Change Type 01;Minor Change;N;N;1-10-2013 7:00;1-10-2013 9:00;;;1-10-2013 7:05;1-10-2013 8:00;;30-9-2013 12:00;3-10-2013 9:00;Problem;;2\r\n";
        s += "A1;application;Web;WBS1;C2;Release Type 03;Business Change;N;Y;5-10-2013 20:00;5-10-2013 23:00;;;;;;1-10-2013 9:00;6-10-2013 9:00;Incident;;\r\n";
        s += "A1;application;Web;WBS1;C3;Release Type 03;Business Change;Y;Y;7-10-2013 20:00;7-10-2013 23:00;;;7-10-2013 21:00;7-10-2013 20:00;;7-10-2013 19:00;8-10-2013 9:00;Incident;;0\r\n";
        s += "A1;application;Web;WBS1;C4;Standard Activity Type 2;Minor Change;Y;N;8-10-2013 20:00;#N/B;;;8-10-2013 21:00;8-10-2013 21:30;;8-10-2013 19:00;8-10-2013 22:00;Incident;;x\r\n";
        s += "A1;application;Web;WBS1;C5;Master Change 1;Minor Change;Y;N;8-10-2013 20:00;#N/B;;;8-10-2013 21:00;8-10-2013 21:30;;8-10-2013 19:00;8-10-2013 22:00;Incident;;\r\n";
        s += "A1;application;Web;WBS1;C6;Standard Change Type 01;Minor Change;N;N;20-3-2014 0:00;21-3-2014 0:00;;;21-3-2021 0:00;21-3-2021 0:01;;20-3-2014 9:00;21-3-2014 0:17;Problem;;\r\n";
        let r = read_changes("Detail_Change.csv", s.as_bytes()).expect("read");
        assert_eq!(r.rows, 7);
        let reasons: Vec<String> = r.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert_eq!(
            reasons[2],
            "Detail_Change.csv:8: C6: Actual Start 2021-03-20T23:00:00.000000Z is after the extract ends (2014-03-31T22:00:00.000000Z)"
        );
        assert!(reasons[0].starts_with("Detail_Change.csv:5: C3: Actual End"), "{reasons:?}");
        assert_eq!(reasons[1], "Detail_Change.csv:6: C4: # Related Incidents: `x` is not a count");
        assert_eq!(r.records.len(), 3);
        let c1 = &r.records[0];
        assert_eq!((c1.change_type, c1.service.as_str()), (ChangeType::Standard, "WBS1"));
        assert_eq!((c1.outcome, c1.remediation), (Some(ChangeOutcome::Failed), Remediation::None));
        assert_eq!(c1.started_at, Timestamp::parse_rfc3339("2013-10-01T05:05:00Z").ok());
        assert_eq!((r.multi_ci, r.inconsistent, r.with_related_incidents), (1, 1, 1));
        let c2 = &r.records[1];
        assert_eq!((c2.change_type, c2.outcome, c2.completed_at), (ChangeType::Normal, None, None));
        let c5 = &r.records[2];
        assert_eq!(
            (c5.change_type, c5.outcome, c5.planned_end),
            (ChangeType::Emergency, Some(ChangeOutcome::Successful), None)
        );
    }

    #[test]
    fn a_missing_column_is_fatal() {
        let err = read_changes("Detail_Change.csv", "Change ID;Change Type\r\nC1;x\r\n".as_bytes()).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("Detail_Change.csv: the header has no `Service Component WBS (aff)` column")
        );
    }
}
