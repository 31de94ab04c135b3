//! Architecture invariants, checked from `cargo metadata`, `cargo tree` and
//! the parsed sources (`syn`): `itsm-core` has no I/O, async runtime or
//! database dependency and never reads the clock; no library crate prints;
//! `itsm-metrics` depends on no workspace crate but `itsm-core`; `itsm-store`
//! depends on `itsm-core`.

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

/// What a library's sources may not name, checked on the parsed syntax
/// (`syn`), not on the text: `use` trees (grouped ones too, `use std::{fs,
/// net}`), paths in expressions, types and patterns (`std::env::var`,
/// `Utc::now`, `thread::sleep`), and macro names (`println!`). Macro bodies
/// are parsed as expressions where they are ones (`format!("{}", x)`), so a
/// path inside `assert!(...)` is seen too. Items under `#[cfg(test)]` (unit
/// tests) are not library code and are skipped; doc comments are attributes,
/// never paths.
#[derive(Debug, Clone, Copy)]
struct Forbidden {
    /// Paths starting with these segments (`std::fs` forbids `std::fs::read`).
    prefixes: &'static [&'static [&'static str]],
    /// Paths ending with these segments, wherever they were imported from
    /// (`thread::sleep`, `Utc::now`).
    suffixes: &'static [&'static [&'static str]],
    /// Macro names (the last segment of the macro's path).
    macros: &'static [&'static str],
}

/// Macros that write to the process's standard streams: no library prints.
const PRINT_MACROS: &[&str] = &["print", "println", "eprint", "eprintln", "dbg"];

/// itsm-core: no I/O (files, network, standard streams, environment,
/// processes, threads), no clock, no printing.
const CORE: Forbidden = Forbidden {
    prefixes: &[
        &["std", "fs"],
        &["std", "net"],
        &["std", "io"],
        &["std", "env"],
        &["std", "process"],
        &["std", "thread"],
        &["std", "time", "SystemTime"],
        &["std", "time", "Instant"],
        &["std", "os"],
        &["std", "*"],
        &["chrono", "Utc", "now"],
        &["chrono", "Local"],
        &["tokio"],
    ],
    suffixes: &[
        &["Utc", "now"],
        &["Local", "now"],
        &["SystemTime", "now"],
        &["Instant", "now"],
        &["thread", "sleep"],
        &["thread", "spawn"],
        &["env", "var"],
        &["env", "var_os"],
        &["env", "args"],
        &["process", "exit"],
        &["process", "abort"],
        &["process", "Command"],
        &["io", "stdin"],
        &["io", "stdout"],
        &["io", "stderr"],
        &["fs", "read"],
        &["fs", "read_to_string"],
        &["fs", "write"],
        &["File", "open"],
        &["File", "create"],
    ],
    macros: PRINT_MACROS,
};

/// The other library crates: no printing (they report through their return
/// values and `tracing`).
const LIBRARY: Forbidden = Forbidden { prefixes: &[], suffixes: &[], macros: PRINT_MACROS };

/// Walks a parsed file and collects what [`Forbidden`] names.
struct Finder {
    rules: Forbidden,
    found: Vec<String>,
}

impl Finder {
    fn check_path(&mut self, segments: &[String], what: &str) {
        let fits = |pattern: &[&str]| pattern.len() <= segments.len();
        let starts = self.rules.prefixes.iter().any(|p| fits(p) && p.iter().zip(segments).all(|(a, b)| a == b));
        let ends = self
            .rules
            .suffixes
            .iter()
            .any(|p| fits(p) && p.iter().rev().zip(segments.iter().rev()).all(|(a, b)| a == b));
        if starts || ends {
            self.found.push(format!("{what} {}", segments.join("::")));
        }
    }

    /// Every full path a `use` tree imports (`*` for a glob, the original name
    /// of a rename).
    fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                Self::use_paths(&p.tree, prefix, out);
                prefix.pop();
            }
            syn::UseTree::Name(n) => out.push(prefix.iter().cloned().chain([n.ident.to_string()]).collect()),
            syn::UseTree::Rename(r) => out.push(prefix.iter().cloned().chain([r.ident.to_string()]).collect()),
            syn::UseTree::Glob(_) => out.push(prefix.iter().cloned().chain(["*".to_owned()]).collect()),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    Self::use_paths(tree, prefix, out);
                }
            }
        }
    }
}

