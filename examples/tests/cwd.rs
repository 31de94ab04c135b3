//! The examples' inputs: bundled defaults are found from any working
//! directory, `sla_clock` reads the file it is given (stdin only with `-` or
//! when piped), `--help` never reads stdin, a byte order mark is skipped, a
//! timestamp without an offset is named as such, and every ignored alert is
//! reported with its reason.
//!
//! Stdin is always a pipe holding text that is not JSON, so an example that
//! read stdin when it should not fails instead of waiting.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

use common::{Scratch, example, manifest_dir};

/// Runs an example in `cwd` with `stdin` piped to it; returns (success, stdout, stderr).
fn run_in(cwd: &Path, name: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(example(name))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run example {name}: {e}"));
    if let Some(mut pipe) = child.stdin.take() {
        // The example may exit without reading: a broken pipe is expected then.
        let _ = pipe.write_all(stdin.as_bytes());
    }
    let Output { status, stdout, stderr } =
        child.wait_with_output().unwrap_or_else(|e| panic!("cannot wait for example {name}: {e}"));
    (status.success(), String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

const NOT_JSON: &str = "this is stdin, not JSON\n";

fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected `{needle}` in:\n{text}");
}

#[test]
fn alert_storm_finds_its_bundled_input_from_any_directory() {
    let elsewhere = Scratch::new("alert-storm");
    let root = manifest_dir().parent().map(Path::to_path_buf).unwrap_or_else(manifest_dir);
    for cwd in [root.as_path(), elsewhere.0.as_path()] {
        let (ok, out, err) = run_in(cwd, "alert_storm", &[], NOT_JSON);
        assert!(ok, "alert_storm from {}:\n{out}\n{err}", cwd.display());
        assert_contains(&out, "alerts received: 48");
        assert_contains(&out, "incidents opened: 7");
    }
    // An explicit relative path is still relative to the working directory.
    let (ok, _, err) = run_in(elsewhere.0.as_path(), "alert_storm", &["--input", "alert_storm.jsonl"], NOT_JSON);
    assert!(!ok);
    assert_contains(&err, "cannot read alert_storm.jsonl");
}

#[test]
fn sla_clock_reads_the_file_it_is_given_and_stdin_only_when_asked() {
    let elsewhere = Scratch::new("sla-clock");
    let input = manifest_dir().join("sla_clock_input.json");
    let input = input.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", input.display()));
    let text = std::fs::read_to_string(input).unwrap_or_else(|e| panic!("{input}: {e}"));

    // A file argument: stdin (not JSON) is left alone.
    let (ok, from_file, err) = run_in(&elsewhere.0, "sla_clock", &[input], NOT_JSON);
    assert!(ok, "{err}");
    let clocks: serde_json::Value = serde_json::from_str(&from_file).unwrap_or_else(|e| panic!("{e}:\n{from_file}"));
    assert!(clocks.as_array().is_some_and(|a| !a.is_empty()), "{from_file}");

    // `-` and a piped stdin without an argument read stdin.
    for args in [&["-"][..], &[]] {
        let (ok, out, err) = run_in(&elsewhere.0, "sla_clock", args, &text);
        assert!(ok, "{args:?}: {err}");
        assert_eq!(out, from_file, "{args:?}");
    }
    let (ok, _, err) = run_in(&elsewhere.0, "sla_clock", &["-"], NOT_JSON);
    assert!(!ok);
    assert_contains(&err, "sla_clock: stdin: sla_clock input: invalid JSON at line 1");

    // --help prints help and exits without touching stdin.
    let (ok, help, err) = run_in(&elsewhere.0, "sla_clock", &["--help"], NOT_JSON);
    assert!(ok, "{err}");
    assert_contains(&help, "Usage: sla_clock");
    assert_contains(&help, "[INPUT]");
    assert_contains(&help, "Prints an incident's SLA clocks as JSON");

    // A missing file is named.
    let (ok, _, err) = run_in(&elsewhere.0, "sla_clock", &["missing.json"], NOT_JSON);
    assert!(!ok);
    assert_contains(&err, "cannot read missing.json");
}

#[test]
fn a_byte_order_mark_is_skipped_and_a_missing_offset_is_named() {
    let scratch = Scratch::new("bom");
    let text = std::fs::read_to_string(manifest_dir().join("sla_clock_input.json")).unwrap_or_default();
    let bom = scratch.path("bom.json");
    std::fs::write(&bom, format!("\u{feff}{text}")).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out, err) = run_in(&scratch.0, "sla_clock", &["bom.json"], NOT_JSON);
    assert!(ok, "{err}");
    assert!(out.trim_start().starts_with('['), "{out}");

    let naive = text.replace("\"now\": \"2026-03-09T09:00:00+01:00\"", "\"now\": \"2026-03-09T09:00:00\"");
    assert_ne!(naive, text, "the bundled input changed: update this test");
    std::fs::write(scratch.path("naive.json"), naive).unwrap_or_else(|e| panic!("{e}"));
    let (ok, _, err) = run_in(&scratch.0, "sla_clock", &["naive.json"], NOT_JSON);
    assert!(!ok);
    assert_contains(&err, "`2026-03-09T09:00:00` has no UTC offset: write it as RFC 3339 with Z or ±hh:mm");

    let alerts = std::fs::read_to_string(manifest_dir().join("alert_storm.jsonl")).unwrap_or_default();
    std::fs::write(scratch.path("bom.jsonl"), format!("\u{feff}{alerts}")).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out, err) = run_in(&scratch.0, "alert_storm", &["--input", "bom.jsonl"], NOT_JSON);
    assert!(ok, "{err}");
    assert_contains(&out, "alerts received: 48");
}

#[test]
fn every_ignored_alert_is_reported_with_its_reason() {
    let scratch = Scratch::new("ignored");
    let alerts = std::fs::read_to_string(manifest_dir().join("alert_storm.jsonl")).unwrap_or_default();
    let far = r#"{"source":"prometheus","alert_id":"end-of-time","object":"db-1","check":"disk_full","severity":"critical","fired_at":"9999-12-31T23:30:00Z"}"#;
    std::fs::write(scratch.path("far.jsonl"), format!("{alerts}{far}\n")).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out, err) = run_in(&scratch.0, "alert_storm", &["--input", "far.jsonl"], NOT_JSON);
    // Refused at ingestion: the incidents opened are all resolved.
    assert!(ok, "{out}\n{err}");
    for line in [
        "alerts received: 49",
        "incidents opened: 7",
        "ignored: 2",
        "  ignored as invalid: 1",
        "  ignored prometheus:end-of-time: invalid: alert fired_at 9999-12-31T23:30:00.000000Z is outside the \
         supported range 1000-01-01T00:00:00.000000Z to 9000-01-01T00:00:00.000000Z",
        "incidents resolved: 7",
    ] {
        assert_contains(&out, line);
    }
    let reasons = out.lines().filter(|l| l.starts_with("  ignored as ")).count();
    let listed = out.lines().filter(|l| l.starts_with("  ignored ") && !l.starts_with("  ignored as ")).count();
    assert_eq!((reasons >= 1, listed), (true, 2), "{out}");
}
