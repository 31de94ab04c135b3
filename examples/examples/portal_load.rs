//! The reference portal's load test: concurrent HTTP clients on loopback
//! against a portal served in-process, on SQLite and on PostgreSQL, bounded
//! in count (`--clients`) and time (`--secs`, `--write-secs`).
//!
//! ```sh
//! cargo run --release --example portal_load                          # both backends, 64 clients, 60 s
//! cargo run --release --example portal_load -- --backend sqlite --secs 60
//! cargo run --release --example portal_load -- --backend postgres --db-url postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! **Per backend.** A fresh database: a temporary SQLite file (removed at the
//! end) or a fresh PostgreSQL schema `portal_load_<random>` (the store opened
//! with `?options[search_path]=`, the schema dropped at the end), filled with
//! the portal's demo seed (`--seed-incidents`, `--seed-changes`), then the
//! portal (`itsm_examples::portal`) served on `127.0.0.1:0` with the wall
//! clock and the demo users, the store's pool as `--pool` sets it (default:
//! the store's default, what the `portal` example runs with). Three phases
//! follow, each with `--clients` concurrent tasks that start together:
//!
//! * **A, direct**: for `--write-secs`, every task calls `Store::execute`
//!   itself (no HTTP) with the command mix below. Commits/s: the store's own
//!   write throughput at this concurrency.
//! * **B, HTTP writes**: for `--write-secs`, every task is an HTTP client
//!   (its own `reqwest::Client`, keep-alive) sending the same command mix to
//!   the portal. Commands/s; the ratio B/A is the portal's write efficiency
//!   (target at least 0.7).
//! * **C, mixed**: for `--secs`, every client chooses each request at random:
//!   80% reads: 30% lists (`GET /api/items` in six filter and sort shapes,
//!   following the `next` cursor of three pages in ten), 15% searches
//!   (`GET /api/search` for words of the seed's and the test's titles and
//!   notes), 20% `GET /api/incidents/{id}`, 8% its `/history` and 7% its
//!   `/clocks`, of incidents the client has seen in its lists or opened;
//!   and 20% commands.
//!   Requests/s and p50/p99 latency per kind of request (target p99 at most
//!   100 ms).
//!
//! **The command mix.** Even-numbered clients are `agent-1` (an agent of
//! `service-desk`), odd-numbered ones the `incident-manager`. A client opens
//! an incident (`POST /api/incidents` with an `Idempotency-Key`), then runs
//! nine commands on it (`POST /api/incidents/{id}/commands` with `If-Match`
//! of the version its last answer gave): assign to `service-desk` and
//! `agent-1`, acknowledge, start, six notes (public and private), then opens
//! the next one. Clients never share an incident, so a 409 or a 503 means
//! the portal or the store failed to keep writers of different aggregates
//! apart. A command refused with 503 contention is sent again; any other
//! refusal drops the incident.
//!
//! **Integrity, after every phase.** Each 2xx command answer names the
//! events it appended (`events[].version`; in phase A the `Committed`
//! value). The store's feed (`Store::events_after` from `Store::feed_head`
//! taken before the phase, as an automation actor that reads everything)
//! gives every event the phase appended. Lost: an event an answer reported
//! that the log does not hold. Duplicated: an event in the log that no
//! answer reported, on an aggregate whose every command got an answer (or
//! one `(aggregate, version)` twice). A request without an answer (client
//! timeout `--timeout`, a dropped connection) or with a 5xx has an unknown
//! outcome: its aggregate is left out of the duplicate check, and the count
//! of such aggregates and of their events found in the log is printed.
//!
//! **Exit status.** Non-zero when events were lost or duplicated, a 2xx
//! answer did not say which events it appended, a 5xx other than 503
//! contention was answered, or a backend failed to run. The targets (p99,
//! the B/A ratio) are printed as PASS/FAIL only. PostgreSQL unreachable: a
//! message, and that backend is skipped (an error when `CI=true`).
//!
//! On PostgreSQL with autovacuum off (this project's test machines), the
//! schema's tables are analyzed before each phase, as autovacuum would after
//! the seed's and the previous phase's inserts; otherwise the planner keeps
//! the statistics of nearly empty tables.
//!
//! Client and server share the machine (and its cores): the figures are
//! those of a portal whose load generator runs beside it. Run it with
//! `--release`; a dev build prints a warning above its figures.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use itsm_core::id::{ActorId, TenantId};
use itsm_core::incident::{Incident, IncidentCommand};
use itsm_core::{Actor, Context, Role};
use itsm_examples::db;
use itsm_examples::portal::api::{NewIncident, new_incident_id};
use itsm_examples::portal::auth::Users;
use itsm_examples::portal::seed::{SeedSize, Seeded, seed};
use itsm_examples::portal::{Portal, serve, wall_clock};
use itsm_store::{ConnectOptions, ErrorKind, ExecError, ExpectedVersion, FeedCursor, Request, Store, StoreError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::Barrier;

/// The PostgreSQL URL when neither `--db-url` nor `ITSM_PG_URL` is given.
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The latency target of every kind of HTTP request, p99.
const P99_TARGET_MS: f64 = 100.0;
/// The write-throughput target: HTTP commands/s over direct commits/s.
const RATIO_TARGET: f64 = 0.7;
/// Commands per incident: the open, then the rest of [`step_body`]'s cycle.
const CYCLE: u32 = 10;
/// Incident ids a client remembers for its reads.
const KNOWN: usize = 256;
/// The tenant of the demo seed.
const TENANT: &str = "demo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Parser)]
#[command(about = "Load test of the reference portal: concurrent HTTP clients on loopback, SQLite and PostgreSQL")]
struct Args {
    /// Concurrent clients (tasks) in every phase.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    clients: u32,
    /// Seconds of the mixed phase (C).
    #[arg(long, default_value_t = 60.0)]
    secs: f64,
    /// Seconds of each write-throughput phase (A: direct execute, B: HTTP commands).
    #[arg(long, default_value_t = 15.0)]
    write_secs: f64,
    /// Which backends to run.
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    backend: BackendChoice,
    /// The PostgreSQL database (default: env ITSM_PG_URL, else postgres://postgres@127.0.0.1:5432/test);
    /// the test works in a fresh schema of it and drops it.
    #[arg(long)]
    db_url: Option<String>,
    /// Incidents of the demo seed's simulated quarter.
    #[arg(long, default_value_t = 3_000)]
    seed_incidents: usize,
    /// Changes of the demo seed's simulated quarter.
    #[arg(long, default_value_t = 100)]
    seed_changes: usize,
    /// The store's pool (`ConnectOptions::max_connections`: SQLite read connections, PostgreSQL
    /// connections); default: the store's default, as the `portal` example runs.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pool: Option<u32>,
    /// How many of the rarest searched word's newest rows a search ranks (the portal's bound, as
    /// `Portal::new` sets it; the store's own default is 1,000).
    #[arg(long, default_value_t = itsm_examples::portal::SEARCH_CANDIDATES)]
    search_candidates: usize,
    /// Seconds a client waits for an answer; a request without one counts as an unknown outcome.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
}

// ---------------------------------------------------------------------------
// What is counted.

/// The kinds of request latency is reported for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Search,
    Read,
    History,
    Clocks,
    Open,
    Command,
}

