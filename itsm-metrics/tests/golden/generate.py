#!/usr/bin/env python3
# Golden vectors for itsm-metrics, produced by independent tools.
#
# Exact command (from the workspace root):
#   pip install statsmodels pymannkendall && python3 itsm-metrics/tests/golden/generate.py
#
# Writes wilson.json (statsmodels proportion_confint, method="wilson"),
# mann_kendall.json (pymannkendall.original_test) and erfc.json (math.erfc),
# next to this script. The Rust tests in itsm-metrics/tests/golden.rs compare
# against them within 1e-9.
import json
import math
import os
from fractions import Fraction

import numpy as np
import pymannkendall
import statsmodels
from statsmodels.stats.proportion import proportion_confint

HERE = os.path.dirname(os.path.abspath(__file__))
COMMAND = "pip install statsmodels pymannkendall && python3 itsm-metrics/tests/golden/generate.py"

WILSON_CASES = [
    (0, 1), (1, 1), (0, 10), (1, 10), (0, 50), (1, 200), (3, 100), (5, 100), (2999, 100000),
    (100, 100), (37, 1000), (1, 3), (7, 7), (0, 5990), (123456, 1000000), (999, 1000),
    (0, 73), (0, 381), (1, 381), (50, 51), (2, 765), (0, 3838),
]

# (name, values as [numerator, denominator] or null for a missing period)
MK_CASES = [
    ("increasing", [[v, 1] for v in [3, 5, 4, 8, 9, 12, 11, 15]]),
    ("decreasing", [[v, 1] for v in [40, 38, 39, 30, 31, 25, 20, 22, 18, 10]]),
    ("no_trend", [[v, 1] for v in [10, 12, 9, 11, 10, 13, 8, 12]]),
    ("ties", [[v, 1] for v in [5, 5, 6, 6, 6, 7, 5, 8, 8, 9]]),
    ("constant", [[v, 1] for v in [4, 4, 4, 4, 4, 4]]),
    ("five_points", [[v, 1] for v in [1, 2, 3, 4, 5]]),
    ("rates", [[1, 10], [2, 15], [3, 14], [5, 20], [4, 9], [7, 21], [6, 13], [9, 19]]),
    ("rates_with_gap", [[1, 10], [2, 15], None, [5, 20], [4, 9], [7, 21], None, [9, 19]]),
    ("long_seasonal", [[int(50 + 10 * math.sin(i / 2.0) + i // 3), 1] for i in range(36)]),
]

ERFC_POINTS = [0.0, 1e-8, 0.1, 0.5, 0.8, 1.0, 1.3859, 1.5, 1.999, 2.0, 2.001, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, -0.5, -2.5]


def wilson():
    cases = []
    for x, n in WILSON_CASES:
        lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
        cases.append({"events": x, "n": n, "lower": float(lo), "upper": float(hi)})
    return {
        "command": COMMAND,
        "tool": f"statsmodels {statsmodels.__version__} proportion_confint(count, nobs, alpha=0.05, method='wilson')",
        "cases": cases,
    }


def mann_kendall():
    cases = []
    for name, values in MK_CASES:
        x = np.array([np.nan if v is None else float(Fraction(v[0], v[1])) for v in values], dtype=float)
        r = pymannkendall.original_test(x, alpha=0.05)
        cases.append({
            "name": name,
            "values": values,
            "alpha": 0.05,
            "trend": r.trend,
            "s": float(r.s),
            "var_s": float(r.var_s),
            "z": float(r.z),
            "p": float(r.p),
            "tau": float(r.Tau),
            "slope": float(r.slope),
            "intercept": float(r.intercept),
        })
    return {
        "command": COMMAND,
        "tool": f"pymannkendall {pymannkendall.__version__} original_test(x, alpha=0.05)",
        "cases": cases,
    }


def erfc():
    return {
        "command": COMMAND,
        "tool": "python math.erfc",
        "cases": [{"x": x, "erfc": math.erfc(x)} for x in ERFC_POINTS],
    }


def write(name, data):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    write("wilson.json", wilson())
    write("mann_kendall.json", mann_kendall())
    write("erfc.json", erfc())
