//! The Mermaid diagrams in `docs/state-machines.md` are generated from the
//! transition tables; this test fails when they drift. Regenerate with
//! `UPDATE_DIAGRAMS=1 cargo test -p itsm-core --test diagrams`.

use itsm_core::{change, incident, problem};

fn render() -> String {
    let mut out = String::from(
        "# State machines\n\n\
         Generated from the transition tables in `itsm-core` (`TRANSITIONS` of each machine module) by\n\
         `UPDATE_DIAGRAMS=1 cargo test -p itsm-core --test diagrams`; a test fails when this file drifts\n\
         from the code. Self-loops are commands that keep the state (notes, links, votes).\n",
    );
    for (name, diagram) in [
        ("Incident", incident::diagram()),
        ("Problem", problem::diagram()),
        ("Standard change", change::standard::diagram()),
        ("Normal change", change::normal::diagram()),
        ("Emergency change", change::emergency::diagram()),
    ] {
        out.push_str(&format!("\n## {name}\n\n```mermaid\n{diagram}```\n"));
    }
    out
}

#[test]
fn diagrams_match_the_transition_tables() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/state-machines.md");
    let expected = render();
    if std::env::var_os("UPDATE_DIAGRAMS").is_some() {
        std::fs::write(path, &expected).expect("write docs/state-machines.md");
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/state-machines.md is out of date: run UPDATE_DIAGRAMS=1 cargo test -p itsm-core --test diagrams"
    );
}
