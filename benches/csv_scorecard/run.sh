#!/usr/bin/env bash
# CSV -> scorecard against polars, side by side in one run (BENCHMARKS.md, "CSV → scorecard against polars").
#
#   bash benches/csv_scorecard/run.sh
#
# Environment (all optional):
#   BENCH_DIR        export directory (default /tmp/itsm-bench-export); generated with gen_interchange
#                    when it lacks the three files or holds an export of other sizes
#   BENCH_INCIDENTS  incidents to generate (default 1000000)
#   BENCH_CHANGES    changes to generate (default 250000)
#   BENCH_RUNS       runs of each side, alternating (default 3)
#   BENCH_FROM, BENCH_TO   the period (default 2026-01-01, 2027-01-01)
#   PYTHON           the Python interpreter (default python3)
#   BENCH_SKIP_BUILD=1  use the release examples already built (when the working tree does not build now)
#
# Installs polars with pip and the `time` package with apt-get when missing, so it is not for CI
# (it refuses to run when CI is set). Outputs go to $BENCH_DIR/results: ours-N.json, polars-N.json,
# their stderr, and the /usr/bin/time lines. Exit status: 0 when compare.py finds every figure equal,
# non-zero otherwise or on any failure.
set -euo pipefail

die() { echo "run.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

[[ -z "${CI:-}" ]] || die "this benchmark installs packages and takes minutes: it is not meant for CI (CI is set)"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DIR="${BENCH_DIR:-/tmp/itsm-bench-export}"
INCIDENTS="${BENCH_INCIDENTS:-1000000}"
CHANGES="${BENCH_CHANGES:-250000}"
RUNS="${BENCH_RUNS:-3}"
FROM="${BENCH_FROM:-2026-01-01}"
TO="${BENCH_TO:-2027-01-01}"
PYTHON="${PYTHON:-python3}"
RESULTS="$DIR/results"

[[ "$INCIDENTS" =~ ^[0-9]+$ && "$CHANGES" =~ ^[0-9]+$ ]] || die "BENCH_INCIDENTS and BENCH_CHANGES must be integers"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON)"
command -v cargo >/dev/null || die "cargo not found"

# ---- tools ---------------------------------------------------------------------------------
if ! "$PYTHON" -c "import polars" 2>/dev/null; then
    say "polars is missing: pip install polars"
    "$PYTHON" -m pip install --quiet polars || die "pip install polars failed"
fi
POLARS_VERSION="$("$PYTHON" -c 'import polars; print(polars.__version__)')"
if [[ ! -x /usr/bin/time ]]; then
    say "/usr/bin/time is missing: apt-get install time"
    SUDO=""
    [[ "$(id -u)" == 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq || die "apt-get update failed"
    $SUDO apt-get install -y -qq time >/dev/null || die "apt-get install time failed"
fi

# ---- build ---------------------------------------------------------------------------------
if [[ -n "${BENCH_SKIP_BUILD:-}" ]]; then
    say "BENCH_SKIP_BUILD is set: using the release examples as they are built"
else
    say "building the release examples (may wait for the cargo lock)"
    (cd "$ROOT" && cargo build --release --quiet --example scorecard --example gen_interchange) \
        || die "cargo build failed (BENCH_SKIP_BUILD=1 uses the examples already built)"
fi
TARGET="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps \
    | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
SCORECARD="$TARGET/release/examples/scorecard"
GEN="$TARGET/release/examples/gen_interchange"
[[ -x "$SCORECARD" && -x "$GEN" ]] || die "built examples not found under $TARGET/release/examples"

# ---- export --------------------------------------------------------------------------------
STAMP="$DIR/.gen_interchange-args"
WANT="--incidents $INCIDENTS --changes $CHANGES"
if [[ -f "$DIR/incidents.csv" && -f "$DIR/changes.csv" && -f "$DIR/outages.csv" && -f "$STAMP" \
      && "$(cat "$STAMP")" == "$WANT" ]]; then
    say "using the export in $DIR ($WANT)"
else
    say "generating the export into $DIR ($WANT)"
    mkdir -p "$DIR"
    rm -f "$STAMP"
    "$GEN" $WANT --out "$DIR" --force || die "gen_interchange failed"
    echo "$WANT" > "$STAMP"
fi
mkdir -p "$RESULTS"

# ---- runs, alternating ---------------------------------------------------------------------
run_ours() { # $1 = run number
    local code=0
    /usr/bin/time -f "%e %M" -o "$RESULTS/ours-$1.time" \
        "$SCORECARD" --incidents "$DIR/incidents.csv" --changes "$DIR/changes.csv" --outages "$DIR/outages.csv" \
        --from "$FROM" --to "$TO" --format json --timings --out "$RESULTS/ours-$1.json" \
        2> "$RESULTS/ours-$1.stderr" || code=$?
    case "$code" in
        0) ;;
        3) echo "run.sh: warning: scorecard exit 3 (rows rejected), see $RESULTS/ours-$1.stderr" >&2 ;;
        *) cat "$RESULTS/ours-$1.stderr" >&2; die "scorecard failed with exit status $code" ;;
    esac
}
run_polars() {
    local code=0
    /usr/bin/time -f "%e %M" -o "$RESULTS/polars-$1.time" \
        "$PYTHON" "$HERE/polars_scorecard.py" --incidents "$DIR/incidents.csv" --changes "$DIR/changes.csv" \
        --outages "$DIR/outages.csv" --from "$FROM" --to "$TO" --timings \
        > "$RESULTS/polars-$1.json" 2> "$RESULTS/polars-$1.stderr" || code=$?
    case "$code" in
        0) ;;
        3) echo "run.sh: warning: polars script exit 3 (rows left out), see $RESULTS/polars-$1.stderr" >&2 ;;
        *) cat "$RESULTS/polars-$1.stderr" >&2; die "polars script failed with exit status $code" ;;
    esac
}
for i in $(seq 1 "$RUNS"); do
    say "run $i of $RUNS: scorecard"
    run_ours "$i"
    say "run $i of $RUNS: polars"
    run_polars "$i"
