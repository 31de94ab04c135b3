//! Replaying the public ServiceNow incident event log (UCI 498, CC BY 4.0,
//! DOI 10.24432/C57S4H; Amaral, Fantinato, Peres 2018) through the incident
//! state machine.
//!
//! The log holds one row per update of an incident (a snapshot of its fields),
//! ordered by `sys_mod_count`. Each change of `incident_state` between two
//! consecutive rows becomes commands (New -> Active = start, * -> Awaiting X
//! = hold with reason X, Awaiting -> Active = resume, * -> Resolved = resolve,
//! Resolved -> Active = reopen, Resolved -> Closed = close). Every command is
//! decided by the domain; a refusal is counted under its typed reason. Rows
//! that cannot be used (the anomalous state `-100`, unparsable timestamps) are
//! quarantined with their reason; nothing is dropped silently.
//!
//! Mapping choices: timestamps carry no zone and are read as UTC; the command
//! time is `sys_updated_at`, except that a resolution uses `resolved_at` (the
//! authoritative field), and times never go backwards (a step that would is
//! moved to the previous event's time and counted as `clock_adjusted`).
//! `contact_type` maps to the detection source (Phone, Email, IVR -> user,
//! Self service -> service desk, Direct opening -> service desk).

use std::collections::BTreeMap;
use std::io::Read;

use chrono::NaiveDateTime;
use itsm_core::id::{ActorId, IncidentId, ProblemId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentError, IncidentEvent, OpenIncident, ResolutionCode};
use itsm_core::vocabulary::{DetectionSource, HoldReason, Impact, IncidentKind, Priority, ResolvedBy, Urgency};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, ExecuteError, Role, Timestamp};

/// The ServiceNow states of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnState {
    /// New.
    New,
    /// Active.
    Active,
    /// Awaiting something, mapped to a hold reason.
    Awaiting(HoldReason),
    /// Resolved.
    Resolved,
    /// Closed.
    Closed,
}

impl SnState {
    fn parse(text: &str) -> Option<SnState> {
        Some(match text {
            "New" => SnState::New,
            "Active" => SnState::Active,
            "Awaiting User Info" => SnState::Awaiting(HoldReason::AwaitingCaller),
            "Awaiting Vendor" => SnState::Awaiting(HoldReason::AwaitingVendor),
            "Awaiting Problem" => SnState::Awaiting(HoldReason::AwaitingProblem),
            "Awaiting Evidence" => SnState::Awaiting(HoldReason::AwaitingEvidence),
            "Resolved" => SnState::Resolved,
            "Closed" => SnState::Closed,
            _ => return None,
        })
    }
}

/// One usable row of the log.
#[derive(Debug, Clone)]
struct Row {
    state: SnState,
    mod_count: u32,
    opened_at: Timestamp,
    updated_at: Timestamp,
    resolved_at: Option<Timestamp>,
    impact: Impact,
    urgency: Urgency,
    priority: Option<Priority>,
    category: String,
    location: String,
    contact_type: String,
    problem_id: Option<String>,
    reopen_count: u32,
}

/// One replayed incident: its state, its events and the accepted commands
/// (with their times) that produced them, ready to be issued to a store.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The folded state.
    pub state: Incident,
    /// The events recorded.
    pub events: Vec<IncidentEvent>,
    /// The accepted commands, in order, with the instant each was decided at.
    pub commands: Vec<(Timestamp, IncidentCommand)>,
}

/// What the replay found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Replayed incidents with their recorded events, by number.
    pub incidents: BTreeMap<String, Replayed>,
    /// Incidents that could not even be opened, with the reason.
    pub quarantined_incidents: BTreeMap<String, String>,
    /// Rows set aside, by reason, with the count.
    pub quarantined_rows: BTreeMap<String, u64>,
    /// Data rows read.
    pub rows: u64,
    /// Commands accepted, by command name.
    pub accepted: BTreeMap<String, u64>,
    /// Commands refused, by typed reason (`command while state: variant`).
    pub rejected: BTreeMap<String, u64>,
    /// Steps whose time was moved forward to keep history ordered.
    pub clock_adjusted: u64,
    /// Incidents whose logged priority differs from the default impact x urgency matrix.
    pub priority_disagreements: u64,
    /// Incidents whose final logged reopen count differs from the reopens replayed.
    pub reopen_disagreements: u64,
}

