//! docs/limits.md states the limits the code enforces: each constant's value
//! appears there, so changing a limit without the list fails here.

use itsm_core::Timestamp;
use itsm_core::alert::{MAX_ALERT_TEXT_LEN, MAX_ID_PREFIX_LEN, MAX_WINDOW_SECONDS};
use itsm_core::calendar::{MAX_BUSINESS_DURATION, MAX_ENTRIES, MAX_INTERVALS_PER_DAY};
use itsm_core::change::schedule::MAX_CHECKED_SPAN_DAYS;
use itsm_core::id::{MAX_ID_LEN, MAX_TEXT_LEN};
use itsm_core::json::{MAX_DEPTH, MAX_JSON_LEN};
use itsm_core::sla::MAX_RULE_PERCENT;

fn with_commas(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn the_limits_list_states_the_enforced_values() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/limits.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let expected = [
        format!("1 to {MAX_ID_LEN} bytes (`MAX_ID_LEN`)"),
        format!("{} bytes) of UTF-8; no NUL", with_commas(MAX_TEXT_LEN as u64)),
        format!("{} bytes)", with_commas(MAX_JSON_LEN as u64)),
        format!("fewer than {MAX_DEPTH} levels"),
        format!("1 to {MAX_ALERT_TEXT_LEN} bytes (`MAX_ALERT_TEXT_LEN`)"),
        format!("1 to {MAX_ID_PREFIX_LEN} bytes (`MAX_ID_PREFIX_LEN`)"),
        format!("at most {} days (`MAX_WINDOW_SECONDS`)", MAX_WINDOW_SECONDS / 86_400),
        format!("at most {} years of round-the-clock", MAX_BUSINESS_DURATION.as_secs() / (365 * 86_400)),
        format!("at most {MAX_INTERVALS_PER_DAY} per weekday"),
        format!("at most {} of each (`MAX_ENTRIES`)", with_commas(MAX_ENTRIES as u64)),
        format!("spans up to {MAX_CHECKED_SPAN_DAYS} days"),
        format!("1 % to {MAX_RULE_PERCENT} %"),
        format!("`Timestamp::MIN` = {}", Timestamp::MIN.to_rfc3339().replace(".000000", "")),
        format!("`Timestamp::MAX` = {}", Timestamp::MAX.to_rfc3339().replace(".000000", "")),
        "## CSV import".to_owned(),
    ];
    for needle in expected {
        assert!(text.contains(&needle), "docs/limits.md does not state `{needle}`");
    }
}
