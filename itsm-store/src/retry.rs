//! The retry loop every store operation runs in: a whole transaction re-run
//! with full-jitter backoff while it fails transiently or loses its
//! connection.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::error::{ExecError, StoreError};

/// Most attempts of a retried operation.
pub(crate) const MAX_ATTEMPTS: u32 = 5;

/// Errors a retry loop can inspect.
pub(crate) trait Retryable {
    fn transient(&self) -> bool;
    /// The connection was lost before committing ([`StoreError::ConnectionLost`]).
    fn lost(&self) -> bool;
    /// The connection was lost while committing ([`StoreError::OutcomeUnknown`]).
    fn unknown(&self) -> bool;
    fn contention(attempts: u32) -> Self;
}

impl Retryable for StoreError {
    fn transient(&self) -> bool {
        self.is_transient()
    }
    fn lost(&self) -> bool {
        matches!(self, StoreError::ConnectionLost { .. })
    }
    fn unknown(&self) -> bool {
        matches!(self, StoreError::OutcomeUnknown { .. })
    }
    fn contention(attempts: u32) -> Self {
        StoreError::Contention { attempts }
    }
}

impl<E: std::error::Error + 'static> Retryable for ExecError<E> {
    fn transient(&self) -> bool {
        matches!(self, ExecError::Store(e) if e.is_transient())
    }
    fn lost(&self) -> bool {
        matches!(self, ExecError::Store(e) if e.lost())
    }
    fn unknown(&self) -> bool {
        matches!(self, ExecError::Store(e) if e.unknown())
    }
    fn contention(attempts: u32) -> Self {
        ExecError::Store(StoreError::Contention { attempts })
    }
}

/// [`retry_with`] for operations that are not safe to re-run after an
/// unknown commit outcome.
pub(crate) async fn retry<T, E, F, Fut>(op: F) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_with(false, op).await
}

/// Runs `op` (a whole transaction, re-reading everything) up to
/// [`MAX_ATTEMPTS`] times while it fails transiently or loses its connection
/// before committing, sleeping a full-jitter backoff between attempts
/// (uniform in `0..=min(1 s, 10 ms * 2^n)`). When `replay_safe` (a command
/// with an idempotency key: a re-run returns the first result if the lost
/// commit went through), a connection lost while committing is retried too.
/// When the attempts run out, contention becomes [`StoreError::Contention`]
/// and a lost connection is returned as it is.
pub(crate) async fn retry_with<T, E, F, Fut>(replay_safe: bool, mut op: F) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if e.transient() || e.lost() || (replay_safe && e.unknown()) => {
                if attempt >= MAX_ATTEMPTS {
                    if e.transient() {
                        tracing::warn!(attempts = attempt, "contention persisted");
                        return Err(E::contention(attempt));
                    }
                    tracing::warn!(attempts = attempt, "database connection lost on every attempt");
                    return Err(e);
                }
                let cap_ms = (10u64 << (attempt - 1)).min(1000);
                let sleep_ms = rand::rng().random_range(0..=cap_ms);
                tracing::debug!(attempt, sleep_ms, "transient database error or lost connection, retrying");
                tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> StoreError {
        StoreError::Transient { code: "5".into(), source: sqlx::Error::PoolClosed }
    }

    #[tokio::test]
    async fn retry_gives_up_after_five_attempts_with_contention() {
        let mut calls = 0;
        let r: Result<(), StoreError> = retry(|| {
            calls += 1;
            async { Err(transient()) }
        })
        .await;
        assert!(matches!(r, Err(StoreError::Contention { attempts: 5 })));
        assert_eq!(calls, 5);
    }

    #[tokio::test]
    async fn retry_reruns_transient_failures_only() {
        let mut calls = 0;
        let r: Result<u32, StoreError> = retry(|| {
            calls += 1;
            let n = calls;
            async move { if n < 3 { Err(transient()) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r.unwrap(), 3);
        let mut calls = 0;
        let r: Result<(), StoreError> = retry(|| {
            calls += 1;
            async { Err(StoreError::Overflow) }
        })
        .await;
        assert!(matches!(r, Err(StoreError::Overflow)));
        assert_eq!(calls, 1, "a non-transient error is not retried");
    }
}
