//! Renderers: text table, JSON, CSV and a self-contained HTML page.

use crate::error::RenderError;
use crate::scorecard::Scorecard;

/// Pretty JSON (see `JSON.md` for the contract).
pub fn json(card: &Scorecard) -> Result<String, RenderError> {
    Ok(serde_json::to_string_pretty(card)?)
}
