//! The problem machine's transition table and its diagram.

use crate::machine::{Transition, t};

/// The problem machine's transition table.
pub const TRANSITIONS: &[Transition] = &[
    t("new", "assess", "assessed"),
    t("assessed", "start_analysis", "root_cause_analysis"),
    t("root_cause_analysis", "record_known_error", "known_error"),
    t("known_error", "record_known_error", "known_error"),
    t("known_error", "start_fix", "fix_in_progress"),
    t("fix_in_progress", "resolve", "resolved"),
    t("known_error", "resolve", "resolved"),
    t("root_cause_analysis", "resolve", "resolved"),
    t("new", "resolve", "resolved"),
    t("assessed", "resolve", "resolved"),
    t("known_error", "reanalyze", "root_cause_analysis"),
    t("fix_in_progress", "reanalyze", "root_cause_analysis"),
    t("resolved", "reanalyze", "root_cause_analysis"),
    t("resolved", "close", "closed"),
    t("new", "link_incident", "new"),
    t("assessed", "link_incident", "assessed"),
    t("root_cause_analysis", "link_incident", "root_cause_analysis"),
    t("known_error", "link_incident", "known_error"),
    t("fix_in_progress", "link_incident", "fix_in_progress"),
    t("resolved", "link_incident", "resolved"),
];

/// The problem machine as a Mermaid state diagram.
pub fn diagram() -> String {
    crate::machine::mermaid("Problem", &["new"], &["closed"], TRANSITIONS)
}
