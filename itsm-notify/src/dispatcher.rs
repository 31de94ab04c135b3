//! The dispatcher: claim, deliver, acknowledge or record the failure.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::stream::{self, StreamExt};
use itsm_core::Timestamp;
use itsm_store::{OutboxItem, Store, StoreError};
use rand::Rng;

use crate::Sink;
use crate::{Clock, SystemClock};

/// How a [`Dispatcher`] claims, retries and waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchOptions {
    /// Messages claimed at once (at most one per stream, see the crate
    /// docs). At least 1.
    pub batch: u32,
    /// How long a claim holds its messages: longer than a batch's slowest
    /// delivery (the sink's timeout), or another dispatcher may deliver the
    /// same message again meanwhile.
    pub lease: Duration,
    /// Attempts before a retryable failure becomes a dead letter (the
    /// attempt that fails the `max_attempts`-th time is the last). At least 1.
    pub max_attempts: u32,
    /// The backoff cap of the first retry; it doubles with every attempt.
    pub backoff_base: Duration,
    /// The largest backoff cap.
    pub backoff_max: Duration,
    /// How long [`Dispatcher::run`] sleeps when a claim found nothing (or
    /// the store failed).
    pub idle: Duration,
    /// Deliveries of one batch in flight at once (messages of different
    /// streams). At least 1.
    pub concurrency: usize,
}

impl Default for DispatchOptions {
    /// Batches of 32, a 60 s lease, 8 attempts, backoff from 1 s up to 5
    /// minutes, 1 s idle polls, 8 deliveries in flight.
    fn default() -> Self {
        DispatchOptions {
            batch: 32,
            lease: Duration::from_secs(60),
            max_attempts: 8,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            idle: Duration::from_secs(1),
            concurrency: 8,
        }
    }
}

impl DispatchOptions {
    /// The backoff cap after the `attempt`-th failed attempt (1-based):
    /// `min(backoff_max, backoff_base * 2^(attempt - 1))`. The delay is
    /// drawn uniformly from `0..=cap` (full jitter), so dispatchers that
    /// failed together do not retry together.
    pub fn backoff_cap(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff_base.checked_mul(factor).unwrap_or(self.backoff_max).min(self.backoff_max)
    }

    /// A backoff drawn with full jitter (see [`DispatchOptions::backoff_cap`]).
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let cap = u64::try_from(self.backoff_cap(attempt).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rng.random_range(0..=cap))
    }
}

/// What one [`Dispatcher::run_once`] did (or, summed, a whole
/// [`Dispatcher::run`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Messages claimed.
    pub claimed: usize,
    /// Delivered and acknowledged.
    pub delivered: usize,
    /// Failed and scheduled for another attempt.
    pub retried: usize,
    /// Made dead letters (refused, or out of attempts).
    pub dead: usize,
    /// Whose lease had expired when the outcome was recorded: nothing was
    /// recorded, the message will be claimed again (delivered twice if the
    /// sink had accepted it).
    pub lease_lost: usize,
}

impl std::ops::AddAssign for DispatchReport {
    fn add_assign(&mut self, other: DispatchReport) {
        self.claimed += other.claimed;
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.dead += other.dead;
        self.lease_lost += other.lease_lost;
    }
}

/// What became of one claimed message.
enum Outcome {
    Delivered,
    Retried,
    Dead,
    LeaseLost,
}

/// Delivers a store's outbox to a sink (see the crate docs). Several
/// dispatchers (each with its own consumer name) may share a store: claims
/// never hand the same message to two of them while a lease holds.
pub struct Dispatcher<S> {
    store: Store,
    sink: S,
    consumer: String,
    options: DispatchOptions,
    clock: Arc<dyn Clock>,
}

