//! The dialect seam: everything that differs between SQLite and PostgreSQL
//! and that the one transactional core ([`crate::core`]) needs to know.
//!
//! * how a write transaction begins (SQLite: `BEGIN IMMEDIATE` on the single
//!   writer connection; PostgreSQL: `BEGIN` on the pool),
//! * row locks (`FOR UPDATE`, `FOR UPDATE SKIP LOCKED`; SQLite has one
//!   writer and needs none), and a lock serializing fill claims,
//! * how an instant is stored ([`DbTime`]: RFC 3339 text with microseconds on
//!   SQLite, `TIMESTAMPTZ` on PostgreSQL),
//! * whether a command's events and projection can go in one statement
//!   (PostgreSQL's data-modifying `WITH`),
//! * the "not terminal" predicate (spelled as each backend's partial indexes
//!   are, so the planner uses them),
//! * the error code space ([`Backend`]).
//!
//! Placeholders need no seam: fixed statements use `$N`, which both accept,
//! and generated ones are built with sqlx's `QueryBuilder`, which writes each
//! backend's own.

use std::sync::LazyLock;

use itsm_core::Timestamp;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Pool, QueryBuilder, Transaction, Type};

use crate::error::{Backend, StoreError, db_error};
use crate::sql::Sql;

/// An instant as a column value: RFC 3339 UTC text with microseconds (fixed
/// width, so text order is time order) on SQLite, `TIMESTAMPTZ` on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DbTime(pub Timestamp);

impl From<Timestamp> for DbTime {
    fn from(t: Timestamp) -> Self {
        DbTime(t)
    }
}

/// The pools of a store: SQLite writes through one connection and reads
/// through a `query_only` pool; PostgreSQL uses one pool for both.
pub(crate) struct Pools<DB: Database> {
    pub write: Pool<DB>,
    pub read: Pool<DB>,
}

/// What differs between the backends (see the module docs).
pub(crate) trait Dialect: Database<Arguments: sqlx::IntoArguments<Self>> {
    /// The error code space.
    const BACKEND: Backend;
    /// Appended to a read of the aggregate row a command will update.
    const LOCK_ROW: &'static str;
    /// Appended to the outbox claim's row selection.
    const SKIP_LOCKED: &'static str;
    /// Run first by a fill claim so that claims serialize (`None`: the write
    /// transaction already excludes every other writer).
    const CLAIM_LOCK: Option<&'static str>;
    /// The predicate "not terminal" as the partial indexes spell it.
    const OPEN: &'static str;
    /// Whether the migrations table exists (one boolean).
    const MIGRATIONS_TABLE: &'static str;
    /// Whether `INSERT ... RETURNING` may stand in a `WITH` clause, so a
    /// command's events and projection go in one statement.
    const WRITABLE_CTE: bool;
    /// A JSON array of its arguments (`json_array`, `json_build_array`).
    const JSON_ARRAY: &'static str;
    /// The aggregate collecting values into one JSON array, taking an
    /// `ORDER BY` (`json_group_array`, `json_agg`): a scan page's SLA
    /// verdicts, and the rows a verification reads, travel as one value
    /// (SQLite's driver hands rows one by one from its worker thread, which
    /// cost more than reading them).
    const JSON_AGG: &'static str;
    /// The aggregate joining texts with a separator, taking an `ORDER BY`
    /// (`group_concat`, `string_agg`): a page of read-model record texts
    /// travels as one value built by copying, not by formatting columns.
    const TEXT_AGG: &'static str;
    /// Whether [`Dialect::JSON_AGG`] and [`Dialect::TEXT_AGG`] over a
    /// subquery with `ORDER BY` must repeat the order: SQLite feeds an aggregate the rows of such a
    /// subquery in its order (a sort inside the aggregate costs a temporary
    /// B-tree per page; the page is checked in order after it is read),
    /// PostgreSQL promises no order without it.
    const JSON_AGG_ORDERED: bool;
    /// The feed's watermark (one `BIGINT`): every event under it is final
    /// (see [`crate::feed`]). SQLite: the last position; PostgreSQL: the
    /// snapshot's oldest running transaction.
    const FEED_WATERMARK: &'static str;
    /// An event's (aliased `e`) transaction key in the feed, as `BIGINT`.
    const FEED_TX: &'static str;
    /// The feed's order over events `e`.
    const FEED_ORDER: &'static str;
    /// An inner join whose left side the planner must keep as the outer
    /// loop (SQLite's `CROSS JOIN`; PostgreSQL's planner needs no hint).
    const DRIVING_JOIN: &'static str;
    /// The statement that refreshes the planner statistics of the tables
    /// bulk imports grow (none on SQLite, whose planner does without).
    const ANALYZE: Option<&'static str>;
    /// A statement a search's transaction starts with (PostgreSQL: plan
    /// each statement for its words; a cached generic plan cannot tell a
    /// rare word, best found by the full-text index, from a common one,
    /// best found newest first by the primary key, and took 200 ms for
    /// either wrong choice).
    const SEARCH_SETUP: Option<&'static str>;

