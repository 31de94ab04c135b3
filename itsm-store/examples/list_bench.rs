//! List-query latency on a large tenant (issue 15's target: a page of 50 rows
//! with 3 filters after a cursor, p99 at most 20 ms on 1,000,000 incidents),
//! beside a baseline in the same run: the same page by its index alone (a raw
//! sqlx `SELECT id ... ORDER BY opened_at DESC LIMIT 50` on a connection of
//! its own), and facet counts over the same filters.
//!
//! The tenant: `INCIDENTS` incidents (default 1,000,000) opened 30 s apart on
//! 20 services at seeded priorities, 60% of them assigned to one of 10 groups,
//! written through `Store::import_batch`. Each measured query picks a random
//! service and group, lists open incidents newest first, and reads the second
//! page with the first page's cursor.
//!
//! ```sh
//! cargo run --release -p itsm-store --example list_bench -- [INCIDENTS] [--db URL]
//! # default: a fresh SQLite file in a temporary directory; --db postgres://... (feature postgres)
//! # uses that database, filling tenant `list-bench` only when it is empty.
//! ```

use std::time::{Duration, Instant};

use itsm_core::classify::{DetectionSource, Impact, IncidentKind, Urgency};
use itsm_core::id::{ActorId, GroupId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, OpenIncident};
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
    let ids: Vec<String> = (0..incidents).map(|i| format!("INC-{i:07}")).collect();
    for (chunk_no, chunk) in ids.chunks(BATCH).enumerate() {
        let mut commands: Vec<ImportCommand<'_, Incident>> = Vec::with_capacity(chunk.len() * 2);
        for (k, id) in chunk.iter().enumerate() {
            let n = i64::try_from(chunk_no * BATCH + k).map_err(|e| e.to_string())?;
            let open = OpenIncident::new(
                IncidentId::new(id).map_err(|e| e.to_string())?,
                IncidentKind::Production,
                ServiceId::new(&services[rng.random_range(0..SERVICES)]).map_err(|e| e.to_string())?,
                Text::new("payments API returns 502 for some card schemes").map_err(|e| e.to_string())?,
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
    let actor = Actor::new(ActorId::new("bench").map_err(|e| e.to_string())?, tenant, [Role::Agent]);
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
    let mut rows = 0usize;
    for _ in 0..QUERIES {
        let q = ListQuery {
            kinds: vec![AggregateKind::Incident],
            open: Some(true),
            service: Some(ServiceId::new(&services[rng.random_range(0..SERVICES)]).map_err(|e| e.to_string())?),
            group: Some(GroupId::new(&groups[rng.random_range(0..GROUPS)]).map_err(|e| e.to_string())?),
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
    summary("facets over the same filters", facets);
    println!(
        "second page p99 / baseline p99 = {:.1}; target p99 <= 20 ms: {}",
        p99.as_secs_f64() / base.as_secs_f64().max(1e-9),
        if p99 <= Duration::from_millis(20) { "met" } else { "NOT met" }
    );
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
