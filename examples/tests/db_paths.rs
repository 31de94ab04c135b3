//! `--db PATH` is opened, never deleted: a file that is not a database of
//! this library (an input CSV, a directory, a plain file, another
//! application's SQLite database) is refused and left byte-identical,
//! `--replace` or not; a database of this library is refused unless
//! `--replace`, which replaces it. And the scorecard's demo fill goes only
//! into a store holding no records, is marked complete last, and is never
//! made twice by runs started together.

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

use common::{Scratch, example};

/// Starts an example in the crate directory.
fn command(name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(example(name));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs an example: whether it succeeded, stdout, stderr.
fn outcome(output: Output) -> (bool, String, String) {
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn run(name: &str, args: &[&str]) -> (bool, String, String) {
    outcome(command(name, args).output().unwrap_or_else(|e| panic!("cannot run {name}: {e}")))
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

/// Runs `name` with `args` and expects a refusal naming `target`, which
/// keeps its bytes (or, for a directory, stays empty).
fn refused_untouched(name: &str, args: &[&str], target: &Path, why: &str) {
    let before = if target.is_file() { Some(std::fs::read(target).unwrap()) } else { None };
    let (ok, stdout, stderr) = run(name, args);
    assert!(!ok, "{name} {args:?} succeeded:\n{stdout}\n{stderr}");
    assert!(stderr.contains(path_str(target)), "the error names {}:\n{stderr}", target.display());
    assert!(stderr.contains(why), "expected `{why}` in:\n{stderr}");
    match before {
        Some(bytes) => assert!(std::fs::read(target).unwrap() == bytes, "{} changed", target.display()),
        None => assert!(std::fs::read_dir(target).unwrap().next().is_none(), "{} was written to", target.display()),
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = format!("{}{suffix}", target.display());
        assert!(!Path::new(&side).exists(), "{side} was created");
    }
}

/// Another application's SQLite database (rollback journal, one table).
fn foreign_db(path: &Path) {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=rwc", path.display());
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for s in
            ["CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)", "INSERT INTO invoices (total) VALUES (9.5)"]
        {
            sqlx::raw_sql(s).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    });
}

const LOG: &str = "fixtures/uci_incident_event_log_excerpt.csv";

#[test]
fn the_input_log_given_as_db_is_refused_and_unchanged() {
    let scratch = Scratch::new("input");
    let input = scratch.path("mylog.csv");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(LOG), &input).unwrap();
    let args = [path_str(&input), "--db", path_str(&input)];
    refused_untouched("replay_servicenow", &args, &input, "is not a database of this library");
    // --replace replaces only a database of this library.
    let args = [path_str(&input), "--db", path_str(&input), "--replace"];
    refused_untouched("replay_servicenow", &args, &input, "not a SQLite database");
}

#[test]
fn plain_files_directories_and_foreign_databases_are_refused_untouched() {
    let scratch = Scratch::new("foreign");
    // A stand-in for /dev/null and other files that are not databases.
    let notes = scratch.path("notes.txt");
    std::fs::write(&notes, "not a database\n").unwrap();
    refused_untouched("incident_lifecycle", &["--db", path_str(&notes)], &notes, "not a SQLite database");
    refused_untouched("alert_storm", &["--db", path_str(&notes), "--replace"], &notes, "not a SQLite database");

    let dir = scratch.path("a-directory");
    std::fs::create_dir(&dir).unwrap();
    refused_untouched("change_calendar", &["--db", path_str(&dir), "--replace"], &dir, "it is a directory");

    let other = scratch.path("invoices.db");
    foreign_db(&other);
    refused_untouched("change_calendar", &["--db", path_str(&other)], &other, "invoices");
    refused_untouched("incident_lifecycle", &["--db", path_str(&other), "--replace"], &other, "invoices");
    refused_untouched(
        "stream_memory",
        &["fill", "--db", path_str(&other), "--replace", "--incidents", "10"],
        &other,
        "invoices",
    );
}

#[test]
fn a_library_database_is_replaced_only_with_replace() {
    let scratch = Scratch::new("replace");
    let db = scratch.path("lifecycle.db");
    let db = path_str(&db);
    let (ok, first, stderr) = run("incident_lifecycle", &["--db", db]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run("incident_lifecycle", &["--db", db]);
    assert!(!ok && stderr.contains("already holds a database of this library; pass --replace"), "{stderr}");
    let (ok, again, stderr) = run("incident_lifecycle", &["--db", db, "--replace"]);
    assert!(ok, "--replace on a database of this library: {stderr}");
    assert_eq!(first, again, "the replaced database starts empty, like the first run");

    // stream_memory: fill refuses an existing database; stream reads it.
    let stream = scratch.path("stream.db");
    let stream = path_str(&stream);
    assert!(run("stream_memory", &["stream", "--db", stream]).2.contains("no database of this library there"));
    assert!(run("stream_memory", &["fill", "--db", stream, "--incidents", "20"]).0);
    assert!(!run("stream_memory", &["fill", "--db", stream, "--incidents", "20"]).0);
    let (ok, out, stderr) = run("stream_memory", &["stream", "--db", stream]);
    assert!(ok && out.contains("scorecard over 20 incidents"), "{out}\n{stderr}");
}

const SMALL: [&str; 4] = ["--simulate-incidents", "200", "--simulate-changes", "40"];

fn scorecard(db: &str) -> Command {
    let mut args = vec!["--db", db];
    args.extend(SMALL);
    command("scorecard", &args)
}

#[test]
fn scorecard_refuses_a_store_holding_other_records() {
    let scratch = Scratch::new("scorecard-other");
    let db = scratch.path("replay.db");
    let db = path_str(&db);
    let (ok, _, stderr) = run("replay_servicenow", &[LOG, "--db", db]);
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = outcome(scorecard(db).output().unwrap());
    assert!(!ok, "scored a replay database:\n{stdout}");
    assert!(stderr.contains("holds records that are not a scorecard demo fill"), "{stderr}");
    assert!(!stderr.contains("simulating"), "nothing was simulated into it:\n{stderr}");
}

#[test]
fn scorecard_refuses_an_interrupted_fill() {
    let scratch = Scratch::new("scorecard-interrupted");
    let db = scratch.path("demo.db");
    // What a run killed after claiming the store leaves: the demo marker
    // started, never completed (with or without some demo records).
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let store = itsm_store::Store::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        let at = itsm_core::Timestamp::from_unix_secs(1_767_225_600).unwrap();
        assert_eq!(store.claim_fill("scorecard-demo", at).await.unwrap(), itsm_store::FillClaim::Claimed);
        store.close().await;
    });
    let (ok, stdout, stderr) = outcome(scorecard(path_str(&db)).output().unwrap());
    assert!(!ok, "scored an interrupted fill:\n{stdout}");
    assert!(stderr.contains("holds an incomplete demo fill"), "{stderr}");
}