const KINDS: [Kind; 7] = [Kind::List, Kind::Search, Kind::Read, Kind::History, Kind::Clocks, Kind::Open, Kind::Command];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::List => "list",
            Kind::Search => "search",
            Kind::Read => "read",
            Kind::History => "history",
            Kind::Clocks => "clocks",
            Kind::Open => "open",
            Kind::Command => "command",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How a request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Ok,
    Conflict,
    /// 503 with problem kind `contention`: nothing was written.
    Contention,
    Other4xx(u16),
    /// A 5xx other than 503 contention (503 `unavailable` included).
    Other5xx(u16),
    /// No answer: a client timeout or a dropped connection.
    NoAnswer,
}

#[derive(Debug, Default, Clone, Copy)]
struct Statuses {
    ok: u64,
    conflict: u64,
    contention: u64,
    other_4xx: u64,
    other_5xx: u64,
    no_answer: u64,
    /// 2xx command answers that did not say which events they appended.
    malformed: u64,
}

impl Statuses {
    fn total(&self) -> u64 {
        self.ok + self.conflict + self.contention + self.other_4xx + self.other_5xx + self.no_answer
    }
}

/// What one client (or, merged, one phase) counted.
#[derive(Debug, Default)]
struct Tally {
    /// Latencies in microseconds, per [`Kind::index`].
    latency: [Vec<u32>; 7],
    statuses: Statuses,
    /// Counts of the "other" status codes (and 0 for no answer).
    codes: BTreeMap<u16, u64>,
    /// The first few answers of a 5xx or a malformed 2xx, for the report.
    samples: Vec<String>,
    /// Commands answered 2xx (or committed, in phase A).
    commands_ok: u64,
    /// `(aggregate, version)` of every event a 2xx command answer reported.
    reported: Vec<(String, u64)>,
    /// 2xx answers that were an idempotent replay.
    replayed: u64,
    /// Aggregates a command got a definite answer on.
    touched: HashSet<String>,
    /// Aggregates a command got no definite answer on.
    unknown: HashSet<String>,
    /// Opens without a definite answer whose incident id is unknown (HTTP).
    unknown_opens: u64,
    started: Option<Instant>,
    finished: Option<Instant>,
}

impl Tally {
    fn record(&mut self, kind: Kind, class: Class, took: Duration) {
        self.latency[kind.index()].push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        let s = &mut self.statuses;
        match class {
            Class::Ok => s.ok += 1,
            Class::Conflict => s.conflict += 1,
            Class::Contention => s.contention += 1,
            Class::Other4xx(code) => {
                s.other_4xx += 1;
                *self.codes.entry(code).or_default() += 1;
            }
            Class::Other5xx(code) => {
                s.other_5xx += 1;
                *self.codes.entry(code).or_default() += 1;
            }
            Class::NoAnswer => {
                s.no_answer += 1;
                *self.codes.entry(0).or_default() += 1;
            }
        }
    }

    fn sample(&mut self, text: String) {
        if self.samples.len() < 3 {
            self.samples.push(text.chars().take(300).collect());
        }
    }

    fn merge(&mut self, other: Tally) {
        for (mine, theirs) in self.latency.iter_mut().zip(other.latency) {
            mine.extend(theirs);
        }
        let (s, o) = (&mut self.statuses, other.statuses);
        s.ok += o.ok;
        s.conflict += o.conflict;
        s.contention += o.contention;
        s.other_4xx += o.other_4xx;
        s.other_5xx += o.other_5xx;
        s.no_answer += o.no_answer;
        s.malformed += o.malformed;
        for (code, n) in other.codes {
            *self.codes.entry(code).or_default() += n;
        }
        for sample in other.samples {
            self.sample(sample);
        }
        self.commands_ok += other.commands_ok;
        self.reported.extend(other.reported);
        self.replayed += other.replayed;
        self.touched.extend(other.touched);
        self.unknown.extend(other.unknown);
        self.unknown_opens += other.unknown_opens;
        self.started = match (self.started, other.started) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.finished = match (self.finished, other.finished) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// From the first client's start to the last client's finish.
    fn elapsed(&self) -> Duration {
        match (self.started, self.finished) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::ZERO,
        }
    }

    fn per_second(&self, n: u64) -> f64 {
        n as f64 / self.elapsed().as_secs_f64().max(1e-9)
    }
}

