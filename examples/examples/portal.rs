//! The reference portal: an HTTP JSON API and server-rendered pages over the
//! library (see `itsm_examples::portal`), with the escalation runner in the
//! same process.
//!
//! ```sh
//! cargo run --release --example portal                      # ./itsm-demo.db, http://127.0.0.1:8080
//! cargo run --release --example portal -- --db-url postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! On an empty database it writes the demo tenant first (the scorecard's
//! simulated quarter and a few fresh records). Ctrl-C stops it gracefully:
//! no new connections, requests in flight finish, live streams end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use itsm_examples::db;
use itsm_examples::portal::seed::{SeedSize, Seeded, seed};
use itsm_examples::portal::{Portal, auth::Users, serve, wall_clock};
use itsm_store::runner::{Runner, RunnerOptions, SystemClock};

#[derive(Debug, Parser)]
#[command(about = "The reference portal: HTTP API and web UI over the library")]
struct Args {
    /// The SQLite database (created if missing; a file that is not a database of this library is refused).
    #[arg(long, default_value = "itsm-demo.db")]
    db: PathBuf,
    /// A PostgreSQL database instead (postgres://user@host:port/database).
    #[arg(long)]
    db_url: Option<String>,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// The users file (logins, passwords, tokens, actors); default: the bundled demo users.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Incidents to simulate into an empty database.
    #[arg(long, default_value_t = 5_000)]
    seed_incidents: usize,
    /// Changes to simulate into an empty database.
    #[arg(long, default_value_t = 600)]
    seed_changes: usize,
}

async fn run(args: Args) -> Result<(), String> {
    let users = match &args.users {
        Some(path) => Users::read(path),
        None => Users::demo(),
    }
    .map_err(|e| e.to_string())?;
    let store = match &args.db_url {
        Some(url) => db::open_url(url).await?,
        None => db::open(&args.db, false, db::Existing::Append).await?,
    };
    let clock = wall_clock();
    let size = SeedSize { incidents: args.seed_incidents, changes: args.seed_changes };
    eprintln!("portal: checking the demo tenant (an empty database is filled first; this takes a little while)");
    match seed(&store, &users, size, clock()).await? {
        Seeded::Filled { commands } => eprintln!("portal: wrote the demo tenant ({commands} commands)"),
        Seeded::AlreadyFilled => eprintln!("portal: the demo tenant is there"),
        Seeded::Existing => eprintln!("portal: the database holds other records; serving them as they are"),
    }
    let listener =
        tokio::net::TcpListener::bind(&args.addr).await.map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let portal = Arc::new(Portal::new(store.clone(), users, clock));
    println!("itsm portal on http://{}/", args.addr);
    println!("demo logins (password \"demo\"; API: Authorization: Bearer <token>):");
    for user in portal.auth.users() {
        let roles: Vec<&str> = user.actor.roles.iter().map(|r| r.as_str()).collect();
        println!("  {:<18} tenant {:<6} {:<28} token {}", user.login, user.actor.tenant, roles.join(","), user.token);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runner = Runner::new(store.clone(), SystemClock, RunnerOptions::default());
    let mut runner_stop = stop_rx.clone();
    let runner = tokio::spawn(runner.run(async move {
        let _ = runner_stop.wait_for(|s| *s).await;
    }));
    let shutdown = async move {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("portal: stopping (finishing requests in flight)");
        stop_tx.send_replace(true);
    };
    serve(listener, portal, shutdown).await.map_err(|e| format!("server: {e}"))?;
    match runner.await {
        Ok(Ok(totals)) => eprintln!("portal: escalation runner stopped ({totals:?})"),
        Ok(Err(e)) => eprintln!("portal: escalation runner failed: {e}"),
        Err(e) => eprintln!("portal: escalation runner panicked: {e}"),
    }
    store.close().await;
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    itsm_examples::run_main("portal", run(Args::parse()))
}
