//! The event feed: every event of a tenant in one order that all readers
//! agree on, read page by page after a [`FeedCursor`] ([`crate::Store::events_after`]),
//! and the wake-up signal that tells a reader when to read again
//! ([`crate::Store::subscribe`]).
//!
//! **Order and gaps.** SQLite has one writer: positions are assigned in
//! commit order, so the feed is position order and a cursor is a position.
//! On PostgreSQL positions are assigned at insert time and transactions
//! commit in another order; a reader that followed positions alone could
//! pass a position whose transaction commits later and skip it for good.
//! There every event keeps the id of the transaction that wrote it, the feed
//! is ordered by (transaction, position), and a page holds only events whose
//! transaction is older than the oldest transaction still running (the
//! snapshot's `xmin`): those can no longer change, and anything that commits
//! later sorts after them. No row is skipped or repeated, and writers take no
//! extra lock. The price: a long write transaction (a large import batch)
//! holds the feed back until it ends.
//!
//! **Wake-up.** Each store's commits wake its own subscribers at once. On
//! PostgreSQL they also send a `NOTIFY` on [`CHANNEL`] after the commit (not
//! in the write transaction: a `NOTIFY` in it would serialize every writer's
//! commit), coalesced to at most one per [`COALESCE`], with the store's schema as
//! payload; a subscriber listens there, so commits of other processes on the
//! same schema wake it too (stores on other schemas of the database do
//! not). On SQLite, commits of
//! other processes are found by polling. Every subscriber also wakes after
//! its poll interval, so a lost notification delays a reader, never loses an
//! event.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::model::StoredEvent;

/// The PostgreSQL notification channel of the feed.
pub const CHANNEL: &str = "itsm_feed";

/// The shortest interval between two notifications a store sends.
pub const COALESCE: Duration = Duration::from_millis(2);

/// Where a reader is in the feed: opaque, ordered, stable. Its text form
/// (`"{tx}.{position}"`, its `Display`) suits a server-sent
/// event's id, and parses back with [`str::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FeedCursor {
    /// The writing transaction's key (PostgreSQL; always 0 on SQLite).
    tx: u64,
    /// The event's position.
    position: u64,
}

impl FeedCursor {
    /// Before every event.
    pub const START: FeedCursor = FeedCursor { tx: 0, position: 0 };

    pub(crate) fn new(tx: i64, position: i64) -> FeedCursor {
        FeedCursor { tx: u64::try_from(tx).unwrap_or(0), position: u64::try_from(position).unwrap_or(0) }
    }

    pub(crate) fn as_db(self) -> (i64, i64) {
        (i64::try_from(self.tx).unwrap_or(i64::MAX), i64::try_from(self.position).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for FeedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tx, self.position)
    }
}

/// A feed cursor's text that is not `"{tx}.{position}"` with two unsigned
/// integers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("feed cursor {text:?} is not of the form TX.POSITION (two unsigned integers)")]
pub struct BadCursor {
    /// The text given.
    pub text: String,
}

impl FromStr for FeedCursor {
    type Err = BadCursor;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadCursor { text: text.chars().take(64).collect() };
        let (tx, position) = text.split_once('.').ok_or_else(bad)?;
        let tx: u64 = tx.parse().map_err(|_| bad())?;
        let position: u64 = position.parse().map_err(|_| bad())?;
        if i64::try_from(tx).is_err() || i64::try_from(position).is_err() {
            return Err(bad());
        }
        Ok(FeedCursor { tx, position })
    }
}

/// An event of the feed with the cursor just after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// Pass it to [`crate::Store::events_after`] to read on after this event.
    pub cursor: FeedCursor,
    /// The event.
    pub event: StoredEvent,
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    /// The events the reader may see, in feed order.
    pub events: Vec<FeedEvent>,
    /// Where to read on: after the last event scanned (events the reader may
    /// not see are scanned and passed over), or, when the page was not full,
    /// after everything that was final when it was read.
    pub next: FeedCursor,
    /// Whether the page was full, so more may follow at once; read again
    /// before waiting.
    pub more: bool,
}

/// Wakes a feed reader ([`crate::Store::subscribe`]).
#[derive(Debug)]
pub struct FeedSignal {
    rx: watch::Receiver<u64>,
    poll: Duration,
}

/// Why [`FeedSignal::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A commit (of this process, or a notification of another's).
    Signal,
    /// The poll interval passed without one.
    Poll,
    /// The store was closed; nothing more will come.
    Closed,
}

impl FeedSignal {
    /// Waits until a commit may have added events (a wake-up since the last
    /// wait, or one that arrives now), or the poll interval passes.
    pub async fn wait(&mut self) -> Wake {
        match tokio::time::timeout(self.poll, self.rx.changed()).await {
            Ok(Ok(())) => Wake::Signal,
            Ok(Err(_)) => Wake::Closed,
            Err(_) => Wake::Poll,
        }
    }

    /// The poll interval: the longest [`FeedSignal::wait`] waits.
    pub fn poll_interval(&self) -> Duration {
        self.poll
    }

    /// This signal with another poll interval (at least 1 ms).
    pub fn with_poll_interval(mut self, poll: Duration) -> FeedSignal {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }
}