/// p50, p99 and max in milliseconds of sorted microseconds.
fn percentiles(sorted: &[u32]) -> Option<(f64, f64, f64)> {
    let last = *sorted.last()?;
    let at = |q: f64| {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        f64::from(sorted[rank - 1]) / 1000.0
    };
    Some((at(0.50), at(0.99), f64::from(last) / 1000.0))
}

// ---------------------------------------------------------------------------
// The clients.

/// A demo identity a client acts as.
struct Who {
    token: String,
    actor: Actor,
}

/// What every client of a backend shares.
struct Env {
    base: String,
    portal: Arc<Portal>,
    timeout: Duration,
    agent: Arc<Who>,
    manager: Arc<Who>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Phase A: `Store::execute`, commands only.
    Direct,
    /// Phase B: HTTP, commands only.
    HttpWrites,
    /// Phase C: HTTP, 80% reads and 20% commands.
    Mixed,
}

/// The incident a client is working on.
struct Current {
    id: String,
    version: u64,
    /// Commands done on it (the open is the first).
    done: u32,
}

/// The next command of a client.
enum Planned {
    Open { body: Value, key: String },
    Step { id: String, version: u64, body: Value },
}

/// What a command's answer says was written.
enum Outcome {
    /// Committed: these events (versions) on `id`.
    Done { id: String, version: u64, events: Vec<u64>, replayed: bool },
    /// Refused: nothing written (a 4xx, 503 contention).
    Refused { class: Class, id: Option<String> },
    /// Maybe written, maybe not (no answer, a 5xx, a 2xx that did not say).
    Unknown { class: Class, id: Option<String> },
}

const TITLES: [(&str, &str); 8] = [
    ("VPN drops for remote staff every hour", "vpn"),
    ("Printer on floor 2 offline", "printing"),
    ("Email delivery delayed by twenty minutes", "email"),
    ("Payments timeout at checkout", "payments"),
    ("ERP login slow after the upgrade", "erp"),
    ("CRM search returns nothing", "crm"),
    ("Disk full on the data warehouse loader", "data-warehouse"),
    ("Intranet pages load without styles", "intranet"),
];

const NOTES: [&str; 6] = [
    "Checked the logs on the VPN concentrator; no errors since the restart.",
    "Asked the caller for a screenshot of the printer queue.",
    "Vendor case opened; waiting for the firmware advisory.",
    "Workaround in place: users reconnect through the backup gateway.",
    "Disk usage back under 70% after the cleanup job ran.",
    "Monitoring shows the payments latency back to normal.",
];

const SEARCHES: [&str; 10] = [
    "vpn",
    "printer",
    "simulated incident",
    "payments timeout",
    "email",
    "concentrator",
    "disk full",
    "vpn slow",
    "firmware",
    "planned change",
];

/// One client's state across its requests.
struct Client {
    env: Arc<Env>,
    who: Arc<Who>,
    http: Option<reqwest::Client>,
    rng: StdRng,
    current: Option<Current>,
    known: Vec<String>,
    next_known: usize,
    tally: Tally,
}

/// The body of command `done` (1..CYCLE) of an incident's cycle.
fn step_body(done: u32, rng: &mut StdRng) -> Value {
    match done {
        1 => json!({"command": "assign", "group": "service-desk", "assignee": "agent-1"}),
        2 => json!({"command": "acknowledge"}),
        3 => json!({"command": "start"}),
        n => {
            json!({"command": "add_note", "text": NOTES[rng.random_range(0..NOTES.len())], "public": n.is_multiple_of(2)})
        }
    }
}

fn class_of_kind(kind: ErrorKind) -> Class {
    match kind {
        ErrorKind::Conflict => Class::Conflict,
        ErrorKind::Contention => Class::Contention,
        ErrorKind::NotFound => Class::Other4xx(404),
        ErrorKind::Forbidden => Class::Other4xx(403),
        ErrorKind::Invalid => Class::Other4xx(400),
        ErrorKind::Rules => Class::Other4xx(422),
        ErrorKind::Unavailable => Class::Other5xx(503),
        _ => Class::Other5xx(500),
    }
}

