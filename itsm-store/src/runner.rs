//! The escalation runner: a task that sleeps until the store's next due
//! instant, then records every escalation that came due, once.
//!
//! Each step ([`crate::Store::run_due`]) is one transaction over a batch of
//! due aggregates of every tenant: it records each escalation due on them
//! (`executed_escalations`, keyed by the escalation's stable id, so a second
//! recording of the same id is a no-op), queues its outbox message (topic
//! [`crate::ESCALATION_TOPIC`]) and moves the aggregate's due instant to its
//! next mark. An escalation whose action is `propose_major_incident` also
//! runs: the incident becomes a major-incident candidate ([`RUNNER_ACTOR`]). On PostgreSQL a step locks the aggregates it takes and skips
//! those another runner holds (`FOR UPDATE SKIP LOCKED`), so several runner
//! processes share the work; a runner killed mid-step rolls its transaction
//! back and another takes the same aggregates. On SQLite the single writer
//! serializes steps.
//!
//! Between steps the runner sleeps until the earliest due instant, woken
//! early by the feed's signal (a command may bring a due instant forward)
//! and at least every [`RunnerOptions::max_sleep`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), itsm_store::StoreError> {
//! use itsm_store::runner::{Runner, RunnerOptions, SystemClock};
//! let store = itsm_store::Store::connect("sqlite://itsm.db").await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let runner = Runner::new(store, SystemClock, RunnerOptions::default());
//! let task = tokio::spawn(runner.run(async move { let _ = stopped.await; }));
//! // ... serve; on shutdown:
//! let _ = stop.send(());
//! let totals = task.await.expect("runner task")?;
//! # let _ = totals; Ok(()) }
//! ```

use std::future::Future;
use std::time::Duration;

use itsm_core::sla::DueEscalation;
use itsm_core::{AggregateKind, Timestamp};

use crate::{Store, StoreError};

/// Where a runner (or an outbox dispatcher) reads the time: the store's
/// methods take `now` and never read the clock themselves. Implemented by
/// [`SystemClock`], [`FixedClock`] and any `Fn() -> Timestamp` (a test's
/// clock).
pub trait Clock: Send + Sync + 'static {
    /// The instant now (truncated to microseconds).
    fn now(&self) -> Timestamp;
}

impl<F: Fn() -> Timestamp + Send + Sync + 'static> Clock for F {
    fn now(&self) -> Timestamp {
        self()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_utc(chrono::Utc::now())
    }
}

/// A clock that always says the same instant (tests, replays).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// How a runner works.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Aggregates per step (one transaction).
    pub batch: u32,
    /// The longest sleep between steps, whatever the next due instant.
    pub max_sleep: Duration,
    /// The sleep after a failed step (a lost connection, say), doubled up to
    /// `max_sleep` while steps keep failing.
    pub retry_after: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions { batch: 100, max_sleep: Duration::from_secs(30), retry_after: Duration::from_millis(250) }
    }
}

/// The actor id a runner's commands are recorded under (with the automation
/// role): an escalation rule whose action is `propose_major_incident` makes
/// the incident a major-incident candidate (`IncidentCommand::ProposeMajor`)
/// in the step's transaction.
pub const RUNNER_ACTOR: &str = "escalation-runner";

/// An escalation a runner recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The tenant.
    pub tenant: String,
    /// The escalation (its `id` keys it).
    pub escalation: DueEscalation,
}

/// An aggregate whose clock a step could not evaluate (a corrupt clock, a
/// configuration that no longer reads): its due instant was cleared so the
/// runner does not take it again and again; its next command computes it.
#[derive(Debug)]
pub struct Failed {
    /// The tenant.
    pub tenant: String,
    /// The aggregate's kind.
    pub kind: AggregateKind,
    /// The aggregate's id.
    pub id: String,
    /// Why.
    pub error: StoreError,
}

