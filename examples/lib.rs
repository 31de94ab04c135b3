//! Shared helpers for the example binaries: the simulated quarter, loading
//! metrics records from a store, replaying imported records, and the real-data
//! replays, kept here so tests can run them on small inputs.

pub mod bpic2014;
pub mod db;
pub mod interchange;
pub mod monitoring;
pub mod portal;
pub mod records;
pub mod replay_records;
pub mod servicenow;
pub mod simulate;

/// Runs an example's async body on a multi-threaded tokio runtime and turns
/// its outcome into the process exit code (errors go to stderr, prefixed with
/// the example's name).
pub fn run_main<F>(name: &str, body: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<(), String>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(body) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The repository README; its embedding example runs as a doctest.
#[doc = include_str!("../README.md")]
pub mod readme {}
