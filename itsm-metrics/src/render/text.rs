//! Plain-text rendering: aligned tables.

use std::fmt::Write;

use super::{bound_text, clean, evidence_text, opt_dec, opt_u64, percentile_text, rate_text, value_text};
use crate::scorecard::{DurationStats, Metrics, Scorecard};

struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|s| (*s).to_owned()).collect(), rows: Vec::new() }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.into_iter().map(|c| clean(&c)).collect());
    }

    fn render(&self, out: &mut String) {
        let cols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String], out: &mut String| {
            let mut s = String::from(" ");
            for (i, w) in widths.iter().enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = w.saturating_sub(c.chars().count());
                s.push(' ');
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
                s.push(' ');
            }
            let _ = writeln!(out, "{}", s.trim_end());
        };
        line(&self.header, out);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule, out);
        for r in &self.rows {
            line(r, out);
        }
        out.push('\n');
    }
}

fn duration_row(name: &str, d: &DurationStats) -> Vec<String> {
    vec![
        name.to_owned(),
        d.n.to_string(),
        opt_dec(d.mean_seconds),
        percentile_text(d.median_seconds, d.percentile_error),
        percentile_text(d.p90_seconds, d.percentile_error),
        opt_u64(d.max_seconds),
        d.censored.to_string(),
    ]
}

fn metrics_sections(m: &Metrics, out: &mut String) {
    let mut t = Table::new(&[
        "change type",
        "first change failure",
        "rollback failure",
        "rollback failure / implemented",
        "rollback attempts / implemented",
        "automatic rollbacks / failed",
        "authorized in time",
    ]);
    for c in &m.changes {
        t.row(vec![
            c.change_type.as_str().to_owned(),
            rate_text(&c.first_change_failure_rate),
            rate_text(&c.rollback_failure_rate),
            rate_text(&c.rollback_failure_share_of_implemented),
            rate_text(&c.rollback_attempt_rate),
            rate_text(&c.automatic_rollback_share),
            rate_text(&c.authorized_in_time),
        ]);
    }
    t.render(out);
    let i = &m.incidents;
    let mut t = Table::new(&["incident KPI", "value"]);
    t.row(vec!["opened in period".into(), i.total.to_string()]);
    t.row(vec!["major".into(), i.major.to_string()]);
    t.row(vec!["resolution rate".into(), rate_text(&i.resolution_rate)]);
    t.row(vec!["first-line resolution rate".into(), rate_text(&i.first_line_resolution_rate)]);
    t.row(vec!["automated recovery share".into(), rate_text(&i.automated_recovery_share)]);
    t.row(vec!["proactive detection share".into(), rate_text(&i.proactive_detection_share)]);
    t.row(vec!["on-time resolution rate".into(), rate_text(&i.on_time_resolution_rate)]);
    t.row(vec!["resolved with unknown target".into(), i.resolved_with_unknown_target.to_string()]);
    t.row(vec!["repeat rate".into(), rate_text(&i.repeat_rate)]);
    t.row(vec!["repeat or major incidents with a problem".into(), rate_text(&i.problem_review_share)]);
    t.render(out);
    let mut t = Table::new(&["priority", "SLA attainment"]);
    for p in &m.sla_attainment {
        t.row(vec![format!("P{}", p.priority.as_str()), rate_text(&p.attainment)]);
    }
    t.render(out);
    let mut t = Table::new(&["restore time (s)", "n", "mean", "median", "p90", "max", "censored"]);
    t.row(duration_row("all", &m.restore_time));
    for c in &m.restore_time_by_class {
        t.row(duration_row(c.failure_class.as_str(), &c.stats));
    }
    t.row(duration_row("acknowledge (MTTA)", &m.acknowledge_time));
    t.render(out);
}

