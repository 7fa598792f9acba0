#!/usr/bin/env bash
# The nightly regression run: the breakpoint suite and a fixed-size fleet, then (given a
# baseline) `capi-loadgen compare` of each against the baseline's, written to OUT/compare.md.
#
#   scripts/nightly.sh [--suite breakpoints|fleet|all] [--baseline DIR] [--out DIR]
#                      [--tolerance PERCENT] [connection flags, e.g. --kubeconfig F --context C]
#
#   --suite      what to run (default all): breakpoints = `capi-loadgen breakpoints`,
#                fleet = `capi-loadgen run profiles/quickstart.yaml`
#   --baseline   an earlier nightly's OUT (default $CAPI_LOADGEN_BASELINE); compares
#                BASELINE/fleet with OUT/fleet and BASELINE/breakpoints with OUT/breakpoints
#   --out        results (default results/nightly-<UTC date-time to the second>-<pid> in
#                this repository; an existing folder is refused, never written over)
#   --tolerance  passed to `capi-loadgen compare` (default: compare's own, by metric class:
#                latency tails 100%, throughput 20%, the rest 10%)
#   --max-failure-ratio  passed to `capi-loadgen run` (default: run's own, 1%): a fleet run
#                with more failed requests fails the night
#   anything else is passed to both capi-loadgen commands (--kubeconfig, --context,
#   --allow-context, --etcd-endpoint, ...); without it both run on local environments.
#
# Binary: $CAPI_LOADGEN, else target/release/capi-loadgen (built with cargo if missing).
# Exit status: 0 when every run succeeded and nothing regressed; 1 otherwise (a failed run,
# too many failed requests, a regression, a baseline unlike the candidate, or a compare
# that could not read its input). A suite without a baseline folder is reported in
# compare.md and not counted as a failure (the first nightly).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'nightly: %s\n' "$*"; }
die() { printf 'nightly: error: %s\n' "$*" >&2; exit 2; }
usage() { # the header comment above, without the '#'
  sed -n '2,/^set -euo pipefail/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

SUITE=all
BASELINE="${CAPI_LOADGEN_BASELINE:-}"
OUT=""
TOLERANCE="${CAPI_LOADGEN_TOLERANCE:-}"
MAX_FAILURE_RATIO="${CAPI_LOADGEN_MAX_FAILURE_RATIO:-}"
CONN=()
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) [ $# -ge 2 ] || usage; SUITE="$2"; shift 2 ;;
    --suite=*) SUITE="${1#--suite=}"; shift ;;
    --baseline) [ $# -ge 2 ] || usage; BASELINE="$2"; shift 2 ;;
    --baseline=*) BASELINE="${1#--baseline=}"; shift ;;
    --out) [ $# -ge 2 ] || usage; OUT="$2"; shift 2 ;;
    --out=*) OUT="${1#--out=}"; shift ;;
    --tolerance) [ $# -ge 2 ] || usage; TOLERANCE="$2"; shift 2 ;;
    --tolerance=*) TOLERANCE="${1#--tolerance=}"; shift ;;
    --max-failure-ratio) [ $# -ge 2 ] || usage; MAX_FAILURE_RATIO="$2"; shift 2 ;;
    --max-failure-ratio=*) MAX_FAILURE_RATIO="${1#--max-failure-ratio=}"; shift ;;
    -h|--help) usage 0 ;;
    *) CONN+=("$1"); shift ;;
  esac
done
case "$SUITE" in
  all) SUITES=(breakpoints fleet) ;;
  breakpoints|fleet) SUITES=("$SUITE") ;;
  *) die "--suite must be breakpoints, fleet or all (got $SUITE)" ;;
esac

# Seconds and the pid: two nightlies started in the same minute (or second) never share a
# run id or a results folder. Run ids are at most 24 characters: n-YYmmdd-HHMMSS-<pid>.
STAMP=$(date -u +%Y%m%d-%H%M%S)
RUN_ID="n-${STAMP:2}-$(( $$ % 100000 ))"
OUT="${OUT:-$ROOT/results/nightly-$STAMP-$$}"
if [ -e "$OUT/fleet" ] || [ -e "$OUT/breakpoints" ]; then
  die "$OUT already holds a nightly's results: give another --out"
