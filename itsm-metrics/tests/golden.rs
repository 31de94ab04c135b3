//! Compares the crate's statistics with golden vectors produced by independent
//! tools (statsmodels, pymannkendall, Python's math.erfc); see golden/generate.py.

use itsm_metrics::stats::{self, Ratio, SeriesPoint, TrendDirection};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= TOL, "{what}: got {got}, want {want}");
}

#[test]
fn wilson_matches_statsmodels() {
    let golden = load("wilson.json");
    assert!(golden["command"].as_str().unwrap().contains("generate.py"));
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for c in cases {
        let x = c["events"].as_u64().unwrap();
        let n = c["n"].as_u64().unwrap();
        let w = stats::wilson_interval(x, n).unwrap();
        close(w.lower, c["lower"].as_f64().unwrap(), &format!("lower {x}/{n}"));
        close(w.upper, c["upper"].as_f64().unwrap(), &format!("upper {x}/{n}"));
    }
}

#[test]
fn mann_kendall_matches_pymannkendall() {
    let golden = load("mann_kendall.json");
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let points: Vec<SeriesPoint> = c["values"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_null())
            .map(|(i, v)| SeriesPoint {
                position: i as i64,
                value: Ratio { num: v[0].as_u64().unwrap(), den: v[1].as_u64().unwrap() },
            })
            .collect();
        let alpha = c["alpha"].as_f64().unwrap();
        let mk = stats::mann_kendall(&points, alpha, 5).unwrap_or_else(|| panic!("{name}: no result"));
        close(mk.s as f64, c["s"].as_f64().unwrap(), &format!("{name} s"));
        close(mk.var_s, c["var_s"].as_f64().unwrap(), &format!("{name} var_s"));
        close(mk.z, c["z"].as_f64().unwrap(), &format!("{name} z"));
        close(mk.p_value, c["p"].as_f64().unwrap(), &format!("{name} p"));
        close(mk.tau, c["tau"].as_f64().unwrap(), &format!("{name} tau"));
        close(mk.sen_slope, c["slope"].as_f64().unwrap(), &format!("{name} slope"));
        close(mk.intercept, c["intercept"].as_f64().unwrap(), &format!("{name} intercept"));
        let want = match c["trend"].as_str().unwrap() {
            "increasing" => TrendDirection::Increasing,
            "decreasing" => TrendDirection::Decreasing,
            _ => TrendDirection::NoTrend,
        };
        assert_eq!(mk.direction, want, "{name} direction");
    }
}

#[test]
fn erfc_matches_python() {
    let golden = load("erfc.json");
    for c in golden["cases"].as_array().unwrap() {
        let x = c["x"].as_f64().unwrap();
        let want = c["erfc"].as_f64().unwrap();
        let got = stats::erfc(x);
        // Absolute 1e-15, and relative 1e-12 for the small tail values.
        assert!((got - want).abs() <= 1e-15 + want.abs() * 1e-12, "erfc({x}) = {got}, want {want}");
    }
}

#[test]
fn fewer_than_five_periods_is_insufficient() {
    let pts: Vec<SeriesPoint> =
        (0..4).map(|i| SeriesPoint { position: i, value: Ratio { num: i as u64, den: 1 } }).collect();
    assert!(stats::mann_kendall(&pts, 0.05, 5).is_none());
}
