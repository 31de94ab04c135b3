//! Parsing the portal's JSON (commands, events, states, policies) into domain
//! types with a typed error.
//!
//! Bad JSON never panics: it is a [`JsonError`] saying where and what kind of
//! problem it is. Input nested deeper than serde_json's limit of 128 levels is
//! refused as [`JsonError::TooDeep`] without recursing further. A leading
//! UTF-8 byte order mark (which some Windows editors write) is skipped, as the
//! CSV reader skips it; JSON-lines readers skip it with [`strip_bom`].

use serde::de::DeserializeOwned;

/// Largest JSON document accepted, in bytes (16 MiB).
pub const MAX_JSON_LEN: usize = 16 * 1024 * 1024;

/// Why a JSON document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON at all (bad token).
    #[error("{what}: invalid JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// What was being parsed (`incident command`).
        what: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// JSON, but not the expected shape or values (unknown command, bad id).
    #[error("{what}: unexpected content at line {line}, column {column}: {message}")]
    Data {
        /// What was being parsed.
        what: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// The document ended early.
    #[error("{what}: JSON ends early at line {line}, column {column}")]
    Truncated {
        /// What was being parsed.
        what: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Nested deeper than the parser allows.
    #[error("{what}: JSON nested too deeply (more than 128 levels)")]
    TooDeep {
        /// What was being parsed.
        what: &'static str,
    },
    /// Larger than [`MAX_JSON_LEN`].
    #[error("{what}: JSON document of {len} bytes exceeds {MAX_JSON_LEN}")]
    TooLarge {
        /// What was being parsed.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

/// Deepest nesting accepted (serde_json's own limit).
pub const MAX_DEPTH: usize = 128;

/// The deepest nesting of arrays and objects in `text`, ignoring brackets
/// inside strings. A linear scan, so a hostile document is refused before any
/// recursive descent.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                (false, _) => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// `text` without a leading UTF-8 byte order mark (U+FEFF), if it has one.
/// For a JSON-lines file, apply it to the whole text (the mark can only be at
/// the start of the file).
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Parses `text` as a `T` (after a leading byte order mark, if any); `what`
/// names the thing in the error.
pub fn from_json<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T, JsonError> {
    let text = strip_bom(text);
    if text.len() > MAX_JSON_LEN {
        return Err(JsonError::TooLarge { what, len: text.len() });
    }
    if nesting_depth(text) > MAX_DEPTH {
        return Err(JsonError::TooDeep { what });
    }
    serde_json::from_str(text).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let message = e.to_string();
        if message.starts_with("recursion limit exceeded") {
            return JsonError::TooDeep { what };
        }
        match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
                JsonError::Syntax { what, line, column, message }
            }
            serde_json::error::Category::Data => JsonError::Data { what, line, column, message },
            serde_json::error::Category::Eof => JsonError::Truncated { what, line, column },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::IncidentCommand;

    #[test]
    fn malformed_json_is_a_typed_error() {
        assert!(matches!(from_json::<IncidentCommand>("incident command", "{"), Err(JsonError::Truncated { .. })));
        assert!(matches!(from_json::<IncidentCommand>("incident command", "{]"), Err(JsonError::Syntax { .. })));
        assert!(matches!(
            from_json::<IncidentCommand>("incident command", r#"{"command":"explode"}"#),
            Err(JsonError::Data { .. })
        ));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            from_json::<IncidentCommand>("incident command", &deep),
            Err(JsonError::TooDeep { what: "incident command" })
        );
        let deep = format!(r#"{{"command":"hold","reason":{}{}}}"#, "{\"a\":".repeat(200), "}".repeat(200));
        assert_eq!(
            from_json::<IncidentCommand>("incident command", &deep),
            Err(JsonError::TooDeep { what: "incident command" })
        );
        let err = from_json::<IncidentCommand>("incident command", r#"{"command":"hold","reason":"awaiting_godot"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("awaiting_godot") && err.contains("incident command"), "{err}");
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let json = "\u{feff}{\"command\":\"hold\",\"reason\":\"awaiting_vendor\"}";
        let cmd: IncidentCommand = from_json("incident command", json).unwrap();
        assert_eq!(cmd, IncidentCommand::Hold { reason: crate::classify::HoldReason::AwaitingVendor });
        assert_eq!(strip_bom("\u{feff}{}\n{}"), "{}\n{}");
        assert_eq!(strip_bom("{}"), "{}");
        // Only one, and only at the start: a mark elsewhere is still an error.
        assert!(matches!(
            from_json::<IncidentCommand>("incident command", "\u{feff}\u{feff}{}"),
            Err(JsonError::Syntax { .. })
        ));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        assert_eq!(nesting_depth(r#"{"a":"[[[[\"{{{"}"#), 1);
        assert_eq!(nesting_depth("[[1],[2,[3]]]"), 3);
    }

    #[test]
    fn valid_commands_parse() {
        let cmd: IncidentCommand =
            from_json("incident command", r#"{"command":"hold","reason":"awaiting_vendor"}"#).unwrap();
        assert_eq!(cmd, IncidentCommand::Hold { reason: crate::classify::HoldReason::AwaitingVendor });
    }
}