/// An answer's body as text, for a sample.
fn lossy(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

/// The class of an HTTP status, reading a 503's problem kind.
fn class_of_status(status: reqwest::StatusCode, body: &[u8]) -> Class {
    let code = status.as_u16();
    match code {
        200..=299 => Class::Ok,
        409 => Class::Conflict,
        503 => {
            let kind = serde_json::from_slice::<Value>(body).ok().and_then(|v| v["kind"].as_str().map(str::to_owned));
            if kind.as_deref() == Some("contention") { Class::Contention } else { Class::Other5xx(503) }
        }
        400..=499 => Class::Other4xx(code),
        _ => Class::Other5xx(code),
    }
}

impl Client {
    fn new(env: Arc<Env>, n: u32, mode: Mode) -> Result<Client, String> {
        let who = if n.is_multiple_of(2) { Arc::clone(&env.agent) } else { Arc::clone(&env.manager) };
        let http = match mode {
            Mode::Direct => None,
            Mode::HttpWrites | Mode::Mixed => Some(
                reqwest::Client::builder()
                    .timeout(env.timeout)
                    .pool_max_idle_per_host(1)
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))?,
            ),
        };
        let seed = u64::from(n) | ((mode as u64) << 32);
        Ok(Client {
            env,
            who,
            http,
            rng: StdRng::seed_from_u64(seed),
            current: None,
            known: Vec::new(),
            next_known: 0,
            tally: Tally::default(),
        })
    }

    fn learn(&mut self, id: &str) {
        if self.known.iter().any(|k| k == id) {
            return;
        }
        if self.known.len() < KNOWN {
            self.known.push(id.to_owned());
        } else {
            self.known[self.next_known % KNOWN] = id.to_owned();
            self.next_known += 1;
        }
    }

    fn learn_rows(&mut self, body: &Value) {
        let Some(rows) = body["rows"].as_array() else { return };
        let ids: Vec<String> = rows
            .iter()
            .filter(|r| r["kind"] == "incident")
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect();
        for id in ids {
            self.learn(&id);
        }
    }

    fn pick_known(&mut self) -> Option<String> {
        if self.known.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..self.known.len());
        Some(self.known[i].clone())
    }

    fn plan(&mut self) -> Planned {
        match &self.current {
            Some(c) if c.done < CYCLE => {
                let (id, version, done) = (c.id.clone(), c.version, c.done);
                Planned::Step { id, version, body: step_body(done, &mut self.rng) }
            }
            _ => {
                let (title, service) = TITLES[self.rng.random_range(0..TITLES.len())];
                let impact = self.rng.random_range(1..=3).to_string();
                let urgency = self.rng.random_range(1..=3).to_string();
                let body = json!({"title": title, "service": service, "impact": impact, "urgency": urgency});
                Planned::Open { body, key: uuid::Uuid::new_v4().simple().to_string() }
            }
        }
    }

    /// One command, sent, timed and accounted.
    async fn command(&mut self) {
        let planned = self.plan();
        let kind = if matches!(planned, Planned::Open { .. }) { Kind::Open } else { Kind::Command };
        let started = Instant::now();
        let (outcome, sample) = match &self.http {
            None => self.direct(&planned).await,
            Some(http) => self.over_http(http, &planned).await,
        };
        let took = started.elapsed();
        if let Some(sample) = sample {
            self.tally.sample(sample);
        }
        match outcome {
            Outcome::Done { id, version, events, replayed } => {
                self.tally.record(kind, Class::Ok, took);
                self.tally.commands_ok += 1;
                self.tally.replayed += u64::from(replayed);
                self.tally.reported.extend(events.into_iter().map(|v| (id.clone(), v)));
                self.tally.touched.insert(id.clone());
                match &mut self.current {
                    Some(c) if kind == Kind::Command => {
                        c.version = version;
                        c.done += 1;
                    }
                    _ => {
                        self.learn(&id);
                        self.current = Some(Current { id, version, done: 1 });
                    }
                }
            }
            Outcome::Refused { class, id } => {
                self.tally.record(kind, class, took);
                if let Some(id) = id {
                    self.tally.touched.insert(id);
                }
                // Contention wrote nothing: the same command goes again. Any
                // other refusal ends the incident's cycle.
                if class != Class::Contention && kind == Kind::Command {
                    self.current = None;
                }
            }
            Outcome::Unknown { class, id } => {
                self.tally.record(kind, class, took);
                if class == Class::Ok {
                    self.tally.statuses.malformed += 1;
                }
                match id {
                    Some(id) => {
                        self.tally.unknown.insert(id);
                    }
                    None => self.tally.unknown_opens += 1,
                }
                if kind == Kind::Command {
                    self.current = None;
                }
            }
        }
    }

    /// A command through `Store::execute`, as the portal's handler runs it.
    async fn direct(&self, planned: &Planned) -> (Outcome, Option<String>) {
        let portal = &self.env.portal;
        let ctx = Context::new(&self.who.actor, portal.now(), &portal.config);
        let (id, command, expected, key) = match planned {
            Planned::Open { body, key } => {
                let id = new_incident_id();
                let command = serde_json::from_value::<NewIncident>(body.clone())
                    .map_err(|e| e.to_string())
                    .and_then(|new| new.command(&id).map_err(|e| e.detail));
                (id, command, ExpectedVersion::Absent, Some(key.as_str()))
            }
            Planned::Step { id, version, body } => {
                let command = serde_json::from_value::<IncidentCommand>(body.clone()).map_err(|e| e.to_string());
                (id.clone(), command, ExpectedVersion::Exact(*version), None)
            }
        };
        let command = match command {
            Ok(c) => c,
            Err(e) => {
                let sample = format!("the test built a bad command for {id}: {e}");
                return (Outcome::Refused { class: Class::Other4xx(400), id: None }, Some(sample));
            }
        };
        let mut request = Request::new(ctx, &id, &command).if_version(expected);
        if let Some(key) = key {
            request = request.idempotency_key(key);
        }
        match portal.store.execute::<Incident>(request).await {
            Ok(done) => {
                let events = done.events.iter().map(|r| r.version).collect();
                let (id, version, replayed) = (done.aggregate_id, done.version, done.replayed);
                (Outcome::Done { id, version, events, replayed }, None)
            }
            Err(e) => {
                let class = class_of_kind(e.kind());
                let maybe_written = matches!(
                    &e,
                    ExecError::Store(StoreError::OutcomeUnknown { .. } | StoreError::ConnectionLost { .. })
                ) || matches!(class, Class::Other5xx(_));
                if maybe_written {
                    let sample = format!("execute on {id}: {e}");
                    (Outcome::Unknown { class, id: Some(id) }, Some(sample))
                } else {
                    (Outcome::Refused { class, id: Some(id) }, None)
                }
            }
        }
    }

    /// A command over HTTP.
    async fn over_http(&self, http: &reqwest::Client, planned: &Planned) -> (Outcome, Option<String>) {
        let base = &self.env.base;
        let (request, id) = match planned {
            Planned::Open { body, key } => {
                (http.post(format!("{base}/api/incidents")).header("idempotency-key", key.as_str()).json(body), None)
            }
            Planned::Step { id, version, body } => (
                http.post(format!("{base}/api/incidents/{id}/commands"))
                    .header("if-match", format!("\"{version}\""))
                    .json(body),
                Some(id.clone()),
            ),
        };
        let answer = async {
            let response = request.bearer_auth(&self.who.token).send().await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.bytes().await?))
        }
        .await;
        let what = match planned {
            Planned::Open { .. } => "POST /api/incidents".to_owned(),
            Planned::Step { id, .. } => format!("POST /api/incidents/{id}/commands"),
        };
        let (status, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                return (Outcome::Unknown { class: Class::NoAnswer, id }, Some(format!("no answer to {what}: {e}")));
            }
        };
        let class = class_of_status(status, &body);
        match class {
            Class::Ok => {
                let parsed = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                    let events: Option<Vec<u64>> =
                        v["events"].as_array()?.iter().map(|e| e["version"].as_u64()).collect();
                    Some(Outcome::Done {
                        id: v["id"].as_str()?.to_owned(),
                        version: v["version"].as_u64()?,
                        events: events?,
                        replayed: v["replayed"].as_bool().unwrap_or(false),
                    })
                });
                match parsed {
                    Some(done) => (done, None),
                    None => {
                        let sample = format!("{status} without id, version and events on {what}: {}", lossy(&body));
                        (Outcome::Unknown { class: Class::Ok, id }, Some(sample))
                    }
                }
            }
            Class::Other5xx(_) | Class::NoAnswer => {
                (Outcome::Unknown { class, id }, Some(format!("{status} on {what}: {}", lossy(&body))))
            }
            Class::Conflict | Class::Contention | Class::Other4xx(_) => (Outcome::Refused { class, id }, None),
        }
    }

    /// A GET, timed and accounted; the body of a 2xx answer.
    async fn get(&mut self, kind: Kind, path: &str, query: &[(&str, String)]) -> Option<Value> {
        let http = self.http.as_ref()?;
        let request = http.get(format!("{}{path}", self.env.base)).query(query).bearer_auth(&self.who.token);
        let started = Instant::now();
        let answer = async {
            let response = request.send().await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.bytes().await?))
        }
        .await;
        let took = started.elapsed();
        let (status, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                self.tally.record(kind, Class::NoAnswer, took);
                self.tally.sample(format!("no answer to GET {path}: {e}"));
                return None;
            }
        };
        let class = class_of_status(status, &body);
        self.tally.record(kind, class, took);
        if let Class::Other5xx(code) = class {
            self.tally.sample(format!("{code} on GET {path}: {}", lossy(&body)));
        }
        if class == Class::Ok { serde_json::from_slice(&body).ok() } else { None }
    }

    /// A list in one of a few shapes, sometimes followed by its next page.
    async fn list(&mut self) {
        let mut query: Vec<(&str, String)> = match self.rng.random_range(0..6) {
            0 => vec![("kind", "incident".into()), ("open", "true".into())],
            1 => vec![("kind", "incident".into()), ("priority", "1,2".into()), ("sort", "priority".into())],
            2 => vec![("open", "true".into()), ("sort", "due".into())],
            3 => {
                let services = itsm_examples::simulate::SERVICES;
                let service = services[self.rng.random_range(0..services.len())].0;
                vec![("service", service.into()), ("sort", "opened".into())]
            }
            4 => vec![("kind", "incident".into()), ("group", "service-desk".into()), ("limit", "20".into())],
            _ => vec![("kind", "incident,problem".into()), ("sort", "updated".into()), ("desc", "false".into())],
        };
        let Some(page) = self.get(Kind::List, "/api/items", &query).await else { return };
        self.learn_rows(&page);
        if let Some(next) = page["next"].as_str()
            && self.rng.random_bool(0.3)
        {
            query.push(("cursor", next.to_owned()));
            if let Some(page) = self.get(Kind::List, "/api/items", &query).await {
                self.learn_rows(&page);
            }
        }
    }

    /// One request of the mixed phase.
    async fn mixed(&mut self) {
        let roll = self.rng.random_range(0..100);
        if roll < 20 {
            return self.command().await;
        }
        let id = self.pick_known();
        match (roll, id) {
            (20..50, _) | (_, None) => self.list().await,
            (50..65, _) => {
                let q = SEARCHES[self.rng.random_range(0..SEARCHES.len())];
                if let Some(found) = self.get(Kind::Search, "/api/search", &[("q", q.to_owned())]).await {
                    self.learn_rows(&found);
                }
            }
            (65..85, Some(id)) => {
                self.get(Kind::Read, &format!("/api/incidents/{id}"), &[]).await;
            }
            (85..93, Some(id)) => {
                self.get(Kind::History, &format!("/api/incidents/{id}/history"), &[]).await;
            }
            (_, Some(id)) => {
                self.get(Kind::Clocks, &format!("/api/incidents/{id}/clocks"), &[]).await;
            }
        }
    }

    /// Before the phase's clock starts: a first list (not counted), which
    /// opens the keep-alive connection and gives the client ids to read.
    async fn warm_up(&mut self) {
        let Some(http) = &self.http else { return };
        let url = format!("{}/api/items?kind=incident&limit=100", self.env.base);
        let Ok(response) = http.get(url).bearer_auth(&self.who.token).send().await else { return };
        if let Ok(page) = response.json::<Value>().await {
            self.learn_rows(&page);
        }
    }
}