    /// Pushes the feed condition: events `e` after `after` (transaction key,
    /// position) and final under `watermark`.
    fn push_feed_after(b: &mut QueryBuilder<Self>, after: (i64, i64), watermark: i64);

    /// The cursor after every event final under `watermark`.
    fn feed_cursor_at(watermark: i64) -> (i64, i64);

    /// Every statement, built once with this dialect's fragments.
    fn sql() -> &'static Sql;

    /// Pushes a count of the search rows (of every tenant) holding `term`,
    /// counting at most `cap` of them: how common the word is.
    fn push_term_probe(b: &mut QueryBuilder<Self>, term: &str, cap: i64);

    /// Pushes the `FROM ... WHERE` of a search's driving rows: search rows
    /// `r` holding `term`, joined to their projection rows `a` when
    /// `projection` (a read scope's conditions need them); conditions on
    /// `r` (and `a`) follow after ` AND `, then [`Dialect::DRIVER_ORDER`].
    fn push_driver_from(b: &mut QueryBuilder<Self>, term: &str, projection: bool);

    /// The driving rows' order: newest first.
    const DRIVER_ORDER: &'static str;

    /// Pushes a search's matches among the candidate rows (a CTE
    /// `cand_rows(seq)` of search row numbers): a subquery with columns
    /// `kind`, `id` and `score` (smaller is better), one row per aggregate
    /// whose candidate rows hold every term between them.
    fn push_search_matches(b: &mut QueryBuilder<Self>, terms: &[String]);

    /// Begins a write transaction.
    fn begin_write(pools: &Pools<Self>) -> impl Future<Output = Result<Transaction<'static, Self>, StoreError>> + Send;

