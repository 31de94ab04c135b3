//! The interchange CSV importer.

use itsm_core::vocabulary::{ChangeOutcome, DetectionSource, FailureClass, Priority, Remediation};
use itsm_metrics::import::{self, ImportError};

#[test]
fn incidents_are_read_with_defaults_and_unknown_columns_are_listed_once() {
    let csv = "\
service,id,kind,opened_at,priority,impact,urgency,ticket_url,resolved_at,category,failure_class,outage,major,extra
payments,INC1,production,2026-03-08T02:30:00-05:00,2,,,http://x,2026-03-08T09:00:00Z,db,ci,true,true,
payments,INC2,security,2026-03-09T00:00:00Z,,1,1,,,,,,,
payments,INC3,desktop,2026-03-09T00:00:00Z,,1,,,,,,,,
\"pay, ments\",INC4,service_request,2026-03-09T00:00:00Z,,,,,,,,,,
";
    let (records, report) = import::read_incidents("incidents.csv", csv.as_bytes()).unwrap();
    assert_eq!((report.accepted, report.rejected), (4, 0), "{:?}", report.errors);
    assert_eq!(report.warnings, vec!["incidents.csv: unknown columns ignored: ticket_url, extra".to_owned()]);
    let a = &records[0];
    assert_eq!(a.opened_at.to_rfc3339(), "2026-03-08T07:30:00.000000Z");
    assert_eq!(a.impact_start, a.opened_at);
    assert_eq!(a.restored_at, None);
    assert_eq!(a.restore_instant(), a.resolved_at);
    assert_eq!(a.priority, Priority::P2);
    assert_eq!(a.detected_by, DetectionSource::User);
    assert_eq!(a.failure_class, FailureClass::Ci);
    assert!(a.outage && a.major);
    assert_eq!(a.category.as_deref(), Some("db"));
    // Derived priorities: 1 x 1 -> P1; impact 1 with empty urgency (medium) -> P2; both empty -> P3.
    assert_eq!(records[1].priority, Priority::P1);
    assert_eq!(records[2].priority, Priority::P2);
    assert_eq!(records[3].priority, Priority::P3);
    assert_eq!(records[3].service.as_str(), "pay, ments");
    assert_eq!(records[3].failure_class, FailureClass::Other);
}

#[test]
fn bad_rows_are_reported_with_file_line_column_and_reason() {
    let csv = "\
id,kind,service,opened_at,resolved_at,acknowledged_at,major,reopen_count,priority,restored_at,impact_start
A,production,svc,2026-01-01T00:00:00Z,,,,,,,
B,production,svc,yesterday,,,,,,,
C,production,svc,2026-01-02T00:00:00Z,2026-01-01T00:00:00Z,,,,,,
D,outage,svc,2026-01-01T00:00:00Z,,,maybe,-1,9,,
A,production,svc,2026-01-01T00:00:00Z,,,,,,,
E,production,,2026-01-01T00:00:00Z,,,,,,,
F,production,svc,2026-01-01T00:00:00Z
G,production,svc,2026-01-02T00:00:00Z,,2026-01-01T00:00:00Z,,,,,
H,production,svc,2026-01-02T00:00:00Z,,,,,,2026-01-01T23:00:00Z,2026-01-02T00:00:00Z
I,production,svc,2026-01-02T00:00:00Z,,,,,,,
";
    let mut rows = import::incidents("incidents.csv", csv.as_bytes()).unwrap();
    // Records come out one at a time.
    assert!(rows.next().unwrap().is_ok());
    assert_eq!(rows.report().accepted, 1);
    let rest: Vec<_> = rows.by_ref().collect();
    assert_eq!(rest.len(), 9);
    let report = rows.into_report();
    assert_eq!((report.accepted, report.rejected), (2, 8));
    let lines: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
    let expect = [
        "incidents.csv:3: column opened_at: `yesterday` is not an RFC 3339 timestamp with an offset",
        "incidents.csv:4: column resolved_at: resolved_at (2026-01-01T00:00:00.000000Z) is before opened_at (2026-01-02T00:00:00.000000Z)",
        "incidents.csv:5: column kind: `outage` is not one of production, business, security, desktop, service_request",
        "incidents.csv:5: column priority: `9` is not one of 1, 2, 3, 4, 5",
        "incidents.csv:5: column major: `maybe` is not one of true, false",
        "incidents.csv:5: column reopen_count: `-1` is not a non-negative integer",
        "incidents.csv:6: column id: duplicate id `A`, first accepted on line 2",
        "incidents.csv:7: column service: required value is empty",
        "incidents.csv:8: row has 4 fields, the header has 11",
        "incidents.csv:9: column acknowledged_at: acknowledged_at (2026-01-01T00:00:00.000000Z) is before opened_at (2026-01-02T00:00:00.000000Z)",
        "incidents.csv:10: column restored_at: restored_at (2026-01-01T23:00:00.000000Z) is before impact_start (2026-01-02T00:00:00.000000Z)",
    ];
    for e in expect {
        assert!(lines.iter().any(|l| l == e), "missing `{e}` in {lines:#?}");
    }
    assert_eq!(report.errors.len(), expect.len(), "{lines:#?}");
}