/// Runs `clients` clients in `mode` for `secs` seconds; their tallies merged.
async fn phase(env: &Arc<Env>, mode: Mode, clients: u32, secs: f64) -> Result<Tally, String> {
    let barrier = Arc::new(Barrier::new(clients as usize));
    let length = Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for n in 0..clients {
        let mut client = Client::new(Arc::clone(env), n, mode)?;
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            client.warm_up().await;
            barrier.wait().await;
            let started = Instant::now();
            let deadline = started + length;
            while Instant::now() < deadline {
                match mode {
                    Mode::Direct | Mode::HttpWrites => client.command().await,
                    Mode::Mixed => client.mixed().await,
                }
            }
            client.tally.started = Some(started);
            client.tally.finished = Some(Instant::now());
            client.tally
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await.map_err(|e| format!("client task failed: {e}"))?);
    }
    Ok(total)
}

// ---------------------------------------------------------------------------
// Integrity.

#[derive(Debug, Default)]
struct Integrity {
    /// Events 2xx answers reported.
    reported: usize,
    /// Events the log holds after the phase's start.
    in_log: usize,
    lost: usize,
    duplicated: usize,
    /// (aggregate, version) reported by two answers (idempotent replays).
    reported_twice: usize,
    /// Aggregates with an unknown outcome, left out of the duplicate check.
    unknown_aggregates: usize,
    /// Events in the log on those aggregates (and on opens without an answer).
    unknown_events: usize,
}