/// What one step did ([`crate::Store::run_due`]).
#[derive(Debug, Default)]
pub struct StepReport {
    /// Due aggregates taken.
    pub aggregates: usize,
    /// Escalations recorded in this step (each id is recorded once, ever).
    pub executed: Vec<Executed>,
    /// Aggregates whose clock could not be evaluated.
    pub failed: Vec<Failed>,
    /// Incidents this step made major-incident candidates (tenant, id): a
    /// `propose_major_incident` escalation was recorded and the incident
    /// was neither major nor proposed yet.
    pub proposed: Vec<(String, String)>,
}

/// What a runner did until it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunnerTotals {
    /// Steps run.
    pub steps: u64,
    /// Aggregates taken.
    pub aggregates: u64,
    /// Escalations recorded.
    pub executed: u64,
    /// Aggregates whose clock could not be evaluated.
    pub failed: u64,
    /// Incidents made major-incident candidates.
    pub proposed: u64,
    /// Steps that failed (and were retried).
    pub errors: u64,
}

/// The escalation runner (see the module docs).
#[derive(Debug)]
pub struct Runner<C: Clock> {
    store: Store,
    clock: C,
    options: RunnerOptions,
}

impl<C: Clock> Runner<C> {
    /// A runner over `store`, reading the time from `clock`.
    pub fn new(store: Store, clock: C, options: RunnerOptions) -> Self {
        Runner { store, clock, options }
    }

    /// Runs steps until nothing is due at the clock's instant now; returns
    /// the totals. For a caller with its own schedule (and for tests).
    #[tracing::instrument(skip_all)]
    pub async fn drain(&self) -> Result<RunnerTotals, StoreError> {
        let mut totals = RunnerTotals::default();
        loop {
            let report = self.store.run_due(self.clock.now(), self.options.batch).await?;
            add(&mut totals, &report);
            if report.aggregates < self.options.batch as usize {
                return Ok(totals);
            }
        }
    }

    /// Runs until `shutdown` completes (a step in flight finishes first),
    /// sleeping between steps until the next due instant. A failed step is
    /// logged and retried after a growing pause; the runner never gives up.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<RunnerTotals, StoreError> {
        let mut totals = RunnerTotals::default();
        let mut signal = self.store.subscribe();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut pause = self.options.retry_after;
        loop {
            let sleep = match self.step(&mut totals).await {
                Ok(sleep) => {
                    pause = self.options.retry_after;
                    sleep
                }
                Err(error) => {
                    totals.errors += 1;
                    tracing::warn!(%error, retry_in = ?pause, "escalation runner step failed");
                    let p = pause;
                    pause = (pause * 2).min(self.options.max_sleep);
                    Some(p)
                }
            };
            let Some(sleep) = sleep else { continue };
            tokio::select! {
                () = &mut shutdown => return Ok(totals),
                () = tokio::time::sleep(sleep) => {}
                _ = signal.wait() => {}
            }
        }
    }

    /// One step; `None` when more is due at once, else how long to sleep.
    async fn step(&self, totals: &mut RunnerTotals) -> Result<Option<Duration>, StoreError> {
        let now = self.clock.now();
        let report = self.store.run_due(now, self.options.batch).await?;
        add(totals, &report);
        if report.aggregates >= self.options.batch as usize {
            return Ok(None);
        }
        let next = self.store.next_due().await?;
        let wait = match next {
            Some(at) => {
                let micros = at.unix_micros().saturating_sub(self.clock.now().unix_micros()).max(0);
                Duration::from_micros(u64::try_from(micros).unwrap_or(0))
            }
            None => self.options.max_sleep,
        };
        // Due now (or in the past) and still there: another runner holds
        // it; look again shortly rather than spin.
        let wait = if wait.is_zero() { Duration::from_millis(10) } else { wait };
        Ok(Some(wait.min(self.options.max_sleep)))
    }
}

fn add(totals: &mut RunnerTotals, report: &StepReport) {
    totals.steps += 1;
    totals.aggregates += report.aggregates as u64;
    totals.executed += report.executed.len() as u64;
    totals.failed += report.failed.len() as u64;
    totals.proposed += report.proposed.len() as u64;
}
