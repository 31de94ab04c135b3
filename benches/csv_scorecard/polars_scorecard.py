#!/usr/bin/env python3
"""The benchmark peer of the CSV -> scorecard path: the same figures, computed with polars.

Loads an interchange export (incidents.csv, changes.csv, outages.csv; the format and the
metric definitions are in ../shared/reference/interchange-csv.md) and prints, as JSON on
standard output, the figures the `scorecard` example computes over the period
W = [--from, --to) (UTC instants; monthly buckets are UTC months):

- per change type (standard, normal, emergency): the first change failure rate
  (implemented = outcome not `cancelled` and `completed_at` in W; the first attempt failed =
  outcome `failed`, or remediation not `none`, or at least one incident names the change in
  `caused_by_change`, each change once), the rollback failure rate (`rollback_failed` /
  `rolled_back` + `rollback_failed`, among implemented changes), its secondary form over all
  implemented changes, and the rollback attempt rate;
- MTTR, overall and per failure_class (ci, cd, platform, other = empty): restore time =
  restore instant (`restored_at`, default `resolved_at`) - impact start (`impact_start`,
  default `opened_at`), in whole seconds (truncated from microseconds), over incidents whose
  restore instant is in W: n, total, mean, median and p90 (type-7 linear interpolation, like
  numpy's default), max; censored = impact start before `to` and restore instant missing or
  at/after `to`;
- availability per service: the union of unplanned outage intervals (outages.csv rows with
  `planned` = false, and incidents with `outage` = true over impact start .. restore instant,
  an outage incident unrestored at `to` running to `to`) clipped to W, overlaps counted once:
  downtime in microseconds and seconds;
- repeat rate: incident i opened in W is a repeat when an earlier incident j != i with the
  same key (service, category) was resolved at or before i was opened and
  i.opened - j.resolved <= 30 days (found with `join_asof`; j may be resolved before W, and a
  zero-length incident is not its own earlier incident);
- incident KPIs over incidents opened in W: total, resolution rate (resolved before `to` /
  opened), first-line share (`resolved_by` = l1 / resolved in W), automated recovery share
  (`resolved_by` = automation / resolved in W), proactive detection share (`detected_by` in
  monitoring, automation / opened);
- monthly incident counts and repeats (UTC months).

Not computed: the on-time resolution rate and SLA attainment. Both need the SLA policy
engine (business calendars, pauses, the policy in force per priority), which is the
engine's own domain logic and has no counterpart in a dataframe script.

Rates are printed as {"numerator": int, "denominator": int}, durations in seconds.

Rows whose timestamps contradict each other (the list in the format's "General rules") and
ids repeated within a file (the later rows) are left out and counted under "rejected", as
the importer does. Other validation (enumerations, malformed values) is not repeated here:
the script is meant for well-formed exports such as gen_interchange writes; a malformed
timestamp is a fatal error.

Usage:
    python3 polars_scorecard.py --incidents DIR/incidents.csv --changes DIR/changes.csv \
        --outages DIR/outages.csv --from 2026-01-01 --to 2027-01-01 [--timings] > polars.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import warnings

import polars as pl

# Both sides of each join_asof are sorted by instant over all rows, hence within every group.
warnings.filterwarnings("ignore", message="Sortedness of columns cannot be checked")

US = 1_000_000
DAY_US = 86_400 * US
REPEAT_WINDOW_US = 30 * DAY_US
CHANGE_TYPES = ["standard", "normal", "emergency"]
FAILURE_CLASSES = ["ci", "cd", "platform", "other"]


def instant(text: str) -> int:
    """An RFC 3339 instant, or YYYY-MM-DD (midnight UTC), as microseconds since the epoch."""
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        sys.exit(f"polars_scorecard: `{text}` is neither RFC 3339 nor YYYY-MM-DD")
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def ts(col: str) -> pl.Expr:
    """An RFC 3339 column (empty = null) as Int64 microseconds since the epoch, UTC."""
    return pl.col(col).str.to_datetime("%+", time_unit="us", time_zone="UTC").dt.epoch("us").alias(col)


def load(path: str, columns: list[str], times: list[str]) -> pl.DataFrame:
    # Every column as text (no inference), only the columns used; empty cells are null.
    lf = pl.scan_csv(path, infer_schema=False)
    present = lf.collect_schema().names()
    missing = [c for c in columns if c not in present]
    lf = lf.select([c for c in columns if c in present]).with_columns(
        [pl.lit(None, dtype=pl.String).alias(c) for c in missing]
    )
    return lf.with_columns([ts(c) for c in times]).collect()


def rate(num: int, den: int) -> dict:
    return {"numerator": int(num), "denominator": int(den)}


def contradiction(*pairs: tuple[str, str]) -> pl.Expr:
    """True when any (earlier, later) pair is present and later < earlier."""
    e = pl.lit(False)
    for earlier, later in pairs:
        e = e | (pl.col(later) < pl.col(earlier)).fill_null(False)
    return e


def duration_stats(df: pl.DataFrame) -> dict:
    """n, total, mean, median, p90 (type 7), max of `secs`, and `censored` (already summed)."""
    n = df.height
    if n == 0:
        return {"n": 0, "total_seconds": 0, "mean_seconds": None, "median_seconds": None,
                "p90_seconds": None, "max_seconds": None}
    s = df["secs"]
    total = int(s.sum())
    return {
        "n": n,
        "total_seconds": total,
        "mean_seconds": total / n,
        "median_seconds": float(s.quantile(0.5, interpolation="linear")),
        "p90_seconds": float(s.quantile(0.9, interpolation="linear")),
        "max_seconds": int(s.max()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--incidents", required=True)
    ap.add_argument("--changes", required=True)
    ap.add_argument("--outages")
    ap.add_argument("--from", dest="start", required=True)
    ap.add_argument("--to", dest="end", required=True)
    ap.add_argument("--timings", action="store_true", help="print the time per stage to stderr")
    args = ap.parse_args()
    frm, to = instant(args.start), instant(args.end)
    if frm >= to:
        sys.exit("polars_scorecard: --from is not before --to")

    clock = time.perf_counter()
    stages: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = now - clock
        clock = now

    # ---- load -------------------------------------------------------------------------
    inc_times = ["opened_at", "acknowledged_at", "impact_start", "restored_at", "resolved_at", "closed_at"]
    inc = load(
        args.incidents,
        ["id", "service", "category", "detected_by", "resolved_by", "caused_by_change", "failure_class", "outage"]
        + inc_times,
        inc_times,
    )
    chg_times = ["planned_start", "planned_end", "started_at", "completed_at"]
    chg = load(args.changes, ["id", "type", "outcome", "remediation"] + chg_times, chg_times)
    out = (
        load(args.outages, ["service", "start", "end", "planned"], ["start", "end"])
        if args.outages
        else pl.DataFrame(schema={"service": pl.String, "start": pl.Int64, "end": pl.Int64, "planned": pl.String})
    )
    lap("load")

    # ---- rejections (contradicting timestamps, repeated ids) ---------------------------
    inc = inc.with_columns(
        start=pl.coalesce("impact_start", "opened_at"),
        restore=pl.coalesce("restored_at", "resolved_at"),
    )
    inc_bad = contradiction(
        ("opened_at", "resolved_at"), ("opened_at", "acknowledged_at"), ("opened_at", "closed_at"),
        ("resolved_at", "closed_at"), ("start", "restore"),
    ) | pl.col("opened_at").is_null() | ~pl.col("id").is_first_distinct()
    chg_bad = contradiction(("started_at", "completed_at"), ("planned_start", "planned_end")) | ~pl.col(
        "id"
    ).is_first_distinct()
    out_bad = (pl.col("end") <= pl.col("start")).fill_null(True)
    rejected = {
        "incidents": inc.select(inc_bad.sum()).item(),
        "changes": chg.select(chg_bad.sum()).item(),
        "outages": out.select(out_bad.sum()).item(),
    }
    inc = inc.filter(~inc_bad).with_columns(
        outage=pl.col("outage") == "true",
        category=pl.col("category").fill_null(""),
        failure_class=pl.col("failure_class").fill_null("other"),
        detected_by=pl.col("detected_by").fill_null("user"),
    )
    chg = chg.filter(~chg_bad).with_columns(remediation=pl.col("remediation").fill_null("none"))
    out = out.filter(~out_bad)
    lap("validate")

    # ---- change failure and rollback rates ---------------------------------------------
    # The changes some incident names (a join, so that each change counts once however many name it).
    caused = (
        inc.lazy()
        .select(id=pl.col("caused_by_change").drop_nulls().unique())
        .with_columns(caused=pl.lit(True))
    )
    implemented = (
        chg.lazy()
        .filter((pl.col("outcome") != "cancelled") & (pl.col("completed_at") >= frm) & (pl.col("completed_at") < to))
        .join(caused, on="id", how="left")
    )
    rollback = pl.col("remediation").is_in(["rolled_back", "rollback_failed"])
    change_q = implemented.group_by("type").agg(
        implemented=pl.len(),
        failed=(
            (pl.col("outcome") == "failed") | (pl.col("remediation") != "none") | pl.col("caused").fill_null(False)
        ).sum(),
        rollback_failed=(pl.col("remediation") == "rollback_failed").sum(),
        rollback_attempts=rollback.sum(),
    )

    # ---- restore time (MTTR) ------------------------------------------------------------
    restored_q = (
        inc.lazy()
        .filter((pl.col("restore") >= frm) & (pl.col("restore") < to))
        .select("failure_class", secs=(pl.col("restore") - pl.col("start")) // US)
    )
    censored_q = (
        inc.lazy()
        .filter((pl.col("start") < to) & (pl.col("restore").is_null() | (pl.col("restore") >= to)))
        .group_by("failure_class")
        .agg(censored=pl.len())
    )

    # ---- availability: union of unplanned outage intervals per service, clipped to W ----
    intervals = pl.concat(
        [
            out.lazy()
            .filter(pl.col("planned").fill_null("false") != "true")
            .select("service", s=pl.col("start"), e=pl.col("end")),
            inc.lazy()
            .filter(pl.col("outage"))
            .select(
                "service",
                s=pl.col("start"),
                e=pl.when(pl.col("restore").is_null() | (pl.col("restore") >= to))
                .then(pl.lit(to))
                .otherwise(pl.col("restore")),
            ),
        ]
    ).select("service", s=pl.max_horizontal("s", pl.lit(frm)), e=pl.min_horizontal("e", pl.lit(to)))
    downtime_q = (
        intervals.filter(pl.col("e") > pl.col("s"))
        .sort("service", "s")
        .with_columns(reach=pl.col("e").cum_max().shift(1).over("service"))
        .with_columns(island=(pl.col("reach").is_null() | (pl.col("s") > pl.col("reach"))).cum_sum().over("service"))
        .group_by("service", "island")
        .agg(s=pl.col("s").min(), e=pl.col("e").max())
        .group_by("service")
        .agg(downtime_us=(pl.col("e") - pl.col("s")).sum(), islands=pl.len())
        .sort("service")
    )

    # ---- repeats: join_asof on the latest earlier resolution of the same key -----------
    opened_in_w = (pl.col("opened_at") >= frm) & (pl.col("opened_at") < to)
    left = (
        inc.lazy()
        .filter(opened_in_w)
        .select("id", "service", "category", "opened_at", "detected_by", "resolved_at")
        .sort("opened_at")
    )
    # One row per (key, resolution instant): how many incidents resolved then, and one id.
    right = (
        inc.lazy()
        .filter(pl.col("resolved_at").is_not_null())
        .group_by("service", "category", "resolved_at")
        .agg(count=pl.len(), one=pl.col("id").first())
        .sort("resolved_at")
    )
    at_or_before = left.join_asof(
        right.rename({"resolved_at": "r1", "count": "n1", "one": "id1"}),
        left_on="opened_at", right_on="r1", by=["service", "category"], strategy="backward",
        allow_exact_matches=True,
    )
    strictly_before = right.select("service", "category", r2="resolved_at")
    repeats_q = (
        at_or_before.join_asof(
            strictly_before, left_on="opened_at", right_on="r2", by=["service", "category"], strategy="backward",
            allow_exact_matches=False,
        )
        # The latest resolution at or before the opening, unless it is the incident itself
        # (a zero-length incident, alone at that instant): then the latest one strictly before.
        .with_columns(
            earlier=pl.when(
                (pl.col("r1") == pl.col("opened_at")) & (pl.col("n1") == 1) & (pl.col("id1") == pl.col("id"))
            )
            .then(pl.col("r2"))
            .otherwise(pl.col("r1"))
        )
        .with_columns(
            repeat=(pl.col("opened_at") - pl.col("earlier") <= REPEAT_WINDOW_US).fill_null(False),
            month=pl.from_epoch("opened_at", time_unit="us").dt.strftime("%Y-%m"),
        )
    )
    kpi_q = repeats_q.select(
        total=pl.len(),
        resolved_by_to=(pl.col("resolved_at") < to).sum(),
        proactive=pl.col("detected_by").is_in(["monitoring", "automation"]).sum(),
        repeats=pl.col("repeat").sum(),
    )
    months_q = repeats_q.group_by("month").agg(incidents=pl.len(), repeats=pl.col("repeat").sum()).sort("month")
    resolved_q = (
        inc.lazy()
        .filter((pl.col("resolved_at") >= frm) & (pl.col("resolved_at") < to))
        .select(
            resolved=pl.len(),
            l1=(pl.col("resolved_by") == "l1").sum(),
            automation=(pl.col("resolved_by") == "automation").sum(),
        )
    )

    changes, restored, censored, downtime, kpi, months, resolved = pl.collect_all(
        [change_q, restored_q, censored_q, downtime_q, kpi_q, months_q, resolved_q]
    )
    lap("compute")

    # ---- JSON --------------------------------------------------------------------------
    by_type = {r["type"]: r for r in changes.iter_rows(named=True)}
    change_rows = []
    for t in CHANGE_TYPES:
        r = by_type.get(t, {"implemented": 0, "failed": 0, "rollback_failed": 0, "rollback_attempts": 0})
        change_rows.append(
            {
                "change_type": t,
                "first_change_failure_rate": rate(r["failed"], r["implemented"]),
                "rollback_failure_rate": rate(r["rollback_failed"], r["rollback_attempts"]),
                "rollback_failure_share_of_implemented": rate(r["rollback_failed"], r["implemented"]),
                "rollback_attempt_rate": rate(r["rollback_attempts"], r["implemented"]),
            }
        )
    cens = dict(censored.iter_rows())
    restore_total = duration_stats(restored) | {"censored": sum(cens.values())}
    by_class = [
        {
            "failure_class": c,
            "stats": duration_stats(restored.filter(pl.col("failure_class") == c)) | {"censored": cens.get(c, 0)},
        }
        for c in FAILURE_CLASSES
    ]
    k = kpi.row(0, named=True)
    r = resolved.row(0, named=True)
    doc = {
        "source": f"polars {pl.__version__}",
        "period": {"from_us": frm, "to_us": to},
        "repeat": {"window_seconds": REPEAT_WINDOW_US // US, "key": "service_category"},
        "rejected": rejected,
        "inputs": {"incidents": inc.height, "changes": chg.height, "outages": out.height},
        "changes": change_rows,
        "incidents": {
            "total": k["total"],
            "resolution_rate": rate(k["resolved_by_to"], k["total"]),
            "first_line_resolution_rate": rate(r["l1"], r["resolved"]),
            "automated_recovery_share": rate(r["automation"], r["resolved"]),
            "proactive_detection_share": rate(k["proactive"], k["total"]),
            "repeat_rate": rate(k["repeats"], k["total"]),
        },
        "restore_time": restore_total,
        "restore_time_by_class": by_class,
        "availability": [
            {"service": row["service"], "downtime_us": int(row["downtime_us"]),
             "downtime_seconds": row["downtime_us"] / US, "intervals": int(row["islands"])}
            for row in downtime.iter_rows(named=True)
        ],
        "months": [
            {"month": m, "incidents": int(n), "repeats": int(rp)} for m, n, rp in months.iter_rows()
        ],
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")
    lap("render")
    if args.timings:
        total = sum(stages.values())
        split = "; ".join(f"{k} {v:.3f} s" for k, v in stages.items())
        print(f"polars timings: {split}; total {total:.3f} s", file=sys.stderr)
    if any(rejected.values()):
        print(f"polars_scorecard: rows left out for contradicting timestamps or repeated ids: {rejected}",
              file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
