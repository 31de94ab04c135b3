//! The import path's structural errors through the example binaries: the
//! scorecard's exit statuses (0 every row counted, 3 rows rejected with the
//! report still written, 1 fatal with nothing written, 2 bad arguments), an
//! unterminated quote that no longer swallows the rows after it, physical
//! line numbers, and truncated or bit-flipped gzip files, which are fatal
//! for every importer and leave nothing written.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{Scratch, example};

/// Runs an example: (exit code, stdout, stderr).
fn run(name: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(example(name))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const HEADER: &str = "id,kind,service,category,opened_at,resolved_at,outage";

fn rows(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!("I{i},production,svc,db,2026-01-0{}T10:00:00Z,2026-01-0{}T12:00:00Z,false\n", i % 9 + 1, i % 9 + 1)
        })
        .collect()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A truncated and a bit-flipped copy of a gzip file.
fn damaged(packed: &[u8]) -> [(&'static str, Vec<u8>); 2] {
    let mut flipped = packed.to_vec();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x04;
    [("truncated", packed[..packed.len() * 2 / 3].to_vec()), ("bit-flipped", flipped)]
}

const PERIOD: [&str; 4] = ["--from", "2026-01-01", "--to", "2026-02-01"];

fn scorecard(incidents: &Path, out: &Path) -> (i32, String, String) {
    let mut args = vec!["--incidents", s(incidents), "--out", s(out)];
    args.extend(PERIOD);
    run("scorecard", &args)
}

#[test]
fn exit_status_tells_whether_the_report_covers_all_rows() {
    let dir = Scratch::new("exit");
    let good = dir.path("good.csv");
    std::fs::write(&good, format!("{HEADER}\n{}", rows(20))).unwrap();
    let out = dir.path("card.txt");
    let (code, _, err) = scorecard(&good, &out);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("20 rows read: 20 accepted, 0 rejected; 20 replayed"), "{err}");
    assert!(out.is_file());

    // A rejected row: the report is still written, exit 3, the row named by its physical line.
    let bad = dir.path("bad.csv");
    std::fs::write(&bad, format!("{HEADER}\n{}I99,production,svc,db,yesterday,,false\n", rows(3))).unwrap();
    let out = dir.path("partial.txt");
    let (code, _, err) = scorecard(&bad, &out);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("bad.csv:5: column opened_at: `yesterday`"), "{err}");
    assert!(err.contains("4 rows read: 3 accepted, 1 rejected; 3 replayed"), "{err}");
    assert!(out.is_file(), "the report of the accepted rows is written");

    // Fatal: a missing required column; nothing written.
    let broken = dir.path("broken.csv");
    std::fs::write(&broken, "id,kind\nI1,production\n").unwrap();
    let out = dir.path("none.txt");
    let (code, _, err) = scorecard(&broken, &out);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("required column `service` is missing"), "{err}");
    assert!(!out.exists());

    // An empty file is named as such.
    let empty = dir.path("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let (code, _, err) = scorecard(&empty, &out);
    assert_eq!(code, 1);
    assert!(err.contains("the file is empty"), "{err}");

    // Bad arguments.
    let (code, _, _) = run("scorecard", &["--no-such-flag"]);
    assert_eq!(code, 2);
}

#[test]
fn an_unterminated_quote_swallows_nothing_in_the_first_a_middle_and_the_last_column() {
    let dir = Scratch::new("quote");
    // (the row with the stray quote, the column named)
    let cases = [
        ("\"I5,production,svc,db,2026-01-02T10:00:00Z,,false", "id"),
        ("I5,production,\"svc,db,2026-01-02T10:00:00Z,,false", "service"),
        ("I5,production,svc,db,2026-01-02T10:00:00Z,,\"false", "outage"),
    ];
    for (row, column) in cases {
        let csv = format!("{HEADER}\n{}{row}\n{}", rows(3), rows(40).replace("I", "J"));
        let path = dir.path("quote.csv");
        std::fs::write(&path, csv).unwrap();
        let out = dir.path("q.txt");
        let (code, _, err) = scorecard(&path, &out);
        assert_eq!(code, 3, "{err}");
        assert!(
            err.contains(&format!("quote.csv:5: column {column}: unterminated quote: the quote opened on line 5")),
            "{column}: {err}"
        );
        assert!(err.contains("over 40 more line(s)"), "{err}");
        assert!(err.contains("reading resumes on line 6"), "{err}");
        // Every row after it still counts.
        assert!(err.contains("44 rows read: 43 accepted, 1 rejected; 43 replayed"), "{column}: {err}");
    }
}