impl Integrity {
    fn failed(&self) -> bool {
        self.lost > 0 || self.duplicated > 0
    }
}

/// Every event after `head`, as `(aggregate, version)`, read through the feed.
async fn log_after(store: &Store, reader: &Actor, head: FeedCursor) -> Result<Vec<(String, u64)>, String> {
    let mut cursor = head;
    let mut out = Vec::new();
    loop {
        let page = store.events_after(reader, cursor, 1_000).await.map_err(|e| format!("reading the feed: {e}"))?;
        out.extend(page.events.into_iter().map(|e| (e.event.aggregate_id, e.event.version)));
        cursor = page.next;
        if !page.more {
            return Ok(out);
        }
    }
}

fn compare(tally: &Tally, log: &[(String, u64)], unknown_opens: u64) -> Integrity {
    let mut reported: HashMap<(&str, u64), u32> = HashMap::new();
    for (id, v) in &tally.reported {
        *reported.entry((id.as_str(), *v)).or_default() += 1;
    }
    let mut logged: HashMap<(&str, u64), u32> = HashMap::new();
    for (id, v) in log {
        *logged.entry((id.as_str(), *v)).or_default() += 1;
    }
    let mut out = Integrity {
        reported: tally.reported.len(),
        in_log: log.len(),
        unknown_aggregates: tally.unknown.len() + usize::try_from(unknown_opens).unwrap_or(usize::MAX),
        ..Integrity::default()
    };
    out.reported_twice = reported.values().filter(|n| **n > 1).count();
    out.lost = reported.keys().filter(|k| !logged.contains_key(*k)).count();
    let mut orphans: HashMap<&str, usize> = HashMap::new();
    for (&(id, version), &n) in &logged {
        // The log's unique index makes this impossible; counted all the same.
        out.duplicated += n as usize - 1;
        if reported.contains_key(&(id, version)) {
            continue;
        }
        if tally.unknown.contains(id) {
            out.unknown_events += 1;
        } else if tally.touched.contains(id) {
            out.duplicated += 1;
        } else {
            *orphans.entry(id).or_default() += 1;
        }
    }
    // Aggregates no answer named: the incidents of opens without an answer,
    // as many as there were such opens; any beyond are duplicates.
    let orphan_events: usize = orphans.values().sum();
    if orphans.len() as u64 <= unknown_opens {
        out.unknown_events += orphan_events;
    } else {
        out.duplicated += orphan_events;
    }
    out
}

async fn check(store: &Store, reader: &Actor, head: FeedCursor, tally: &Tally) -> Result<Integrity, String> {
    // Handlers whose client gave up may still be finishing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut result = compare(tally, &log_after(store, reader, head).await?, tally.unknown_opens);
    if result.lost > 0 {
        // A transaction still running holds the PostgreSQL feed back: read again.
        tokio::time::sleep(Duration::from_secs(2)).await;
        result = compare(tally, &log_after(store, reader, head).await?, tally.unknown_opens);
    }
    Ok(result)
}

// ---------------------------------------------------------------------------
// One backend.

struct PhaseReport {
    name: &'static str,
    mode: Mode,
    tally: Tally,
    integrity: Integrity,
}

struct BackendReport {
    name: &'static str,
    seeded: String,
    phases: Vec<PhaseReport>,
}

fn demo_who(users: &Users, login: &str) -> Result<Arc<Who>, String> {
    let user = users.users.iter().find(|u| u.login == login).ok_or_else(|| format!("no demo user {login}"))?;
    Ok(Arc::new(Who { token: user.token.clone(), actor: user.actor.clone() }))
}

/// An automation actor of the demo tenant: it reads every event.
fn audit_reader() -> Result<Actor, String> {
    let id = ActorId::new("portal-load-audit").map_err(|e| e.to_string())?;
    let tenant = TenantId::new(TENANT).map_err(|e| e.to_string())?;
    Ok(Actor::new(id, tenant, [Role::Automation]))
}

/// Seeds `store`, serves the portal over it and runs the three phases.
/// PostgreSQL with autovacuum off (as on this project's test machines): the
/// planner keeps the statistics of the seed's first rows unless someone
/// analyzes, and plans for 3,000 incidents go wrong at 10,000. Before each
/// phase the test analyzes the schema's tables, as autovacuum would have
/// after so many inserts; with autovacuum on it leaves that to the server.
struct Analyze {
    url: String,
    schema: String,
}

