//! Writes an interchange export (`incidents.csv`, `changes.csv`,
//! `outages.csv`) of N incidents and M changes with realistic distributions,
//! for benchmarks and tests of the import path.
//!
//! ```sh
//! cargo run --release --example gen_interchange -- --incidents 1000000 --changes 250000 --out /tmp/export
//! cargo run --release --example scorecard -- --incidents /tmp/export/incidents.csv \
//!   --changes /tmp/export/changes.csv --outages /tmp/export/outages.csv --from 2026-01-01 --to 2027-01-01
//! ```
//!
//! What the export holds (seeded, so the same arguments give the same files):
//! - 50 services of unequal size, 12 categories, the five incident kinds;
//! - priorities given directly or as impact x urgency; detection by users,
//!   the service desk, monitoring and automation; resolution tiers;
//! - resolution times by priority (log-normal around 2 h for P1 to 3 days for
//!   P5), zero-length incidents (about 0.5%), reopen counts, major incidents;
//! - facts recorded in every order the format allows: an acknowledgement
//!   after the resolution (about 1%), a restore before the acknowledgement, a
//!   restore at the instant of opening, an `impact_start` before opening and
//!   one after it, a restore after the resolution;
//! - open incidents (about 3%), outage incidents (about 4%, some still open
//!   at the end of the period);
//! - changes of the three types with windows, outcomes and remediations, and
//!   `caused_by_change` links from about 3% of incidents;
//! - planned and unplanned outages in `outages.csv`.
//!
//! The files are written into `--out`, which must not hold them already
//! (`--force` replaces the three files, nothing else).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use itsm_core::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Interchange export generator.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Incidents to write.
    #[arg(long, default_value_t = 10_000)]
    incidents: usize,
    /// Changes to write.
    #[arg(long, default_value_t = 2_500)]
    changes: usize,
    /// Directory to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Start of the period the records fall in (RFC 3339).
    #[arg(long, default_value = "2026-01-01T00:00:00Z")]
    from: String,
    /// End of the period (RFC 3339).
    #[arg(long, default_value = "2027-01-01T00:00:00Z")]
    to: String,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Replace incidents.csv, changes.csv and outages.csv if they exist.
    #[arg(long)]
    force: bool,
}

const SERVICES: usize = 50;
const CATEGORIES: &[&str] = &[
    "network", "database", "auth", "storage", "app", "dns", "batch", "email", "vpn", "printing", "payments", "search",
];
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

fn service(rng: &mut StdRng) -> String {
    // Unequal sizes: the first services take most incidents.
    let u: f64 = rng.random();
    format!("svc-{:02}", ((u * u) * SERVICES as f64) as usize)
}

fn pick<'a>(rng: &mut StdRng, weighted: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = weighted.iter().map(|w| w.1).sum();
    let mut x = rng.random_range(0..total);
    for (v, w) in weighted {
        if x < *w {
            return v;
        }
        x -= w;
    }
    weighted[0].0
}

/// A log-normal duration in seconds around `median`.
fn lognormal(rng: &mut StdRng, median: f64, sigma: f64) -> i64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (median * (sigma * z).exp()).clamp(1.0, 120.0 * DAY as f64) as i64
}

fn ts(secs: i64) -> String {
    Timestamp::from_unix_secs(secs).map(|t| t.to_rfc3339()).unwrap_or_default()
}

fn opt(t: Option<i64>) -> String {
    t.map(ts).unwrap_or_default()
}

struct Change {
    id: String,
    failed: bool,
    implemented: bool,
}