    /// Converts a driver error by this backend's codes.
    fn error(e: sqlx::Error) -> StoreError {
        db_error(Self::BACKEND, e)
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use sqlx::Sqlite;

    static SQL: LazyLock<Sql> = LazyLock::new(Sql::new::<Sqlite>);

    impl Dialect for Sqlite {
        const BACKEND: Backend = Backend::Sqlite;
        const LOCK_ROW: &'static str = "";
        const SKIP_LOCKED: &'static str = "";
        const CLAIM_LOCK: Option<&'static str> = None;
        const OPEN: &'static str = "terminal = 0";
        const MIGRATIONS_TABLE: &'static str =
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')";
        const WRITABLE_CTE: bool = false;
        const JSON_ARRAY: &'static str = "json_array";
        const JSON_AGG: &'static str = "json_group_array";
        const TEXT_AGG: &'static str = "group_concat";
        const JSON_AGG_ORDERED: bool = false;
        const FEED_WATERMARK: &'static str = "SELECT COALESCE(MAX(position), 0) FROM events";
        const FEED_TX: &'static str = "0";
        const FEED_ORDER: &'static str = "e.position";
        const DRIVING_JOIN: &'static str = "CROSS JOIN";
        const ANALYZE: Option<&'static str> = None;
        const SEARCH_SETUP: Option<&'static str> = None;

        fn push_feed_after(b: &mut QueryBuilder<Self>, after: (i64, i64), watermark: i64) {
            // One writer: positions are assigned in commit order.
            b.push("e.position > ").push_bind(after.1).push(" AND e.position <= ").push_bind(watermark);
        }

        fn feed_cursor_at(watermark: i64) -> (i64, i64) {
            (0, watermark)
        }

        fn sql() -> &'static Sql {
            &SQL
        }

        fn push_term_probe(b: &mut QueryBuilder<Self>, term: &str, cap: i64) {
            b.push("SELECT count(*) FROM (SELECT 1 FROM search_fts WHERE search_fts MATCH ")
                .push_bind(format!("\"{term}\""))
                .push(" LIMIT ")
                .push_bind(cap)
                .push(")");
        }

        fn push_driver_from(b: &mut QueryBuilder<Self>, term: &str, projection: bool) {
            // CROSS JOIN keeps the full-text match the outer loop, read
            // newest first (FTS5 walks its rowids backwards): left to itself
            // the planner drives from the tenant's rows and probes the index
            // once per row (7 s at 100,000 incidents).
            b.push(" FROM search_fts f CROSS JOIN search_rows r ON r.seq = f.rowid");
            if projection {
                b.push(" CROSS JOIN aggregates a ON a.tenant = r.tenant AND a.kind = r.kind AND a.id = r.id");
            }
            b.push(" WHERE f.search_fts MATCH ").push_bind(format!("\"{term}\""));
        }

        const DRIVER_ORDER: &'static str = " ORDER BY f.rowid DESC";

        fn push_search_matches(b: &mut QueryBuilder<Self>, terms: &[String]) {
            // Each term's postings (an FTS5 MATCH of the quoted word),
            // kept where they are candidate rows: `+rowid` keeps that test
            // out of FTS5, which would restart its cursor once per
            // candidate (40 ms for 500 of them), and makes it a probe of
            // the materialized candidates. An aggregate matches when its
            // rows hit every term; `rank` (FTS5's bm25, smaller is better;
            // a bm25() call is refused once SQLite flattens the subquery)
            // of each hit, a title's weighed five times a note's, summed.
            b.push(
                "SELECT r.kind, r.id, sum(h.score * CASE r.part WHEN 'title' THEN 5.0 ELSE 1.0 END) AS score FROM (",
            );
            for (n, term) in terms.iter().enumerate() {
                if n > 0 {
                    b.push(" UNION ALL ");
                }
                b.push("SELECT rowid AS seq, ")
                    .push(n.to_string())
                    .push(" AS term, rank AS score FROM search_fts WHERE search_fts MATCH ")
                    .push_bind(format!("\"{term}\""))
                    .push(" AND +rowid IN (SELECT seq FROM cand_rows)");
            }
            b.push(
                ") h CROSS JOIN search_rows r ON r.seq = h.seq GROUP BY r.kind, r.id HAVING count(DISTINCT h.term) = ",
            )
            .push(terms.len().to_string());
        }

        async fn begin_write(pools: &Pools<Self>) -> Result<Transaction<'static, Self>, StoreError> {
            match pools.write.begin_with("BEGIN IMMEDIATE").await {
                // A COMMIT that failed with SQLITE_FULL or an I/O error is
                // rolled back by SQLite itself; sqlx's rollback on drop then
                // fails, it still counts the transaction as open, and refuses
                // every later BEGIN on that connection. Replace the writer
                // connection.
                Err(sqlx::Error::InvalidSavePointStatement) => {
                    tracing::warn!("replacing the writer connection left in a failed transaction");
                    let conn = pools.write.acquire().await.map_err(Self::error)?;
                    let _ = sqlx::Connection::close(conn.detach()).await;
                    pools.write.begin_with("BEGIN IMMEDIATE").await.map_err(Self::error)
                }
                other => other.map_err(Self::error),
            }
        }
    }

    impl Type<Sqlite> for DbTime {
        fn type_info() -> <Sqlite as Database>::TypeInfo {
            <String as Type<Sqlite>>::type_info()
        }
        fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
            <String as Type<Sqlite>>::compatible(ty)
        }
    }

    impl<'q> Encode<'q, Sqlite> for DbTime {
        fn encode_by_ref(&self, buf: &mut <Sqlite as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
            <String as Encode<'q, Sqlite>>::encode(self.0.to_rfc3339(), buf)
        }
    }

    impl<'r> Decode<'r, Sqlite> for DbTime {
        fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
            let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
            Ok(DbTime(Timestamp::parse_rfc3339(text).map_err(|e| format!("stored instant {text:?}: {e}"))?))
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use chrono::{DateTime, Utc};
    use sqlx::Postgres;

    static SQL: LazyLock<Sql> = LazyLock::new(Sql::new::<Postgres>);

    impl Dialect for Postgres {
        const BACKEND: Backend = Backend::Postgres;
        const LOCK_ROW: &'static str = " FOR UPDATE";
        const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
        /// Self-conflicting: two claims serialize; plain reads are not blocked.
        const CLAIM_LOCK: Option<&'static str> = Some("LOCK TABLE fill_markers IN SHARE ROW EXCLUSIVE MODE");
        const OPEN: &'static str = "NOT terminal";
        const MIGRATIONS_TABLE: &'static str = "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";
        const WRITABLE_CTE: bool = true;
        const JSON_ARRAY: &'static str = "json_build_array";
        const JSON_AGG: &'static str = "json_agg";
        const TEXT_AGG: &'static str = "string_agg";
        const JSON_AGG_ORDERED: bool = true;
        const FEED_WATERMARK: &'static str =
            "SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT)";
        const FEED_TX: &'static str = "CAST(CAST(e.txid AS TEXT) AS BIGINT)";
        const FEED_ORDER: &'static str = "e.txid, e.position";
        const DRIVING_JOIN: &'static str = "JOIN";
        const ANALYZE: Option<&'static str> =
            Some("ANALYZE aggregates, events, search_rows, metric_incidents, metric_changes");
        const SEARCH_SETUP: Option<&'static str> = Some("SET LOCAL plan_cache_mode = force_custom_plan");

        fn push_feed_after(b: &mut QueryBuilder<Self>, after: (i64, i64), watermark: i64) {
            // Transactions older than the snapshot's xmin have all ended.
            b.push("(e.txid, e.position) > (CAST(CAST(")
                .push_bind(after.0.to_string())
                .push(" AS TEXT) AS xid8), ")
                .push_bind(after.1)
                .push(") AND e.txid < CAST(CAST(")
                .push_bind(watermark.to_string())
                .push(" AS TEXT) AS xid8)");
        }

        fn feed_cursor_at(watermark: i64) -> (i64, i64) {
            (watermark, 0)
        }

        fn sql() -> &'static Sql {
            &SQL
        }

        fn push_term_probe(b: &mut QueryBuilder<Self>, term: &str, cap: i64) {
            b.push("SELECT count(*) FROM (SELECT 1 FROM search_rows WHERE tsv @@ to_tsquery('simple', ")
                .push_bind(term.to_owned())
                .push(") LIMIT ")
                .push_bind(cap)
                .push(") p");
        }

        fn push_driver_from(b: &mut QueryBuilder<Self>, term: &str, projection: bool) {
            // The planner picks the GIN index for a rare word, and the
            // primary key backwards (stopping at the limit) for a common one.
            b.push(" FROM search_rows r");
            if projection {
                b.push(" JOIN aggregates a ON a.tenant = r.tenant AND a.kind = r.kind AND a.id = r.id");
            }
            b.push(" WHERE r.tsv @@ to_tsquery('simple', ").push_bind(term.to_owned()).push(")");
        }

        const DRIVER_ORDER: &'static str = " ORDER BY r.seq DESC";

        fn push_search_matches(b: &mut QueryBuilder<Self>, terms: &[String]) {
            // An aggregate matches when its candidate rows hold every term
            // (a tsquery of words of letters and digits) between them.
            // Score: the negated sum of the matching rows' ts_rank (titles
            // weigh A, 1.0; notes B, 0.4), so smaller is better as on SQLite.
            let any = terms.join(" | ");
            b.push("SELECT r.kind, r.id, -sum(ts_rank(r.tsv, to_tsquery('simple', ")
                .push_bind(any.clone())
                .push("))) AS score FROM cand_rows c JOIN search_rows r ON r.seq = c.seq WHERE r.tsv @@ to_tsquery('simple', ")
                .push_bind(any)
                .push(") GROUP BY r.kind, r.id HAVING ");
            for (n, term) in terms.iter().enumerate() {
                if n > 0 {
                    b.push(" AND ");
                }
                b.push("bool_or(r.tsv @@ to_tsquery('simple', ").push_bind(term.clone()).push("))");
            }
        }

        async fn begin_write(pools: &Pools<Self>) -> Result<Transaction<'static, Self>, StoreError> {
            pools.write.begin().await.map_err(Self::error)
        }
    }

    impl Type<Postgres> for DbTime {
        fn type_info() -> <Postgres as Database>::TypeInfo {
            <DateTime<Utc> as Type<Postgres>>::type_info()
        }
        fn compatible(ty: &<Postgres as Database>::TypeInfo) -> bool {
            <DateTime<Utc> as Type<Postgres>>::compatible(ty)
        }
    }

    impl<'q> Encode<'q, Postgres> for DbTime {
        fn encode_by_ref(&self, buf: &mut <Postgres as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
            <DateTime<Utc> as Encode<'q, Postgres>>::encode(self.0.as_utc(), buf)
        }
    }

    impl<'r> Decode<'r, Postgres> for DbTime {
        fn decode(value: <Postgres as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
            Ok(DbTime(Timestamp::from_utc(<DateTime<Utc> as Decode<'r, Postgres>>::decode(value)?)))
        }
    }
}
