#!/usr/bin/env bash
# Instruction-count regression guard: builds the `instructions` example in release and runs
# bench/instructions.py (valgrind's callgrind; one profile per scenario), which compares
# instructions per object with bench/instructions-baseline.json and exits 1 when a scenario
# is more than the tolerance (5 % unless given) above it.
#   scripts/instructions.sh                 # compare with the baseline
#   scripts/instructions.sh --update        # rewrite the baseline (commit it with the change)
#   scripts/instructions.sh --old           # the reference encoder's counts, for comparison
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null 2>&1 || { echo "instructions: error: valgrind not found (scripts/setup.sh --for-tests installs it on Debian)" >&2; exit 1; }
case "$(uname -m)" in
  x86_64) ;;
  *) echo "instructions: error: $(uname -m): the baseline holds x86_64 instruction counts" >&2; exit 1 ;;
esac
# The release build lives in the cache beside the servers (not in the clone's target/), so a
# CI run after the first one rebuilds only this crate; CAPI_LOADGEN_RELEASE_TARGET moves it.
export CARGO_TARGET_DIR="${CAPI_LOADGEN_RELEASE_TARGET:-${XDG_CACHE_HOME:-$HOME/.cache}/capi-loadgen/target-release}"
cargo build --release --locked --example instructions
exec python3 bench/instructions.py "$@"