done

# ---- report --------------------------------------------------------------------------------
"$PYTHON" - "$RESULTS" "$RUNS" "$POLARS_VERSION" "$INCIDENTS" "$CHANGES" <<'EOF'
import re, sys
results, runs, version, incidents, changes = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

def times(side):
    rows = []
    for i in range(1, runs + 1):
        # The last line: /usr/bin/time prefixes "Command exited with non-zero status N" on failure.
        wall, rss = open(f"{results}/{side}-{i}.time").read().split("\n")[-2].split()
        rows.append((float(wall), int(rss), i))
    return rows

ours, peer = times("ours"), times("polars")
best_o, best_p = min(ours), min(peer)
rss_o, rss_p = max(r[1] for r in ours), max(r[1] for r in peer)
print(f"\nCSV -> scorecard, {incidents} incidents and {changes} changes, {runs} runs each (alternating)")
print(f"{'':28}{'best wall':>12}{'peak RSS':>14}   all walls")
print(f"{'scorecard (CSV path)':28}{best_o[0]:>10.2f} s{rss_o / 1024:>10.0f} MiB   " + " ".join(f"{r[0]:.2f}" for r in ours))
print(f"{'polars ' + version:28}{best_p[0]:>10.2f} s{rss_p / 1024:>10.0f} MiB   " + " ".join(f"{r[0]:.2f}" for r in peer))
print(f"{'ratio ours / polars':28}{best_o[0] / best_p[0]:>11.2f}x{rss_o / rss_p:>13.3f}x")
print("(peak RSS: the largest maximum resident set over the runs, from /usr/bin/time %M)")
err = open(f"{results}/ours-{best_o[2]}.stderr").read()
print(f"\nour stage split (best run, --timings):")
for line in err.splitlines():
    if line.startswith("timings:"):
        print("  " + line)
err = open(f"{results}/polars-{best_p[2]}.stderr").read()
for line in err.splitlines():
    if line.startswith("polars timings:"):
        print("  " + line)
print(f"\nbest runs: {results}/ours-{best_o[2]}.json, {results}/polars-{best_p[2]}.json")
open(f"{results}/best", "w").write(f"{best_o[2]} {best_p[2]}\n")
EOF

read -r BEST_OURS BEST_POLARS < "$RESULTS/best"
say "compare.py: every figure, ours against polars"
"$PYTHON" "$HERE/compare.py" "$RESULTS/ours-$BEST_OURS.json" "$RESULTS/polars-$BEST_POLARS.json"
