//! Parsing the portal's JSON (commands, events, states, policies) into domain
//! types with a typed error.
//!
//! Bad JSON never panics: it is a [`JsonError`] saying where and what kind of
//! problem it is, classified by [`serde_json::Error::classify`]. Nesting is
//! bounded by serde_json's own recursion limit ([`MAX_DEPTH`]): a document
//! nested that deep is refused as [`JsonError::TooDeep`] as soon as the parser
//! reaches that depth, without recursing further, whatever the target type
//! (types that buffer their input, like internally tagged enums, go through the
//! same parser and the same limit). A leading
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
    /// Nested [`MAX_DEPTH`] levels deep or more (serde_json's recursion limit),
    /// found before any other error.
    #[error("{what}: JSON nested too deeply ({MAX_DEPTH} levels or more)")]
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

/// serde_json's recursion limit: arrays and objects nested this many levels
/// deep are refused ([`JsonError::TooDeep`]); one level less is parsed.
pub const MAX_DEPTH: usize = 128;

/// How serde_json words the error for input nested past its recursion limit.
///
/// serde_json reports it as [`serde_json::error::Category::Syntax`] and has no
/// category or public error code of its own for it, so its message is the only
/// way to tell it from a bad token. This is the one place the text is matched;
/// the test `serde_json_words_its_recursion_limit_this_way` fails if a
/// serde_json release rewords it.
const RECURSION_LIMIT_MESSAGE: &str = "recursion limit exceeded";

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
    serde_json::from_str(text).map_err(|e| json_error(what, &e))
}

/// The [`JsonError`] for a serde_json error, by its [`serde_json::Error::classify`]
/// category (and, for the recursion limit, [`RECURSION_LIMIT_MESSAGE`]).
fn json_error(what: &'static str, e: &serde_json::Error) -> JsonError {
    use serde_json::error::Category;
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        Category::Syntax if is_recursion_limit(e) => JsonError::TooDeep { what },
        Category::Syntax | Category::Io => JsonError::Syntax { what, line, column, message: e.to_string() },
        Category::Data => JsonError::Data { what, line, column, message: e.to_string() },
        Category::Eof => JsonError::Truncated { what, line, column },
    }
}

