//! Errors: [`StoreError`] for everything the store can refuse or fail at, and
//! [`ExecError`] for commands, which adds the aggregate's own typed refusal.
//!
//! Database errors are classified by code (SQLite extended result codes,
//! PostgreSQL SQLSTATE), never by message text.

use std::borrow::Cow;

use itsm_core::aggregate::RefKind;
use itsm_core::{AggregateKind, ApplyError, Reference, Refusal, RefusalKind};

use crate::model::ExpectedVersion;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The aggregate does not exist in the actor's tenant (whether it exists in
    /// another tenant is never revealed).
    #[error("{kind} {id} not found")]
    NotFound {
        /// The kind looked for (an aggregate kind's name, or `change` for a
        /// reference to a change of any type).
        kind: &'static str,
        /// The id looked for.
        id: String,
    },
    /// The expected version did not match the stored one; nothing was written.
    #[error("version conflict on {kind} {id}: expected {expected}, found {actual}")]
    Conflict {
        /// The aggregate's kind.
        kind: AggregateKind,
        /// The aggregate's id.
        id: String,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stored version (0 only when the aggregate exists for another
        /// expectation than `Exact`; an exact version expected of a missing
        /// aggregate is answered [`StoreError::NotFound`]).
        actual: u64,
    },
    /// The database stayed busy (SQLITE_BUSY, serialization failure,
    /// deadlock) through every retry; nothing was written.
    #[error("database contention persisted through {attempts} attempts")]
    Contention {
        /// How many attempts were made.
        attempts: u32,
    },
    /// An idempotency key was reused with a different request.
    #[error("idempotency key {key:?} was already used for a different request")]
    IdempotencyKeyReused {
        /// The key.
        key: String,
    },
    /// A domain refusal (see [`ExecError::into_store`]): its kind, and the
    /// aggregate's typed error as the source (downcast it to the aggregate's
    /// error type to match on it).
    #[error("command rejected: {source}")]
    Rejected {
        /// What kind of refusal it is.
        refusal: RefusalKind,
        /// The aggregate's error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The database schema is newer than this library.
    #[error("database schema version {found} is newer than the {supported} this library supports")]
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this library knows.
        supported: i64,
    },
    /// An argument was refused before reaching the database (a NUL byte, an
    /// empty id, an instant outside years 1..=9999, an unusable URL).
    #[error("invalid {field}: {reason}")]
    Validation {
        /// Which argument.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A tenant's metrics read model was built under an older record
    /// definition (or before the read model existed): its rows cannot be
    /// trusted until [`crate::Store::rebuild_metric_records`] has run.
    #[error(
        "the metrics read model of tenant {tenant} is at record definition {built}, this library writes {current}: \
         run Store::rebuild_metric_records for it"
    )]
    MetricModelStale {
        /// The tenant.
        tenant: String,
        /// The definition its rows were built under (0: never built).
        built: i64,
        /// The definition this library writes.
        current: i64,
    },
    /// A read that runs on a task of its own stopped before it finished (the
    /// runtime is shutting down); nothing was written.
    #[error("the {what} was interrupted: {reason}")]
    Interrupted {
        /// Which read.
        what: &'static str,
        /// Why, as the runtime says.
        reason: String,
    },
    /// A version would not fit the database's signed 64-bit column.
    #[error("version overflow")]
    Overflow,
    /// A command was accepted but produced no event: a bug in the aggregate,
    /// reported instead of a panic; nothing was written.
    #[error("aggregate bug: {command} on {kind} {id} produced no event")]
    NoEvent {
        /// The aggregate's kind.
        kind: AggregateKind,
        /// The aggregate's id.
        id: String,
        /// The command's name.
        command: &'static str,
    },
    /// An event the aggregate decided does not apply to its state: a bug in
    /// the aggregate, reported instead of a panic; nothing was written.
    #[error("aggregate bug on {id}: a decided event does not apply: {source}")]
    DecidedEventRefused {
        /// The aggregate's id.
        id: String,
        /// Why it does not apply.
        source: ApplyError,
    },
    /// A value could not be serialized to JSON (a state, an event, an outbox
    /// payload): a bug in its type; nothing was written.
    #[error("cannot serialize {what} of {id}: {source}")]
    Serialize {
        /// What was being serialized.
        what: &'static str,
        /// Which aggregate or row.
        id: String,
        /// The serializer's error.
        source: serde_json::Error,
    },
    /// A stored row could not be decoded (unknown event, newer payload shape,
    /// malformed column).
    #[error("corrupt {what} {key}: {reason}")]
    Corrupt {
        /// What was being read (`event`, `state`, `idempotency result`...).
        what: &'static str,
        /// Which row (a position or an id).
        key: String,
        /// Why it could not be decoded.
        reason: String,
    },
    /// An aggregate's SLA clock could not be evaluated (an inconsistent
    /// clock history, a calendar failure); nothing was written.
    #[error("the SLA clock of {kind} {id} cannot be evaluated: {source}")]
    Clock {
        /// The aggregate's kind.
        kind: AggregateKind,
        /// The aggregate's id.
        id: String,
        /// The clock's error.
        source: itsm_core::SlaError,
    },
    /// A configuration version was refused (a duplicate or lower version
    /// number, a version stated inside the value that differs); nothing was
    /// written.
    #[error("configuration version refused: {0}")]
    ConfigVersion(#[from] itsm_core::versioned::VersionError),
    /// A stored history does not fold (see [`ApplyError`]).
    #[error("stored history does not apply: {0}")]
    History(#[from] ApplyError),
    /// No pooled connection became free in time.
    #[error("timed out waiting for a database connection")]
    PoolTimeout,
    /// A transient database error (busy, serialization failure, deadlock).
    /// Operations retry these and report [`StoreError::Contention`]; this
    /// variant only surfaces from operations that do not retry.
    #[error("transient database error (code {code})")]
    Transient {
        /// The SQLite extended code or the SQLSTATE.
        code: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// The backend named by the URL is not compiled in.
    #[error("the {0} backend is not enabled (cargo feature `{0}`)")]
    BackendDisabled(&'static str),
    /// Migrating the schema failed.
    #[error("migration failed: {0}")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// The SQLite file cannot be opened: its directory does not exist,
    /// permission is denied, or the file or file system is read-only.
    /// Nothing was written.
    #[error("cannot open SQLite database {}: {reason}", path.display())]
    CannotOpen {
        /// The database file.
        path: std::path::PathBuf,
        /// Why, in the user's terms.
        reason: String,
    },
    /// The path does not hold a database of this library (a directory, a
    /// device, a file that is not SQLite, another application's database):
    /// refused before anything was written to it.
    #[error("{} is not a database of this library ({reason}); refused, nothing was written to it", path.display())]
    ForeignDatabase {
        /// The path.
        path: std::path::PathBuf,
        /// What it holds instead.
        reason: String,
    },
    /// The database server could not be reached: the connection was refused
    /// (nothing listens there), the host is unknown or unreachable, or it did
    /// not answer within the connect timeout. `target` is the URL without
    /// its password.
    #[error("database {target} is unreachable: {reason}")]
    Unreachable {
        /// The URL, password redacted.
        target: String,
        /// Why.
        reason: String,
    },
    /// The database server answered and refused the connection
    /// (authentication failed, unknown database, too many connections, TLS).
    /// `target` is the URL without its password.
    #[error("database {target} refused the connection: {reason}")]
    Refused {
        /// The URL, password redacted.
        target: String,
        /// The server's reason.
        reason: String,
    },
    /// The connection to the database was lost or refused during the
    /// operation (PostgreSQL class 08, `57P01`-`57P03`, a socket error)
    /// before anything was committed; nothing was written. Operations retry
    /// it; this surfaces when every attempt failed. Retry later: the pool
    /// reconnects.
    #[error("database connection lost{}: {source}", code.as_deref().map(|c| format!(" (code {c})")).unwrap_or_default())]
    ConnectionLost {
        /// The SQLSTATE, when the database gave one.
        code: Option<String>,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// The connection was lost while committing: the operation may or may
    /// not have been applied. Retrying a command with the same idempotency key
    /// returns its first result if it was applied ([`crate::Store::execute`]
    /// does this itself for commands with a key).
    #[error("database connection lost while committing: the outcome is unknown: {source}")]
    OutcomeUnknown {
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// The database could not write to its storage (disk full, read-only
    /// file or file system, I/O error); the failed operation wrote nothing.
    #[error("storage failure ({fault}, code {code}): {source}")]
    Storage {
        /// What failed.
        fault: StorageFault,
        /// The SQLite extended code or the SQLSTATE.
        code: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// Any other database error (constraint violation, ...).
    #[error("database error{}: {source}", code.as_deref().map(|c| format!(" (code {c})")).unwrap_or_default())]
    Database {
        /// The SQLite extended code or the SQLSTATE, when the database gave one.
        code: Option<String>,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
}

/// What kind of failure an error is, for a caller that answers it (a web
/// handler choosing a status) without matching messages or variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The aggregate (or another named record) does not exist in the actor's
    /// tenant (HTTP 404).
    NotFound,
    /// No role of the actor permits the command (HTTP 403).
    Forbidden,
    /// A stale expected version, an aggregate that already exists, or an
    /// idempotency key reused for another request (HTTP 409).
    Conflict,
    /// The input is invalid: a bad argument, field or instant (HTTP 400/422).
    Invalid,
    /// The domain rules refuse the command in the aggregate's state
    /// (HTTP 409 or 422).
    Rules,
    /// The database stayed busy through every retry; retry later (HTTP 503
    /// with Retry-After, or 429).
    Contention,
    /// The database is unreachable, refused the connection, lost it, or
    /// cannot write (disk full, read-only); retry later (HTTP 503).
    Unavailable,
    /// Anything else: a corrupt row, a schema from a newer library, a bug
    /// (HTTP 500).
    Internal,
}

impl From<RefusalKind> for ErrorKind {
    fn from(refusal: RefusalKind) -> Self {
        match refusal {
            RefusalKind::NotFound => ErrorKind::NotFound,
            RefusalKind::Forbidden => ErrorKind::Forbidden,
            RefusalKind::AlreadyExists => ErrorKind::Conflict,
            RefusalKind::Invalid => ErrorKind::Invalid,
            RefusalKind::Rules => ErrorKind::Rules,
            // A refusal kind added later: the rules refused.
            _ => ErrorKind::Rules,
        }
    }
}

impl StoreError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::Conflict { .. } | StoreError::IdempotencyKeyReused { .. } => ErrorKind::Conflict,
            StoreError::Rejected { refusal, .. } => ErrorKind::from(*refusal),
            StoreError::Validation { .. }
            | StoreError::ConfigVersion(_)
            | StoreError::BackendDisabled(_)
            | StoreError::CannotOpen { .. }
            | StoreError::ForeignDatabase { .. } => ErrorKind::Invalid,
            StoreError::Contention { .. } | StoreError::Transient { .. } => ErrorKind::Contention,
            StoreError::PoolTimeout
            | StoreError::Unreachable { .. }
            | StoreError::Refused { .. }
            | StoreError::ConnectionLost { .. }
            | StoreError::OutcomeUnknown { .. }
            | StoreError::Interrupted { .. }
            | StoreError::Storage { .. } => ErrorKind::Unavailable,
            StoreError::SchemaTooNew { .. }
            | StoreError::MetricModelStale { .. }
            | StoreError::Overflow
            | StoreError::NoEvent { .. }
            | StoreError::DecidedEventRefused { .. }
            | StoreError::Serialize { .. }
            | StoreError::Clock { .. }
            | StoreError::Corrupt { .. }
            | StoreError::History(_)
            | StoreError::Migration(_)
            | StoreError::Database { .. } => ErrorKind::Internal,
        }
    }

    /// Whether this is a transient error worth re-running the whole
    /// operation for.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient { .. })
    }

    /// Whether the caller may retry the operation later and expect it to
    /// succeed once the fault passes (contention, a lost connection, a pool
    /// timeout, an unknown commit outcome: retry commands with the same
    /// idempotency key). Nothing was written, except possibly for
    /// [`StoreError::OutcomeUnknown`].
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Transient { .. }
                | StoreError::Contention { .. }
                | StoreError::PoolTimeout
                | StoreError::ConnectionLost { .. }
                | StoreError::OutcomeUnknown { .. }
        )
    }

    pub(crate) fn validation(field: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Validation { field, reason: reason.into() }
    }

    pub(crate) fn corrupt(what: &'static str, key: impl ToString, reason: impl ToString) -> Self {
        StoreError::Corrupt { what, key: key.to_string(), reason: reason.to_string() }
    }

    pub(crate) fn not_found(kind: AggregateKind, id: &str) -> Self {
        StoreError::NotFound { kind: kind.as_str(), id: id.to_owned() }
    }

    pub(crate) fn missing_reference(r: &Reference) -> Self {
        let kind = match r.kind {
            RefKind::Incident => "incident",
            RefKind::Problem => "problem",
            RefKind::Change => "change",
        };
        StoreError::NotFound { kind, id: r.id.clone() }
    }
}

