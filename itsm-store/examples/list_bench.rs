//! List-query and search latency on a large tenant (issue 15's targets on
//! 1,000,000 incidents: a page of 50 rows with 3 filters after a cursor, p99
//! at most 20 ms; a search, p99 at most 50 ms), each beside a baseline in
//! the same run: the same page by its index alone (a raw sqlx `SELECT id ...
//! ORDER BY opened_at DESC LIMIT 50` on a connection of its own), and the
//! same search on the full-text index alone (no join, no read scope). Facet
//! counts over the list filters are timed too.
//!
//! The tenant: `INCIDENTS` incidents (default 1,000,000) opened 30 s apart on
//! 20 services at seeded priorities, 60% of them assigned to one of 10 groups,
//! every tenth with a public note, written through `Store::import_batch`.
//! Titles and notes are 4 to 7 words of a synthetic vocabulary of 2,000
//! words drawn with Zipf frequencies (the k-th word about 1/k as often as the
//! first, as in natural text), so a word's document count ranges from about
//! half of the tenant to a few hundred.
//!
//! Each list query picks a random service and group, lists open incidents
//! newest first, and reads the second page with the first page's cursor, as
//! an incident manager (who reads every incident) and as an agent of that
//! group (the read scope is a condition of the query). Each search asks for
//! two words: "distinctive" searches draw them uniformly from the
//! vocabulary (what people type to find a ticket); "common" searches take two
//! of the ten most frequent words (each in a fifth to half of the tenant:
//! every match is ranked).
//!
//! ```sh
//! cargo run --release -p itsm-store --example list_bench -- [INCIDENTS] [--db URL]
//! # default: a fresh SQLite file in a temporary directory; --db postgres://... (feature postgres)
//! # uses that database, filling tenant `list-bench` only when it is empty.
//! ```

use std::time::{Duration, Instant};

use itsm_core::id::{ActorId, GroupId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, OpenIncident};
use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, Urgency};
use itsm_core::{Actor, AggregateKind, DomainConfig, Role, Timestamp};
use itsm_store::query::{ListQuery, Sort, SortKey};
use itsm_store::{ImportCommand, OnReject, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Connection;

const SERVICES: usize = 20;
const GROUPS: usize = 10;
const QUERIES: usize = 300;
const BATCH: usize = 5_000;
const VOCABULARY: usize = 2_000;
/// Searches of each sort.
const SEARCHES: usize = 300;

/// The synthetic vocabulary's words.
fn word(k: usize) -> String {
    format!("w{k:04}")
}

/// Draws words with Zipf frequencies (weight 1/(k+1)) by the inverse of
/// their cumulative distribution.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut total = 0.0;
        let mut cumulative = Vec::with_capacity(n);
        for k in 0..n {
            total += 1.0 / (k as f64 + 1.0);
            cumulative.push(total);
        }
        Zipf(cumulative.into_iter().map(|c| c / total).collect())
    }

    fn draw(&self, rng: &mut StdRng) -> usize {
        let u: f64 = rng.random();
        self.0.partition_point(|c| *c < u).min(self.0.len() - 1)
    }

    /// `n` words, space-separated.
    fn text(&self, rng: &mut StdRng, n: usize) -> String {
        (0..n).map(|_| word(self.draw(rng))).collect::<Vec<_>>().join(" ")
    }
}

fn ts(secs: i64) -> Result<Timestamp, String> {
    Timestamp::from_unix_secs(1_735_689_600 + secs).ok_or_else(|| format!("instant {secs} out of range"))
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:02}")).collect()
}

