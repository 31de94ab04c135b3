//! The workload every fault test runs and the four figures it reports.
//!
//! A command is a `Note` on one of a few tickets whose text starts with a
//! marker unique to the command, sent with the marker as idempotency key and
//! `ExpectedVersion::Any`: a command applied twice shows as two events with
//! the same marker. After the fault is lifted, every command that failed is
//! re-sent once with its key on the same `Store` (a client retrying), then
//! the tickets' histories are read back.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use itsm_core::{Actor, Context};
use itsm_store::{ExecError, Request, Store, StoreError};

use crate::common::{actor, config, ts, unique};
use crate::ticket::{Ticket, TicketCommand, open};

/// Serializes the fault tests: they restart the server, fill disks, and
/// hold locks.
static SERIAL: Mutex<()> = Mutex::new(());

/// Longest a single store call may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(90);

/// Runs one fault test alone, on its own runtime.
pub fn serial<F: Future<Output = ()>>(test: F) {
    let _guard = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(test);
}

/// Whether a missing precondition (a server, root) fails the test.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skips (with a message) or, under `CI=true`, fails.
pub fn skip(test: &str, why: &str) {
    assert!(!in_ci(), "{test}: {why} (CI=true: not skipped)");
    eprintln!("SKIPPED {test}: {why}");
}

/// Whether this process runs as root (mounts and `pg_ctlcluster` need it).
pub fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Awaits a store call with a hang guard.
pub async fn guarded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} hung for more than {HANG:?}"),
    }
}

/// How a command ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Acknowledged; `replayed` when the store returned a stored first result.
    Acked { replayed: bool },
    /// Failed; the label names the typed error, `maybe_applied` is true only
    /// for an unknown commit outcome.
    Failed { label: String, maybe_applied: bool },
}

/// One command of the workload.
#[derive(Debug, Clone)]
pub struct Sent {
    pub marker: String,
    pub ticket: String,
    pub outcome: Outcome,
}

/// The workload: tickets of one tenant, commands numbered from 0.
#[derive(Clone)]
pub struct Load {
    pub store: Store,
    pub actor: Actor,
    pub run: String,
    pub tickets: Vec<String>,
    /// Bytes of padding after the marker in each note.
    pub padding: usize,
    next: Arc<AtomicU64>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

/// Names a store error by its variant (the test's classification).
pub fn label(e: &StoreError) -> String {
    match e {
        StoreError::Contention { .. } => "contention".into(),
        StoreError::Transient { code, .. } => format!("transient {code}"),
        StoreError::PoolTimeout => "pool timeout".into(),
        StoreError::ConnectionLost { code, .. } => format!("connection lost {}", code.as_deref().unwrap_or("(io)")),
        StoreError::OutcomeUnknown { .. } => "outcome unknown".into(),
        StoreError::Storage { fault, code, .. } => format!("storage: {fault} ({code})"),
        other => format!("UNEXPECTED {other:?}"),
    }
}

impl Load {
    /// Opens `tickets` tickets (before the fault; not counted).
    pub async fn new(store: Store, tickets: usize, padding: usize) -> Load {
        let run = unique("f");
        let actor = actor("faults", "writer");
        let ids: Vec<String> = (0..tickets).map(|i| format!("{run}-T{i}")).collect();
        let cfg = config();
        for id in &ids {
            let cmd = open(id, "fault target");
            let ctx = Context::new(&actor, ts(0), &cfg);
            guarded("open", store.execute::<Ticket>(Request::new(ctx, id, &cmd))).await.unwrap();
        }
        Load {
            store,
            actor,
            run,
            tickets: ids,
            padding,
            next: Arc::new(AtomicU64::new(0)),
            sent: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The same workload (numbering, record of commands) through another
    /// store on the same database.
    pub fn with_store(&self, store: Store) -> Load {
        Load { store, ..self.clone() }
    }

    fn text(&self, marker: &str) -> String {
        format!("{marker} {}", "x".repeat(self.padding))
    }

    /// Sends one command (marker `n`) and records how it ended.
    async fn send(&self, n: u64) -> Outcome {
        let marker = format!("{}/{n}", self.run);
        let ticket = self.tickets[(n as usize) % self.tickets.len()].clone();
        let outcome = self.send_marker(&marker, &ticket).await;
        self.sent.lock().unwrap().push(Sent { marker, ticket, outcome: outcome.clone() });
        outcome
    }

    async fn send_marker(&self, marker: &str, ticket: &str) -> Outcome {
        let cfg = config();
        let cmd = TicketCommand::Note { text: self.text(marker) };
        let ctx = Context::new(&self.actor, ts(1), &cfg);
        let req = Request::<Ticket>::new(ctx, ticket, &cmd).idempotency_key(marker);
        match guarded(marker, self.store.execute::<Ticket>(req)).await {
            Ok(c) => Outcome::Acked { replayed: c.replayed },
            Err(ExecError::Domain(e)) => {
                Outcome::Failed { label: format!("UNEXPECTED domain {e}"), maybe_applied: false }
            }
            Err(ExecError::Store(e)) => {
                Outcome::Failed { maybe_applied: matches!(e, StoreError::OutcomeUnknown { .. }), label: label(&e) }
            }
        }
    }

    /// Sends `n` commands one after another.
    pub async fn send_n(&self, n: usize) {
        for _ in 0..n {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            self.send(i).await;
        }
    }

    /// `writers` tasks sending commands until `stop` is set.
    pub fn writers(&self, writers: usize, stop: &Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<()>> {
        (0..writers)
            .map(|_| {
                let load = self.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let i = load.next.fetch_add(1, Ordering::Relaxed);
                        load.send(i).await;
                    }
                })
            })
            .collect()
    }