fn write_changes(rng: &mut StdRng, n: usize, from: i64, to: i64, out: &mut impl Write) -> std::io::Result<Vec<Change>> {
    writeln!(
        out,
        "id,type,service,requested_at,planned_start,planned_end,started_at,completed_at,outcome,remediation"
    )?;
    let mut changes = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("CHG-{i:07}");
        let kind = pick(rng, &[("standard", 50), ("normal", 40), ("emergency", 10)]);
        let requested = rng.random_range(from - 10 * DAY..to);
        let (planned_start, started) = if kind == "emergency" {
            let s = requested + rng.random_range(0..2 * HOUR);
            (s, s)
        } else {
            let s = requested + rng.random_range(DAY..7 * DAY);
            (s, s + rng.random_range(-10 * 60..20 * 60))
        };
        let planned_end = planned_start + rng.random_range(1..5) * HOUR;
        let outcome = pick(rng, &[("successful", 88), ("successful_with_issues", 5), ("failed", 4), ("cancelled", 3)]);
        let remediation = match outcome {
            "failed" => pick(rng, &[("rolled_back", 70), ("rollback_failed", 10), ("fixed_forward", 20)]),
            "successful_with_issues" => pick(rng, &[("none", 70), ("fixed_forward", 30)]),
            _ => "none",
        };
        let implemented = outcome != "cancelled";
        let (started_at, completed_at) =
            if implemented { (Some(started), Some(started + lognormal(rng, 45.0 * 60.0, 0.6))) } else { (None, None) };
        let svc = service(rng);
        writeln!(
            out,
            "{id},{kind},{svc},{},{},{},{},{},{outcome},{remediation}",
            ts(requested),
            ts(planned_start),
            ts(planned_end),
            opt(started_at),
            opt(completed_at)
        )?;
        changes.push(Change { id, failed: outcome == "failed" || remediation != "none", implemented });
    }
    Ok(changes)
}

fn write_incidents(
    rng: &mut StdRng,
    n: usize,
    from: i64,
    to: i64,
    changes: &[Change],
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "id,kind,service,category,priority,impact,urgency,detected_by,opened_at,acknowledged_at,impact_start,restored_at,resolved_at,closed_at,resolved_by,major,reopen_count,caused_by_change,problem_id,failure_class,outage"
    )?;
    let failed: Vec<&Change> = changes.iter().filter(|c| c.failed && c.implemented).collect();
    let any: Vec<&Change> = changes.iter().filter(|c| c.implemented).collect();
    for i in 0..n {
        let kind = pick(
            rng,
            &[("production", 60), ("business", 15), ("security", 5), ("desktop", 10), ("service_request", 10)],
        );
        let svc = service(rng);
        let category = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
        let p: u8 = pick(rng, &[("1", 2), ("2", 8), ("3", 40), ("4", 35), ("5", 15)]).parse().unwrap_or(3);
        // Half the rows give the priority, the others impact x urgency.
        let (priority, impact, urgency) = if rng.random_bool(0.5) {
            (p.to_string(), String::new(), String::new())
        } else {
            (String::new(), rng.random_range(1..=3u8).to_string(), rng.random_range(1..=3u8).to_string())
        };
        let detected = pick(rng, &[("monitoring", 35), ("user", 45), ("service_desk", 15), ("automation", 5)]);
        let opened = rng.random_range(from - 30 * DAY..to);
        let median = [2.0 * HOUR as f64, 8.0 * HOUR as f64, 20.0 * HOUR as f64, 40.0 * HOUR as f64, 72.0 * HOUR as f64]
            [usize::from(p - 1)];
        let zero_length = rng.random_bool(0.005);
        // Outages are restored within hours; one still open at the end of the period is rare and recent.
        let outage = kind == "production" && (p <= 2 || rng.random_bool(0.03)) && rng.random_bool(0.5);
        let open_incident =
            !zero_length && if outage { opened > to - 3 * DAY && rng.random_bool(0.3) } else { rng.random_bool(0.03) };
        let resolve_after = match (zero_length, outage) {
            (true, _) => 0,
            (false, true) => lognormal(rng, 2.0 * HOUR as f64, 0.8).min(3 * DAY),
            (false, false) => lognormal(rng, median, 1.0),
        };
        let resolved = (!open_incident).then_some(opened + resolve_after);
        let mut impact_start = None;
        let roll: f64 = rng.random();
        if roll < 0.10 {
            impact_start = Some(opened - rng.random_range(60..HOUR));
        } else if roll < 0.13 && resolve_after > 600 {
            // Impact began after the incident was registered.
            impact_start = Some(opened + rng.random_range(1..resolve_after.min(HOUR)));
        }
        let start = impact_start.unwrap_or(opened);
        let mut acknowledged = (rng.random_bool(0.9) && !zero_length)
            .then(|| opened + lognormal(rng, 15.0 * 60.0, 0.8).min(resolve_after.max(1)));
        let mut restored = None;
        let roll: f64 = rng.random();
        if let Some(res) = resolved {
            if roll < 0.01 {
                // Acknowledgement recorded after the resolution (auto-resolved, logged late).
                acknowledged = Some(res + rng.random_range(1..30 * 60));
            } else if roll < 0.31 && res > start {
                restored = Some(rng.random_range(start..=res));
            } else if roll < 0.32 && impact_start.is_none() {
                // Restored at the very instant of opening.
                restored = Some(opened);
            } else if roll < 0.33 {
                // Restore recorded after the resolution.
                restored = Some(res.max(start) + rng.random_range(1..HOUR));
            }
        } else if roll < 0.2 {
            // Service restored, incident still open.
            restored = Some(start + rng.random_range(1..DAY));
        }
        if let (Some(a), Some(r)) = (acknowledged, restored)
            && rng.random_bool(0.1)
            && r > opened
        {
            // A restore before the acknowledgement.
            acknowledged = Some(r + rng.random_range(1..HOUR));
            let _ = a;
        }
        let closed = resolved.filter(|_| rng.random_bool(0.85)).map(|r| r + rng.random_range(DAY..5 * DAY));
        let resolved_by = resolved
            .map(|_| pick(rng, &[("l1", 40), ("l2", 30), ("l3", 15), ("automation", 10), ("vendor", 5)]))
            .unwrap_or("");
        let major = p <= 2 && rng.random_bool(0.05);
        let reopen = pick(rng, &[("0", 94), ("1", 5), ("2", 1)]);
        let cause = if rng.random_bool(0.03) {
            let pool = if rng.random_bool(0.7) && !failed.is_empty() { &failed } else { &any };
            if pool.is_empty() { "" } else { pool[rng.random_range(0..pool.len())].id.as_str() }
        } else {
            ""
        };
        let problem =
            if rng.random_bool(0.05) { format!("PRB-{:05}", rng.random_range(0..5_000)) } else { String::new() };
        let class = pick(rng, &[("ci", 10), ("cd", 10), ("platform", 20), ("", 60)]);
        writeln!(
            out,
            "INC-{i:08},{kind},{svc},{category},{priority},{impact},{urgency},{detected},{},{},{},{},{},{},{resolved_by},{major},{reopen},{cause},{problem},{class},{outage}",
            ts(opened),
            opt(acknowledged),
            opt(impact_start),
            opt(restored),
            opt(resolved),
            opt(closed),
        )?;
    }
    Ok(())
}