/// Why the log could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The CSV is unreadable (I/O or a header problem).
    #[error("cannot read the event log: {0}")]
    Csv(#[from] csv::Error),
    /// The log could not be read to its end (a truncated or corrupt compressed file).
    #[error("cannot read the event log after {after_rows} rows: {reason}; nothing was replayed or stored")]
    Read {
        /// Rows read before the error.
        after_rows: u64,
        /// The read error.
        reason: String,
    },
    /// A required column is missing from the header.
    #[error("the event log has no `{0}` column")]
    MissingColumn(&'static str),
}

fn parse_time(text: &str) -> Option<Timestamp> {
    NaiveDateTime::parse_from_str(text, "%d/%m/%Y %H:%M").ok().and_then(|t| Timestamp::try_from_utc(t.and_utc()))
}

fn level(text: &str) -> Option<u8> {
    text.split(" - ").next()?.trim().parse().ok()
}

fn opt(text: &str) -> Option<String> {
    (text != "?" && !text.is_empty()).then(|| text.to_owned())
}

const COLUMNS: [&str; 12] = [
    "number",
    "incident_state",
    "sys_mod_count",
    "opened_at",
    "sys_updated_at",
    "resolved_at",
    "impact",
    "urgency",
    "priority",
    "category",
    "location",
    "contact_type",
];

/// The importing actor: an agent of tenant `uci-498`.
pub fn actor() -> Actor {
    Actor::new(
        ActorId::new("servicenow-import").expect("literal id is valid"),
        TenantId::new("uci-498").expect("literal id is valid"),
        [Role::Agent, Role::ProblemManager],
    )
}

/// Reads and replays the whole log (open it with `itsm_metrics::import::input::open`, which reads
/// plain and gzip files alike). A read error ends the replay with [`ReplayError::Read`].
pub fn replay(reader: impl Read, config: &DomainConfig) -> Result<Replay, ReplayError> {
    let mut csv = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
    let headers = csv.headers()?.clone();
    let col = |name: &'static str| headers.iter().position(|h| h == name).ok_or(ReplayError::MissingColumn(name));
    let idx: Vec<usize> = COLUMNS.iter().map(|c| col(c)).collect::<Result<_, _>>()?;
    let (problem_col, reopen_col) = (col("problem_id")?, col("reopen_count")?);
    let mut out = Replay::default();
    let mut by_number: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for record in csv.records() {
        out.rows += 1;
        let record = match record {
            Ok(r) => r,
            // A read error (a truncated or corrupt compressed file) ends the replay: nothing
            // is replayed or stored from part of a log.
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                return Err(ReplayError::Read { after_rows: out.rows - 1, reason: e.to_string() });
            }
            Err(e) => {
                *out.quarantined_rows.entry(format!("unreadable row: {e}")).or_default() += 1;
                continue;
            }
        };
        let get = |i: usize| record.get(idx[i]).unwrap_or("");
        let number = get(0).to_owned();
        let Some(state) = SnState::parse(get(1)) else {
            *out.quarantined_rows.entry(format!("unknown incident_state `{}`", get(1))).or_default() += 1;
            by_number.entry(number).or_default();
            continue;
        };
        let (Some(opened_at), Some(updated_at)) = (parse_time(get(3)), parse_time(get(4))) else {
            *out.quarantined_rows.entry("unparsable opened_at or sys_updated_at".to_owned()).or_default() += 1;
            by_number.entry(number).or_default();
            continue;
        };
        let impact = level(get(6)).and_then(|l| Impact::parse(&l.to_string()));
        let urgency = level(get(7)).and_then(|l| Urgency::parse(&l.to_string()));
        let (Some(impact), Some(urgency), Ok(mod_count)) = (impact, urgency, get(2).parse::<u32>()) else {
            *out.quarantined_rows.entry("unparsable impact, urgency or sys_mod_count".to_owned()).or_default() += 1;
            by_number.entry(number).or_default();
            continue;
        };
        by_number.entry(number).or_default().push(Row {
            state,
            mod_count,
            opened_at,
            updated_at,
            resolved_at: parse_time(get(5)),
            impact,
            urgency,
            priority: level(get(8)).and_then(|l| Priority::parse(&l.to_string())),
            category: get(9).to_owned(),
            location: get(10).to_owned(),
            contact_type: get(11).to_owned(),
            problem_id: opt(record.get(problem_col).unwrap_or("?")),
            reopen_count: record.get(reopen_col).and_then(|r| r.parse().ok()).unwrap_or(0),
        });
    }
    let actor = actor();
    for (number, mut rows) in by_number {
        rows.sort_by_key(|r| r.mod_count);
        match replay_incident(&number, &rows, &actor, config, &mut out) {
            Ok(done) => {
                out.incidents.insert(number, done);
            }
            Err(reason) => {
                out.quarantined_incidents.insert(number, reason);
            }
        }
    }
    Ok(out)
}

fn source_of(contact_type: &str) -> DetectionSource {
    match contact_type {
        "Self service" | "Direct opening" => DetectionSource::ServiceDesk,
        _ => DetectionSource::User,
    }
}