/// Which storage fault a [`StoreError::Storage`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageFault {
    /// The disk or file system is full (`SQLITE_FULL`, `53100`).
    Full,
    /// The database file, its directory or its file system is read-only, or
    /// the store was opened read-only (`SQLITE_READONLY*`, `25006`).
    ReadOnly,
    /// An I/O error (`SQLITE_IOERR*`, `58030`).
    Io,
}

impl std::fmt::Display for StorageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StorageFault::Full => "disk full",
            StorageFault::ReadOnly => "read-only database",
            StorageFault::Io => "I/O error",
        })
    }
}

/// Which backend an error came from: the code spaces differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// What a database error code means to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Busy, locked, serialization failure, deadlock: re-run the operation.
    Transient,
    /// A unique or primary key violation.
    Unique,
    /// Text the database cannot store (PostgreSQL and NUL).
    BadText,
    /// The connection was lost or refused (or a socket error).
    Connection,
    /// Disk full, read-only, I/O error.
    Storage(StorageFault),
    /// Anything else.
    Other,
}

/// Classifies a driver error by code.
pub(crate) fn classify(backend: Backend, err: &sqlx::Error) -> (Class, Option<String>) {
    let Some(db) = err.as_database_error() else {
        let class = match err {
            sqlx::Error::Io(_) => Class::Connection,
            _ => Class::Other,
        };
        return (class, None);
    };
    let code: Option<Cow<'_, str>> = db.code();
    let class = match (backend, code.as_deref()) {
        (Backend::Sqlite, Some(code)) => match code.parse::<i32>() {
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6) with every extended code.
            Ok(code) if matches!(code & 0xff, 5 | 6) => Class::Transient,
            // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY.
            Ok(2067 | 1555) => Class::Unique,
            // SQLITE_FULL, SQLITE_READONLY*, SQLITE_IOERR* (primary code in the low byte).
            Ok(code) if code & 0xff == 13 => Class::Storage(StorageFault::Full),
            Ok(code) if code & 0xff == 8 => Class::Storage(StorageFault::ReadOnly),
            Ok(code) if code & 0xff == 10 => Class::Storage(StorageFault::Io),
            _ => Class::Other,
        },
        // Serialization failure, deadlock, lock timeout, statement timeout
        // (or a cancel request).
        (Backend::Postgres, Some("40001" | "40P01" | "55P03" | "57014")) => Class::Transient,
        // Connection exceptions; admin shutdown, crash shutdown, cannot connect now.
        (Backend::Postgres, Some(c)) if c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03") => {
            Class::Connection
        }
        (Backend::Postgres, Some("53100")) => Class::Storage(StorageFault::Full),
        (Backend::Postgres, Some("25006")) => Class::Storage(StorageFault::ReadOnly),
        (Backend::Postgres, Some("58030")) => Class::Storage(StorageFault::Io),
        (Backend::Postgres, Some("23505")) => Class::Unique,
        (Backend::Postgres, Some("22021" | "22P05")) => Class::BadText,
        _ => Class::Other,
    };
    (class, code.map(Cow::into_owned))
}