fi
if [ -n "$BASELINE" ] && [ ! -d "$BASELINE" ]; then
  die "baseline $BASELINE is not a directory"
fi

if [ -n "${CAPI_LOADGEN:-}" ]; then
  BIN="$CAPI_LOADGEN"
  [ -x "$BIN" ] || die "\$CAPI_LOADGEN=$BIN is not an executable"
else
  BIN="$ROOT/target/release/capi-loadgen"
  if [ ! -x "$BIN" ]; then
    command -v cargo >/dev/null 2>&1 || die "no $BIN and no cargo to build it (set \$CAPI_LOADGEN)"
    say "building $BIN (cargo build --release --locked)"
    cargo build --release --locked --manifest-path "$ROOT/Cargo.toml"
  fi
fi

mkdir -p "$OUT"
say "results in $OUT (suites: ${SUITES[*]}; binary: $BIN)"
FAILED=0

for s in "${SUITES[@]}"; do
  rc=0
  case "$s" in
    breakpoints)
      say "capi-loadgen breakpoints --out $OUT/breakpoints${CONN[*]+ ${CONN[*]}}"
      "$BIN" breakpoints --out "$OUT/breakpoints" ${CONN[@]+"${CONN[@]}"} || rc=$?
      ;;
    fleet)
      RATIO=()
      [ -z "$MAX_FAILURE_RATIO" ] || RATIO=(--max-failure-ratio "$MAX_FAILURE_RATIO")
      say "capi-loadgen run profiles/quickstart.yaml --run-id $RUN_ID --out $OUT/fleet${RATIO[*]+ ${RATIO[*]}}${CONN[*]+ ${CONN[*]}}"
      "$BIN" run "$ROOT/profiles/quickstart.yaml" --run-id "$RUN_ID" --out "$OUT/fleet" \
        ${RATIO[@]+"${RATIO[@]}"} ${CONN[@]+"${CONN[@]}"} || rc=$?
      ;;
  esac
  if [ "$rc" -eq 12 ]; then
    say "$s: FAILED (exit 12: more requests failed than --max-failure-ratio allows; see $OUT/$s/summary.json stop_reason)"
    FAILED=1
  elif [ "$rc" -ne 0 ]; then
    say "$s: FAILED (exit $rc)"
    FAILED=1
  fi
done

if [ -n "$BASELINE" ]; then
  MD="$OUT/compare.md"
  TOL=()
  [ -z "$TOLERANCE" ] || TOL=(--tolerance "$TOLERANCE")
  {
    printf '# capi-loadgen nightly %s\n\n' "$STAMP"
    # shellcheck disable=SC2016 # backticks are Markdown, not a command substitution
    printf 'Baseline `%s`, candidate `%s`.\n' "$BASELINE" "$OUT"
  } > "$MD"
  for s in "${SUITES[@]}"; do
    printf '\n## %s\n\n' "$s" >> "$MD"
    if [ ! -d "$BASELINE/$s" ]; then
      say "$s: no baseline ($BASELINE/$s is missing), not compared"
      # shellcheck disable=SC2016 # Markdown backticks
      printf 'No baseline (`%s/%s` is missing): not compared.\n' "$BASELINE" "$s" >> "$MD"
      continue
    fi
    rc=0
    err=$("$BIN" compare ${TOL[@]+"${TOL[@]}"} "$BASELINE/$s" "$OUT/$s" 2>&1 >> "$MD") || rc=$?
    [ -z "$err" ] || printf '%s\n' "$err" | tee -a "$MD" >&2
    case "$rc" in
      0) verdict="no regression" ;;
      1) verdict="REGRESSION"; FAILED=1 ;;
      11) verdict="not compared: the baseline is unlike this run (exit 11, see above)"; FAILED=1 ;;
      *) verdict="compare failed (exit $rc: bad input)"; FAILED=1 ;;
    esac
    printf '\n**%s: %s**\n' "$s" "$verdict" >> "$MD"
    say "$s: $verdict"
  done
  say "comparison: $MD"
else
  say "no baseline (--baseline or \$CAPI_LOADGEN_BASELINE): nothing compared"
fi

if [ "$FAILED" -ne 0 ]; then
  say "FAILED: see above and $OUT"
  exit 1
fi
say "ok"
