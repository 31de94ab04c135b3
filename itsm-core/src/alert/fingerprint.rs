//! The keys an alert maps to under a policy: its fingerprint, its group key
//! and its group's incident ids (the 128-bit FNV-1a of the group key), read
//! back with [`IncidentIdParts`]; texts in keys are percent-escaped.

use super::{Alert, AlertError, FingerprintField, GroupBy, GroupingPolicy};
use crate::id::IncidentId;
use crate::time::Timestamp;

/// The parts of an alert incident id, `{id_prefix}-{opened}-{hash}-{seq}`
/// (from [`GroupingPolicy::incident_id_parts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncidentIdParts<'a> {
    /// When the alert that opened the incident fired, `YYYYMMDDTHHMMSSZ`.
    pub opened: &'a str,
    /// The 128-bit FNV-1a of the group key, 32 lowercase hex digits.
    pub group_hash: &'a str,
    /// The incident's number within its group, from 1.
    pub seq: u64,
}

impl GroupingPolicy {
    /// The alert's fingerprint: `dedup:{source}:{dedup_key}` when the dedup key
    /// is honoured and present, else `field=value` parts joined by `|`
    /// (`source=...|object=...|check=...|label.team=...`, a missing label as
    /// `label.team!`), with `%`, `:`, `|`, `=` and `!` percent-encoded.
    pub fn fingerprint(&self, alert: &Alert) -> String {
        const SPECIAL: &[char] = &[':', '|', '=', '!'];
        if self.honor_dedup_key
            && let Some(key) = &alert.dedup_key
        {
            return format!("dedup:{}:{}", escape(&alert.source, SPECIAL), escape(key, SPECIAL));
        }
        let parts: Vec<String> = self
            .fingerprint
            .iter()
            .map(|field| match field {
                FingerprintField::Source => format!("source={}", escape(&alert.source, SPECIAL)),
                FingerprintField::Object => format!("object={}", escape(alert.object.as_str(), SPECIAL)),
                FingerprintField::Check => format!("check={}", escape(&alert.check, SPECIAL)),
                FingerprintField::Label(name) => match alert.labels.get(name) {
                    Some(value) => format!("label.{}={}", escape(name, SPECIAL), escape(value, SPECIAL)),
                    None => format!("label.{}!", escape(name, SPECIAL)),
                },
            })
            .collect();
        parts.join("|")
    }

    /// The alert's group key: its fingerprint, `object=...`, or
    /// `receiver=...` (the fingerprint when the receiver label is missing).
    pub fn group_key(&self, alert: &Alert) -> String {
        const SPECIAL: &[char] = &[':', '|', '=', '!'];
        match &self.group_by {
            GroupBy::Fingerprint => self.fingerprint(alert),
            GroupBy::Object => format!("object={}", escape(alert.object.as_str(), SPECIAL)),
            GroupBy::Receiver { label } => match alert.labels.get(label) {
                Some(value) => format!("receiver={}", escape(value, SPECIAL)),
                None => self.fingerprint(alert),
            },
        }
    }

    /// The id of the group's `seq`-th incident, opened by an alert fired at
    /// `opened`: `{id_prefix}-{opened}-{hash}-{seq}`, `opened` in UTC as
    /// `YYYYMMDDTHHMMSSZ` (fixed width, so ids sort by it) and `hash` the
    /// 128-bit FNV-1a of the group key as 32 hex digits.
    pub fn incident_id(&self, group_key: &str, seq: u64, opened: Timestamp) -> Result<IncidentId, AlertError> {
        let opened = opened.as_utc().format("%Y%m%dT%H%M%SZ");
        IncidentId::new(format!("{}-{opened}-{:032x}-{seq}", self.id_prefix, fnv1a_128(group_key.as_bytes())))
            .map_err(|e| AlertError::Field { field: "incident id".to_owned(), reason: e.to_string() })
    }