#[test]
fn missing_or_repeated_columns_are_fatal() {
    let err = import::read_incidents("i.csv", "id,kind,opened_at\nA,production,2026-01-01T00:00:00Z\n".as_bytes())
        .unwrap_err();
    assert_eq!(err, ImportError::MissingColumn { file: "i.csv".into(), column: "service".into() });
    assert_eq!(err.to_string(), "i.csv: required column `service` is missing");
    let err = import::read_outages("o.csv", "service,start,end,start\n".as_bytes()).unwrap_err();
    assert_eq!(err, ImportError::DuplicateColumn { file: "o.csv".into(), column: "start".into() });
    // Header names are exact lower-case.
    assert!(import::read_outages("o.csv", "Service,start,end\n".as_bytes()).is_err());
}

#[test]
fn changes_follow_outcome_and_timestamp_rules() {
    let csv = "\
id,type,service,started_at,completed_at,outcome,remediation,planned_start,planned_end
C1,normal,svc,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,successful,,,
C2,emergency,svc,,,cancelled,,,
C3,standard,svc,2026-01-01T10:00:00Z,,failed,rolled_back,,
C4,normal,svc,2026-01-01T12:00:00Z,2026-01-01T11:00:00Z,successful_with_issues,,,
C5,normal,svc,,2026-01-01T11:00:00Z,failed,rollback_failed,2026-01-02T00:00:00Z,2026-01-01T00:00:00Z
C6,planned,svc,,2026-01-01T11:00:00Z,done,undo,,
";
    let (records, report) = import::read_changes("changes.csv", csv.as_bytes()).unwrap();
    assert_eq!((report.accepted, report.rejected), (2, 4));
    assert_eq!(records[0].outcome, Some(ChangeOutcome::Successful));
    assert_eq!(records[0].remediation, Remediation::None);
    assert!(records[0].implemented());
    assert_eq!(records[1].outcome, None);
    assert!(!records[1].implemented());
    let lines: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
    assert!(lines.contains(&"changes.csv:4: column completed_at: required when outcome is failed".to_owned()));
    assert!(lines.iter().any(|l| l.starts_with("changes.csv:5: column completed_at: completed_at (")));
    assert!(lines.iter().any(|l| l.starts_with("changes.csv:6: column planned_end: planned_end (")));
    assert!(lines.iter().any(|l| l.starts_with("changes.csv:7: column type: `planned` is not one of")));
    assert!(lines.iter().any(|l| l.starts_with("changes.csv:7: column outcome: `done`")));
    assert!(lines.iter().any(|l| l.starts_with("changes.csv:7: column remediation: `undo`")));
}

#[test]
fn outages_need_end_after_start() {
    let csv = "\
service,start,end,planned
svc,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,
svc,2026-01-01T10:00:00Z,2026-01-01T10:00:00Z,false
svc,2026-01-01T10:00:00Z,2026-01-01T11:00:00+02:00,true
";
    let (records, report) = import::read_outages("outages.csv", csv.as_bytes()).unwrap();
    assert_eq!((report.accepted, report.rejected), (1, 2));
    assert!(!records[0].planned);
    assert_eq!(report.errors[0].line, 3);
    assert_eq!(report.errors[0].column.as_deref(), Some("end"));
    assert!(report.errors[0].reason.contains("is not after start"));
    assert_eq!(report.errors[1].line, 4);
}

