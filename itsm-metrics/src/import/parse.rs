//! Typed parsing of one row's cells into a record.

use csv::ByteRecord;
use itsm_core::Timestamp;
use itsm_core::id::{ChangeId, IncidentId, ProblemId, ServiceId};
use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
use itsm_core::vocabulary::{
    ChangeOutcome, ChangeType, DetectionSource, FailureClass, Impact, IncidentKind, Priority, Remediation, ResolvedBy,
    Urgency,
};

use super::{ImportOptions, RowError};

/// Typed access to one row's cells, collecting errors.
pub(crate) struct Cells<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: u64,
    pub(crate) record: &'a ByteRecord,
    pub(crate) columns: &'a super::Columns,
    pub(crate) errors: Vec<RowError>,
}

impl<'a> Cells<'a> {
    fn error(&mut self, column: &str, reason: impl Into<String>) {
        self.errors.push(RowError {
            file: self.file.to_owned(),
            line: self.line,
            column: Some(column.to_owned()),
            reason: reason.into(),
        });
    }

    /// The raw cell, `None` when the column is absent or the cell empty.
    fn raw(&mut self, column: &str) -> Option<&'a str> {
        let record: &'a ByteRecord = self.record;
        let i = *self.columns.get(column)?;
        let bytes = record.get(i)?;
        match std::str::from_utf8(bytes) {
            Ok("") => None,
            Ok(s) => Some(s),
            Err(_) => {
                self.error(column, "not valid UTF-8");
                None
            }
        }
    }

    /// A trimmed typed cell.
    fn typed(&mut self, column: &str) -> Option<&'a str> {
        self.raw(column).map(str::trim).filter(|s| !s.is_empty())
    }

    fn required_text(&mut self, column: &str) -> Option<&'a str> {
        let v = self.raw(column);
        if v.is_none() && !self.errors.iter().any(|e| e.column.as_deref() == Some(column)) {
            self.error(column, "required value is empty");
        }
        v
    }

    fn timestamp(&mut self, column: &str) -> Option<Timestamp> {
        let text = self.typed(column)?;
        match Timestamp::parse_rfc3339(text) {
            Ok(t) => Some(t),
            Err(_) => {
                self.error(column, format!("`{text}` is not an RFC 3339 timestamp with an offset"));
                None
            }
        }
    }

    fn required_timestamp(&mut self, column: &str) -> Option<Timestamp> {
        let present = self.typed(column).is_some();
        if !present {
            if !self.errors.iter().any(|e| e.column.as_deref() == Some(column)) {
                self.error(column, "required value is empty");
            }
            return None;
        }
        self.timestamp(column)
    }

    fn choice<E>(&mut self, column: &str, parse: fn(&str) -> Option<E>, expected: &str) -> Option<E> {
        let text = self.typed(column)?;
        match parse(text) {
            Some(v) => Some(v),
            None => {
                self.error(column, format!("`{text}` is not one of {expected}"));
                None
            }
        }
    }

    fn required_choice<E>(&mut self, column: &str, parse: fn(&str) -> Option<E>, expected: &str) -> Option<E> {
        if self.typed(column).is_none() {
            if !self.errors.iter().any(|e| e.column.as_deref() == Some(column)) {
                self.error(column, "required value is empty");
            }
            return None;
        }
        self.choice(column, parse, expected)
    }

    fn boolean(&mut self, column: &str) -> Option<bool> {
        self.choice(
            column,
            |s| match s {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            "true, false",
        )
    }

    fn count(&mut self, column: &str) -> Option<u32> {
        let text = self.typed(column)?;
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            self.error(column, format!("`{text}` is not a non-negative integer"));
            return None;
        }
        match text.parse::<u32>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(column, format!("`{text}` is too large"));
                None
            }
        }
    }

    fn id<I>(
        &mut self,
        column: &str,
        make: fn(String) -> Result<I, itsm_core::id::IdError>,
        required: bool,
    ) -> Option<I> {
        let text = if required { self.required_text(column)? } else { self.raw(column)? };
        match make(text.to_owned()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(column, e.to_string());
                None
            }
        }
    }

    fn before(&mut self, later_col: &str, later: Option<Timestamp>, earlier_col: &str, earlier: Option<Timestamp>) {
        if let (Some(l), Some(e)) = (later, earlier)
            && l < e
        {
            self.error(later_col, format!("{later_col} ({l}) is before {earlier_col} ({e})"));
        }
    }
}

