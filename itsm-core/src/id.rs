//! Validated identifiers.
//!
//! Every identifier is non-empty text of at most [`MAX_ID_LEN`] bytes without
//! control characters. Rejecting NUL here gives both storage backends the same
//! outcome (PostgreSQL refuses NUL in text, SQLite would store it).
//!
//! **Ids are trimmed.** Every constructor (`new`, `FromStr`, and serde
//! deserialization, which calls `new`) first removes leading and trailing
//! whitespace (Unicode `White_Space`, so spaces, tabs and line breaks), then
//! validates what is left: `" INC-1 "` and `"INC-1"` are the same id, and an id
//! that is empty after trimming (`""`, `" "`) is refused as [`IdError::Empty`].
//! The length limit applies to the trimmed text. Whitespace inside an id is
//! kept (`"payments eu"`). Every input path (JSON commands, CSV import, alerts)
//! builds ids through these constructors, so the rule is the same everywhere;
//! `docs/limits.md` lists it with the other limits.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest identifier accepted, in bytes.
pub const MAX_ID_LEN: usize = 255;

/// Why a text is not a valid identifier or a valid free-text field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text is empty, or only whitespace (ids are trimmed first).
    #[error("{kind} id is empty (surrounding whitespace is trimmed)")]
    Empty {
        /// Which identifier kind was being built.
        kind: &'static str,
    },
    /// The text is longer than [`MAX_ID_LEN`].
    #[error("{kind} id is {len} bytes long, more than {MAX_ID_LEN}")]
    TooLong {
        /// Which identifier kind was being built.
        kind: &'static str,
        /// The length found.
        len: usize,
    },
    /// The text contains a control character (NUL included).
    #[error("{kind} id contains a control character at byte {at}")]
    ControlCharacter {
        /// Which identifier kind was being built.
        kind: &'static str,
        /// Byte offset of the first offending character.
        at: usize,
    },
}

/// `text` without surrounding whitespace, reusing the allocation when there is none.
pub(crate) fn trimmed(text: String) -> String {
    let trimmed = text.trim();
    if trimmed.len() == text.len() { text } else { trimmed.to_owned() }
}

/// Validates an id that has already been trimmed.
pub(crate) fn validate_id(kind: &'static str, text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if text.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { kind, len: text.len() });
    }
    if let Some((at, _)) = text.char_indices().find(|(_, c)| c.is_control()) {
        return Err(IdError::ControlCharacter { kind, at });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Trims surrounding whitespace from `text`, then validates and wraps it
            /// (see the [module documentation](self) for the rules).
            pub fn new(text: impl Into<String>) -> Result<Self, IdError> {
                let text = trimmed(text.into());
                validate_id($kind, &text)?;
                Ok($name(text))
            }

            /// The identifier text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::new(text).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                $name::new(text)
            }
        }
    };
}

string_id!(
    /// A tenant: the isolation boundary. Nothing of one tenant is visible to another.
    TenantId,
    "tenant"
);
string_id!(
    /// A person or automation issuing commands.
    ActorId,
    "actor"
);
string_id!(
    /// A support or approver group.
    GroupId,
    "group"
);
string_id!(
    /// An incident.
    IncidentId,
    "incident"
);
string_id!(
    /// A problem.
    ProblemId,
    "problem"
);
string_id!(
    /// A change (standard, normal or emergency).
    ChangeId,
    "change"
);
string_id!(
    /// A service or configuration item.
    ServiceId,
    "service"
);
string_id!(
    /// A standard-change template from the pre-approved catalogue.
    TemplateId,
    "template"
);

/// Longest free-text field accepted (descriptions, notes), in bytes: 4 MiB.
pub const MAX_TEXT_LEN: usize = 4 * 1024 * 1024;

/// Free text (a title, a note, a workaround): any Unicode except NUL, at most
/// [`MAX_TEXT_LEN`] bytes. Stored verbatim; escaping is the renderer's job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(transparent)]
pub struct Text(String);

/// Why a text field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// The text holds a NUL byte, which PostgreSQL cannot store.
    #[error("text contains a NUL byte at byte {at}")]
    Nul {
        /// Byte offset of the NUL.
        at: usize,
    },
    /// The text is longer than [`MAX_TEXT_LEN`].
    #[error("text is {len} bytes long, more than {MAX_TEXT_LEN}")]
    TooLong {
        /// The length found.
        len: usize,
    },
}

impl Text {
    /// Validates and wraps `text`.
    pub fn new(text: impl Into<String>) -> Result<Self, TextError> {
        let text = text.into();
        if text.len() > MAX_TEXT_LEN {
            return Err(TextError::TooLong { len: text.len() });
        }
        if let Some(at) = text.bytes().position(|b| b == 0) {
            return Err(TextError::Nul { at });
        }
        Ok(Text(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Text::new(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_empty_long_and_control_text() {
        assert_eq!(IncidentId::new(""), Err(IdError::Empty { kind: "incident" }));
        assert!(matches!(TenantId::new("a".repeat(256)), Err(IdError::TooLong { len: 256, .. })));
        assert_eq!(ChangeId::new("ab\0c"), Err(IdError::ControlCharacter { kind: "change", at: 2 }));
        assert_eq!(ServiceId::new("payments 💳").unwrap().as_str(), "payments 💳");
    }

    #[test]
    fn ids_validate_when_deserialized() {
        assert!(serde_json::from_str::<IncidentId>("\"\"").is_err());
        assert_eq!(serde_json::from_str::<IncidentId>("\"INC1\"").unwrap().as_str(), "INC1");
    }

    #[test]
    fn ids_are_trimmed_and_blank_ids_refused_the_same_way_everywhere() {
        assert_eq!(IncidentId::new(" "), Err(IdError::Empty { kind: "incident" }));
        assert_eq!(ServiceId::new("\t\r\n\u{a0}"), Err(IdError::Empty { kind: "service" }));
        assert_eq!("  ".parse::<TenantId>(), Err(IdError::Empty { kind: "tenant" }));
        let err = serde_json::from_str::<IncidentId>("\" \"").map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("incident id is empty"), "{err}");
        let plain = IncidentId::new("INC-1").unwrap();
        assert_eq!(IncidentId::new("INC-1 "), Ok(plain.clone()));
        assert_eq!(IncidentId::new("\tINC-1\n"), Ok(plain.clone()));
        assert_eq!(" INC-1".parse::<IncidentId>(), Ok(plain.clone()));
        assert_eq!(serde_json::from_str::<IncidentId>("\" INC-1  \"").ok(), Some(plain));
        assert_eq!(ServiceId::new(" payments eu ").unwrap().as_str(), "payments eu");
        // The length limit applies to the trimmed id.
        let long = format!(" {} ", "a".repeat(MAX_ID_LEN));
        assert_eq!(GroupId::new(long).map(|g| g.as_str().len()), Ok(MAX_ID_LEN));
        assert!(matches!(GroupId::new("a".repeat(MAX_ID_LEN + 1)), Err(IdError::TooLong { .. })));
        // A control character inside the id is still refused.
        assert_eq!(ChangeId::new(" a\u{7}b "), Err(IdError::ControlCharacter { kind: "change", at: 1 }));
    }

    #[test]
    fn text_refuses_nul_and_keeps_everything_else_verbatim() {
        assert_eq!(Text::new("a\0b"), Err(TextError::Nul { at: 1 }));
        let hostile = "<img src=x onerror=alert(1)> =HYPERLINK(\"x\") ' OR 1=1--";
        assert_eq!(Text::new(hostile).unwrap().as_str(), hostile);
    }
}