impl Analyze {
    async fn run(&self) -> Result<(), String> {
        let mut conn = pg_admin(&self.url).await?;
        let on: String = sqlx::query_scalar("SHOW autovacuum").fetch_one(&mut conn).await.map_err(|e| e.to_string())?;
        if on == "on" {
            return Ok(());
        }
        let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = $1")
            .bind(&self.schema)
            .fetch_all(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        for table in tables {
            sqlx::raw_sql(AssertSqlSafe(format!("ANALYZE {}.{}", self.schema, table)))
                .execute(&mut conn)
                .await
                .map_err(|e| format!("analyzing {}.{table}: {e}", self.schema))?;
        }
        let _ = conn.close().await;
        Ok(())
    }
}

async fn run_backend(
    name: &'static str,
    store: &Store,
    args: &Args,
    analyze: Option<&Analyze>,
) -> Result<BackendReport, String> {
    let users = Users::demo().map_err(|e| e.to_string())?;
    let (agent, manager) = (demo_who(&users, "agent-1")?, demo_who(&users, "incident-manager")?);
    let reader = audit_reader()?;
    let clock = wall_clock();
    let size = SeedSize { incidents: args.seed_incidents, changes: args.seed_changes };
    eprintln!("portal_load: {name}: seeding the demo tenant ({} incidents, {} changes)", size.incidents, size.changes);
    let started = Instant::now();
    let seeded = match seed(store, &users, size, clock()).await.map_err(|e| format!("seeding: {e}"))? {
        Seeded::Filled { commands } => {
            format!("{commands} seed commands in {:.1} s", started.elapsed().as_secs_f64())
        }
        other => return Err(format!("the fresh database was not empty ({other:?})")),
    };
    let mut portal = Portal::new(store.clone(), users, clock);
    portal.store = portal.store.clone().with_search_candidates(args.search_candidates);
    let portal = Arc::new(portal);
    let listener =
        tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("cannot listen on loopback: {e}"))?;
    let base = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, Arc::clone(&portal), async move {
        let _ = stopped.await;
    }));
    let env = Arc::new(Env { base, portal, timeout: Duration::from_secs_f64(args.timeout), agent, manager });
    let plan = [
        ("A direct execute", Mode::Direct, args.write_secs),
        ("B HTTP commands", Mode::HttpWrites, args.write_secs),
        ("C HTTP mixed 80/20", Mode::Mixed, args.secs),
    ];
    let phases = async {
        let mut phases = Vec::new();
        for (phase_name, mode, secs) in plan {
            if let Some(analyze) = analyze {
                analyze.run().await.map_err(|e| format!("analyzing before phase {phase_name}: {e}"))?;
            }
            eprintln!("portal_load: {name}: phase {phase_name}, {} clients, {secs} s", args.clients);
            let head = store.feed_head().await.map_err(|e| format!("feed head: {e}"))?;
            let tally = phase(&env, mode, args.clients, secs).await?;
            let integrity = check(store, &reader, head, &tally).await?;
            phases.push(PhaseReport { name: phase_name, mode, tally, integrity });
        }
        Ok::<_, String>(phases)
    }
    .await;
    let _ = stop.send(());
    let served = match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("server: {e}")),
        Ok(Err(e)) => Err(format!("server task: {e}")),
        Err(_) => Err("the server did not stop within 10 s".to_owned()),
    };
    let phases = phases?;
    served?;
    Ok(BackendReport { name, seeded, phases })
}

fn connect_options(args: &Args) -> ConnectOptions {
    let defaults = ConnectOptions::default();
    ConnectOptions { max_connections: args.pool.unwrap_or(defaults.max_connections), ..defaults }
}

async fn run_sqlite(args: &Args) -> Result<BackendReport, String> {
    let path = db::temporary("portal-load");
    eprintln!("portal_load: sqlite: {} (removed at the end)", path.display());
    let result = async {
        let store = Store::connect_with(&db::sqlite_url(&path), &connect_options(args))
            .await
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        let report = run_backend("sqlite", &store, args, None).await;
        store.close().await;
        report
    }
    .await;
    db::remove_temporary(&path);
    result
}

/// Connects to PostgreSQL (5 s at most), or says why not.
async fn pg_admin(url: &str) -> Result<sqlx::PgConnection, String> {
    match tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 5 s".into()),
    }
}

async fn run_postgres(url: &str, mut admin: sqlx::PgConnection, args: &Args) -> Result<BackendReport, String> {
    let schema = format!("portal_load_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("creating schema {schema}: {e}"))?;
    eprintln!("portal_load: postgres: schema {schema} (dropped at the end)");
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options[search_path]={schema}");
    let result = async {
        let store = Store::connect_with(&scoped, &connect_options(args))
            .await
            .map_err(|e| format!("opening {}: {e}", itsm_store::redact_url(&scoped)))?;
        let analyze = Analyze { url: url.to_owned(), schema: schema.clone() };
        let report = run_backend("postgres", &store, args, Some(&analyze)).await;
        store.close().await;
        report
    }
    .await;
    let dropped = sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await;
    let _ = admin.close().await;
    let report = result?;
    dropped.map_err(|e| format!("dropping schema {schema}: {e}"))?;
    Ok(report)
}

// ---------------------------------------------------------------------------
// The report.

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "FAIL" }
}

