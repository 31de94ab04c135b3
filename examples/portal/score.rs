//! The scorecard of the actor's tenant, from the store's metrics read model
//! (as the `scorecard` example computes it), for the last full calendar
//! quarter before now.

use chrono::{Datelike, TimeZone};
use itsm_core::{Role, Timestamp};
use itsm_metrics::{Accumulator, Scorecard, ScorecardConfig, Thresholds};

use super::Shared;
use super::auth::Authed;
use super::problem::ApiError;
use crate::records::accumulate;

/// The last full calendar quarter (UTC) before `now`: `[from, to)`.
pub fn last_quarter(now: Timestamp) -> (Timestamp, Timestamp) {
    let utc = now.as_utc();
    let first_month = (utc.month0() / 3) * 3 + 1;
    let start_of = |year: i32, month: u32| {
        chrono::Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().map_or(now, Timestamp::from_utc)
    };
    let to = start_of(utc.year(), first_month);
    let (year, month) = if first_month == 1 { (utc.year() - 1, 10) } else { (utc.year(), first_month - 3) };
    (start_of(year, month), to)
}

/// The tenant's scorecard: refused to an actor who holds only the requester
/// role (it is tenant-wide).
pub async fn scorecard(portal: &Shared, who: &Authed) -> Result<Scorecard, ApiError> {
    if who.actor.roles.iter().all(|r| *r == Role::Requester) {
        return Err(ApiError::forbidden("the scorecard covers the whole tenant: agents and managers only"));
    }
    let now = portal.now();
    let (from, to) = last_quarter(now);
    let internal = |e: String| ApiError::of_kind(itsm_store::ErrorKind::Internal, e);
    let config = ScorecardConfig::new(from, to).map_err(|e| internal(e.to_string()))?;
    let mut acc = Accumulator::new(config).map_err(|e| internal(e.to_string()))?;
    accumulate(&portal.store, &who.actor.tenant, &mut acc, now, |_| {}).await.map_err(internal)?;
    Ok(acc.finish(&Thresholds::maturity_model()))
}
