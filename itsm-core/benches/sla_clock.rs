//! SLA clock scaling: `clocks` over histories of 10,000 to 300,000 `updated`
//! events, and of as many `new_cycle` reopens, against a linear baseline in the
//! same run (decoding the same history from JSON). Constant time per event and
//! a constant ratio to the baseline mean linear time. Best of `SLA_BENCH_RUNS`
//! runs (default 3).
//!
//! ```text
//! cargo bench -p itsm-core --bench sla_clock
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use itsm_core::Timestamp;
use itsm_core::calendar::Calendar;
use itsm_core::sla::{ReopenPolicy, SlaEvent, SlaPolicy, clocks};
use itsm_core::vocabulary::{IncidentKind, Priority};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_438_400 + secs).expect("in range")
}

/// P1 incident acknowledged at once, then `n` public updates a minute apart.
fn updates(n: i64) -> Vec<SlaEvent> {
    let mut events = vec![
        SlaEvent::Opened { at: at(0), kind: IncidentKind::Production, priority: Priority::P1 },
        SlaEvent::Acknowledged { at: at(0) },
    ];
    events.extend((1..=n).map(|i| SlaEvent::Updated { at: at(60 * i) }));
    events
}

/// P1 incident resolved and reopened `n` times.
fn reopens(n: i64) -> Vec<SlaEvent> {
    let mut events = vec![SlaEvent::Opened { at: at(0), kind: IncidentKind::Production, priority: Priority::P1 }];
    for i in 0..n {
        events.push(SlaEvent::Resolved { at: at(120 * i + 60) });
        events.push(SlaEvent::Reopened { at: at(120 * i + 120) });
    }
    events
}

fn best(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let runs = std::env::var("SLA_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let calendar = Calendar::five_by_eight(chrono_tz::Europe::Berlin);
    println!("| history | events | clocks | per event | decode JSON (baseline) | ratio |");
    println!("|---|---|---|---|---|---|");
    for (name, policy, make) in [
        ("updates", SlaPolicy::default(), updates as fn(i64) -> Vec<SlaEvent>),
        ("new_cycle reopens", SlaPolicy { reopen: ReopenPolicy::NewCycle, ..SlaPolicy::default() }, reopens),
    ] {
        for n in [10_000, 30_000, 100_000, 300_000] {
            let events = make(n);
            let now = events.last().map(SlaEvent::at).expect("not empty");
            let json = serde_json::to_string(&events).expect("encode");
            let time = best(runs, || {
                let result = clocks(black_box(&events), &policy, &calendar, now).expect("clocks");
                black_box(result);
            });
            let baseline = best(runs, || {
                let decoded: Vec<SlaEvent> = serde_json::from_str(black_box(&json)).expect("decode");
                black_box(decoded);
            });
            let per_event = time.as_nanos() / events.len() as u128;
            println!(
                "| {n} {name} | {} | {:.1} ms | {per_event} ns | {:.1} ms | {:.2}x |",
                events.len(),
                time.as_secs_f64() * 1e3,
                baseline.as_secs_f64() * 1e3,
                time.as_secs_f64() / baseline.as_secs_f64()
            );
        }
    }
}
