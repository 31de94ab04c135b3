//! Shared harness of the fuzz targets in `fuzz_targets/`.
//!
//! Every target feeds outside input to the parser the engine uses for it and
//! then checks cheap invariants: a parsed value survives JSON unchanged
//! ([`roundtrip`]), a command the rules accepted is reproduced by replaying
//! its events ([`run_commands`]), and nothing panics (the baseline).

#[path = "../../examples/bpic2014.rs"]
pub mod bpic2014;
#[path = "../../examples/servicenow.rs"]
pub mod servicenow;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::LazyLock;

use itsm_core::change::{ApprovalPolicy, ApprovalStep, Quorum};
use itsm_core::vocabulary::{ChangeType, Risk};
use itsm_core::id::{ActorId, GroupId, TenantId};
use itsm_core::json::from_json;
use itsm_core::{Actor, Aggregate, Context, DomainConfig, ExecuteError, Role, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// 2026-03-02T09:00:00Z, the base instant of the workflow tests' scripts.
pub const BASE: i64 = 1_772_442_000;

/// The instant `secs` seconds after [`BASE`].
pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(BASE + secs).unwrap_or_else(|| panic!("instant {secs} after BASE"))
}

/// The input as UTF-8 text (the engine's JSON parsers take `&str`).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Asserts that `value` goes to JSON and back through [`from_json`] unchanged,
/// and that its JSON is stable.
pub fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + Debug>(what: &'static str, value: &T) {
    let json = serde_json::to_string(value).unwrap_or_else(|e| panic!("{what} does not serialize: {e}: {value:?}"));
    let back: T = from_json(what, &json).unwrap_or_else(|e| panic!("{what} does not parse back: {e}\n{json}"));
    assert_eq!(&back, value, "{what} changes through JSON: {json}");
    let again = serde_json::to_string(&back).unwrap_or_else(|e| panic!("{what} does not serialize again: {e}"));
    assert_eq!(again, json, "{what}: JSON is not stable");
}

/// Parses `text` as a `T` with [`from_json`] and, when it parses, checks the
/// [`roundtrip`].
pub fn parse<T: Serialize + DeserializeOwned + PartialEq + Debug>(what: &'static str, text: &str) -> Option<T> {
    let value: T = from_json(what, text).ok()?;
    roundtrip(what, &value);
    Some(value)
}

fn aid(name: &str) -> ActorId {
    ActorId::new(name).unwrap_or_else(|e| panic!("{e}"))
}

fn gid(name: &str) -> GroupId {
    GroupId::new(name).unwrap_or_else(|e| panic!("{e}"))
}

/// The workflow tests' roster (`tests/workflow/support.rs`), in the same
/// order: a command line indented by `n` spaces is issued by actor `n`.
pub static ROSTER: LazyLock<Vec<Actor>> = LazyLock::new(|| {
    use Role as R;
    let acme = TenantId::new("acme").unwrap_or_else(|e| panic!("{e}"));
    let a = |id: &str, roles: &[Role], groups: &[&str], delegate_for: &[&str]| {
        Actor::new(aid(id), acme.clone(), roles.iter().copied())
            .with_groups(groups.iter().map(|g| gid(g)))
            .with_delegations(delegate_for.iter().map(|d| aid(d)))
    };
    vec![
        a("req", &[R::Requester, R::CabMember, R::EmergencyCabMember], &["cab", "ecab", "change-managers"], &[]),
        a("agent", &[R::Agent], &[], &[]),
        a("resolver", &[R::Resolver], &[], &[]),
        a("im", &[R::IncidentManager], &[], &[]),
        a("pm", &[R::ProblemManager], &[], &[]),
        a("cm", &[R::ChangeManager], &[], &[]),
        a("cab1", &[R::CabMember], &["cab", "change-managers"], &[]),
        a("cab2", &[R::CabMember], &["cab"], &[]),
        a("cab3", &[R::CabMember], &["cab"], &["req"]),
        a("cab4", &[R::CabMember], &[], &[]),
        a("ecab1", &[R::EmergencyCabMember], &["ecab", "sre"], &[]),
        a("ecab2", &[R::EmergencyCabMember], &["ecab"], &["impl"]),
        a("ecab3", &[R::EmergencyCabMember], &["ecab", "sre"], &[]),
        a("claimer", &[R::CabMember, R::EmergencyCabMember], &["cab", "ecab", "change-managers", "sre"], &[]),
        a("deputy", &[R::CabMember, R::EmergencyCabMember], &[], &["cab2", "ecab3"]),
        a("impl", &[R::Implementer], &[], &[]),
        a("impl2", &[R::Implementer, R::CabMember, R::EmergencyCabMember], &["cab", "ecab"], &[]),
        a("bot", &[R::Automation], &[], &[]),
        a("nobody", &[], &[], &[]),
        Actor::new(aid("mallory"), TenantId::new("globex").unwrap_or_else(|e| panic!("{e}")), Role::ALL.to_vec())
            .with_groups(["cab", "ecab", "change-managers", "sre"].map(gid))
            .with_delegations([aid("req"), aid("impl")]),
    ]
});

/// The [`ROSTER`] actor called `name`.
pub fn actor(name: &str) -> &'static Actor {
    ROSTER.iter().find(|a| a.id.as_str() == name).unwrap_or_else(|| panic!("no actor {name}"))
}