#[test]
fn multi_line_cells_and_invalid_utf8_keep_line_numbers() {
    let mut bytes = b"id,kind,service,opened_at,category\nA,production,svc,2026-01-01T00:00:00Z,\"two\nlines\"\nB,production,svc,2026-01-01T00:00:00Z,".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(b"\nC,production,svc,2026-01-01T00:00:00Z,\n");
    let (records, report) = import::read_incidents("incidents.csv", bytes.as_slice()).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].category.as_deref(), Some("two\nlines"));
    assert_eq!(report.rejected, 1);
    assert_eq!(report.errors[0].to_string(), "incidents.csv:4: column category: not valid UTF-8");
}

#[test]
fn imported_records_feed_a_scorecard() {
    let incidents = "\
id,kind,service,opened_at,resolved_at,caused_by_change,failure_class
I1,production,svc,2026-01-05T00:00:00Z,2026-01-05T02:00:00Z,C2,platform
";
    let changes = "\
id,type,service,completed_at,outcome
C1,normal,svc,2026-01-02T00:00:00Z,successful
C2,normal,svc,2026-01-04T00:00:00Z,successful
";
    let (inc, r1) = import::read_incidents("incidents.csv", incidents.as_bytes()).unwrap();
    let (chg, r2) = import::read_changes("changes.csv", changes.as_bytes()).unwrap();
    assert_eq!((r1.rejected, r2.rejected), (0, 0));
    let config = itsm_metrics::ScorecardConfig::new(
        itsm_core::Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
        itsm_core::Timestamp::parse_rfc3339("2026-02-01T00:00:00Z").unwrap(),
    )
    .unwrap();
    let card = itsm_metrics::compute(config, &itsm_metrics::Thresholds::maturity_model(), &inc, &chg, &[]).unwrap();
    let f = &card.total.changes[1].first_change_failure_rate;
    assert_eq!((f.numerator, f.denominator), (1, 2));
    assert_eq!(card.total.restore_time_by_class[2].stats.mean_seconds, Some(rust_decimal::Decimal::from(7200)));
}

mod fuzz {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Any input: no panic, and every data row is either accepted or rejected.
        #[test]
        fn importer_never_panics_and_counts_every_row(
            body in proptest::collection::vec(
                prop_oneof![
                    Just("A,production,svc,2026-01-01T00:00:00Z,".to_owned()),
                    Just("B,business,svc,2026-01-02T00:00:00+01:00,2026-01-01T00:00:00Z".to_owned()),
                    Just("\"x\"\"y\",security,\"s,v\",2026-01-01T00:00:00Z,2026-01-03T00:00:00Z".to_owned()),
                    "[ -~]{0,40}",
                    "\\PC{0,20}",
                ],
                0..20,
            ),
            raw in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut text = String::from("id,kind,service,opened_at,resolved_at\n");
            for line in &body {
                text.push_str(line);
                text.push('\n');
            }
            let mut bytes = text.into_bytes();
            bytes.extend_from_slice(&raw);
            if let Ok(mut rows) = itsm_metrics::import::incidents("f.csv", bytes.as_slice()) {
                let mut items = 0u64;
                for _ in rows.by_ref() {
                    items += 1;
                }
                let report = rows.into_report();
                prop_assert_eq!(report.accepted + report.rejected, items);
                prop_assert!(report.errors.len() as u64 >= report.rejected);
            }
            let _ = itsm_metrics::import::read_changes("c.csv", raw.as_slice());
            let _ = itsm_metrics::import::read_outages("o.csv", raw.as_slice());
        }
    }
}