/// The default poll interval of a subscriber: SQLite polls for other
/// processes' commits; PostgreSQL's notifications make polling a backstop.
pub(crate) fn default_poll(postgres: bool) -> Duration {
    if postgres { Duration::from_secs(5) } else { Duration::from_millis(500) }
}

/// A store's wake-up hub, shared by its clones.
#[derive(Debug)]
pub(crate) struct Hub {
    /// Bumped on every wake-up; subscribers hold receivers.
    wake: watch::Sender<u64>,
    /// Bumped on this process's commits; the notifier sends them on.
    local: watch::Sender<u64>,
    /// The notifier and listener tasks (PostgreSQL), started once.
    tasks: Mutex<Tasks>,
}

#[derive(Debug, Default)]
struct Tasks {
    notifier: Option<tokio::task::JoinHandle<()>>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Hub {
    pub(crate) fn new() -> Arc<Hub> {
        Arc::new(Hub { wake: watch::Sender::new(0), local: watch::Sender::new(0), tasks: Mutex::default() })
    }

    /// A new subscriber.
    pub(crate) fn subscribe(&self, poll: Duration) -> FeedSignal {
        let mut rx = self.wake.subscribe();
        rx.mark_unchanged();
        FeedSignal { rx, poll }
    }

    /// Wakes every subscriber.
    pub(crate) fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// This process committed events: wake the subscribers, and tell the
    /// notifier (if any).
    pub(crate) fn committed(&self) {
        self.wake();
        self.local.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Stops the tasks (before the pool closes: the listener holds one of
    /// its connections) and wakes subscribers one last time.
    pub(crate) async fn stop(&self) {
        let tasks = match self.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => Tasks::default(),
        };
        for task in [tasks.notifier, tasks.listener].into_iter().flatten() {
            task.abort();
            let _ = task.await;
        }
        self.wake();
    }
}

#[cfg(feature = "postgres")]
pub(crate) mod pg {
    //! PostgreSQL's notifier and listener tasks.

    use std::sync::{Arc, Weak};
    use std::time::Duration;

    use sqlx::PgPool;
    use sqlx::postgres::PgListener;

    use super::{CHANNEL, COALESCE, Hub};

    /// Starts the notifier once: it sends a `NOTIFY` after this process's
    /// commits, at most one per [`COALESCE`].
    pub(crate) fn ensure_notifier(hub: &Arc<Hub>, pool: &PgPool) {
        let Ok(mut tasks) = hub.tasks.lock() else { return };
        if tasks.notifier.is_some() {
            return;
        }
        let mut rx = hub.local.subscribe();
        let pool = pool.clone();
        tasks.notifier = Some(tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                if pool.is_closed() {
                    break;
                }
                // The payload names the schema the store writes, so stores on
                // other schemas of the database do not wake for it.
                let notify = "SELECT pg_notify($1, coalesce(current_schema(), ''))";
                if let Err(e) = sqlx::query(notify).bind(CHANNEL).execute(&pool).await {
                    tracing::warn!(error = %e, "feed notification not sent; subscribers fall back to polling");
                }
                tokio::time::sleep(COALESCE).await;
            }
        }));
    }

    /// Starts the listener once: a notification on [`CHANNEL`] (of any
    /// process) wakes this store's subscribers. Reconnects after a lost
    /// connection; subscribers poll meanwhile.
    pub(crate) fn ensure_listener(hub: &Arc<Hub>, pool: &PgPool) {
        let Ok(mut tasks) = hub.tasks.lock() else { return };
        if tasks.listener.is_some() {
            return;
        }
        let weak = Arc::downgrade(hub);
        let pool = pool.clone();
        tasks.listener = Some(tokio::spawn(listen(weak, pool)));
    }

    async fn listen(hub: Weak<Hub>, pool: PgPool) {
        loop {
            if pool.is_closed() {
                return;
            }
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "feed listener cannot connect; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %e, "feed listener cannot LISTEN; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            // Notifications of this store's schema wake it; others' do not.
            let schema: String =
                match sqlx::query_scalar("SELECT coalesce(current_schema(), '')").fetch_one(&mut listener).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "feed listener cannot read its schema; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
            // A reconnect may have missed notifications: wake once.
            match hub.upgrade() {
                Some(h) => h.wake(),
                None => return,
            }
            loop {
                match listener.recv().await {
                    Ok(n) if n.payload() != schema => {}
                    Ok(_) => match hub.upgrade() {
                        Some(h) => h.wake(),
                        None => return,
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "feed listener lost its connection; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_text_round_trips_and_orders() {
        let a = FeedCursor::new(0, 17);
        let b = FeedCursor::new(3, 2);
        assert!(a < b, "the transaction key orders first");
        for c in [FeedCursor::START, a, b, FeedCursor::new(i64::MAX, i64::MAX)] {
            assert_eq!(c.to_string().parse::<FeedCursor>(), Ok(c));
        }
        for bad in ["", "1", "1.", ".1", "a.1", "1.-2", "1.2.3", "18446744073709551615.0", " 1.2"] {
            assert!(bad.parse::<FeedCursor>().is_err(), "{bad:?} parsed");
        }
    }
}