/// The workflow tests' configuration: default permissions, matrix and
/// catalogue, and an approval policy using every quorum rule.
pub static CONFIG: LazyLock<DomainConfig> = LazyLock::new(|| {
    let mut config = DomainConfig::default();
    let step = |g: &str, quorum| ApprovalStep { group: gid(g), quorum };
    let mut policy = ApprovalPolicy { rules: BTreeMap::new(), members: BTreeMap::new() };
    policy.set(ChangeType::Normal, Risk::Moderate, vec![step("cab", Quorum::AtLeast(2))]);
    policy.set(
        ChangeType::Normal,
        Risk::High,
        vec![step("cab", Quorum::Percent(60)), step("change-managers", Quorum::All)],
    );
    policy.set(ChangeType::Emergency, Risk::Moderate, vec![step("sre", Quorum::Any)]);
    policy.set(ChangeType::Emergency, Risk::High, vec![step("ecab", Quorum::Percent(50))]);
    let members: &[(&str, &[&str])] = &[
        ("cab", &["req", "cab1", "cab2", "cab3", "cab4", "impl2"]),
        ("change-managers", &["req", "cab1"]),
        ("ecab", &["req", "ecab1", "ecab2", "ecab3", "impl2"]),
        ("sre", &[]),
    ];
    for (group, names) in members {
        policy.members.insert(gid(group), names.iter().map(|m| aid(m)).collect::<BTreeSet<ActorId>>());
    }
    config.approvals = policy;
    config
});

/// Runs the command JSON lines of `data` through aggregate `A`.
///
/// Each non-blank line is one command, parsed by [`from_json`] as the portal
/// parses it; a line indented by `n` spaces is issued by [`ROSTER`] actor
/// `n % len`, the `i`-th command at `BASE + 60 (i + 1)` seconds (the
/// workflow scripts' clock). Checks: every parsed command round-trips; an
/// accepted command's events apply (never `ExecuteError::Apply`), the new
/// state equals the replay of the whole history, and the state and events
/// round-trip through JSON.
pub fn run_commands<A: Aggregate>(what: &'static str, data: &[u8]) {
    let Some(text) = text(data) else { return };
    let mut state: Option<A> = None;
    let mut history: Vec<A::Event> = Vec::new();
    let lines = text.split('\n').filter(|l| !l.trim().is_empty());
    for (i, line) in lines.enumerate().take(64) {
        let Some(command) = parse::<A::Command>(what, line) else { continue };
        let indent = line.len() - line.trim_start_matches(' ').len();
        let actor = &ROSTER[indent % ROSTER.len()];
        let now = ts(60 * (i as i64 + 1));
        let ctx = Context::new(actor, now, &CONFIG);
        let _ = A::references(&command);
        match A::execute(state.clone(), &command, &ctx) {
            Ok((next, events)) => {
                let _ = A::outbox(&next, &events);
                let _ = next.summary();
                for event in &events {
                    let _ = A::event_name(event);
                }
                history.extend(events);
                let replayed = A::replay(&history).unwrap_or_else(|e| panic!("{what}: history does not replay: {e}"));
                assert_eq!(replayed.as_ref(), Some(&next), "{what}: replay differs from the executed state");
                roundtrip("aggregate", &next);
                roundtrip("events", &history);
                state = Some(next);
            }
            Err(ExecuteError::Apply(e)) => panic!("{what}: a decided event does not apply: {e}: {command:?}"),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

/// Reads every row of an interchange CSV file with `rows` and checks the
/// importer's bookkeeping: each row comes out once as a record or a
/// rejection; the report counts them and lists exactly the rejected rows'
/// errors, in file order; each error names the file and its row's line; rows
/// come out on strictly increasing physical lines, each a line of `data` that
/// is not blank; accepted records round-trip through JSON and keep the
/// ordering rules `check` states. Returns the records.
pub fn import_rows<T>(
    data: &[u8],
    rows: Result<itsm_metrics::import::Rows<&[u8], T>, itsm_metrics::import::ImportError>,
    check: impl Fn(&T),
) -> Vec<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let Ok(mut rows) = rows else { return Vec::new() };
    let filled = filled_lines(data);
    let (mut records, mut rejected, mut errors, mut last) = (Vec::new(), 0u64, Vec::new(), 1u64);
    while let Some(row) = rows.next() {
        let line = rows.last_line();
        assert!(line > last, "row on line {line} after line {last}");
        assert!(filled.get(line as usize).is_some_and(|f| *f), "row on line {line}, which is blank or past the end");
        last = line;
        match row {
            Ok(record) => {
                roundtrip("record", &record);
                check(&record);
                records.push(record);
            }
            Err(row) => {
                assert!(!row.errors.is_empty(), "a rejected row names no error");
                assert_eq!(row.line, line, "last_line is not the rejected row's line");
                assert!(row.errors.iter().all(|e| e.line == line), "an error names another line: {row:?}");
                errors.extend(row.errors);
                rejected += 1;
            }
        }
    }
    let report = rows.report();
    assert_eq!(report.accepted, records.len() as u64, "accepted rows miscounted");
    assert_eq!(report.rejected, rejected, "rejected rows miscounted");
    assert!(errors.iter().all(|e| e.file == report.file), "an error names another file");
    assert_eq!(report.errors, errors, "the report's errors are not the rejected rows' errors");
    records
}

/// Whether each physical line of `data` (1-based; index 0 unused) has a byte
/// other than a line break: a row starts on such a line. LF, CRLF (once) and
/// a lone CR end a line.
fn filled_lines(data: &[u8]) -> Vec<bool> {
    let mut filled = vec![false, false];
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        match b {
            b'\r' if data.get(i + 1) == Some(&b'\n') => {
                filled.push(false);
                i += 1;
            }
            b'\n' | b'\r' => filled.push(false),
            _ => {
                if let Some(last) = filled.last_mut() {
                    *last = true;
                }
            }
        }
        i += 1;
    }
    filled
}