    /// The parts of `id` when it is an incident id this policy makes (see
    /// [`GroupingPolicy::incident_id`]); `None` for any other id. Two
    /// deliveries of one stream in different orders give incidents with the
    /// same [`IncidentIdParts::group_hash`] and [`IncidentIdParts::seq`];
    /// only [`IncidentIdParts::opened`] may differ.
    pub fn incident_id_parts<'a>(&self, id: &'a IncidentId) -> Option<IncidentIdParts<'a>> {
        let rest = id.as_str().strip_prefix(self.id_prefix.as_str())?.strip_prefix('-')?;
        let (opened, rest) = rest.split_once('-')?;
        let (group_hash, seq) = rest.split_once('-')?;
        let opened_ok = opened.len() == 16
            && opened.bytes().enumerate().all(|(i, b)| match i {
                8 => b == b'T',
                15 => b == b'Z',
                _ => b.is_ascii_digit(),
            });
        let hash_ok = group_hash.len() == 32 && group_hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let seq_ok = !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit());
        if !(opened_ok && hash_ok && seq_ok) {
            return None;
        }
        Some(IncidentIdParts { opened, group_hash, seq: seq.parse().ok()? })
    }
}

/// `text` with `%` and the `special` characters percent-encoded.
pub(super) fn escape(text: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '%' || special.contains(&c) {
            out.push_str(&format!("%{:02X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// 128-bit FNV-1a: stable across platforms and versions.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET, |hash, b| (hash ^ u128::from(*b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertSeverity;
    use crate::alert::test_support::{alert, ts};
    use crate::id::ServiceId;

    #[test]
    fn fnv1a_128_matches_the_reference_vectors() {
        assert_eq!(fnv1a_128(b""), 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }

    #[test]
    fn fingerprints_escape_their_separators_and_tell_missing_from_empty_labels() {
        let mut policy = GroupingPolicy::default();
        policy.fingerprint.push(FingerprintField::Label("team".to_owned()));
        let a = Alert::new("p:r|o", "1", ServiceId::new("db=1").unwrap(), "cpu%!", AlertSeverity::Critical, ts(0));
        assert_eq!(policy.fingerprint(&a), "source=p%3Ar%7Co|object=db%3D1|check=cpu%25%21|label.team!");
        let empty = a.clone().with_label("team", "");
        assert_eq!(policy.fingerprint(&empty), "source=p%3Ar%7Co|object=db%3D1|check=cpu%25%21|label.team=");
        let dedup = a.clone().with_dedup_key("k:1");
        assert_eq!(policy.fingerprint(&dedup), "dedup:p%3Ar%7Co:k%3A1");
        policy.honor_dedup_key = false;
        assert_eq!(policy.fingerprint(&dedup), policy.fingerprint(&a));
        assert_eq!(a.key().clear_key(), "p%3Ar|o:1");
    }

    #[test]
    fn group_keys_follow_group_by() {
        let mut policy = GroupingPolicy::default();
        let a = alert("1", "cpu", AlertSeverity::Critical, 0).with_label("team", "dba");
        let b = alert("2", "disk", AlertSeverity::Critical, 0);
        assert_ne!(policy.group_key(&a), policy.group_key(&b));
        policy.group_by = GroupBy::Object;
        assert_eq!(policy.group_key(&a), "object=db-1");
        assert_eq!(policy.group_key(&a), policy.group_key(&b));
        policy.group_by = GroupBy::Receiver { label: "team".to_owned() };
        assert_eq!(policy.group_key(&a), "receiver=dba");
        assert_eq!(policy.group_key(&b), policy.fingerprint(&b));
    }

    #[test]
    fn incident_ids_hash_the_group_key_and_number_the_incidents() {
        let policy = GroupingPolicy::default();
        let id = policy.incident_id("object=db-1", 7, ts(0)).unwrap();
        assert_eq!(id.as_str(), format!("ALERT-20260302T090000Z-{:032x}-7", fnv1a_128(b"object=db-1")));
        assert_eq!(id.as_str().len(), "ALERT-".len() + 17 + 32 + 2);
        let parts = policy.incident_id_parts(&id).unwrap();
        assert_eq!(parts.opened, "20260302T090000Z");
        assert_eq!((parts.group_hash, parts.seq), (format!("{:032x}", fnv1a_128(b"object=db-1")).as_str(), 7));
        for other in ["ALERT-1", "OTHER-20260302T090000Z-0-7", "ALERT-20260302T0900Z-00-7", "ALERTX-x"] {
            assert_eq!(policy.incident_id_parts(&IncidentId::new(other).unwrap()), None, "{other}");
        }
        // Fixed width: ids of one prefix sort by their opening instant.
        let later = policy.incident_id("object=a", 1, ts(1)).unwrap();
        let earlier = policy.incident_id("object=z", 9, ts(0)).unwrap();
        assert!(earlier < later);
    }
}