impl<S> std::fmt::Debug for Dispatcher<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("store", &self.store)
            .field("consumer", &self.consumer)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S: Sink> Dispatcher<S> {
    /// A dispatcher claiming as `consumer` (a name unique among the
    /// dispatchers of a store), reading time from the [`SystemClock`].
    /// Options below their minimum are raised to it.
    pub fn new(store: Store, sink: S, consumer: impl Into<String>, mut options: DispatchOptions) -> Self {
        options.batch = options.batch.max(1);
        options.max_attempts = options.max_attempts.max(1);
        options.concurrency = options.concurrency.max(1);
        Dispatcher { store, sink, consumer: consumer.into(), options, clock: Arc::new(SystemClock) }
    }

    /// Reads time from `clock` instead.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The options in force.
    pub fn options(&self) -> &DispatchOptions {
        &self.options
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Claims one batch at `now` and delivers it: each message's outcome is
    /// recorded as soon as its sink answered, at the clock's instant then
    /// (never before `now`): acknowledged; failed with a retry instant
    /// (`+ backoff`); or a dead letter when the sink refused it or this was
    /// attempt [`DispatchOptions::max_attempts`]. A store error ends the
    /// batch with that error once every delivery in flight has finished
    /// (messages whose outcome was not recorded are claimed again when
    /// their lease expires).
    #[tracing::instrument(skip_all, fields(consumer = %self.consumer, sink = self.sink.name()))]
    pub async fn run_once(&self, now: Timestamp) -> Result<DispatchReport, StoreError> {
        let items = self.store.claim(&self.consumer, self.options.lease, self.options.batch, now).await?;
        let mut report = DispatchReport { claimed: items.len(), ..DispatchReport::default() };
        if items.is_empty() {
            return Ok(report);
        }
        tracing::debug!(claimed = report.claimed, "claimed");
        // A claim holds at most one message per stream: these deliveries
        // may overlap without reordering a stream.
        let outcomes: Vec<Result<Outcome, StoreError>> = stream::iter(items)
            .map(|item| async move { self.deliver_one(&item, now).await })
            .buffer_unordered(self.options.concurrency)
            .collect()
            .await;
        let mut first_error = None;
        for outcome in outcomes {
            match outcome {
                Ok(Outcome::Delivered) => report.delivered += 1,
                Ok(Outcome::Retried) => report.retried += 1,
                Ok(Outcome::Dead) => report.dead += 1,
                Ok(Outcome::LeaseLost) => report.lease_lost += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        tracing::debug!(?report, "batch done");
        Ok(report)
    }

    #[tracing::instrument(skip_all, fields(id = item.id, topic = %item.topic, attempt = item.attempts))]
    async fn deliver_one(&self, item: &OutboxItem, claimed_at: Timestamp) -> Result<Outcome, StoreError> {
        let result = self.sink.deliver(item).await;
        let at = self.clock.now().max(claimed_at);
        let consumer = self.consumer.as_str();
        match result {
            Ok(()) => {
                if self.store.ack(item.id, consumer, at).await? {
                    Ok(Outcome::Delivered)
                } else {
                    tracing::warn!("delivered after the lease expired: it will be delivered again");
                    Ok(Outcome::LeaseLost)
                }
            }
            Err(e) => {
                let error = e.to_string();
                let retry_at = if e.is_retryable() && item.attempts < self.options.max_attempts {
                    let delay = self.options.backoff(item.attempts, &mut rand::rng());
                    Some(later(at, delay))
                } else {
                    None
                };
                let recorded = self.store.fail(item.id, consumer, &error, retry_at, at).await?;
                match (recorded, retry_at) {
                    (false, _) => {
                        tracing::warn!(error = %e, "failed after the lease expired: nothing recorded");
                        Ok(Outcome::LeaseLost)
                    }
                    (true, Some(retry_at)) => {
                        tracing::debug!(error = %e, %retry_at, "delivery failed, will retry");
                        Ok(Outcome::Retried)
                    }
                    (true, None) => {
                        tracing::warn!(error = %e, attempts = item.attempts, "dead letter");
                        Ok(Outcome::Dead)
                    }
                }
            }
        }
    }

    /// Dispatches until `shutdown` completes: a batch right after a batch
    /// that claimed something, else after sleeping
    /// [`DispatchOptions::idle`]. A batch in progress is finished (its
    /// deliveries and their outcomes recorded) before `shutdown` is looked
    /// at, so stopping leaves no lease to wait out. A store error is logged
    /// and waited out like an empty claim. Returns the sum of every batch's
    /// report. Spawn it as a task
    /// (`tokio::spawn(async move { dispatcher.run(signal).await })`).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> DispatchReport {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut total = DispatchReport::default();
        loop {
            if shutdown.as_mut().now_or_never().is_some() {
                return total;
            }
            let busy = match self.run_once(self.clock.now()).await {
                Ok(report) => {
                    total += report;
                    report.claimed > 0
                }
                Err(e) => {
                    tracing::warn!(error = %e, "dispatch failed; waiting");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    biased;
                    () = shutdown.as_mut() => return total,
                    () = tokio::time::sleep(self.options.idle) => {}
                }
            }
        }
    }
}

/// `at + delay`, saturating at the latest instant a store accepts.
fn later(at: Timestamp, delay: Duration) -> Timestamp {
    let delay = chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX);
    at.as_utc().checked_add_signed(delay).map(Timestamp::from_utc).filter(|t| *t <= latest()).unwrap_or(latest())
}

/// The latest instant a store accepts.
fn latest() -> Timestamp {
    Timestamp::MAX
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_full_jitter() {
        let o = DispatchOptions {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            ..DispatchOptions::default()
        };
        assert_eq!(o.backoff_cap(0), Duration::from_millis(100));
        assert_eq!(o.backoff_cap(1), Duration::from_millis(100));
        assert_eq!(o.backoff_cap(2), Duration::from_millis(200));
        assert_eq!(o.backoff_cap(4), Duration::from_millis(800));
        assert_eq!(o.backoff_cap(5), Duration::from_secs(1));
        assert_eq!(o.backoff_cap(u32::MAX), Duration::from_secs(1));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let draws: Vec<Duration> = (0..200).map(|_| o.backoff(3, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_millis(400)));
        assert!(draws.iter().any(|d| *d < Duration::from_millis(100)), "jitter reaches down");
        assert!(draws.iter().any(|d| *d > Duration::from_millis(300)), "and up");
    }

    #[test]
    fn later_saturates() {
        let t = Timestamp::from_unix_secs(1_767_225_600).unwrap();
        assert_eq!(later(t, Duration::from_secs(2)), Timestamp::from_unix_secs(1_767_225_602).unwrap());
        assert_eq!(later(t, Duration::MAX), latest());
    }
}
