//! Prints an incident's SLA clocks as JSON.
//!
//! Reads `{"calendar": ..., "policy": ..., "events": [...], "now": "..."}` on
//! stdin (the policy may be left out for the default one) and prints the
//! clocks, as `itsm_core::sla::clocks` computes them, as pretty JSON on stdout.
//! Bad input is reported on stderr with a non-zero exit status.
//!
//! ```text
//! cargo run -q -p itsm-examples --example sla_clock < examples/sla_clock_input.json
//! ```

use std::io::Read;
use std::process::ExitCode;

use itsm_core::Timestamp;
use itsm_core::calendar::Calendar;
use itsm_core::sla::{SlaEvent, SlaPolicy, clocks};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    calendar: Calendar,
    #[serde(default)]
    policy: SlaPolicy,
    events: Vec<SlaEvent>,
    now: Timestamp,
}

fn run() -> Result<String, (u8, String)> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| (2, format!("cannot read stdin: {e}")))?;
    let input: Input = serde_json::from_str(&text).map_err(|e| (2, format!("invalid input: {e}")))?;
    let clocks = clocks(&input.events, &input.policy, &input.calendar, input.now).map_err(|e| (1, e.to_string()))?;
    serde_json::to_string_pretty(&clocks).map_err(|e| (1, format!("cannot write JSON: {e}")))
}

fn main() -> ExitCode {
    match run() {
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