/// Whether serde_json refused the input for nesting past its recursion limit.
fn is_recursion_limit(e: &serde_json::Error) -> bool {
    e.to_string().starts_with(RECURSION_LIMIT_MESSAGE)
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
        // The first error serde_json meets: a command is no array, at column 1,
        // long before the depth limit.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            from_json::<IncidentCommand>("incident command", &deep),
            Err(JsonError::Data { line: 1, column: 1, .. })
        ));
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
        assert_eq!(cmd, IncidentCommand::Hold { reason: crate::vocabulary::HoldReason::AwaitingVendor });
        assert_eq!(strip_bom("\u{feff}{}\n{}"), "{}\n{}");
        assert_eq!(strip_bom("{}"), "{}");
        // Only one, and only at the start: a mark elsewhere is still an error.
        assert!(matches!(
            from_json::<IncidentCommand>("incident command", "\u{feff}\u{feff}{}"),
            Err(JsonError::Syntax { .. })
        ));
    }

    #[test]
    fn serde_json_words_its_recursion_limit_this_way() {
        let e = serde_json::from_str::<serde_json::Value>(&"[".repeat(MAX_DEPTH)).unwrap_err();
        assert_eq!(e.classify(), serde_json::error::Category::Syntax);
        assert!(e.to_string().starts_with(RECURSION_LIMIT_MESSAGE), "serde_json now says `{e}`");
        assert!(is_recursion_limit(&e));
        // Other syntax errors are not taken for it.
        assert!(!is_recursion_limit(&serde_json::from_str::<serde_json::Value>("{]").unwrap_err()));
    }

    #[test]
    fn the_depth_limit_is_serde_jsons() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(from_json::<serde_json::Value>("value", &nested(MAX_DEPTH - 1)).is_ok());
        assert_eq!(
            from_json::<serde_json::Value>("value", &nested(MAX_DEPTH)),
            Err(JsonError::TooDeep { what: "value" })
        );
        let err = from_json::<serde_json::Value>("value", &nested(MAX_DEPTH)).unwrap_err().to_string();
        assert_eq!(err, "value: JSON nested too deeply (128 levels or more)");
    }

    /// 100,000 levels, as nested arrays, nested objects, inside a field, and
    /// unclosed: refused on the test thread's stack, never parsed. The error
    /// is the first one serde_json meets: [`JsonError::TooDeep`] where the
    /// type recurses that deep (untyped values, and types serde buffers
    /// before it knows their shape: internally tagged and untagged enums,
    /// flattened structs), [`JsonError::Data`] where the shape is already
    /// wrong nearer the top (a struct handed an array of arrays), or
    /// [`JsonError::Syntax`] where serde_json words a wrong shape so (an
    /// externally tagged enum handed an array).
    fn refuses_deep_input<T: DeserializeOwned + std::fmt::Debug>(what: &'static str, field: &str) -> Vec<JsonError> {
        let depth = 100_000;
        let texts = [
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
            format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth)),
            format!(r#"{{"{field}":{}{}}}"#, "[".repeat(depth), "]".repeat(depth)),
            "[".repeat(depth),
        ];
        let errors: Vec<JsonError> = texts.iter().map(|text| from_json::<T>(what, text).unwrap_err()).collect();
        for (text, e) in texts.iter().zip(&errors) {
            assert!(
                matches!(e, JsonError::TooDeep { .. } | JsonError::Data { .. } | JsonError::Syntax { .. }),
                "{what}: `{}` gave {e:?}",
                &text[..40]
            );
        }
        errors
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read only by Debug
    #[serde(untagged)]
    enum Untagged {
        Number(u32),
        Named { a: u32 },
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read only by Debug
    struct Flattened {
        a: u32,
        #[serde(flatten)]
        rest: std::collections::BTreeMap<String, u32>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read only by Debug
    struct Plain {
        a: u32,
    }

    #[test]
    fn deep_input_is_refused_for_every_kind_of_type() {
        use crate::change::{NormalChange, NormalCommand, NormalEvent};
        use crate::incident::{Incident, IncidentEvent};
        let too_deep = |what| JsonError::TooDeep { what };
        // Untyped, or buffered whole (untagged): too deep, whatever the form.
        for (what, errors) in [
            ("value", refuses_deep_input::<serde_json::Value>("value", "a")),
            ("untagged", refuses_deep_input::<Untagged>("untagged", "a")),
        ] {
            assert_eq!(errors, vec![too_deep(what); 4], "{what}");
        }
        // A flattened struct buffers the fields it does not name itself.
        assert_eq!(refuses_deep_input::<Flattened>("flattened", "b")[2], too_deep("flattened"));
        // Internally tagged enums buffer an object's fields until the tag: too
        // deep as objects and in a field; an array's first element must be
        // the tag, so an array of arrays is the wrong shape.
        for (what, errors) in [
            ("incident command", refuses_deep_input::<IncidentCommand>("incident command", "reason")),
            ("incident event", refuses_deep_input::<IncidentEvent>("incident event", "at")),
            ("normal command", refuses_deep_input::<NormalCommand>("normal command", "reason")),
            ("normal event", refuses_deep_input::<NormalEvent>("normal event", "at")),
        ] {
            assert_eq!(errors[1], too_deep(what), "{what}");
        }
        // Structs: whichever error comes first; never a stack overflow.
        refuses_deep_input::<Incident>("incident", "state");
        refuses_deep_input::<NormalChange>("normal change", "spec");
        refuses_deep_input::<crate::alert::GroupingPolicy>("grouping policy", "fingerprint");
        refuses_deep_input::<crate::SlaPolicy>("sla policy", "targets");
        refuses_deep_input::<Plain>("plain", "b");
    }

    #[test]
    fn a_skipped_unknown_field_is_skipped_at_any_depth() {
        // serde_json skips a field a struct does not know without recursing
        // (no stack used per level), so its depth is not limited; the
        // document size is.
        let text = format!(r#"{{"a":1,"b":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(from_json::<Plain>("plain", &text).unwrap().a, 1);
    }

    #[test]
    fn brackets_inside_strings_are_text() {
        let text = format!(r#"{{"command":"hold","reason":"{}"}}"#, "[{".repeat(100_000));
        assert!(matches!(from_json::<IncidentCommand>("incident command", &text), Err(JsonError::Data { .. })));
        let text = format!(r#"["{}"]"#, "[".repeat(100_000));
        assert!(from_json::<serde_json::Value>("value", &text).is_ok());
    }

    #[test]
    fn valid_commands_parse() {
        let cmd: IncidentCommand =
            from_json("incident command", r#"{"command":"hold","reason":"awaiting_vendor"}"#).unwrap();
        assert_eq!(cmd, IncidentCommand::Hold { reason: crate::vocabulary::HoldReason::AwaitingVendor });
    }
}
