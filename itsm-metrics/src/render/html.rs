//! A self-contained HTML page: inline CSS and inline SVG charts, no scripts,
//! no external fonts or files; every text is escaped.

use std::fmt::Write;

use super::{bound_text, evidence_text, opt_dec, opt_u64, percent, percentile_text, rate_text, value_text};
use crate::rating::Level;
use crate::scorecard::{DurationStats, Metrics, Scorecard};

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn level_class(level: Level) -> &'static str {
    match level {
        Level::NoData => "nodata",
        Level::BelowLevel1 => "below",
        Level::L1 | Level::L2 => "low",
        Level::L3 => "mid",
        Level::L4 | Level::L5 => "high",
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#1b1f24;background:#fff}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d0d7de}\
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}\
th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.nodata{background:#eee}.below{background:#ffd7d5}.low{background:#fff1c2}.mid{background:#dafbe1}.high{background:#aceebb}\
.muted{color:#57606a;font-size:.85em;max-width:28em}svg{background:#fbfbfc;border:1px solid #d0d7de}";

/// Bars of monthly incident counts with the repeat rate as a line.
fn monthly_chart(card: &Scorecard) -> String {
    let n = card.months.len();
    let (w, h, left, bottom, top) = (760.0f64, 260.0f64, 50.0f64, 40.0f64, 20.0f64);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Monthly incidents and repeat rate\">"
    );
    if n == 0 {
        svg.push_str("<text x=\"20\" y=\"40\">no months</text></svg>");
        return svg;
    }
    let max = card.months.iter().map(|m| m.incidents).max().unwrap_or(0).max(1) as f64;
    let plot_w = w - left - 50.0;
    let plot_h = h - bottom - top;
    let slot = plot_w / n as f64;
    let bar = (slot * 0.7).max(1.0);
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#57606a\"/>",
        y = top + plot_h,
        x2 = left + plot_w
    );
    let _ = write!(svg, "<text x=\"4\" y=\"{}\" font-size=\"11\">{}</text>", top + 4.0, max as u64);
    let _ = write!(svg, "<text x=\"4\" y=\"{}\" font-size=\"11\">0</text>", top + plot_h);
    let _ = write!(svg, "<text x=\"{}\" y=\"{}\" font-size=\"11\">100%</text>", left + plot_w + 4.0, top + 4.0);
    let mut points = Vec::new();
    let label_every = (n / 12).max(1);
    for (i, m) in card.months.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let bh = plot_h * (m.incidents as f64 / max);
        let fill = if m.partial { "#b6c6e3" } else { "#4c78a8" };
        let _ = write!(
            svg,
            "<rect x=\"{x:.2}\" y=\"{:.2}\" width=\"{bar:.2}\" height=\"{bh:.2}\" fill=\"{fill}\"><title>{}: {} incidents, {} repeats</title></rect>",
            top + plot_h - bh,
            esc(&m.month),
            m.incidents,
            m.repeats
        );
        if i % label_every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.2}\" y=\"{:.2}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                left + slot * (i as f64 + 0.5),
                top + plot_h + 14.0,
                esc(&m.month)
            );
        }
        if m.incidents > 0 {
            let rate = m.repeats as f64 / m.incidents as f64;
            let rate = if rate.is_finite() { rate.clamp(0.0, 1.0) } else { 0.0 };
            points.push(format!("{:.2},{:.2}", left + slot * (i as f64 + 0.5), top + plot_h * (1.0 - rate)));
        }
    }
    if points.len() > 1 {
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"#e45756\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
    }
    for p in &points {
        if let Some((x, y)) = p.split_once(',') {
            let _ = write!(svg, "<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"#e45756\"/>");
        }
    }
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"{}\" font-size=\"11\">bars: incidents opened (light = partial month); line: repeat rate (right axis)</text>",
        h - 6.0
    );
    svg.push_str("</svg>");
    svg
}

/// Bars of the restore-time histogram.
fn histogram_chart(card: &Scorecard) -> String {
    let n = card.restore_histogram.len();
    let (w, h, left, bottom, top) = (760.0f64, 220.0f64, 50.0f64, 40.0f64, 20.0f64);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Restore time distribution\">"
    );
    if n == 0 {
        svg.push_str("<text x=\"20\" y=\"40\">no data</text></svg>");
        return svg;
    }
    let max = card.restore_histogram.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let plot_w = w - left - 20.0;
    let plot_h = h - bottom - top;
    let slot = plot_w / n as f64;
    let _ = write!(svg, "<text x=\"4\" y=\"{}\" font-size=\"11\">{}</text>", top + 4.0, max as u64);
    for (i, b) in card.restore_histogram.iter().enumerate() {
        let x = left + slot * i as f64 + slot * 0.1;
        let bh = plot_h * (b.count as f64 / max);
        let _ = write!(
            svg,
            "<rect x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{bh:.2}\" fill=\"#54a24b\"><title>{}: {}</title></rect>",
            top + plot_h - bh,
            slot * 0.8,
            esc(&b.label),
            b.count
        );
        let _ = write!(
            svg,
            "<text x=\"{:.2}\" y=\"{:.2}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            left + slot * (i as f64 + 0.5),
            top + plot_h + 14.0,
            esc(&b.label)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"{}\" font-size=\"11\">restore time (restored_at - impact_start) of incidents restored in the period</text>",
        h - 6.0
    );
    svg.push_str("</svg>");
    svg
}

