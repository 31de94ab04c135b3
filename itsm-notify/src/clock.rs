//! The dispatcher's time source.

use itsm_core::Timestamp;

/// Where the dispatcher reads the current instant. Implemented by
/// [`SystemClock`] and by any `Fn() -> Timestamp` (a test's clock).
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system's UTC clock (truncated to microseconds, like every
/// [`Timestamp`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_utc(chrono::Utc::now())
    }
}

impl<F: Fn() -> Timestamp + Send + Sync> Clock for F {
    fn now(&self) -> Timestamp {
        self()
    }
}
