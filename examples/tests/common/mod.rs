//! Helpers shared by the example-binary tests: scratch directories and
//! finding a built example.

#![allow(dead_code)] // each test binary uses its own part

use std::path::PathBuf;

pub mod portal;

/// A scratch directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new, empty directory named after `name`, this process and the time.
    pub fn new(name: &str) -> Scratch {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("itsm-examples-test-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Scratch(dir)
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The example binary `name`, found by walking up from this test binary
/// (`cargo test` builds the examples into `<target dir>/<profile>/examples/`).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("cannot locate the test binary: {e}"));
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors().skip(1).map(|dir| dir.join("examples").join(&file)).find(|c| c.is_file()).unwrap_or_else(|| {
        panic!(
            "example binary `{file}` not found in an `examples/` directory above {}; build it with `cargo test -p \
             itsm-examples` (which builds the examples) or `cargo build -p itsm-examples --examples`",
            exe.display()
        )
    })
}

/// The examples crate's directory.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How many incidents the monitoring alerts of a scorecard fill opened, from
/// its log line `monitoring: ... opened N incidents; ...`.
/// The alerts the monitoring line says joined a root-cause incident and
/// were suppressed by maintenance.
pub fn root_caused_and_suppressed(log: &str) -> (u64, u64) {
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("monitoring: "))
        .unwrap_or_else(|| panic!("no monitoring line in:\n{log}"));
    let before = |marker: &str| -> u64 {
        line.split(marker)
            .next()
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count before {marker:?} in {line}"))
    };
    (before(" joined the incident of their root cause"), before(" suppressed by maintenance"))
}

pub fn monitored_incidents(log: &str) -> u64 {
    log.lines()
        .find_map(|l| l.strip_prefix("monitoring: "))
        .and_then(|l| l.split(" opened ").nth(1))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no monitoring line in:\n{log}"))
}
