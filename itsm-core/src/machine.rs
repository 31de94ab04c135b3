//! Transition tables as data, and their Mermaid rendering.
//!
//! Each state machine publishes its table of `(from, command, to)` rows. The
//! tables are checked against `decide` by tests (every row is accepted, every
//! other (state, command) pair is refused), and rendered into the Mermaid
//! diagrams under `itsm-core/diagrams/`, which a test keeps in sync.

/// One allowed transition: in state `from`, `command` leads to state `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state name before.
    pub from: &'static str,
    /// The command name.
    pub command: &'static str,
    /// The state name after (equal to `from` for commands that keep the state).
    pub to: &'static str,
}

/// Shorthand for a table row.
pub(crate) const fn t(from: &'static str, command: &'static str, to: &'static str) -> Transition {
    Transition { from, command, to }
}

/// Renders a transition table as a Mermaid `stateDiagram-v2`.
///
/// `initial` states get an arrow from `[*]`, `terminal` states an arrow to
/// `[*]`. Rows that keep the state are drawn as self-loops; several commands
/// between the same two states share one arrow.
pub fn mermaid(title: &str, initial: &[&str], terminal: &[&str], table: &[Transition]) -> String {
    let mut out = String::new();
    out.push_str("---\ntitle: ");
    out.push_str(title);
    out.push_str("\n---\nstateDiagram-v2\n");
    for s in initial {
        out.push_str(&format!("    [*] --> {s}\n"));
    }
    let mut edges: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for row in table {
        match edges.iter_mut().find(|(f, t, _)| *f == row.from && *t == row.to) {
            Some((_, _, commands)) => {
                if !commands.contains(&row.command) {
                    commands.push(row.command);
                }
            }
            None => edges.push((row.from, row.to, vec![row.command])),
        }
    }
    for (from, to, commands) in edges {
        out.push_str(&format!("    {from} --> {to}: {}\n", commands.join(", ")));
    }
    for s in terminal {
        out.push_str(&format!("    {s} --> [*]\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_merges_parallel_edges() {
        let table = [t("a", "go", "b"), t("a", "jump", "b"), t("b", "stop", "c")];
        let text = mermaid("demo", &["a"], &["c"], &table);
        assert!(text.contains("    a --> b: go, jump\n"), "{text}");
        assert!(text.contains("    [*] --> a\n"));
        assert!(text.contains("    c --> [*]\n"));
    }
}
