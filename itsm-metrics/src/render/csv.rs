//! CSV rendering: one long table, a row per value.

use super::{clean, evidence_text};
use crate::error::RenderError;
use crate::rate::Rate;
use crate::scorecard::{Availability, DurationStats, Metrics, Scorecard};

/// The CSV header.
pub const CSV_HEADER: [&str; 16] = [
    "section",
    "service",
    "metric",
    "subject",
    "numerator",
    "denominator",
    "value",
    "n",
    "mean_seconds",
    "median_seconds",
    "p90_seconds",
    "max_seconds",
    "censored",
    "level",
    "evidence",
    "percentile_error",
];

/// Neutralises text that a spreadsheet would read as a formula.
fn cell(text: &str) -> String {
    let t = clean(text);
    match t.chars().next() {
        Some('=' | '+' | '-' | '@' | '\u{fffd}') => format!("'{t}"),
        _ => t,
    }
}

#[derive(Default)]
struct Row {
    cells: [String; 16],
}

impl Row {
    fn new(section: &str, service: &str, metric: &str, subject: &str) -> Row {
        let mut r = Row::default();
        r.cells[0] = section.to_owned();
        r.cells[1] = cell(service);
        r.cells[2] = cell(metric);
        r.cells[3] = cell(subject);
        r
    }

    fn rate(mut self, rate: &Rate) -> Row {
        self.cells[4] = rate.numerator.to_string();
        self.cells[5] = rate.denominator.to_string();
        self.cells[6] = rate.value.map(|v| v.to_string()).unwrap_or_default();
        self
    }

    fn durations(mut self, d: &DurationStats) -> Row {
        self.cells[7] = d.n.to_string();
        self.cells[8] = d.mean_seconds.map(|v| v.to_string()).unwrap_or_default();
        self.cells[9] = d.median_seconds.map(|v| v.to_string()).unwrap_or_default();
        self.cells[10] = d.p90_seconds.map(|v| v.to_string()).unwrap_or_default();
        self.cells[11] = d.max_seconds.map(|v| v.to_string()).unwrap_or_default();
        self.cells[12] = d.censored.to_string();
        self.cells[15] = d.percentile_error.to_string();
        self
    }
}

fn metric_rows(service: &str, m: &Metrics, rows: &mut Vec<Row>) {
    for c in &m.changes {
        let t = c.change_type.as_str();
        rows.push(Row::new("changes", service, "first_change_failure_rate", t).rate(&c.first_change_failure_rate));
        rows.push(Row::new("changes", service, "rollback_failure_rate", t).rate(&c.rollback_failure_rate));
        rows.push(
            Row::new("changes", service, "rollback_failure_share_of_implemented", t)
                .rate(&c.rollback_failure_share_of_implemented),
        );
        rows.push(Row::new("changes", service, "rollback_attempt_rate", t).rate(&c.rollback_attempt_rate));
        rows.push(Row::new("changes", service, "automatic_rollback_share", t).rate(&c.automatic_rollback_share));
        rows.push(Row::new("changes", service, "authorized_in_time", t).rate(&c.authorized_in_time));
    }
    let i = &m.incidents;
    let mut total = Row::new("incidents", service, "total", "");
    total.cells[7] = i.total.to_string();
    rows.push(total);
    for (name, r) in [
        ("resolution_rate", &i.resolution_rate),
        ("first_line_resolution_rate", &i.first_line_resolution_rate),
        ("automated_recovery_share", &i.automated_recovery_share),
        ("proactive_detection_share", &i.proactive_detection_share),
        ("on_time_resolution_rate", &i.on_time_resolution_rate),
        ("repeat_rate", &i.repeat_rate),
        ("problem_review_share", &i.problem_review_share),
    ] {
        rows.push(Row::new("incidents", service, name, "").rate(r));
    }
    for p in &m.sla_attainment {
        rows.push(Row::new("sla", service, "sla_attainment", p.priority.as_str()).rate(&p.attainment));
    }
    rows.push(Row::new("restore_time", service, "restore_time", "all").durations(&m.restore_time));
    for c in &m.restore_time_by_class {
        rows.push(Row::new("restore_time", service, "restore_time", c.failure_class.as_str()).durations(&c.stats));
    }
    rows.push(Row::new("acknowledge_time", service, "acknowledge_time", "all").durations(&m.acknowledge_time));
    availability_rows("availability", service, &m.availability, rows);
}

