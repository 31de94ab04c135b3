#!/usr/bin/env python3
"""Checks that the scorecard JSON (itsm-metrics/JSON.md) and polars_scorecard.py's JSON agree.

    python3 compare.py ours.json polars.json

Compared, figure by figure (where each lives in our JSON):
- total.changes[]: per change type, first_change_failure_rate, rollback_failure_rate,
  rollback_failure_share_of_implemented, rollback_attempt_rate (numerator and denominator);
- total.incidents: total, resolution_rate, first_line_resolution_rate,
  automated_recovery_share, proactive_detection_share, repeat_rate;
- total.restore_time and total.restore_time_by_class[]: n, total_seconds, max_seconds,
  censored exactly; mean, median and p90 within 1e-6 s (our median and p90 must be exact:
  percentile_error "0");
- services[].availability.downtime_seconds against the polars downtime per service, within
  1e-6 s (a service absent on one side has no downtime there);
- months[]: incidents and repeats per month.

Exits 0 when every figure agrees, 1 on any mismatch (each one printed), 2 on unusable input.
The on-time resolution rate and SLA attainment are not compared (the polars peer does not
compute them: they need the SLA policy engine).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal

TOLERANCE = Decimal("0.000001")


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: compare.py OURS.json POLARS.json", file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1]) as f:
            ours = json.load(f, parse_float=Decimal)
        with open(sys.argv[2]) as f:
            peer = json.load(f, parse_float=Decimal)
    except (OSError, json.JSONDecodeError) as e:
        print(f"compare.py: cannot read input: {e}", file=sys.stderr)
        return 2

    mismatches: list[str] = []
    checked = 0

    def same(label: str, a, b) -> None:
        nonlocal checked
        checked += 1
        if a != b:
            mismatches.append(f"{label}: ours {a!r}, polars {b!r}")

    def close(label: str, a, b) -> None:
        nonlocal checked
        checked += 1
        if a is None or b is None:
            if a is not None or b is not None:
                mismatches.append(f"{label}: ours {a!r}, polars {b!r}")
            return
        da, db = Decimal(str(a)), Decimal(str(b))
        if abs(da - db) > TOLERANCE:
            mismatches.append(f"{label}: ours {da}, polars {db} (difference {da - db})")

    def rates(label: str, a: dict, b: dict) -> None:
        same(f"{label}.numerator", a.get("numerator"), b.get("numerator"))
        same(f"{label}.denominator", a.get("denominator"), b.get("denominator"))

    try:
        total = ours["total"]

        # Changes per type.
        ours_changes = {c["change_type"]: c for c in total["changes"]}
        for c in peer["changes"]:
            t = c["change_type"]
            o = ours_changes.get(t)
            if o is None:
                mismatches.append(f"total.changes[{t}]: missing in ours")
                continue
            for key in ("first_change_failure_rate", "rollback_failure_rate",
                        "rollback_failure_share_of_implemented", "rollback_attempt_rate"):
                rates(f"total.changes[{t}].{key}", o[key], c[key])

        # Incident KPIs.
        oi, pi = total["incidents"], peer["incidents"]
        same("total.incidents.total", oi["total"], pi["total"])
        for key in ("resolution_rate", "first_line_resolution_rate", "automated_recovery_share",
                    "proactive_detection_share", "repeat_rate"):
            rates(f"total.incidents.{key}", oi[key], pi[key])

        # Restore time, overall and per failure class.
        def stats(label: str, o: dict, p: dict) -> None:
            for key in ("n", "total_seconds", "max_seconds", "censored"):
                same(f"{label}.{key}", o[key], p[key])
            if o.get("percentile_error") not in ("0", None):
                mismatches.append(
                    f"{label}.percentile_error: ours {o['percentile_error']} (median and p90 binned, "
                    "not exact: the CSV path is meant to keep every duration)"
                )
            for key in ("mean_seconds", "median_seconds", "p90_seconds"):
                close(f"{label}.{key}", o[key], p[key])

        stats("total.restore_time", total["restore_time"], peer["restore_time"])
        ours_classes = {c["failure_class"]: c["stats"] for c in total["restore_time_by_class"]}
        for c in peer["restore_time_by_class"]:
            k = c["failure_class"]
            if k not in ours_classes:
                mismatches.append(f"total.restore_time_by_class[{k}]: missing in ours")
                continue
            stats(f"total.restore_time_by_class[{k}]", ours_classes[k], c["stats"])

        # Downtime per service.
        ours_down = {}
        for s in ours["services"]:
            d = s["availability"]["downtime_seconds"]
            if d is None:
                mismatches.append(f"services[{s['service']}].availability.downtime_seconds: null (no outage source?)")
                continue
            ours_down[s["service"]] = Decimal(d)
        peer_down = {a["service"]: Decimal(a["downtime_us"]) / Decimal(1_000_000) for a in peer["availability"]}
        for service in sorted(set(ours_down) | set(peer_down)):
            close(f"services[{service}].availability.downtime_seconds",
                  ours_down.get(service, Decimal(0)), peer_down.get(service, Decimal(0)))

        # Months.
        ours_months = {m["month"]: m for m in ours["months"]}
        peer_months = {m["month"]: m for m in peer["months"]}
        for month in sorted(set(ours_months) | set(peer_months)):
            o, p = ours_months.get(month), peer_months.get(month)
            for key in ("incidents", "repeats"):
                same(f"months[{month}].{key}", o[key] if o else 0, p[key] if p else 0)
    except (KeyError, TypeError) as e:
        print(f"compare.py: unexpected JSON shape: missing or malformed {e}", file=sys.stderr)
        return 2

    for m in mismatches:
        print(f"MISMATCH {m}")
    if mismatches:
        print(f"compare.py: {len(mismatches)} of {checked} figures differ")
        return 1
    print(f"compare.py: all {checked} figures agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