    /// Every command sent so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// Failures so far, counted by label.
    pub fn failures(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for s in self.sent() {
            if let Outcome::Failed { label, .. } = s.outcome {
                *out.entry(label).or_insert(0) += 1;
            }
        }
        out
    }

    /// Marker → number of events carrying it, read from `store` (the
    /// workload's store or a reopened one).
    pub async fn log(&self, store: &Store) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for id in &self.tickets {
            let events = guarded("history", store.history::<Ticket>(&self.actor, id)).await.unwrap();
            for e in events {
                if let crate::ticket::TicketEvent::Noted { text } = e.event {
                    let marker = text.split(' ').next().unwrap_or_default().to_owned();
                    *counts.entry(marker).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    /// After the fault: checks that every command that failed with an error
    /// promising nothing was written is absent, re-sends each failed command
    /// once with its key through `store` (which must succeed: the fault is
    /// lifted), reads the log back, prints the four figures and asserts them.
    pub async fn recover_and_check(&self, name: &str, store: &Store, allowed: impl Fn(&str) -> bool) {
        let sent = self.sent();
        let failures = self.failures();
        for label in failures.keys() {
            assert!(allowed(label), "{name}: a command failed with an error this fault must not give: {label}");
        }
        let before = self.log(store).await;
        let mut retried = 0usize;
        let mut replays = 0usize;
        let mut acked = 0usize;
        for s in &sent {
            match &s.outcome {
                Outcome::Acked { replayed } => {
                    acked += 1;
                    replays += usize::from(*replayed);
                }
                Outcome::Failed { label, maybe_applied } => {
                    if !maybe_applied {
                        assert_eq!(
                            before.get(&s.marker),
                            None,
                            "{name}: command {} failed ({label}) but was applied",
                            s.marker
                        );
                    }
                    let load = self.with_store(store.clone());
                    match load.send_marker(&s.marker, &s.ticket).await {
                        Outcome::Acked { replayed } => {
                            acked += 1;
                            retried += 1;
                            replays += usize::from(replayed);
                        }
                        Outcome::Failed { label, .. } => {
                            panic!("{name}: re-sending {} after the fault failed: {label}", s.marker)
                        }
                    }
                }
            }
        }
        let after = self.log(store).await;
        let prefix = format!("{}/", self.run);
        let found = after.keys().filter(|m| m.starts_with(&prefix)).count();
        let duplicates: usize = after.values().map(|c| c - 1).sum();
        let failed: usize = failures.values().sum();
        eprintln!(
            "FAULT {name}: attempted {}, acknowledged {acked}, found after recovery {found}, duplicates {duplicates}",
            sent.len()
        );
        eprintln!(
            "FAULT {name}: failed during the fault {failed} {failures:?}; re-sent with the same key and acknowledged \
             {retried}; replayed first results {replays}"
        );
        assert_eq!(acked, sent.len(), "{name}: every command is acknowledged once the fault is lifted");
        assert_eq!(found, acked, "{name}: commands found after recovery == commands acknowledged");
        assert_eq!(duplicates, 0, "{name}: no command applied twice");
    }
}