fn duration_row(out: &mut String, name: &str, d: &DurationStats) {
    let _ = write!(
        out,
        "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        esc(name),
        d.n,
        esc(&opt_dec(d.mean_seconds)),
        esc(&percentile_text(d.median_seconds, d.percentile_error)),
        esc(&percentile_text(d.p90_seconds, d.percentile_error)),
        esc(&opt_u64(d.max_seconds)),
        d.censored
    );
}

fn metrics_html(out: &mut String, m: &Metrics) {
    out.push_str("<table><tr><th>change type</th><th>first change failure</th><th>rollback failure (of attempts)</th><th>rollback failure (of implemented)</th><th>rollback attempts</th><th>automatic rollbacks (of failed)</th><th>authorized in time</th></tr>");
    for c in &m.changes {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(c.change_type.as_str()),
            esc(&rate_text(&c.first_change_failure_rate)),
            esc(&rate_text(&c.rollback_failure_rate)),
            esc(&rate_text(&c.rollback_failure_share_of_implemented)),
            esc(&rate_text(&c.rollback_attempt_rate)),
            esc(&rate_text(&c.automatic_rollback_share)),
            esc(&rate_text(&c.authorized_in_time))
        );
    }
    out.push_str("</table>");
    let i = &m.incidents;
    out.push_str("<table><tr><th>incident KPI</th><th>value</th></tr>");
    for (name, v) in [
        ("opened in period", i.total.to_string()),
        ("major", i.major.to_string()),
        ("resolution rate", rate_text(&i.resolution_rate)),
        ("first-line resolution rate", rate_text(&i.first_line_resolution_rate)),
        ("automated recovery share", rate_text(&i.automated_recovery_share)),
        ("proactive detection share", rate_text(&i.proactive_detection_share)),
        ("on-time resolution rate", rate_text(&i.on_time_resolution_rate)),
        ("resolved with unknown target", i.resolved_with_unknown_target.to_string()),
        ("repeat rate", rate_text(&i.repeat_rate)),
        ("repeat or major incidents with a problem", rate_text(&i.problem_review_share)),
    ] {
        let _ = write!(out, "<tr><td>{}</td><td class=\"num\">{}</td></tr>", esc(name), esc(&v));
    }
    out.push_str("</table><table><tr><th>priority</th><th>SLA attainment</th></tr>");
    for p in &m.sla_attainment {
        let _ = write!(
            out,
            "<tr><td>P{}</td><td class=\"num\">{}</td></tr>",
            esc(p.priority.as_str()),
            esc(&rate_text(&p.attainment))
        );
    }
    out.push_str("</table><table><tr><th>restore time (seconds)</th><th>n</th><th>mean</th><th>median</th><th>p90</th><th>max</th><th>censored</th></tr>");
    duration_row(out, "all", &m.restore_time);
    for c in &m.restore_time_by_class {
        duration_row(out, c.failure_class.as_str(), &c.stats);
    }
    duration_row(out, "acknowledge (MTTA)", &m.acknowledge_time);
    out.push_str("</table>");
}

