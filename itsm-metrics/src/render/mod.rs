//! Renderers: a text table, JSON, CSV and a self-contained HTML page (inline
//! CSS and SVG charts, no scripts, no external resources). None of them panics,
//! whatever the scorecard holds.

mod csv;
mod html;
mod text;

use rust_decimal::Decimal;

use crate::error::RenderError;
use crate::rate::Rate;
use crate::rating::{Evidence, Rating};
use crate::scorecard::Scorecard;
use crate::thresholds::Unit;

pub use self::csv::{CSV_HEADER, csv};
pub use self::html::html;
pub use self::text::text;

/// Pretty JSON (see `JSON.md` for the contract).
pub fn json(card: &Scorecard) -> Result<String, RenderError> {
    Ok(serde_json::to_string_pretty(card)?)
}

/// `n/d (v%)` or `n/0 (no data)`.
pub(crate) fn rate_text(r: &Rate) -> String {
    match percent(r) {
        Some(p) => format!("{}/{} ({}%)", r.numerator, r.denominator, p),
        None => format!("{}/{} (no data)", r.numerator, r.denominator),
    }
}

/// The rate as a percentage rounded to 4 places.
pub(crate) fn percent(r: &Rate) -> Option<Decimal> {
    if r.denominator == 0 {
        return None;
    }
    Decimal::from(r.numerator)
        .checked_mul(Decimal::ONE_HUNDRED)
        .and_then(|v| v.checked_div(Decimal::from(r.denominator)))
        .map(|v| v.round_dp(4).normalize())
}

pub(crate) fn opt_dec(d: Option<Decimal>) -> String {
    d.map(|d| d.normalize().to_string()).unwrap_or_else(|| "-".to_owned())
}

/// A median or p90: the value, with its relative error bound when it was read
/// from bins (`1234 (±0.390625%)`), `-` when there is none.
pub(crate) fn percentile_text(d: Option<Decimal>, error: Decimal) -> String {
    match (d, error.checked_mul(Decimal::ONE_HUNDRED)) {
        (Some(v), Some(pct)) if !error.is_zero() => format!("{} (±{}%)", v.normalize(), pct.normalize()),
        _ => opt_dec(d),
    }
}

pub(crate) fn opt_u64(d: Option<u64>) -> String {
    d.map(|d| d.to_string()).unwrap_or_else(|| "-".to_owned())
}

pub(crate) fn evidence_text(e: &Evidence) -> String {
    match e {
        Evidence::InsufficientSample { needed } => format!("insufficient_sample (needs {needed})"),
        other => other.as_str().to_owned(),
    }
}

pub(crate) fn value_text(value: Option<Decimal>, unit: Option<Unit>) -> String {
    match (value, unit) {
        (Some(v), Some(u)) => format!("{}{}", v.normalize(), u.suffix()),
        (Some(v), None) => v.normalize().to_string(),
        (None, _) => "-".to_owned(),
    }
}

pub(crate) fn bound_text(r: &Rating) -> String {
    match &r.bound {
        Some(b) => format!("{} {}{}", b.op.symbol(), b.value.normalize(), b.unit.suffix()),
        None => "-".to_owned(),
    }
}

/// Replaces control characters so a name cannot break a line-based layout.
pub(crate) fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}