pub(crate) fn parse_incident(c: &mut Cells<'_>, options: &ImportOptions) -> Option<IncidentRecord> {
    let id = c.id("id", IncidentId::new, true);
    let kind =
        c.required_choice("kind", IncidentKind::parse, "production, business, security, desktop, service_request");
    let service = c.id("service", ServiceId::new, true);
    let category = c.raw("category").map(str::to_owned);
    let priority = c.choice("priority", Priority::parse, "1, 2, 3, 4, 5");
    let impact = c.choice("impact", Impact::parse, "1, 2, 3");
    let urgency = c.choice("urgency", Urgency::parse, "1, 2, 3");
    let detected_by = c
        .choice("detected_by", DetectionSource::parse, "monitoring, user, service_desk, automation")
        .unwrap_or(DetectionSource::User);
    let opened_at = c.required_timestamp("opened_at");
    let acknowledged_at = c.timestamp("acknowledged_at");
    let impact_start = c.timestamp("impact_start");
    let restored_at = c.timestamp("restored_at");
    let resolved_at = c.timestamp("resolved_at");
    let closed_at = c.timestamp("closed_at");
    let resolved_by = c.choice("resolved_by", ResolvedBy::parse, "l1, l2, l3, automation, vendor");
    let major = c.boolean("major").unwrap_or(false);
    let reopen_count = c.count("reopen_count").unwrap_or(0);
    let caused_by_change = c.id("caused_by_change", ChangeId::new, false);
    let problem_id = c.id("problem_id", ProblemId::new, false);
    let failure_class =
        c.choice("failure_class", FailureClass::parse, "ci, cd, platform, other").unwrap_or(FailureClass::Other);
    let outage = c.boolean("outage").unwrap_or(false);
    let resolution_target_met = c.boolean("resolution_target_met");
    // Contradicting instants.
    c.before("resolved_at", resolved_at, "opened_at", opened_at);
    c.before("acknowledged_at", acknowledged_at, "opened_at", opened_at);
    c.before("closed_at", closed_at, "opened_at", opened_at);
    c.before("closed_at", closed_at, "resolved_at", resolved_at);
    let impact_start_or_default = impact_start.or(opened_at);
    match restored_at {
        Some(_) => c.before("restored_at", restored_at, "impact_start", impact_start_or_default),
        None => {
            // With both defaults, `resolved_at` against `opened_at` is checked above.
            if let (Some(r), Some(s)) = (resolved_at, impact_start)
                && r < s
            {
                c.error(
                    "resolved_at",
                    format!("resolved_at ({r}), the default restored_at, is before impact_start ({s})"),
                );
            }
        }
    }
    let priority = priority.unwrap_or_else(|| {
        options
            .priority_matrix
            .priority(impact.unwrap_or(options.default_impact), urgency.unwrap_or(options.default_urgency))
    });
    if !c.errors.is_empty() {
        return None;
    }
    let opened_at = opened_at?;
    Some(IncidentRecord {
        id: id?,
        kind: kind?,
        service: service?,
        category,
        priority,
        detected_by,
        opened_at,
        acknowledged_at,
        impact_start: impact_start.unwrap_or(opened_at),
        restored_at,
        resolved_at,
        closed_at,
        resolved_by,
        major,
        reopen_count,
        caused_by_change,
        problem_id,
        failure_class,
        outage,
        resolution_target_met,
    })
}

/// A change outcome cell: `cancelled` is `Some(None)`.
fn parse_outcome(text: &str) -> Option<Option<ChangeOutcome>> {
    if text == "cancelled" { Some(None) } else { ChangeOutcome::parse(text).map(Some) }
}

pub(crate) fn parse_change(c: &mut Cells<'_>, _options: &ImportOptions) -> Option<ChangeRecord> {
    let id = c.id("id", ChangeId::new, true);
    let change_type = c.required_choice("type", ChangeType::parse, "standard, normal, emergency");
    let service = c.id("service", ServiceId::new, true);
    let requested_at = c.timestamp("requested_at");
    let planned_start = c.timestamp("planned_start");
    let planned_end = c.timestamp("planned_end");
    let started_at = c.timestamp("started_at");
    let completed_at = c.timestamp("completed_at");
    let outcome = c.required_choice("outcome", parse_outcome, "successful, successful_with_issues, failed, cancelled");
    let remediation = c
        .choice("remediation", Remediation::parse, "none, rolled_back, rollback_failed, fixed_forward")
        .unwrap_or(Remediation::None);
    c.before("completed_at", completed_at, "started_at", started_at);
    c.before("planned_end", planned_end, "planned_start", planned_start);
    if let Some(Some(o)) = outcome
        && completed_at.is_none()
        && !c.errors.iter().any(|e| e.column.as_deref() == Some("completed_at"))
    {
        c.error("completed_at", format!("required when outcome is {o}"));
    }
    if !c.errors.is_empty() {
        return None;
    }
    Some(ChangeRecord {
        id: id?,
        change_type: change_type?,
        service: service?,
        requested_at,
        planned_start,
        planned_end,
        started_at,
        completed_at,
        outcome: outcome?,
        remediation,
        automatic_rollback: false,
        authorized_at: None,
    })
}

pub(crate) fn parse_outage(c: &mut Cells<'_>, _options: &ImportOptions) -> Option<OutageRecord> {
    let service = c.id("service", ServiceId::new, true);
    let start = c.required_timestamp("start");
    let end = c.required_timestamp("end");
    let planned = c.boolean("planned").unwrap_or(false);
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        c.error("end", format!("end ({e}) is not after start ({s})"));
    }
    if !c.errors.is_empty() {
        return None;
    }
    Some(OutageRecord { service: service?, start: start?, end: end?, planned })
}