fn commands(from: SnState, to: SnState, resolve: &IncidentCommand) -> Vec<IncidentCommand> {
    let reopen = || IncidentCommand::Reopen { reason: Text::default() };
    match (from, to) {
        (SnState::Resolved, SnState::Awaiting(reason)) => vec![reopen(), IncidentCommand::Hold { reason }],
        (_, SnState::Awaiting(reason)) => vec![IncidentCommand::Hold { reason }],
        (SnState::New, SnState::Active) => vec![IncidentCommand::Start],
        (SnState::Resolved | SnState::Closed, SnState::Active) => vec![reopen()],
        (SnState::Awaiting(_) | SnState::Active, SnState::Active) => vec![IncidentCommand::Resume],
        (_, SnState::Resolved) => vec![resolve.clone()],
        (_, SnState::Closed) => vec![IncidentCommand::Close],
        (_, SnState::New) => vec![IncidentCommand::Start],
    }
}

fn rejection_reason(err: &IncidentError) -> String {
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

fn replay_incident(
    number: &str,
    rows: &[Row],
    actor: &Actor,
    config: &DomainConfig,
    out: &mut Replay,
) -> Result<Replayed, String> {
    let first = rows.first().ok_or_else(|| "every row of this incident was quarantined".to_owned())?;
    let id = IncidentId::new(number).map_err(|e| format!("bad number: {e}"))?;
    let mut open = OpenIncident::new(
        id,
        IncidentKind::Production,
        ServiceId::new(first.location.as_str()).or_else(|_| ServiceId::new("unknown")).map_err(|e| e.to_string())?,
        Text::new(format!("{} / ServiceNow import", first.category)).map_err(|e| e.to_string())?,
        first.impact,
        first.urgency,
        source_of(&first.contact_type),
    );
    open.category = Text::new(first.category.as_str()).ok();
    let mut now = first.opened_at;
    let open = IncidentCommand::Open(open);
    let (mut state, mut events) = match Incident::execute(None, &open, &Context::new(actor, now, config)) {
        Ok(done) => done,
        Err(e) => return Err(format!("open refused: {e}")),
    };
    let mut accepted = vec![(now, open)];
    *out.accepted.entry("open".to_owned()).or_default() += 1;
    let last = rows.last().unwrap_or(first);
    if last.priority.is_some_and(|p| p != config.priority_matrix.priority(first.impact, first.urgency)) {
        out.priority_disagreements += 1;
    }
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L1, restored_at: None };
    let mut prev = SnState::New;
    let mut problem_linked = false;
    for (i, row) in rows.iter().enumerate() {
        if !problem_linked && let Some(problem) = row.problem_id.as_deref().and_then(|p| ProblemId::new(p).ok()) {
            // Links to a problem that is not in the log: recorded on the incident only.
            let cmd = IncidentCommand::LinkProblem { problem };
            if let Ok((next, evs)) = Incident::execute(Some(state.clone()), &cmd, &Context::new(actor, now, config)) {
                state = next;
                events.extend(evs);
                accepted.push((now, cmd));
                problem_linked = true;
            }
        }
        let to = row.state;
        if i > 0 && to == prev && !matches!(to, SnState::Awaiting(_)) {
            continue;
        }
        if i == 0 && to == SnState::New {
            continue;
        }
        let from = if i == 0 { SnState::New } else { prev };
        if from == to {
            continue;
        }
        let candidate = match to {
            // The final resolution uses the authoritative resolved_at.
            SnState::Resolved if rows[i + 1..].iter().all(|r| r.state != SnState::Active) => {
                row.resolved_at.unwrap_or(row.updated_at)
            }
            SnState::New | SnState::Active | SnState::Awaiting(_) | SnState::Resolved | SnState::Closed => {
                row.updated_at
            }
        };
        if candidate < now {
            out.clock_adjusted += 1;
        } else {
            now = candidate;
        }
        for cmd in commands(from, to, &resolve) {
            match Incident::execute(Some(state.clone()), &cmd, &Context::new(actor, now, config)) {
                Ok((next, evs)) => {
                    state = next;
                    events.extend(evs);
                    *out.accepted.entry(cmd.name().to_owned()).or_default() += 1;
                    accepted.push((now, cmd));
                }
                Err(ExecuteError::Rejected(err)) => {
                    *out.rejected.entry(rejection_reason(&err)).or_default() += 1;
                    break;
                }
                Err(other) => {
                    *out.rejected.entry(format!("{}: {other}", cmd.name())).or_default() += 1;
                    break;
                }
            }
        }
        prev = to;
    }
    if last.reopen_count != state.reopen_count() {
        out.reopen_disagreements += 1;
    }
    Ok(Replayed { state, events, commands: accepted })
}
