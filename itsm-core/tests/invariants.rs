//! Architecture invariants, checked from `cargo metadata` and the sources:
//! `itsm-core` has no I/O, async runtime or database dependency and never reads
//! the clock; `itsm-metrics` depends on no workspace crate but `itsm-core`;
//! `itsm-store` depends on `itsm-core`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Crates whose presence among itsm-core's normal dependencies would mean I/O
/// or a runtime in the pure domain.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "sqlx",
    "sqlx-core",
    "sqlx-sqlite",
    "sqlx-postgres",
    "tokio",
    "async-std",
    "smol",
    "mio",
    "hyper",
    "reqwest",
    "rusqlite",
    "libsqlite3-sys",
    "postgres",
    "tokio-postgres",
    "diesel",
    "sea-orm",
    "redis",
    "itsm-store",
];

/// The host's target triple (`rustc -vV`).
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = Command::new(rustc).arg("-vV").output().expect("run rustc -vV");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().find_map(|l| l.strip_prefix("host: ")).expect("a host line in rustc -vV").trim().to_owned()
}

/// The dependency graph for the host platform. Offline, and filtered to the
/// host so that packages only other platforms use (never downloaded by a
/// build here) are not needed.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let host = host_triple();
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", host.as_str()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("metadata is JSON")
}

/// Names of the normal (not dev, not build) dependencies of a package.
fn normal_deps(meta: &Value, package: &str) -> Vec<String> {
    let pkg = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == package)
        .unwrap_or_else(|| panic!("package {package} in metadata"));
    pkg["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter(|d| d["kind"].is_null())
        .map(|d| d["name"].as_str().expect("name").to_owned())
        .collect()
}

/// Every package reachable from `package` through normal dependencies.
fn transitive_normal_deps(meta: &Value, package: &str) -> Vec<String> {
    let resolve = meta["resolve"]["nodes"].as_array().expect("resolve graph");
    let id_of = |name: &str| {
        meta["packages"].as_array().expect("packages").iter().find(|p| p["name"] == name).map(|p| p["id"].clone())
    };
    let mut seen = Vec::new();
    let mut todo = vec![id_of(package).expect("root id")];
    while let Some(id) = todo.pop() {
        let node = resolve.iter().find(|n| n["id"] == id).expect("node");
        for dep in node["deps"].as_array().expect("deps") {
            let normal = dep["dep_kinds"].as_array().expect("dep_kinds").iter().any(|k| k["kind"].is_null());
            if normal && !seen.contains(&dep["pkg"]) {
                seen.push(dep["pkg"].clone());
                todo.push(dep["pkg"].clone());
            }
        }
    }
    seen.iter()
        .filter_map(|id| {
            meta["packages"]
                .as_array()
                .expect("packages")
                .iter()
                .find(|p| &p["id"] == id)
                .map(|p| p["name"].as_str().expect("name").to_owned())
        })
        .collect()
}

#[test]
fn core_has_no_io_runtime_or_database_dependency() {
    let meta = metadata();
    let deps = transitive_normal_deps(&meta, "itsm-core");
    for forbidden in FORBIDDEN_IN_CORE {
        assert!(!deps.iter().any(|d| d == forbidden), "itsm-core depends (transitively) on {forbidden}");
    }
    // The graph is the host's; the declared dependencies cover every platform.
    let declared = normal_deps(&meta, "itsm-core");
    for forbidden in FORBIDDEN_IN_CORE {
        assert!(!declared.iter().any(|d| d == forbidden), "itsm-core declares {forbidden} (for some platform)");
    }
    assert!(deps.iter().any(|d| d == "chrono"), "sanity: the dependency walk found chrono");
}

#[test]
fn metrics_depends_on_core_only_and_store_on_core() {
    let meta = metadata();
    let metrics = normal_deps(&meta, "itsm-metrics");
    let workspace: Vec<&String> = metrics.iter().filter(|d| d.starts_with("itsm-")).collect();
    assert_eq!(workspace, vec!["itsm-core"], "itsm-metrics workspace dependencies");
    for forbidden in ["sqlx", "tokio"] {
        assert!(!metrics.iter().any(|d| d == forbidden), "itsm-metrics depends on {forbidden}");
    }
    assert!(normal_deps(&meta, "itsm-store").iter().any(|d| d == "itsm-core"));
}

#[test]
fn core_sources_never_read_the_clock_or_do_io() {
    let forbidden =
        ["Utc::now", "Local::now", "SystemTime", "Instant::now", "std::fs", "std::net", "std::io::stdin", "println!"];
    let mut offenders = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                for word in forbidden {
                    if text.contains(word) {
                        offenders.push(format!("{} uses {word}", path.display()));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// The features `package`'s normal dependency graph turns on for `dep`,
/// resolved for that package alone (`cargo tree -p`), as an embedder that
/// depends on it alone gets them.
fn features_for(package: &str, dep: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--offline", "-p", package, "-e", "features,normal", "-i", dep, "--prefix", "none"])
        .output()
        .expect("run cargo tree");
    assert!(out.status.success(), "cargo tree -p {package} -i {dep}: {}", String::from_utf8_lossy(&out.stderr));
    let prefix = format!("{dep} feature \"");
    let mut features: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str())?.split('"').next().map(str::to_owned))
        .collect();
    features.sort();
    features.dedup();
    features
}

/// What the compiler enforces, not a text scan: itsm-core builds against
/// chrono without `clock` (so `Utc::now()` is a compile error there when the
/// crate is built alone, as `cargo check -p itsm-core` in CI does), and the
/// library crates ask tokio for no runtime flavour an embedder did not choose.
#[test]
fn core_builds_without_a_clock_and_libraries_choose_no_runtime() {
    let chrono = features_for("itsm-core", "chrono");
    assert!(chrono.contains(&"std".to_owned()), "the query found chrono's features: {chrono:?}");
    assert!(!chrono.contains(&"clock".to_owned()), "itsm-core gets chrono's clock: {chrono:?}");
    for library in ["itsm-store", "itsm-notify"] {
        let tokio = features_for(library, "tokio");
        assert!(tokio.contains(&"rt".to_owned()), "the query found tokio's features for {library}: {tokio:?}");
        for flavour in ["rt-multi-thread", "full"] {
            assert!(!tokio.contains(&flavour.to_owned()), "{library} forces tokio's {flavour}: {tokio:?}");
        }
    }
}