/// Prints a backend's tables; returns what makes the run fail.
fn print_report(report: &mut BackendReport) -> Vec<String> {
    let mut failures = Vec::new();
    println!();
    println!("## {} ({})", report.name, report.seeded);
    println!();
    println!("| phase | requests | req/s | 2xx | 409 | 503 contention | other 4xx | other 5xx | no answer |");
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for p in &report.phases {
        let s = p.tally.statuses;
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            p.name,
            s.total(),
            p.tally.per_second(s.total()),
            s.ok,
            s.conflict,
            s.contention,
            s.other_4xx,
            s.other_5xx,
            s.no_answer
        );
    }
    for p in &report.phases {
        if !p.tally.codes.is_empty() {
            let codes: Vec<String> = p
                .tally
                .codes
                .iter()
                .map(|(code, n)| if *code == 0 { format!("no answer x{n}") } else { format!("{code} x{n}") })
                .collect();
            println!();
            println!("{}: other answers: {}", p.name, codes.join(", "));
        }
        for sample in &p.tally.samples {
            println!("  e.g. {sample}");
        }
    }

    println!();
    println!("| phase | kind | requests | p50 ms | p99 ms | max ms | p99 <= {P99_TARGET_MS:.0} ms |");
    println!("|---|---|--:|--:|--:|--:|:-:|");
    for p in &mut report.phases {
        for kind in KINDS {
            let lat = &mut p.tally.latency[kind.index()];
            lat.sort_unstable();
            let Some((p50, p99, max)) = percentiles(lat) else { continue };
            // The target is the HTTP portal's; phase A has no HTTP.
            let target = if p.mode == Mode::Direct { "-" } else { verdict(p99 <= P99_TARGET_MS) };
            println!("| {} | {} | {} | {p50:.1} | {p99:.1} | {max:.1} | {target} |", p.name, kind.name(), lat.len());
        }
    }

    println!();
    println!(
        "| phase | 2xx commands | events reported | events in log | lost | duplicated | unknown-outcome aggregates (excluded) | their events in log |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for p in &report.phases {
        let i = &p.integrity;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            p.tally.commands_ok,
            i.reported,
            i.in_log,
            i.lost,
            i.duplicated,
            i.unknown_aggregates,
            i.unknown_events
        );
        if p.tally.replayed > 0 || i.reported_twice > 0 {
            println!(
                "  ({}: {} replayed answers, {} events reported twice)",
                p.name, p.tally.replayed, i.reported_twice
            );
        }
        if i.failed() {
            failures.push(format!("{} {}: {} events lost, {} duplicated", report.name, p.name, i.lost, i.duplicated));
        }
        if p.tally.statuses.other_5xx > 0 {
            failures.push(format!(
                "{} {}: {} answers 5xx other than 503 contention",
                report.name, p.name, p.tally.statuses.other_5xx
            ));
        }
        if p.tally.statuses.malformed > 0 {
            failures.push(format!(
                "{} {}: {} 2xx command answers without their events",
                report.name, p.name, p.tally.statuses.malformed
            ));
        }
    }

    let rate =
        |mode: Mode| report.phases.iter().find(|p| p.mode == mode).map(|p| p.tally.per_second(p.tally.commands_ok));
    if let (Some(direct), Some(http)) = (rate(Mode::Direct), rate(Mode::HttpWrites)) {
        let ratio = if direct > 0.0 { http / direct } else { 0.0 };
        println!();
        println!(
            "write throughput: A direct {direct:.0} commits/s, B HTTP {http:.0} commands/s, ratio B/A {ratio:.2} (target >= {RATIO_TARGET:.2}): {}",
            verdict(ratio >= RATIO_TARGET)
        );
    }
    failures
}

/// The command line that reproduces this run (a URL's password hidden).
fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| if a.starts_with("postgres") { itsm_store::redact_url(&a) } else { a })
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| !(c.is_ascii_alphanumeric() || "-_./:=@,".contains(c))) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a
            }
        })
        .collect();
    let tail = if args.is_empty() { String::new() } else { format!(" -- {}", args.join(" ")) };
    format!("cargo run --release --example portal_load{tail}")
}

async fn run(args: Args) -> Result<(), String> {
    for (flag, value) in [("--secs", args.secs), ("--write-secs", args.write_secs), ("--timeout", args.timeout)] {
        if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
            return Err(format!("{flag} takes a positive number of seconds (at most a day), not {value}"));
        }
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("# portal_load");
    println!();
    println!("command: {}", command_line());
    println!("cores: {cores}; build: {}", if cfg!(debug_assertions) { "dev" } else { "release" });
    if cfg!(debug_assertions) {
        println!("WARNING: a dev build; the figures say little about a release build");
    }
    println!(
        "clients: {} (agent-1 and incident-manager alternately); phases A and B {} s each, C {} s; store pool {}; client timeout {} s",
        args.clients,
        args.write_secs,
        args.secs,
        connect_options(&args).max_connections,
        args.timeout
    );
    println!(
        "targets: p99 <= {P99_TARGET_MS:.0} ms per kind of HTTP request, HTTP/direct write throughput >= {RATIO_TARGET:.2} (printed, not enforced)"
    );

    let mut failures = Vec::new();
    if matches!(args.backend, BackendChoice::Sqlite | BackendChoice::Both) {
        match run_sqlite(&args).await {
            Ok(mut report) => failures.extend(print_report(&mut report)),
            Err(e) => {
                eprintln!("portal_load: sqlite: {e}");
                failures.push(format!("sqlite: {e}"));
            }
        }
    }
    if matches!(args.backend, BackendChoice::Postgres | BackendChoice::Both) {
        let url = args
            .db_url
            .clone()
            .or_else(|| std::env::var("ITSM_PG_URL").ok())
            .unwrap_or_else(|| DEFAULT_PG_URL.to_owned());
        match pg_admin(&url).await {
            Ok(admin) => match run_postgres(&url, admin, &args).await {
                Ok(mut report) => failures.extend(print_report(&mut report)),
                Err(e) => {
                    eprintln!("portal_load: postgres: {e}");
                    failures.push(format!("postgres: {e}"));
                }
            },
            Err(e) => {
                let message = format!(
                    "PostgreSQL at {} is unreachable ({e}); skipped. Set --db-url or ITSM_PG_URL, or pass --backend sqlite",
                    itsm_store::redact_url(&url)
                );
                println!();
                println!("## postgres: {message}");
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    failures.push(format!("postgres: {message} (CI=true)"));
                }
            }
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    println!();
    println!("FAILED:");
    for f in &failures {
        println!("  {f}");
    }
    Err(format!("{} failure(s), listed above", failures.len()))
}

fn main() -> ExitCode {
    // Errors only (an internal error the portal logs); RUST_LOG is not read.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
        .with_writer(std::io::stderr)
        .init();
    itsm_examples::run_main("portal_load", run(Args::parse()))
}
