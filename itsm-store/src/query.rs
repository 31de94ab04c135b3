//! The list query of a portal: filters, sort orders, keyset pages with an
//! opaque cursor, and facet counts, over the projection rows of one tenant.
//!
//! A page is read with `(sort key, kind, id)` strictly after the cursor's
//! row, in one direction, so a row inserted while someone pages (a new
//! incident) never shifts the pages: no row is skipped or shown twice. Rows
//! whose sort key changes between pages (an update moves a row in the
//! `updated` order) appear where their new key puts them, as in any keyset
//! pagination.

use std::collections::BTreeMap;

use itsm_core::id::{ActorId, GroupId, ServiceId};
use itsm_core::vocabulary::Priority;
use itsm_core::{AggregateKind, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::model::ProjectionRow;

/// What a list sorts by. Ties are broken by kind and id, in the same
/// direction, so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// When it was opened or created.
    Opened,
    /// When it last changed.
    Updated,
    /// Priority, P1 first when ascending; rows without a priority (changes,
    /// unprioritised problems) come after P5.
    Priority,
    /// The next due instant. Only rows with a due instant are listed.
    Due,
}

impl SortKey {
    /// The SQL expression of the key.
    pub(crate) fn expr(self) -> &'static str {
        match self {
            SortKey::Opened => "opened_at",
            SortKey::Updated => "updated_at",
            // 'P1'..'P5' sort as text; no priority sorts last.
            SortKey::Priority => "COALESCE(priority, 'P9')",
            SortKey::Due => "due_at",
        }
    }
}

/// A sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sort {
    /// The key.
    pub key: SortKey,
    /// Largest first (newest, lowest urgency, latest due).
    pub descending: bool,
}

impl Default for Sort {
    /// Newest first.
    fn default() -> Self {
        Sort { key: SortKey::Opened, descending: true }
    }
}

/// A half-open range of instants, `[from, to)`; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// Inclusive start.
    pub from: Option<Timestamp>,
    /// Exclusive end.
    pub to: Option<Timestamp>,
}

/// Which rows a list shows and in what order. Every filter left empty (or
/// `None`) does not filter. All filters apply together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Aggregate kinds (incidents, problems, changes of a type).
    pub kinds: Vec<AggregateKind>,
    /// State names, as in [`ProjectionRow::status`] (`new`, `in_progress`...).
    pub statuses: Vec<String>,
    /// `Some(true)`: open work only (non-terminal states); `Some(false)`:
    /// closed, cancelled or rejected only.
    pub open: Option<bool>,
    /// The affected or changed service.
    pub service: Option<ServiceId>,
    /// Priorities.
    pub priorities: Vec<Priority>,
    /// The assignee or implementer.
    pub assignee: Option<ActorId>,
    /// The group working on it.
    pub group: Option<GroupId>,
    /// Who asked for it.
    pub requester: Option<ActorId>,
    /// Declared major incidents (`Some(true)`) or the others.
    pub major: Option<bool>,
    /// Opened within.
    pub opened: Range,
    /// Last changed within.
    pub updated: Range,
    /// With a due instant before this one (the breach-soon board).
    pub due_before: Option<Timestamp>,
    /// Breached at this instant: an SLA deadline at or before it was missed
    /// ([`ProjectionRow::breach_at`]). The store reads no clock: pass the
    /// current instant for "breached now".
    pub breached_by: Option<Timestamp>,
    /// The order.
    pub sort: Sort,
}

/// Where the next page starts: opaque to callers (pass back what
/// [`Page::next`] gave). It names its sort order, and a cursor of another
/// order is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// The cursor as text (for a URL or a form).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A cursor from text a client sent back. Checked when used.
    pub fn from_text(text: impl Into<String>) -> Cursor {
        Cursor(text.into())
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sort key value as a cursor keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KeyValue {
    /// An instant key (opened, updated, due).
    At(Timestamp),
    /// A text key (priority).
    Text(String),
}

/// What a cursor holds: the order it belongs to and the last row's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CursorData {
    pub sort: Sort,
    pub key: KeyValue,
    pub kind: String,
    pub id: String,
}

impl CursorData {
    /// The cursor after `row` in `sort`.
    pub(crate) fn after(row: &ProjectionRow, sort: Sort) -> Option<CursorData> {
        let key = match sort.key {
            SortKey::Opened => KeyValue::At(row.opened_at),
            SortKey::Updated => KeyValue::At(row.updated_at),
            SortKey::Priority => KeyValue::Text(row.priority.map_or("P9", |p| p.as_str()).to_owned()),
            SortKey::Due => KeyValue::At(row.due_at?),
        };
        Some(CursorData { sort, key, kind: row.kind.as_str().to_owned(), id: row.id.clone() })
    }