#[test]
fn rows_name_the_line_of_each_record_and_the_columns_of_the_header() {
    // A quoted cell spanning two lines (a service name may not hold a line break, so C2 is
    // rejected), a blank line and a bad instant between the good rows.
    let csv = "\
id,type,service,completed_at,outcome
C1,normal,svc,2026-01-01T00:00:00Z,successful
C2,normal,\"two
lines\",2026-01-02T00:00:00Z,failed

C3,normal,svc,not-a-time,successful
C4,standard,svc,2026-01-03T00:00:00Z,successful
";
    let mut rows = import::changes("changes.csv", csv.as_bytes()).unwrap();
    assert_eq!(rows.last_line(), 0);
    assert!(rows.has_column("outcome") && !rows.has_column("remediation"));
    let mut seen = Vec::new();
    while let Some(row) = rows.next() {
        match row {
            Ok(record) => seen.push((record.id.to_string(), rows.last_line())),
            Err(rejected) => seen.push(("rejected".to_owned(), rejected.line)),
        }
    }
    let expected = [("C1", 2), ("rejected", 3), ("rejected", 6), ("C4", 7)];
    assert_eq!(seen, expected.map(|(id, line)| (id.to_owned(), line)));
}

/// Reading in parallel with tiny chunks gives the sequential verdicts: the
/// same rows accepted, the same rows rejected (repeated ids across chunks
/// among them, naming the first line), reported in file order.
#[test]
fn parallel_reading_with_tiny_chunks_gives_the_sequential_verdicts() {
    let mut csv = String::from("id,kind,service,opened_at\r\n");
    for i in 0..400 {
        // Every seventh row repeats an earlier id; every eleventh has a bad instant;
        // every thirteenth has a quoted field over two lines.
        let id = if i % 7 == 6 { format!("I{}", i / 2) } else { format!("I{i}") };
        let opened = if i % 11 == 10 { "soon".to_owned() } else { format!("2026-01-0{}T10:00:00Z", i % 9 + 1) };
        let service = if i % 13 == 12 { "\"svc\nx\"".to_owned() } else { "svc".to_owned() };
        csv.push_str(&format!("{id},production,{service},{opened}\r\n"));
    }
    let (records, report) = import::read_incidents("i.csv", csv.as_bytes()).unwrap();
    let mut sequential: Vec<(u64, String)> = Vec::new();
    let mut rows = import::incidents("i.csv", csv.as_bytes()).unwrap();
    while let Some(row) = rows.next() {
        match row {
            Ok(r) => sequential.push((rows.last_line(), r.id.as_str().to_owned())),
            Err(rejected) => sequential.push((rejected.line, format!("rejected: {}", rejected.errors[0].reason))),
        }
    }
    assert_eq!(records.len() as u64, report.accepted);
    assert!(report.rejected > 40, "{report:?}");
    for threads in [1, 2, 3] {
        for chunk in [16, 64, 333] {
            let rows = import::incidents("i.csv", csv.as_bytes()).unwrap().with_chunk_bytes(chunk);
            let rejected = std::sync::Mutex::new(Vec::new());
            let batches = std::sync::atomic::AtomicUsize::new(0);
            let outcome = rows.par_for_each(
                vec![Vec::new(); threads],
                |seen: &mut Vec<(u64, String)>, batch| {
                    batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    seen.extend(batch.into_iter().map(|(line, r)| (line, r.id.as_str().to_owned())));
                },
                |row: &import::RejectedRow| {
                    rejected.lock().unwrap().push((row.line, format!("rejected: {}", row.errors[0].reason)));
                },
            );
            assert_eq!((outcome.report.accepted, outcome.report.rejected), (report.accepted, report.rejected));
            // The file really was split: about one chunk per `chunk` bytes.
            let batches = batches.into_inner();
            // (a chunk holds whole rows of about 40 bytes, so at least one row)
            let expected = csv.len() / (chunk + 80) / 2;
            assert!(batches > 1 && batches >= expected, "{batches} chunks of {chunk} bytes for {} bytes", csv.len());
            let rejected = rejected.into_inner().unwrap();
            let lines: Vec<u64> = rejected.iter().map(|r| r.0).collect();
            let in_order = lines.windows(2).all(|w| w[0] < w[1]);
            assert!(in_order, "rejected rows reported out of file order with {threads} threads, {chunk}-byte chunks");
            let mut all: Vec<(u64, String)> = outcome.states.into_iter().flatten().chain(rejected).collect();
            all.sort();
            assert_eq!(all, sequential, "{threads} threads, {chunk}-byte chunks");
        }
    }
}