/// The availability, downtime and annual downtime rows of one service.
fn availability_rows(section: &str, service: &str, a: &Availability, rows: &mut Vec<Row>) {
    rows.push(Row::new(section, service, "availability", "").rate(&a.availability));
    let mut d = Row::new(section, service, "downtime_seconds", "");
    d.cells[6] = a.downtime_seconds.map(|s| s.to_string()).unwrap_or_default();
    rows.push(d);
    let mut d = Row::new(section, service, "annual_downtime_seconds", "");
    d.cells[6] = a.annual_downtime_seconds.map(|s| s.to_string()).unwrap_or_default();
    rows.push(d);
}

/// The scorecard as one long CSV table (header [`CSV_HEADER`]); the total's
/// rows have an empty `service`.
pub fn csv(card: &Scorecard) -> Result<String, RenderError> {
    let mut rows = Vec::new();
    for t in &card.ratings.tables {
        let mut r = Row::new("table", "", &t.table.to_string(), t.limited_by.as_deref().unwrap_or(""));
        r.cells[13] = t.level.as_str().to_owned();
        rows.push(r);
    }
    for m in &card.ratings.metrics {
        let mut r = Row::new("rating", "", &m.label, m.subject.as_deref().unwrap_or(""));
        r.cells[6] = m.value.map(|v| v.to_string()).unwrap_or_default();
        r.cells[7] = m.sample.map(|v| v.to_string()).unwrap_or_default();
        r.cells[13] = m.rating.level.as_str().to_owned();
        r.cells[14] = evidence_text(&m.rating.evidence);
        rows.push(r);
    }
    metric_rows("", &card.total, &mut rows);
    let tm = &card.timeliness;
    let bound = |seconds: u64| seconds.to_string();
    rows.push(
        Row::new("timeliness", "", "alert_delay_within", &bound(tm.alert_delay_bound_seconds))
            .rate(&tm.alert_delay_within),
    );
    rows.push(Row::new("timeliness", "", "alert_delay", "all").durations(&tm.alert_delay));
    rows.push(
        Row::new("timeliness", "", "notified_in_time", &bound(tm.notification_bound_seconds))
            .rate(&tm.notified_in_time),
    );
    rows.push(Row::new("timeliness", "", "notification_delay", "all").durations(&tm.notification_delay));
    let mut pending = Row::new("timeliness", "", "notifications_pending", "");
    pending.cells[7] = tm.notifications_pending.to_string();
    rows.push(pending);
    for s in &card.services {
        metric_rows(s.service.as_str(), &s.metrics, &mut rows);
    }
    for b in &card.business_services {
        let service = b.service.as_str();
        availability_rows("business_service", service, &b.availability, &mut rows);
        let mut r = Row::new("business_service", service, "planned_seconds", b.criticality.as_str());
        r.cells[6] = b.planned_seconds.to_string();
        rows.push(r);
    }
    for o in &card.open_outages {
        let mut r = Row::new("open_outage", &o.service, "open_outage_since", &o.incident);
        r.cells[6] = o.since.to_string();
        rows.push(r);
    }
    for m in &card.months {
        rows.push(Row::new("month", "", "repeat_rate", &m.month).rate(&m.repeat_rate));
    }
    for t in &card.trends {
        let mut r = Row::new("trend", "", t.series.as_str(), "");
        r.cells[7] = t.periods.to_string();
        if let Some(k) = &t.test {
            r.cells[6] = format!("{}", k.p_value);
            r.cells[3] = format!("{:?}", k.direction).to_lowercase();
        }
        rows.push(r);
    }
    for b in &card.restore_histogram {
        let mut r = Row::new("restore_histogram", "", &b.label, "");
        r.cells[7] = b.count.to_string();
        rows.push(r);
    }
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for r in &rows {
        w.write_record(&r.cells)?;
    }
    let bytes = w.into_inner().map_err(|e| RenderError::CsvBuffer(e.to_string()))?;
    Ok(String::from_utf8(bytes)?)
}