fn write_outages(rng: &mut StdRng, from: i64, to: i64, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "service,start,end,planned")?;
    let months = ((to - from) / (30 * DAY)).max(1);
    for s in 0..SERVICES {
        for _ in 0..months * 2 {
            let start = rng.random_range(from..to);
            let planned = rng.random_bool(0.2);
            let end = start + lognormal(rng, 40.0 * 60.0, 0.8).max(1);
            writeln!(out, "svc-{s:02},{},{},{planned}", ts(start), ts(end))?;
        }
    }
    Ok(())
}

fn run(args: Args) -> Result<(), String> {
    let parse = |t: &str| Timestamp::parse_rfc3339(t).map(|t| t.unix_secs()).map_err(|e| format!("`{t}`: {e}"));
    let (from, to) = (parse(&args.from)?, parse(&args.to)?);
    if from >= to {
        return Err(format!("--from {} is not before --to {}", args.from, args.to));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let create = |name: &str| {
        let path = args.out.join(name);
        if path.exists() && !args.force {
            return Err(format!("{} exists (use --force to replace the generated files)", path.display()));
        }
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((path, std::io::BufWriter::with_capacity(1 << 20, file)))
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let (cp, mut cw) = create("changes.csv")?;
    let changes =
        write_changes(&mut rng, args.changes, from, to, &mut cw).map_err(|e| format!("{}: {e}", cp.display()))?;
    cw.flush().map_err(|e| format!("{}: {e}", cp.display()))?;
    let (ip, mut iw) = create("incidents.csv")?;
    write_incidents(&mut rng, args.incidents, from, to, &changes, &mut iw)
        .map_err(|e| format!("{}: {e}", ip.display()))?;
    iw.flush().map_err(|e| format!("{}: {e}", ip.display()))?;
    let (op, mut ow) = create("outages.csv")?;
    write_outages(&mut rng, from, to, &mut ow).map_err(|e| format!("{}: {e}", op.display()))?;
    ow.flush().map_err(|e| format!("{}: {e}", op.display()))?;
    eprintln!("wrote {} incidents, {} changes and outages into {}", args.incidents, args.changes, args.out.display());
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_interchange: {e}");
            ExitCode::FAILURE
        }
    }
}
