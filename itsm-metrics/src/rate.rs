//! Exact rates: numerator and denominator as integers, the value as a decimal.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Decimal places kept in [`Rate::value`] (display only; ratings use the integers).
pub const RATE_VALUE_DP: u32 = 12;

/// An exact fraction. A zero denominator means "no data": `value` is `None`, never 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// Numerator.
    pub numerator: u64,
    /// Denominator.
    pub denominator: u64,
    /// `numerator / denominator` rounded half-even to 12 decimal places; `None` when the denominator is 0.
    pub value: Option<Decimal>,
    /// The record ids behind the numerator and the denominator (only with `ScorecardOptions::with_ids`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<RateIds>,
}

/// Record ids behind a rate, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RateIds {
    /// Ids counted in the numerator.
    pub numerator: Vec<String>,
    /// Ids counted in the denominator.
    pub denominator: Vec<String>,
}

impl Rate {
    /// A rate without ids.
    pub fn new(numerator: u64, denominator: u64) -> Rate {
        Rate { numerator, denominator, value: rate_value(numerator, denominator), ids: None }
    }

    /// A rate with ids (sorted here).
    pub fn with_ids(mut numerator: Vec<String>, mut denominator: Vec<String>) -> Rate {
        numerator.sort_unstable();
        denominator.sort_unstable();
        let mut rate = Rate::new(numerator.len() as u64, denominator.len() as u64);
        rate.ids = Some(RateIds { numerator, denominator });
        rate
    }

    /// The sum of two rates (numerators and denominators added; ids merged).
    pub fn sum(&self, other: &Rate) -> Rate {
        let numerator = self.numerator.saturating_add(other.numerator);
        let denominator = self.denominator.saturating_add(other.denominator);
        let ids = match (&self.ids, &other.ids) {
            (None, None) => None,
            (a, b) => {
                let mut out = RateIds::default();
                for ids in [a, b].into_iter().flatten() {
                    out.numerator.extend(ids.numerator.iter().cloned());
                    out.denominator.extend(ids.denominator.iter().cloned());
                }
                out.numerator.sort_unstable();
                out.denominator.sort_unstable();
                Some(out)
            }
        };
        Rate { numerator, denominator, value: rate_value(numerator, denominator), ids }
    }

    /// An empty rate (0 / 0, no data) with empty id lists when `with_ids`.
    pub fn empty(with_ids: bool) -> Rate {
        let mut rate = Rate::new(0, 0);
        if with_ids {
            rate.ids = Some(RateIds::default());
        }
        rate
    }
}

/// `numerator / denominator` rounded to [`RATE_VALUE_DP`] places, `None` for a zero denominator.
pub fn rate_value(numerator: u64, denominator: u64) -> Option<Decimal> {
    if denominator == 0 {
        return None;
    }
    Decimal::from(numerator)
        .checked_div(Decimal::from(denominator))
        .map(|v| v.round_dp_with_strategy(RATE_VALUE_DP, RoundingStrategy::MidpointNearestEven).normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_denominator_is_no_data_not_zero() {
        assert_eq!(Rate::new(0, 0).value, None);
        assert_eq!(Rate::new(0, 5).value, Some(Decimal::ZERO));
        assert_eq!(Rate::new(1, 20).value, Some(Decimal::new(5, 2)));
        assert_eq!(Rate::new(1, 3).value.unwrap().to_string(), "0.333333333333");
        assert_eq!(Rate::new(u64::MAX, u64::MAX).value, Some(Decimal::ONE));
    }

    #[test]
    fn json_has_integers_and_a_decimal_string() {
        let json = serde_json::to_string(&Rate::new(1, 200)).unwrap();
        assert_eq!(json, r#"{"numerator":1,"denominator":200,"value":"0.005"}"#);
        let none = serde_json::to_string(&Rate::new(0, 0)).unwrap();
        assert_eq!(none, r#"{"numerator":0,"denominator":0,"value":null}"#);
    }
}
