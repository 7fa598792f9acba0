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
#   --out        results (default results/nightly-<UTC date-time> in this repository)
#   --tolerance  passed to `capi-loadgen compare` (default: compare's own)
#   anything else is passed to both capi-loadgen commands (--kubeconfig, --context,
#   --allow-context, --etcd-endpoint, ...); without it both run on local environments.
#
# Binary: $CAPI_LOADGEN, else target/release/capi-loadgen (built with cargo if missing).
# Exit status: 0 when every run succeeded and nothing regressed; 1 otherwise (a failed run,
# a regression, or a compare that could not read its input). A suite without a baseline
# folder is reported in compare.md and not counted as a failure (the first nightly).
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
    -h|--help) usage 0 ;;
    *) CONN+=("$1"); shift ;;
  esac
done
case "$SUITE" in
  all) SUITES=(breakpoints fleet) ;;
  breakpoints|fleet) SUITES=("$SUITE") ;;
  *) die "--suite must be breakpoints, fleet or all (got $SUITE)" ;;
esac

STAMP=$(date -u +%Y%m%d-%H%M)
OUT="${OUT:-$ROOT/results/nightly-$STAMP}"
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
      say "capi-loadgen run profiles/quickstart.yaml --run-id nightly-$STAMP --out $OUT/fleet${CONN[*]+ ${CONN[*]}}"
      "$BIN" run "$ROOT/profiles/quickstart.yaml" --run-id "nightly-$STAMP" --out "$OUT/fleet" \
        ${CONN[@]+"${CONN[@]}"} || rc=$?
      ;;
  esac
  if [ "$rc" -ne 0 ]; then
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
    "$BIN" compare ${TOL[@]+"${TOL[@]}"} "$BASELINE/$s" "$OUT/$s" >> "$MD" || rc=$?
    case "$rc" in
      0) verdict="no regression" ;;
      1) verdict="REGRESSION"; FAILED=1 ;;
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