/// Converts a driver error into a [`StoreError`] by its code.
pub(crate) fn db_error(backend: Backend, err: sqlx::Error) -> StoreError {
    if matches!(err, sqlx::Error::PoolTimedOut) {
        return StoreError::PoolTimeout;
    }
    let (class, code) = classify(backend, &err);
    match class {
        Class::Transient => StoreError::Transient { code: code.unwrap_or_default(), source: err },
        Class::BadText => StoreError::validation("text", "the database cannot store this text (NUL byte)"),
        Class::Connection => StoreError::ConnectionLost { code, source: err },
        Class::Storage(fault) => StoreError::Storage { fault, code: code.unwrap_or_default(), source: err },
        Class::Unique | Class::Other => StoreError::Database { code, source: err },
    }
}

/// Why [`crate::Store::execute`] failed: the aggregate's typed refusal, or a
/// store error.
#[derive(Debug, thiserror::Error)]
pub enum ExecError<E: std::error::Error + 'static> {
    /// The domain rules refused the command; nothing was written.
    #[error(transparent)]
    Domain(E),
    /// The store failed or refused; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<E: std::error::Error + 'static> ExecError<E> {
    /// Flattens into a [`StoreError`], turning a domain refusal into
    /// [`StoreError::Rejected`] (its kind, and the typed error as its source).
    pub fn into_store(self) -> StoreError
    where
        E: Refusal + Send + Sync,
    {
        match self {
            ExecError::Domain(e) => StoreError::Rejected { refusal: e.refusal(), source: Box::new(e) },
            ExecError::Store(e) => e,
        }
    }

    /// What kind of failure this is: a domain refusal by its
    /// [`Refusal::refusal`], a store error by [`StoreError::kind`].
    pub fn kind(&self) -> ErrorKind
    where
        E: Refusal,
    {
        match self {
            ExecError::Domain(e) => ErrorKind::from(e.refusal()),
            ExecError::Store(e) => e.kind(),
        }
    }

    /// The domain refusal, if that is what this is.
    pub fn domain(&self) -> Option<&E> {
        match self {
            ExecError::Domain(e) => Some(e),
            ExecError::Store(_) => None,
        }
    }

    /// The store error, if that is what this is.
    pub fn store(&self) -> Option<&StoreError> {
        match self {
            ExecError::Domain(_) => None,
            ExecError::Store(e) => Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant a caller can meet maps to the kind a web handler needs,
    /// by its meaning (written out here, not derived from `kind()`).
    #[test]
    fn kinds_follow_meaning() {
        let driver = || sqlx::Error::PoolClosed;
        let cases: Vec<(StoreError, ErrorKind)> = vec![
            (StoreError::NotFound { kind: "incident", id: "I-1".into() }, ErrorKind::NotFound),
            (
                StoreError::Conflict {
                    kind: AggregateKind::Problem,
                    id: "P-1".into(),
                    expected: ExpectedVersion::Exact(3),
                    actual: 4,
                },
                ErrorKind::Conflict,
            ),
            (StoreError::IdempotencyKeyReused { key: "k".into() }, ErrorKind::Conflict),
            (StoreError::validation("aggregate id", "empty"), ErrorKind::Invalid),
            (StoreError::Contention { attempts: 5 }, ErrorKind::Contention),
            (StoreError::Transient { code: "5".into(), source: driver() }, ErrorKind::Contention),
            (StoreError::PoolTimeout, ErrorKind::Unavailable),
            (StoreError::Unreachable { target: "t".into(), reason: "r".into() }, ErrorKind::Unavailable),
            (StoreError::Refused { target: "t".into(), reason: "r".into() }, ErrorKind::Unavailable),
            (StoreError::ConnectionLost { code: None, source: driver() }, ErrorKind::Unavailable),
            (StoreError::OutcomeUnknown { source: driver() }, ErrorKind::Unavailable),
            (
                StoreError::Storage { fault: StorageFault::Full, code: "13".into(), source: driver() },
                ErrorKind::Unavailable,
            ),
            (StoreError::corrupt("event", 7, "bad"), ErrorKind::Internal),
            (StoreError::SchemaTooNew { found: 9, supported: 4 }, ErrorKind::Internal),
            (
                StoreError::NoEvent { kind: AggregateKind::Incident, id: "I-1".into(), command: "open" },
                ErrorKind::Internal,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
        let rejected = |refusal| StoreError::Rejected { refusal, source: "no".into() };
        assert_eq!(rejected(RefusalKind::Forbidden).kind(), ErrorKind::Forbidden);
        assert_eq!(rejected(RefusalKind::NotFound).kind(), ErrorKind::NotFound);
        assert_eq!(rejected(RefusalKind::AlreadyExists).kind(), ErrorKind::Conflict);
        assert_eq!(rejected(RefusalKind::Invalid).kind(), ErrorKind::Invalid);
        assert_eq!(rejected(RefusalKind::Rules).kind(), ErrorKind::Rules);
    }

    #[test]
    fn conflict_names_kind_id_and_versions() {
        let e = StoreError::Conflict {
            kind: AggregateKind::NormalChange,
            id: "CHG-9".into(),
            expected: ExpectedVersion::Absent,
            actual: 2,
        };
        assert_eq!(e.to_string(), "version conflict on normal_change CHG-9: expected no aggregate, found 2");
    }
}