#[test]
fn scorecards_started_together_fill_once() {
    let scratch = Scratch::new("scorecard-together");
    let db = scratch.path("demo.db");
    let db = path_str(&db);
    let children: Vec<_> = (0..3).map(|_| scorecard(db).spawn().unwrap()).collect();
    let results: Vec<_> = children.into_iter().map(|c| outcome(c.wait_with_output().unwrap())).collect();
    let mut filled = 0;
    // The simulated incidents and those the monitoring alerts opened, as the filling run reports them.
    let monitored = results
        .iter()
        .find(|r| r.2.contains("simulating"))
        .map(|r| common::monitored_incidents(&r.2))
        .unwrap_or_else(|| panic!("no run filled: {results:#?}"));
    let inputs = format!("inputs: {} incidents, 40 changes", 200 + monitored);
    for (ok, stdout, stderr) in &results {
        if stderr.contains("simulating") {
            filled += 1;
        }
        if *ok {
            assert!(stdout.contains(&inputs), "a partial store was scored:\n{stdout}");
        } else {
            assert!(stderr.contains("holds an incomplete demo fill"), "{stderr}");
        }
    }
    assert_eq!(filled, 1, "exactly one run fills: {results:#?}");
    assert!(results.iter().any(|r| r.0), "the filling run succeeds: {results:#?}");
    let (ok, stdout, stderr) = outcome(scorecard(db).output().unwrap());
    assert!(ok && stdout.contains(&inputs), "{stdout}\n{stderr}");
    assert!(!stderr.contains("simulating"), "{stderr}");
}
