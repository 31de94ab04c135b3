#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time on a temporary copy
# of its seed corpus (fuzz/corpus/<target>/), so the repository keeps only the
# seeds. Fails on the first crash, leak, timeout or out-of-memory; libFuzzer
# writes the input to fuzz/artifacts/<target>/ (ignored by git).
#
#   fuzz/run.sh                  every target, FUZZ_SECONDS (default 30) each
#   fuzz/run.sh sla_clock csv_incidents
#   FUZZ_SECONDS=300 fuzz/run.sh alert_lines
#   FUZZ_ARGS="-runs=1000000" fuzz/run.sh incident_command
#
# cargo-fuzz on the stable toolchain: RUSTC_BOOTSTRAP=1 lets it pass its
# nightly-only flags, and `--sanitizer none` needs no sanitizer runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing; installing it"
  cargo install cargo-fuzz --version '^0.13' --locked
fi

build_start=$SECONDS
cargo fuzz build --sanitizer none
echo "fuzz: targets built in $((SECONDS - build_start)) s"

if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
summary=()
for target in "${targets[@]}"; do
  corpus="$work/$target"
  mkdir -p "$corpus"
  if [ -d "fuzz/corpus/$target" ]; then cp -R "fuzz/corpus/$target/." "$corpus/"; fi
  echo "fuzz: $target for ${seconds} s on $(find "$corpus" -type f | wc -l) seeds"
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of libFuzzer flags
  if ! cargo fuzz run --sanitizer none "$target" "$corpus" -- \
    -max_total_time="$seconds" -timeout=30 -print_final_stats=1 ${FUZZ_ARGS:-} >"$work/$target.log" 2>&1; then
    # The panic message first (a long backtrace would push it out of the tail).
    grep -A 6 "panicked at" "$work/$target.log" | head -n 20 | cut -c1-400 || true
    grep -v "^\s*$" "$work/$target.log" | grep -v "^ *[0-9]*: \|^ *at " | tail -n 25 | cut -c1-400
    # The failing input, so a CI log alone reproduces it.
    for input in fuzz/artifacts/"$target"/*; do
      [ -f "$input" ] && [ "$(stat -c %s "$input")" -lt 65536 ] && echo "fuzz: failing input $input as base64:" && base64 -w 0 "$input" && echo
    done
    echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/"
    exit 1
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log" | tail -n 1)"
  summary+=("$(printf '%-26s %12s executions, 0 crashes' "$target" "${runs:-?}")")
done
echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