/// A self-contained HTML page.
pub fn html(card: &Scorecard) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>ITSM scorecard {} .. {}</title><style>{STYLE}</style></head><body>",
        esc(&card.period.from.to_string()),
        esc(&card.period.to.to_string())
    );
    let _ = write!(
        out,
        "<h1>ITSM scorecard</h1><p>Period {} .. {} (monthly buckets in {}). Inputs: {} incidents, {} changes, {} outages, {} alert receipts, {} notifications. Thresholds: {}.</p>",
        esc(&card.period.from.to_string()),
        esc(&card.period.to.to_string()),
        esc(&card.period.zone),
        card.inputs.incidents,
        card.inputs.changes,
        card.inputs.outages,
        card.inputs.alert_receipts,
        card.inputs.notifications,
        esc(&card.ratings.thresholds)
    );
    out.push_str("<h2>Maturity by table</h2><table><tr><th>table</th><th>title</th><th>level</th><th>limited by</th><th>no data</th></tr>");
    for t in &card.ratings.tables {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td class=\"muted\">{}</td></tr>",
            t.table,
            esc(&t.title),
            level_class(t.level),
            esc(t.level.as_str()),
            esc(t.limited_by.as_deref().unwrap_or("-")),
            esc(&t.no_data.join(", "))
        );
    }
    out.push_str("</table><h2>Metric ratings</h2><table><tr><th>table</th><th>metric</th><th>value</th><th>n</th><th>level</th><th>bound</th><th>demonstrated (95%)</th><th>evidence</th><th>source</th></tr>");
    for m in &card.ratings.metrics {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"muted\">{}</td></tr>",
            m.table,
            esc(&m.label),
            esc(&value_text(m.value, m.unit)),
            esc(&opt_u64(m.sample)),
            level_class(m.rating.level),
            esc(m.rating.level.as_str()),
            esc(&bound_text(&m.rating)),
            esc(m.rating.demonstrated_level.map(|l| l.as_str()).unwrap_or("-")),
            esc(&evidence_text(&m.rating.evidence)),
            esc(&m.source)
        );
    }
    out.push_str("</table><h2>Monthly trend</h2>");
    out.push_str(&monthly_chart(card));
    out.push_str("<table><tr><th>series</th><th>status</th><th>periods</th><th>S</th><th>z</th><th>p</th><th>Sen slope / month</th><th>reading</th></tr>");
    for t in &card.trends {
        let status =
            serde_json::to_value(t.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let reading = t
            .reading
            .and_then(|r| serde_json::to_value(r).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "-".into());
        let (s, z, p, slope) = match &t.test {
            Some(k) => {
                (k.s.to_string(), format!("{:.4}", k.z), format!("{:.6}", k.p_value), format!("{:.6}", k.sen_slope))
            }
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(t.series.as_str()),
            esc(&status),
            t.periods,
            esc(&s),
            esc(&z),
            esc(&p),
            esc(&slope),
            esc(&reading)
        );
    }
    out.push_str("</table><h2>Restore-time distribution</h2>");
    out.push_str(&histogram_chart(card));
    out.push_str("<h2>All services</h2>");
    metrics_html(&mut out, &card.total);
    let tm = &card.timeliness;
    let _ = write!(
        out,
        "<table><tr><th>timeliness</th><th>bound (s)</th><th>in time</th><th>pending</th></tr><tr><td>alerts received (fired &rarr; received)</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">-</td></tr><tr><td>notifications to people (event &rarr; delivered)</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr></table>",
        tm.alert_delay_bound_seconds,
        esc(&rate_text(&tm.alert_delay_within)),
        tm.notification_bound_seconds,
        esc(&rate_text(&tm.notified_in_time)),
        tm.notifications_pending
    );
    out.push_str("<table><tr><th>delay (seconds)</th><th>n</th><th>mean</th><th>median</th><th>p90</th><th>max</th><th>censored</th></tr>");
    duration_row(&mut out, "alert delay", &tm.alert_delay);
    duration_row(&mut out, "notification delay", &tm.notification_delay);
    out.push_str("</table>");
    out.push_str("<h2>Availability by service</h2><table><tr><th>service</th><th>availability</th><th>downtime (s)</th><th>annual downtime (s)</th><th>intervals</th></tr>");
    for s in &card.services {
        let a = &s.metrics.availability;
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(s.service.as_str()),
            esc(&percent(&a.availability).map(|p| format!("{p}%")).unwrap_or_else(|| "-".into())),
            esc(&opt_dec(a.downtime_seconds)),
            esc(&opt_dec(a.annual_downtime_seconds)),
            a.outage_intervals
        );
    }
    out.push_str("</table>");
    if !card.business_services.is_empty() {
        out.push_str("<h2>Availability by business service</h2><p>Rolled up through the service model; planned maintenance is not agreed service time.</p><table><tr><th>business service</th><th>criticality</th><th>availability</th><th>downtime (s)</th><th>annual downtime (s)</th><th>planned (s)</th><th>level</th></tr>");
        for b in &card.business_services {
            let a = &b.availability;
            let level = b.ratings.iter().map(|r| r.rating.level).min().map_or("-", |l| l.as_str());
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                esc(b.service.as_str()),
                esc(b.criticality.as_str()),
                esc(&percent(&a.availability).map(|p| format!("{p}%")).unwrap_or_else(|| "-".into())),
                esc(&opt_dec(a.downtime_seconds)),
                esc(&opt_dec(a.annual_downtime_seconds)),
                esc(&b.planned_seconds.to_string()),
                esc(level)
            );
        }
        out.push_str("</table>");
    }
    if !card.open_outages.is_empty() {
        let _ = write!(
            out,
            "<h2>Open outages</h2><p>{} outage incident(s) still unrestored at the end of the period count as downtime until then.</p><table><tr><th>service</th><th>incident</th><th>since</th></tr>",
            card.open_outages.len()
        );
        for o in &card.open_outages {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&o.service),
                esc(&o.incident),
                esc(&o.since.to_string())
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Per service</h2>");
    for s in &card.services {
        let _ = write!(out, "<h3>{}</h3>", esc(s.service.as_str()));
        metrics_html(&mut out, &s.metrics);
    }
    if !card.ratings.notes.is_empty() {
        out.push_str("<h2>Notes</h2><ul>");
        for n in &card.ratings.notes {
            let _ = write!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ul>");
    }
    out.push_str("</body></html>\n");
    out
}