/// An aligned plain-text report.
pub fn text(card: &Scorecard) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ITSM scorecard {} .. {} (months in {})",
        card.period.from,
        card.period.to,
        clean(&card.period.zone)
    );
    let _ = writeln!(
        out,
        "inputs: {} incidents, {} changes, {} outages, {} alert receipts, {} notifications; anomalies: {} negative restore, {} negative acknowledge, {} empty outages, {} negative alert delays, {} negative notification delays",
        card.inputs.incidents,
        card.inputs.changes,
        card.inputs.outages,
        card.inputs.alert_receipts,
        card.inputs.notifications,
        card.anomalies.negative_restore_times,
        card.anomalies.negative_acknowledge_times,
        card.anomalies.empty_outages,
        card.anomalies.negative_alert_delays,
        card.anomalies.negative_notification_delays
    );
    let _ = writeln!(out, "thresholds: {}\n", clean(&card.ratings.thresholds));
    let mut t = Table::new(&["table", "title", "level", "limited by", "no data"]);
    for tr in &card.ratings.tables {
        t.row(vec![
            tr.table.to_string(),
            tr.title.clone(),
            tr.level.as_str().to_owned(),
            tr.limited_by.clone().unwrap_or_else(|| "-".into()),
            tr.no_data.join(", "),
        ]);
    }
    t.render(&mut out);
    let mut t = Table::new(&["table", "metric", "value", "n", "level", "bound", "demonstrated", "evidence"]);
    for m in &card.ratings.metrics {
        t.row(vec![
            m.table.to_string(),
            m.label.clone(),
            value_text(m.value, m.unit),
            opt_u64(m.sample),
            m.rating.level.as_str().to_owned(),
            bound_text(&m.rating),
            m.rating.demonstrated_level.map(|l| l.as_str().to_owned()).unwrap_or_else(|| "-".into()),
            evidence_text(&m.rating.evidence),
        ]);
    }
    t.render(&mut out);
    let _ = writeln!(out, "== total ==");
    metrics_sections(&card.total, &mut out);
    let tm = &card.timeliness;
    let mut t = Table::new(&["timeliness", "bound (s)", "in time", "pending"]);
    t.row(vec![
        "alerts received (fired -> received)".into(),
        tm.alert_delay_bound_seconds.to_string(),
        rate_text(&tm.alert_delay_within),
        "-".into(),
    ]);
    t.row(vec![
        "notifications to people (event -> delivered)".into(),
        tm.notification_bound_seconds.to_string(),
        rate_text(&tm.notified_in_time),
        tm.notifications_pending.to_string(),
    ]);
    t.render(&mut out);
    let mut t = Table::new(&["delay (s)", "n", "mean", "median", "p90", "max", "censored"]);
    t.row(duration_row("alert delay", &tm.alert_delay));
    t.row(duration_row("notification delay", &tm.notification_delay));
    t.render(&mut out);
    let mut t = Table::new(&["service", "availability", "downtime (s)", "annual downtime (s)", "intervals"]);
    for s in &card.services {
        let a = &s.metrics.availability;
        t.row(vec![
            s.service.as_str().to_owned(),
            rate_text(&a.availability),
            opt_dec(a.downtime_seconds),
            opt_dec(a.annual_downtime_seconds),
            a.outage_intervals.to_string(),
        ]);
    }
    t.render(&mut out);
    if !card.business_services.is_empty() {
        let _ = writeln!(
            out,
            "business services (rolled up through the service model; planned maintenance is not agreed time):"
        );
        let mut t = Table::new(&[
            "business service",
            "criticality",
            "availability",
            "downtime (s)",
            "annual downtime (s)",
            "planned (s)",
            "level",
        ]);
        for b in &card.business_services {
            let a = &b.availability;
            let level = b.ratings.iter().map(|r| r.rating.level).min().map_or("-", |l| l.as_str());
            t.row(vec![
                b.service.as_str().to_owned(),
                b.criticality.as_str().to_owned(),
                rate_text(&a.availability),
                opt_dec(a.downtime_seconds),
                opt_dec(a.annual_downtime_seconds),
                b.planned_seconds.to_string(),
                level.to_owned(),
            ]);
        }
        t.render(&mut out);
    }
    if !card.open_outages.is_empty() {
        let _ = writeln!(
            out,
            "{} outage incident(s) still unrestored at the end of the period count as downtime until then:",
            card.open_outages.len()
        );
        let mut t = Table::new(&["service", "incident", "since"]);
        for o in &card.open_outages {
            t.row(vec![o.service.clone(), o.incident.clone(), o.since.to_string()]);
        }
        t.render(&mut out);
    }
    let mut t = Table::new(&["month", "partial", "incidents", "repeats", "repeat rate"]);
    for m in &card.months {
        t.row(vec![
            m.month.clone(),
            m.partial.to_string(),
            m.incidents.to_string(),
            m.repeats.to_string(),
            rate_text(&m.repeat_rate),
        ]);
    }
    t.render(&mut out);
    let mut t = Table::new(&["trend", "status", "periods", "S", "z", "p", "Sen slope", "reading"]);
    for tr in &card.trends {
        let (s, z, p, slope) = match &tr.test {
            Some(k) => {
                (k.s.to_string(), format!("{:.4}", k.z), format!("{:.6}", k.p_value), format!("{:.6}", k.sen_slope))
            }
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let status =
            serde_json::to_value(tr.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let reading = tr
            .reading
            .and_then(|r| serde_json::to_value(r).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "-".into());
        t.row(vec![tr.series.as_str().to_owned(), status, tr.periods.to_string(), s, z, p, slope, reading]);
    }
    t.render(&mut out);
    let mut t = Table::new(&["restore time", "count"]);
    for b in &card.restore_histogram {
        t.row(vec![b.label.clone(), b.count.to_string()]);
    }
    t.render(&mut out);
    let mut t = Table::new(&["service", "FCFR normal", "FCFR emergency", "incidents", "repeat rate", "MTTR mean (s)"]);
    for s in &card.services {
        let m = &s.metrics;
        let fc = |i: usize| m.changes.get(i).map(|c| rate_text(&c.first_change_failure_rate)).unwrap_or_default();
        t.row(vec![
            s.service.as_str().to_owned(),
            fc(1),
            fc(2),
            m.incidents.total.to_string(),
            rate_text(&m.incidents.repeat_rate),
            opt_dec(m.restore_time.mean_seconds),
        ]);
    }
    t.render(&mut out);
    if !card.ratings.notes.is_empty() {
        let _ = writeln!(out, "notes:");
        for n in &card.ratings.notes {
            let _ = writeln!(out, "- {}", clean(n));
        }
    }
    out
}