#[test]
fn line_numbers_are_physical_for_lf_crlf_and_embedded_newlines() {
    let dir = Scratch::new("lines");
    let bad = "B,production,svc,db,never,,false";
    for (name, eol) in [("lf", "\n"), ("crlf", "\r\n")] {
        let csv = [
            HEADER,
            "A,production,svc,\"two",
            "lines\",2026-01-02T10:00:00Z,,false",
            "",
            bad,
            "C,production,svc,db,2026-01-02T10:00:00Z,,false",
        ]
        .join(eol);
        let path = dir.path(&format!("{name}.csv"));
        std::fs::write(&path, csv).unwrap();
        let (code, _, err) = scorecard(&path, &dir.path("l.txt"));
        assert_eq!(code, 3, "{err}");
        assert!(err.contains(&format!("{name}.csv:5: column opened_at: `never`")), "{name}: {err}");
    }
}

#[test]
fn damaged_gzip_is_fatal_for_the_scorecard_and_nothing_is_written() {
    let dir = Scratch::new("gz-scorecard");
    let packed = gz(format!("{HEADER}\n{}", rows(30_000)).as_bytes());
    let good = dir.path("good.csv.gz");
    std::fs::write(&good, &packed).unwrap();
    let (code, _, err) = scorecard(&good, &dir.path("ok.txt"));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("30000 rows read: 30000 accepted"), "{err}");
    for (what, bytes) in damaged(&packed) {
        let path = dir.path(&format!("{what}.csv.gz"));
        std::fs::write(&path, bytes).unwrap();
        let out = dir.path(&format!("{what}.txt"));
        let (code, _, err) = scorecard(&path, &out);
        assert_eq!(code, 1, "{what}: {err}");
        assert!(err.contains("truncated or corrupt"), "{what}: {err}");
        assert!(!out.exists(), "{what}: a report was written from part of a file");
    }
}

#[test]
fn damaged_gzip_is_fatal_for_replay_servicenow_and_nothing_is_written() {
    let dir = Scratch::new("gz-servicenow");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/uci_incident_event_log_excerpt.csv");
    let text = std::fs::read(&fixture).unwrap();
    let packed = gz(&text);
    for (what, bytes) in damaged(&packed) {
        let path = dir.path(&format!("{what}.csv.gz"));
        std::fs::write(&path, bytes).unwrap();
        let db = dir.path(&format!("{what}.db"));
        let (code, out, err) = run("replay_servicenow", &[s(&path), "--db", s(&db)]);
        assert_ne!(code, 0, "{what}: {out}{err}");
        assert!(err.contains("truncated or corrupt") || err.contains("cannot read the event log"), "{what}: {err}");
        assert!(!db.exists(), "{what}: a database was written from part of a log");
    }
}

#[test]
fn damaged_gzip_is_fatal_for_import_bpic2014_and_nothing_is_written() {
    let dir = Scratch::new("gz-bpic");
    let header = "Incident ID;Status;Priority;Category;KM number;# Reassignments;Open Time;Reopen Time;Resolved Time;Close Time;Closure Code;CI Name (aff);CI Type (aff);Service Component WBS (aff);# Related Interactions;Related Interaction";
    let body: String = (0..30_000)
        .map(|i| {
            format!(
                "IM{i:07};Closed;4;incident;KM0000001;0;7-1-2014 10:00;;7-1-2014 12:00;7-1-2014 12:00;Other;CI1;application;WBS1;1;SD1\r\n"
            )
        })
        .collect();
    let packed = gz(format!("{header}\r\n{body}").as_bytes());
    for (what, bytes) in damaged(&packed) {
        let data = dir.path(what);
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("Detail_Incident.csv.gz"), bytes).unwrap();
        std::fs::write(data.join("Detail_Change.csv.gz"), gz(b"")).unwrap();
        let db = dir.path(&format!("{what}.db"));
        let (code, out, err) = run("import_bpic2014", &[s(&data), "--db", s(&db)]);
        assert_ne!(code, 0, "{what}: {out}{err}");
        assert!(err.contains("truncated or corrupt"), "{what}: {err}");
        assert!(!db.exists(), "{what}: a database was written from part of a file");
    }
}
