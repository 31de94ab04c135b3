//! Runs the example binaries on small inputs and checks what they print.
//!
//! `cargo test` builds the examples before it runs the tests; each binary is
//! found at `<target dir>/<profile>/examples/<name>` by walking up from this
//! test binary (which lives in `<target dir>/<profile>/deps/`). The BPIC 2014
//! import runs only when `../shared/data/bpic2014-rabobank-itil` exists beside
//! the workspace (its licence keeps it out of the repository).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;

use common::{Scratch, example, manifest_dir};

/// Runs an example to completion; panics with its output unless it succeeds.
fn run(name: &str, args: &[&str], stdin: Option<&Path>) -> (String, String) {
    run_with_status(name, args, stdin, 0)
}

/// Runs an example to completion; panics with its output unless it exits with `code`.
fn run_with_status(name: &str, args: &[&str], stdin: Option<&Path>, code: i32) -> (String, String) {
    let mut command = Command::new(example(name));
    command.args(args).current_dir(manifest_dir()).stdout(Stdio::piped()).stderr(Stdio::piped());
    match stdin {
        Some(path) => {
            let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            command.stdin(file);
        }
        None => {
            command.stdin(Stdio::null());
        }
    }
    let Output { status, stdout, stderr } =
        command.output().unwrap_or_else(|e| panic!("cannot run example {name}: {e}"));
    let (stdout, stderr) =
        (String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned());
    assert!(
        status.code() == Some(code),
        "{name} {args:?} exited with {status}, not {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected `{needle}` in:\n{text}");
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

const LEVELS: [&str; 7] = ["level_1", "level_2", "level_3", "level_4", "level_5", "below_level_1", "no_data"];

/// The rows of the first table of a text scorecard (table, title, level...):
/// checks each maturity table has a level and returns how many there are.
fn check_table_levels(text: &str) -> usize {
    let mut lines = text.lines().skip_while(|l| !l.trim_start().starts_with("table  title"));
    assert!(lines.next().is_some(), "no table of levels in:\n{text}");
    let mut rows = 0;
    for line in lines.skip(1) {
        if line.trim().is_empty() {
            break;
        }
        let table = line.split_whitespace().next().unwrap_or("");
        assert!(table.parse::<u32>().is_ok(), "not a table row: {line}");
        assert!(LEVELS.iter().any(|l| line.split_whitespace().any(|w| w == *l)), "no level in row: {line}");
        rows += 1;
    }
    rows
}

/// Checks the JSON contract everywhere in the scorecard: every rate has
/// `numerator`, `denominator` and `value` (null exactly when the denominator
/// is zero); every rating has `level` and `evidence`. Returns (rates, ratings).
fn check_contract(v: &Value, path: &str, counts: &mut (usize, usize)) {
    match v {
        Value::Object(map) => {
            if map.contains_key("numerator") {
                counts.0 += 1;
                let denominator = map.get("denominator").and_then(Value::as_u64);
                assert!(map["numerator"].is_u64() && denominator.is_some(), "{path}: numerator/denominator");
                let value = map.get("value").unwrap_or_else(|| panic!("{path}: no value"));
                assert_eq!(value.is_null(), denominator == Some(0), "{path}: value null iff denominator 0");
                assert!(value.is_null() || value.as_str().is_some_and(|s| s.parse::<f64>().is_ok()), "{path}.value");
            }
            if map.contains_key("evidence") {
                counts.1 += 1;
                let level = map.get("level").and_then(Value::as_str).unwrap_or_else(|| panic!("{path}: no level"));
                assert!(LEVELS.contains(&level), "{path}.level = {level}");
                assert!(map["evidence"]["kind"].is_string(), "{path}.evidence");
            }
            for (k, child) in map {
                check_contract(child, &format!("{path}.{k}"), counts);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_contract(item, &format!("{path}[{i}]"), counts);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

#[test]
fn scorecard_simulated_text_and_json() {
    let scratch = Scratch::new("scorecard");
    let db = scratch.path("quarter.db");
    let args = ["--db", path_str(&db), "--simulate-incidents", "300", "--simulate-changes", "60"];
    let (text, log) = run("scorecard", &args, None);
    assert_contains(&log, "is empty: simulating a quarter (300 incidents, 60 changes");
    assert_contains(&log, "refused 0");
    // The simulated incidents and those the monitoring alerts opened.
    let monitored = common::monitored_incidents(&log);
    assert!(monitored > 0, "{log}");
    // Symptoms joined their root cause's incident and maintenance suppressed alerts (Table 4).
    let (root_caused, suppressed) = common::root_caused_and_suppressed(&log);
    assert!(root_caused > 0 && suppressed > 0, "{log}");
    assert_contains(&text, &format!("inputs: {} incidents, 60 changes", 300 + monitored));
    assert_eq!(check_table_levels(&text), 8, "tables 3, 5, 6, 7, 8, 9, 15 and 16 are rated:\n{text}");

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let (json, log) = run("scorecard", &json_args, None);
    assert!(!log.contains("simulating"), "the second run reuses the filled store:\n{log}");
    let card: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{json}"));
    let mut counts = (0, 0);
    check_contract(&card, "$", &mut counts);
    assert!(counts.0 > 20 && counts.1 > 10, "rates and ratings found: {counts:?}");
    let tables = card["ratings"]["tables"].as_array().map(Vec::len);
    assert_eq!(tables, Some(8));
    assert_eq!(card["inputs"]["incidents"].as_u64(), Some(300 + monitored));
    // Tables 3 and 16 have data: the alerts as received and the notifications as delivered.
    for metric in ["alert_delay_within", "notified_in_time"] {
        let rated = card["ratings"]["metrics"].as_array().and_then(|m| m.iter().find(|m| m["metric"] == metric));
        let level = rated.map(|m| m["level"].as_str().unwrap_or("").to_owned());
        assert!(level.as_deref().is_some_and(|l| l != "no_data"), "{metric}: {level:?}");
    }
    let metrics = card["ratings"]["metrics"].as_array().cloned().unwrap_or_default();
    assert!(!metrics.is_empty() && metrics.iter().all(|m| m["level"].is_string() && m["evidence"]["kind"].is_string()));
}

#[test]
fn scorecard_from_csv_reports_the_bad_row() {
    let scratch = Scratch::new("csv");
    let incidents = scratch.path("incidents.csv");
    let changes = scratch.path("changes.csv");
    std::fs::write(
        &incidents,
        "id,kind,service,category,priority,detected_by,opened_at,acknowledged_at,resolved_at,resolved_by\n\
         INC-1,production,payments,card-auth,2,monitoring,2026-01-05T08:00:00Z,2026-01-05T08:05:00Z,2026-01-05T10:00:00Z,l1\n\
         INC-2,production,payments,card-auth,2,user,2026-01-20T10:00:00Z,,2026-01-20T09:00:00Z,l1\n\
         INC-3,desktop,laptops,dock,4,user,2026-02-02T09:00:00Z,2026-02-02T09:30:00Z,2026-02-03T09:00:00Z,l1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &changes,
        "id,type,service,started_at,completed_at,outcome,remediation\n\
         CHG-1,normal,payments,2026-01-04T22:05:00Z,2026-01-04T22:40:00Z,successful,none\n\
         CHG-2,normal,payments,2026-01-11T22:05:00Z,2026-01-11T23:40:00Z,failed,rolled_back\n\
         CHG-3,normal,payments,,,cancelled,none\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let args = [
        "--incidents",
        path_str(&incidents),
        "--changes",
        path_str(&changes),
        "--from",
        "2026-01-01",
        "--to",
        "2026-04-01",
    ];
    // A rejected row: the report is written and the exit status (3) says it is partial.
    let (text, log) = run_with_status("scorecard", &args, None, 3);
    // INC-2 was resolved before it was opened: reported with its file and line (3).
    let bad = format!("{}:3:", incidents.display());
    assert_contains(&log, &bad);
    assert_contains(&log, "3 rows read: 2 accepted, 1 rejected; 2 replayed");
    // CHG-3, cancelled without a single instant, is replayed and counted too (in no rate).
    assert_contains(&log, "3 rows read: 3 accepted, 0 rejected; 3 replayed");
    assert!(!log.contains("refused by the domain"), "{log}");
    assert_contains(&text, "inputs: 2 incidents, 3 changes");
    assert_contains(&text, "1/2 (50%)");
    assert_eq!(check_table_levels(&text), 8);
}

#[test]
fn scorecard_from_the_sample_csvs_in_every_format() {
    let scratch = Scratch::new("formats");
    let base = [
        "--incidents",
        "data/incidents.csv",
        "--changes",
        "data/changes.csv",
        "--outages",
        "data/outages.csv",
        "--from",
        "2026-01-01",
        "--to",
        "2026-04-01",
        "--tz",
        "Europe/Paris",
    ];
    let with = |format: &str, out: &Path| {
        let mut args = base.to_vec();
        args.extend(["--format", format, "--out", path_str(out)]);
        // INC-9 is deliberately bad: the report is written, the exit status is 3.
        let (stdout, log) = run_with_status("scorecard", &args, None, 3);
        assert!(stdout.is_empty(), "--out writes the report to the file, not stdout:\n{stdout}");
        assert!(!log.contains("no outage source"), "{log}");
        std::fs::read_to_string(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()))
    };
    // JSON: dates are midnight in --tz; overlapping outages count once (07:58-08:50 = 3,120 s).
    let json = with("json", &scratch.path("card.json"));
    let card: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{json}"));
    check_contract(&card, "$", &mut (0, 0));
    assert_eq!(card["period"]["zone"], "Europe/Paris");
    assert!(
        card["period"]["from"].as_str().is_some_and(|f| f.starts_with("2025-12-31T23:00:00")),
        "{}",
        card["period"]
    );
    assert!(card["period"]["to"].as_str().is_some_and(|t| t.starts_with("2026-03-31T22:00:00")), "{}", card["period"]);
    let months = card["months"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = months.iter().filter_map(|m| m["month"].as_str()).collect();
    assert_eq!(names, ["2026-01", "2026-02", "2026-03"], "months of the zone");
    assert!(months.iter().all(|m| m["partial"] == false), "whole months of the zone: {months:?}");
    let services = card["services"].as_array().cloned().unwrap_or_default();
    let payments = services.iter().find(|s| s["service"] == "payments").unwrap_or_else(|| panic!("{services:?}"));
    let availability = &payments["availability"];
    assert_eq!(availability["downtime_seconds"], "3120", "{availability}");
    assert_eq!(availability["outage_intervals"], 1, "{availability}");
    // CSV: the same figure in its row.
    let csv = with("csv", &scratch.path("card.csv"));
    assert!(csv.starts_with("section,service,metric"), "{csv}");
    assert!(
        csv.lines().any(|l| l.starts_with("availability,payments,downtime_seconds,") && l.contains(",3120")),
        "{csv}"
    );
    // HTML: one self-contained page with its charts.
    let html = with("html", &scratch.path("card.html"));
    assert!(html.starts_with("<!DOCTYPE html>") && html.matches("<svg").count() >= 2, "{html}");
    assert!(!html.contains("src=") && !html.contains("<link"), "the page loads nothing");
}

#[test]
fn scorecard_without_an_outage_source_reports_availability_as_no_data() {
    let scratch = Scratch::new("no-outages");
    let incidents = scratch.path("incidents.csv");
    std::fs::write(
        &incidents,
        "id,kind,service,opened_at,resolved_at\n\
         INC-1,production,payments,2026-01-05T08:00:00Z,2026-01-05T10:00:00Z\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let args = ["--incidents", path_str(&incidents), "--from", "2026-01-01", "--to", "2026-04-01", "--format", "json"];
    let (json, log) = run("scorecard", &args, None);
    assert_contains(&log, "no outage source");
    let card: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{json}"));
    let total = &card["total"]["availability"];
    assert_eq!(total["availability"]["value"], Value::Null, "{total}");
    assert_eq!(total["downtime_seconds"], Value::Null, "{total}");
    let rated: Vec<&Value> = card["ratings"]["metrics"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["metric"] == "availability" || m["metric"] == "annual_downtime").collect())
        .unwrap_or_default();
    assert!(!rated.is_empty() && rated.iter().all(|m| m["level"] == "no_data"), "{rated:?}");
}

#[test]
fn sla_clock_prints_json() {
    let input = manifest_dir().join("sla_clock_input.json");
    let (json, _) = run("sla_clock", &[], Some(&input));
    let clocks: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{json}"));
    let clocks = clocks.as_array().unwrap_or_else(|| panic!("expected an array of clocks:\n{json}"));
    assert!(!clocks.is_empty());
    for clock in clocks {
        for key in ["target", "cycle", "elapsed", "paused", "remaining", "percent", "state"] {
            assert!(clock.get(key).is_some(), "clock without `{key}`: {clock}");
        }
    }
}

#[test]
fn replay_servicenow_excerpt() {
    let scratch = Scratch::new("servicenow");
    let db = scratch.path("replay.db");
    let args = ["fixtures/uci_incident_event_log_excerpt.csv", "--db", path_str(&db)];
    let (text, _) = run("replay_servicenow", &args, None);
    assert_contains(&text, "incidents: 150 (150 replayed, 0 quarantined)");
    assert_contains(&text, "rows read: 1164");
    assert_contains(&text, "MTTR by priority");
}

#[test]
fn incident_lifecycle_narrates_the_key_steps() {
    let scratch = Scratch::new("lifecycle");
    let db = scratch.path("lifecycle.db");
    let (text, _) = run("incident_lifecycle", &["--db", path_str(&db)], None);
    for needle in [
        "open (monitoring alert pay-gw-7781) [monitoring]",
        "state new, version 1, tier l1",
        "priority P2 from impact 1 x urgency 2",
        "same alert delivered again: replayed true, version still 1",
        "response clock met at Mon 02 09:20",
        "state on_hold, version 5",
        "resolution clock paused: elapsed 1h00m00s, paused 1h00m00s, remaining 7h00m00s, 12% of 8h00m00s, deadline Mon 02 18:00",
        "resolution clock running: elapsed 6h15m00s, paused 1h30m00s, remaining 1h45m00s, 78% of 8h00m00s, deadline Mon 02 18:30",
        "threshold 75%: reached (Mon 02 16:30)",
        "sla-escalation/INC-1001/resolution/1/resolution-75-lead (NotifyGroupLead, due Mon 02 16:30): recorded",
        "recorded 2",
        "recorded 0 (each escalation is executed exactly once)",
        "state in_progress, version 7, tier l2",
        "l2-apps queue: INC-1001 P2 in_progress",
        "reopen count 1",
        "state closed, version 12, tier l2",
        "resolution clock met at Tue 03 09:45: elapsed 7h25m00s",
        "refused, IncidentError::InvalidTransition: cannot close incident INC-1002: it is new",
        "Outbox: 6 message(s) claimed by notifier",
        "acknowledged 6; left to deliver: 0",
    ] {
        assert_contains(&text, needle);
    }
}

#[test]
fn change_calendar_walks_cab_conflicts_and_the_calendar() {
    let scratch = Scratch::new("changes");
    let db = scratch.path("changes.db");
    let (text, _) = run("change_calendar", &["--db", path_str(&db)], None);
    for needle in [
        "refused, ChangeError::Invalid: cannot assess normal_change CHG-101 (submitted): a backout plan is mandatory",
        "refused, ChangeError::Approval(ApprovalError::SelfApproval)",
        "approve for cab (1 of 2) [cab-1] -> assessed",
        "approve for cab (2 of 2, quorum) [cab-2] -> authorized",
        "3 conflict(s)",
        "- overlaps CHG-100 on the same service",
        "- not inside the maintenance windows of payments",
        "- inside a blackout of payments: Easter freeze",
        "store: CHG-101 and CHG-100 overlap on payments",
        "rescheduled into the maintenance window Sat 11 Apr 22:00 - Sun 12 Apr 02:00 (Europe/Amsterdam): 0 conflict(s)",
        "store: 0 overlapping pair(s) on payments in April",
        "CHG-102 approve for ecab [ecab-1] -> authorized",
        "CHG-102 close before the review [max] -> refused, ChangeError::InvalidTransition",
        "record: outcome failed, remediation rolled_back",
        "CHG-103 close [max] -> closed",
    ] {
        assert_contains(&text, needle);
    }
    let calendar: Vec<&str> =
        text.lines().skip_while(|l| !l.starts_with("Change calendar of payments")).skip(2).collect();
    let ids: Vec<&str> = calendar.iter().filter_map(|l| l.split_whitespace().find(|w| w.starts_with("CHG-"))).collect();
    assert_eq!(ids, ["CHG-100", "CHG-102", "CHG-101", "CHG-103"], "calendar:\n{}", calendar.join("\n"));
    assert!(calendar.iter().all(|l| l.contains("closed")), "calendar:\n{}", calendar.join("\n"));
}

#[test]
fn import_bpic2014_when_the_data_is_present() {
    let dir = manifest_dir().join("../../shared/data/bpic2014-rabobank-itil");
    if !dir.join("Detail_Incident.csv.gz").is_file() || !dir.join("Detail_Change.csv.gz").is_file() {
        eprintln!("skipped: the BPIC 2014 data is not at {}", dir.display());
        return;
    }
    let scratch = Scratch::new("bpic2014");
    let db = scratch.path("bpic.db");
    let (text, _) = run("import_bpic2014", &[path_str(&dir), "--db", path_str(&db)], None);
    for needle in [
        "Detail_Incident.csv.gz: 46809 rows: 46606 accepted, 0 rejected, 203 blank",
        "transitions refused: 1780",
        "1715  close while new: invalid transition",
        "Detail_Change.csv.gz: 30275 rows: 30256 accepted, 19 rejected, 0 blank",
        "is after the extract ends",
        "changes: 17990",
        "stored in sqlite://",
        "(0 commands refused by the store)",
        "inputs: 46606 incidents, 17990 changes",
        "0/0 (no data)",
    ] {
        assert_contains(&text, needle);
    }
    assert_eq!(check_table_levels(&text), 8);
}

#[test]
fn alert_storm_counts_incidents_merges_and_clears() {
    let scratch = Scratch::new("alert-storm");
    let db = scratch.path("storm.db");
    let (text, _) = run("alert_storm", &["--input", "alert_storm.jsonl", "--db", path_str(&db)], None);
    for line in [
        "alerts received: 48",
        "incidents opened: 7",
        "alerts merged: 18",
        "alerts annotated: 1",
        "duplicates: 9",
        "recoveries: 12",
        "ignored: 1",
        "commands refused: 0",
        "incidents resolved: 7",
        "clears emitted: 26",
    ] {
        assert_contains(&text, line);
    }
    // Redelivering the whole file in one batch gives the same incidents.
    let (again, _) = run("alert_storm", &["--batch", "1000"], None);
    assert_contains(&again, "incidents opened: 7");
    assert_contains(&again, "clears emitted: 26");
}

#[test]
fn stream_memory_fills_streams_and_collects_the_same_records() {
    let scratch = Scratch::new("stream-memory");
    let db = scratch.path("stream.db");
    let db = path_str(&db);
    let (out, _) = run("stream_memory", &["fill", "--db", db, "--incidents", "300"], None);
    assert_contains(&out, "filled 300 incidents");
    let (out, _) = run("stream_memory", &["stream", "--db", db], None);
    assert_contains(&out, "scorecard over 300 incidents");
    assert_contains(&out, "Stream: 300 records");
    let (out, _) = run("stream_memory", &["collect", "--db", db], None);
    assert_contains(&out, "Collect: 300 records");
}
