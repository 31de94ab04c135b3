//! Prints an incident's SLA clocks as JSON.
//!
//! Reads `{"calendar": ..., "policy": ..., "events": [...], "now": "..."}`
//! (the policy may be left out for the default one) from the file named on the
//! command line, from stdin with `-`, and, without an argument, from stdin
//! when it is not a terminal or else from the bundled
//! `examples/sla_clock_input.json` (found from any working directory). Prints
//! the clocks, as `itsm_core::sla::clocks` computes them, as pretty JSON on
//! stdout. A leading UTF-8 byte order mark is skipped. Bad input is reported on
//! stderr with a non-zero exit status (2 for unreadable or invalid input, 1 when
//! the history is refused).
//!
//! ```text
//! cargo run -q -p itsm-examples --example sla_clock -- examples/sla_clock_input.json
//! cargo run -q -p itsm-examples --example sla_clock < examples/sla_clock_input.json
//! cargo run -q -p itsm-examples --example sla_clock -- --help
//! ```

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use itsm_core::Timestamp;
use itsm_core::calendar::Calendar;
use itsm_core::json::from_json;
use itsm_core::sla::{SlaEvent, SlaPolicy, clocks};
use serde::Deserialize;

/// Prints an incident's SLA clocks as JSON, computed from its history.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// JSON file with `calendar`, `policy` (optional), `events` and `now`; `-` reads stdin.
    /// Without it: stdin when stdin is not a terminal, else the bundled
    /// examples/sla_clock_input.json.
    input: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    calendar: Calendar,
    #[serde(default)]
    policy: SlaPolicy,
    events: Vec<SlaEvent>,
    now: Timestamp,
}

/// The bundled example input, wherever the example is run from.
fn bundled_input() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sla_clock_input.json")
}

/// The input text and the name to report it by.
fn read_input(input: Option<PathBuf>) -> Result<(String, String), String> {
    let path = match input {
        Some(path) if path.as_os_str() == "-" => None,
        Some(path) => Some(path),
        None if std::io::stdin().is_terminal() => Some(bundled_input()),
        None => None,
    };
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Ok((text, path.display().to_string()))
        }
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read stdin: {e}"))?;
            Ok((text, "stdin".to_owned()))
        }
    }
}

fn run(args: Args) -> Result<String, (u8, String)> {
    let (text, name) = read_input(args.input).map_err(|e| (2, e))?;
    let input: Input = from_json("sla_clock input", &text).map_err(|e| (2, format!("{name}: {e}")))?;
    let clocks = clocks(&input.events, &input.policy, &input.calendar, input.now).map_err(|e| (1, e.to_string()))?;
    serde_json::to_string_pretty(&clocks).map_err(|e| (1, format!("cannot write JSON: {e}")))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("sla_clock: {message}");
            ExitCode::from(code)
        }
    }
}