/// Whether the attributes hold `#[cfg(test)]` (or `#[test]`).
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("test")
            || (a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test"))
    })
}

impl<'ast> syn::visit::Visit<'ast> for Finder {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        Self::use_paths(&item.tree, &mut Vec::new(), &mut paths);
        for path in paths {
            // `use ::std::fs` and `use std::fs` alike: a leading `::` is not a segment.
            self.check_path(&path, "use");
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.check_path(&segments, "path");
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        if let Some(last) = mac.path.segments.last()
            && self.rules.macros.iter().any(|m| last.ident == m)
        {
            self.found.push(format!("macro {}!", last.ident));
        }
        syn::visit::visit_macro(self, mac);
        use syn::punctuated::Punctuated;
        if let Ok(args) = mac.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated) {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_test(&item.attrs) {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_test(&item.attrs) {
            syn::visit::visit_item_fn(self, item);
        }
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if !is_test(&item.attrs) {
            syn::visit::visit_item_impl(self, item);
        }
    }
}

/// What `rules` forbids in `source` (one Rust file), or a parse error.
fn offences(source: &str, rules: Forbidden) -> Result<Vec<String>, syn::Error> {
    let file = syn::parse_file(source)?;
    let mut finder = Finder { rules, found: Vec::new() };
    syn::visit::Visit::visit_file(&mut finder, &file);
    Ok(finder.found)
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn library_sources_never_read_the_clock_do_io_or_print() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let crates = [("itsm-core", CORE), ("itsm-store", LIBRARY), ("itsm-metrics", LIBRARY), ("itsm-notify", LIBRARY)];
    let mut offenders = Vec::new();
    let mut parsed = 0;
    for (name, rules) in crates {
        for path in rust_files(&root.join(name).join("src")) {
            let source = std::fs::read_to_string(&path).expect("read source");
            let found = offences(&source, rules).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            offenders.extend(found.into_iter().map(|f| format!("{}: {f}", path.display())));
            parsed += 1;
        }
    }
    assert!(parsed > 50, "sanity: the walk found the sources ({parsed} files)");
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// The checker sees what a substring scan of `std::fs` or `thread::sleep`
/// misses: grouped and renamed imports, a path through an imported module,
/// a path inside a macro's arguments, and the print macros (a renamed module,
/// `env as environment`, is caught at its import); and it ignores unit
/// tests, comments and strings.
#[test]
fn the_checker_catches_grouped_imports_and_module_paths() {
    let source = r#"
        use std::{fs, net};
        use std::{env as environment, time::{Duration, SystemTime}};
        use std::thread;
        use chrono::Utc;
        /// Doc comments mention std::fs and println!("x") freely.
        pub fn nap() -> u64 {
            thread::sleep(Duration::from_secs(1));
            let _ = std::process::exit;
            assert!(environment::var("X").is_ok() || Utc::now().timestamp() > 0);
            let text = "std::env::var and Instant::now in a string";
            println!("{}", text.len());
            dbg!(1)
        }
        #[cfg(test)]
        mod tests {
            fn only_in_tests() { std::fs::read("x").unwrap(); println!("ok"); }
        }
    "#;
    let found = offences(source, CORE).expect("the snippet parses");
    let expected = [
        "use std::fs",
        "use std::net",
        "use std::env",
        "use std::time::SystemTime",
        "use std::thread",
        "path thread::sleep",
        "path std::process::exit",
        "path Utc::now",
        "macro println!",
        "macro dbg!",
    ];
    // Exactly these: nothing from the unit test module, the doc comment or
    // the string.
    assert_eq!(found, expected);
    // The other libraries: printing only.
    let found = offences(source, LIBRARY).expect("the snippet parses");
    assert_eq!(found, ["macro println!", "macro dbg!"]);
    // A clean file passes.
    assert!(offences("use std::fmt; fn f() -> std::fmt::Result { Ok(()) }", CORE).unwrap().is_empty());
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