async fn fill(store: &Store, actor: &Actor, incidents: usize) -> Result<Duration, String> {
    let started = Instant::now();
    let config = DomainConfig::default();
    let services = names("svc", SERVICES);
    let groups = names("grp", GROUPS);
    let mut rng = StdRng::seed_from_u64(15);
    let levels = [Impact::High, Impact::Medium, Impact::Low];
    let urgencies = [Urgency::High, Urgency::Medium, Urgency::Low];
    let zipf = Zipf::new(VOCABULARY);
    let ids: Vec<String> = (0..incidents).map(|i| format!("INC-{i:07}")).collect();
    for (chunk_no, chunk) in ids.chunks(BATCH).enumerate() {
        let mut commands: Vec<ImportCommand<'_, Incident>> = Vec::with_capacity(chunk.len() * 2);
        for (k, id) in chunk.iter().enumerate() {
            let n = i64::try_from(chunk_no * BATCH + k).map_err(|e| e.to_string())?;
            let open = OpenIncident::new(
                IncidentId::new(id).map_err(|e| e.to_string())?,
                IncidentKind::Production,
                ServiceId::new(&services[rng.random_range(0..SERVICES)]).map_err(|e| e.to_string())?,
                Text::new({
                    let words = rng.random_range(4..=7);
                    zipf.text(&mut rng, words)
                })
                .map_err(|e| e.to_string())?,
                levels[rng.random_range(0..3)],
                urgencies[rng.random_range(0..3)],
                DetectionSource::User,
            );
            commands.push(ImportCommand {
                actor,
                now: ts(n * 30)?,
                aggregate_id: id,
                command: IncidentCommand::Open(open),
            });
            if rng.random_bool(0.6) {
                let group = GroupId::new(&groups[rng.random_range(0..GROUPS)]).map_err(|e| e.to_string())?;
                commands.push(ImportCommand {
                    actor,
                    now: ts(n * 30 + 10)?,
                    aggregate_id: id,
                    command: IncidentCommand::Assign { group, assignee: None },
                });
            }
            if n % 10 == 0 {
                let text = Text::new({
                    let words = rng.random_range(4..=7);
                    zipf.text(&mut rng, words)
                })
                .map_err(|e| e.to_string())?;
                commands.push(ImportCommand {
                    actor,
                    now: ts(n * 30 + 20)?,
                    aggregate_id: id,
                    command: IncidentCommand::AddNote { text, public: true },
                });
            }
        }
        store.import_batch(&config, &commands, OnReject::Abort).await.map_err(|e| e.to_string())?;
    }
    Ok(started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn summary(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!("  {name:<44} p50 {:>8.2} ms   p99 {:>8.2} ms", p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
    p99
}

async fn run(url: &str, incidents: usize) -> Result<(), String> {
    let store = Store::connect(url).await.map_err(|e| e.to_string())?;
    let tenant = TenantId::new("list-bench").map_err(|e| e.to_string())?;
    let actor = Actor::new(ActorId::new("bench").map_err(|e| e.to_string())?, tenant.clone(), [Role::IncidentManager]);
    let everything = ListQuery { kinds: vec![AggregateKind::Incident], ..ListQuery::default() };
    let present = store.facets(&actor, &everything).await.map_err(|e| e.to_string())?.total;
    if present == 0 {
        let took = fill(&store, &actor, incidents).await?;
        println!("filled {incidents} incidents in {:.1} s", took.as_secs_f64());
    } else {
        println!("tenant list-bench already holds {present} incidents; not filled again");
    }
    let mut raw = match store.backend() {
        itsm_store::BackendKind::Sqlite => {
            RawConn::Sqlite(sqlx::SqliteConnection::connect(url).await.map_err(|e| e.to_string())?)
        }
        itsm_store::BackendKind::Postgres => {
            #[cfg(feature = "postgres")]
            {
                RawConn::Postgres(sqlx::PgConnection::connect(url).await.map_err(|e| e.to_string())?)
            }
            #[cfg(not(feature = "postgres"))]
            return Err("PostgreSQL needs the `postgres` feature".to_owned());
        }
    };
    let services = names("svc", SERVICES);
    let groups = names("grp", GROUPS);
    let mut rng = StdRng::seed_from_u64(16);
    let (mut first, mut second, mut facets, mut baseline) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut scoped = Vec::new();
    let mut rows = 0usize;
    for _ in 0..QUERIES {
        let group = GroupId::new(&groups[rng.random_range(0..GROUPS)]).map_err(|e| e.to_string())?;
        let q = ListQuery {
            kinds: vec![AggregateKind::Incident],
            open: Some(true),
            service: Some(ServiceId::new(&services[rng.random_range(0..SERVICES)]).map_err(|e| e.to_string())?),
            group: Some(group.clone()),
            sort: Sort { key: SortKey::Opened, descending: true },
            ..ListQuery::default()
        };
        let t = Instant::now();
        let page = store.list(&actor, &q, None, 50).await.map_err(|e| e.to_string())?;
        first.push(t.elapsed());
        let Some(cursor) = page.next else { return Err("the first page is the last; fill more".to_owned()) };
        let t = Instant::now();
        let page = store.list(&actor, &q, Some(&cursor), 50).await.map_err(|e| e.to_string())?;
        second.push(t.elapsed());
        rows += page.rows.len();
        // An agent of the group: the read scope joins the filters.
        let agent = Actor::new(ActorId::new("agent").map_err(|e| e.to_string())?, tenant.clone(), [Role::Agent])
            .with_groups([group]);
        let t = Instant::now();
        let mine = store.list(&agent, &q, Some(&cursor), 50).await.map_err(|e| e.to_string())?;
        scoped.push(t.elapsed());
        if mine.rows != page.rows {
            return Err("the group's agent sees another second page than the incident manager".to_owned());
        }
        let t = Instant::now();
        store.facets(&actor, &q).await.map_err(|e| e.to_string())?;
        facets.push(t.elapsed());
        let t = Instant::now();
        let n = raw.newest_50().await?;
        baseline.push(t.elapsed());
        if n != 50 {
            return Err(format!("baseline read {n} rows"));
        }
    }
    println!(
        "{QUERIES} queries (service, group and open filters, newest first, 50 rows), {rows} rows on second pages:"
    );
    let base = summary("baseline: 50 newest ids by index (raw sqlx)", baseline);
    summary("list, first page", first);
    let p99 = summary("list, second page (after a cursor)", second);
    let scoped_p99 = summary("the same page as the group's agent", scoped);
    summary("facets over the same filters", facets);
    println!(
        "second page p99 / baseline p99 = {:.1}; target p99 <= 20 ms: {} (agent: {})",
        p99.as_secs_f64() / base.as_secs_f64().max(1e-9),
        if p99 <= Duration::from_millis(20) { "met" } else { "NOT met" },
        if scoped_p99 <= Duration::from_millis(20) { "met" } else { "NOT met" }
    );
    // Searches: distinctive words, then common ones.
    for (name, pick) in [("distinctive", VOCABULARY), ("common", 10)] {
        let (mut found, mut index, mut hits, mut bounded) = (Vec::new(), Vec::new(), 0usize, 0usize);
        for _ in 0..SEARCHES {
            let (a, b) = (rng.random_range(0..pick), rng.random_range(0..pick));
            let text = format!("{} {}", word(a), word(b));
            let t = Instant::now();
            let result = store.search(&actor, &text, 50).await.map_err(|e| e.to_string())?;
            found.push(t.elapsed());
            hits += result.rows.len();
            bounded += usize::from(!result.exhaustive);
            let t = Instant::now();
            raw.search_50(&[word(a), word(b)]).await?;
            index.push(t.elapsed());
        }
        println!(
            "{SEARCHES} {name} searches (two words; {hits} rows found, at most 50 each; {bounded} ranked only \
             the newest {} rows of their rarer word):",
            itsm_store::query::SEARCH_CANDIDATES
        );
        let base = summary("baseline: full-text index alone (raw sqlx)", index);
        let p99 = summary("Store::search (tenant, read scope, rows)", found);
        println!(
            "search p99 / baseline p99 = {:.1}; target p99 <= 50 ms: {}",
            p99.as_secs_f64() / base.as_secs_f64().max(1e-9),
            if p99 <= Duration::from_millis(50) { "met" } else { "NOT met" }
        );
    }
    store.close().await;
    Ok(())
}

enum RawConn {
    Sqlite(sqlx::SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgConnection),
}

impl RawConn {
    async fn newest_50(&mut self) -> Result<usize, String> {
        const SQL: &str = "SELECT id FROM aggregates WHERE tenant = 'list-bench' AND kind = 'incident' \
                           ORDER BY opened_at DESC LIMIT 50";
        let n = match self {
            RawConn::Sqlite(c) => sqlx::query_scalar::<_, String>(SQL).fetch_all(c).await.map(|v| v.len()),
            #[cfg(feature = "postgres")]
            RawConn::Postgres(c) => sqlx::query_scalar::<_, String>(SQL).fetch_all(c).await.map(|v| v.len()),
        };
        n.map_err(|e| e.to_string())
    }

    /// The best 50 search rows holding all `words` by the full-text index
    /// alone (single rows: a title or a note each; no aggregate grouping).
    async fn search_50(&mut self, words: &[String]) -> Result<usize, String> {
        let n = match self {
            RawConn::Sqlite(c) => {
                let query = words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" ");
                sqlx::query_scalar::<_, i64>(
                    "SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rank LIMIT 50",
                )
                .bind(query)
                .fetch_all(c)
                .await
                .map(|v| v.len())
            }
            #[cfg(feature = "postgres")]
            RawConn::Postgres(c) => sqlx::query_scalar::<_, String>(
                "SELECT id FROM search_rows WHERE tsv @@ to_tsquery('simple', $1) \
                 ORDER BY ts_rank(tsv, to_tsquery('simple', $1)) DESC LIMIT 50",
            )
            .bind(words.join(" & "))
            .fetch_all(c)
            .await
            .map(|v| v.len()),
        };
        n.map_err(|e| e.to_string())
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut incidents = 1_000_000usize;
    let mut url: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => url = Some(args.next().ok_or("--db needs a URL")?),
            n => {
                incidents = n
                    .replace('_', "")
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("INCIDENTS must be a positive whole number, got `{n}`"))?
            }
        }
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let url = url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("list_bench.db").display()));
    run(&url, incidents).await
}