    pub(crate) fn encode(&self) -> Result<Cursor, StoreError> {
        let json = serde_json::to_vec(self).map_err(|source| StoreError::Serialize {
            what: "cursor",
            id: self.id.clone(),
            source,
        })?;
        Ok(Cursor(hex::encode(json)))
    }

    /// The cursor's data, checked against the query's order.
    pub(crate) fn decode(cursor: &Cursor, sort: Sort) -> Result<CursorData, StoreError> {
        let bad = |reason: String| StoreError::validation("cursor", reason);
        let bytes = hex::decode(cursor.as_str()).map_err(|e| bad(format!("not a cursor this store gave: {e}")))?;
        let data: CursorData =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a cursor this store gave: {e}")))?;
        if data.sort != sort {
            return Err(bad(format!("the cursor belongs to the order {:?}, the query asks for {sort:?}", data.sort)));
        }
        let fits = matches!(
            (data.sort.key, &data.key),
            (SortKey::Opened | SortKey::Updated | SortKey::Due, KeyValue::At(_))
                | (SortKey::Priority, KeyValue::Text(_))
        );
        if !fits {
            return Err(bad("the cursor's key does not fit its order".to_owned()));
        }
        Ok(data)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The rows, in the query's order.
    pub rows: Vec<ProjectionRow>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Counts for a dashboard, over the rows a [`ListQuery`] selects (its sort
/// ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    /// Rows per kind and state name.
    pub by_status: BTreeMap<(AggregateKind, String), u64>,
    /// Rows per priority (`None`: no priority).
    pub by_priority: BTreeMap<Option<Priority>, u64>,
    /// All rows selected.
    pub total: u64,
}

/// The largest page [`crate::Store::list`] returns.
pub const MAX_PAGE: u32 = 1000;

/// How many of the rarest searched word's rows a search ranks, at most,
/// unless the store sets another bound ([`crate::Store::with_search_candidates`]).
pub const SEARCH_CANDIDATES: usize = 1_000;

/// The largest candidate bound a store takes
/// ([`crate::Store::with_search_candidates`]): the candidates are bound as
/// two parameters each, and SQLite takes at most 32,766 per statement.
pub const MAX_SEARCH_CANDIDATES: usize = 10_000;

/// What [`crate::Store::search`] found.
///
/// Every match holds the rarest of the searched words, so a search reads
/// that word's rows the actor may see, newest first, and ranks the
/// aggregates among them that hold every word. When the word is in more
/// rows than the store's candidate bound ([`SEARCH_CANDIDATES`] by default),
/// only the newest of them are ranked, and `exhaustive` is false: a user
/// interface says the results are the best of the most recent matches and
/// asks for another word. This bounds the cost of a search for common words
/// (ranking every one of hundreds of thousands of matches takes seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// The matches, best first (ties by kind and id).
    pub rows: Vec<ProjectionRow>,
    /// Whether every match was ranked (false: only those among the
    /// candidate bound's newest rows of the rarest word).
    pub exhaustive: bool,
}

/// Words per search, at most ([`search_terms`]).
pub const MAX_SEARCH_TERMS: usize = 16;

/// The words a search text asks for ([`crate::Store::search`]): its runs of
/// letters and digits, lower-cased, each once, in order, at most
/// [`MAX_SEARCH_TERMS`]. A document matches when it holds every one of them
/// (in its title or notes). Everything else in the text (punctuation,
/// quotes, operators of either backend's query language) only separates
/// words, so no text is a query-language injection. Refused as invalid
/// input when the text holds no word or more than [`MAX_SEARCH_TERMS`].
///
/// ```
/// use itsm_store::query::search_terms;
/// assert_eq!(search_terms("VPN down -- \"gateway\" (again)?").unwrap(), ["vpn", "down", "gateway", "again"]);
/// assert!(search_terms("  *** ").is_err());
/// ```
pub fn search_terms(text: &str) -> Result<Vec<String>, StoreError> {
    let mut terms: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        if !terms.contains(&word) {
            terms.push(word);
        }
    }
    if terms.is_empty() {
        return Err(StoreError::validation("search text", "holds no word to search for"));
    }
    if terms.len() > MAX_SEARCH_TERMS {
        return Err(StoreError::validation(
            "search text",
            format!("holds {} words; a search takes at most {MAX_SEARCH_TERMS}", terms.len()),
        ));
    }
    Ok(terms)
}
