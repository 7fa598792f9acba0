#!/usr/bin/env bash
# The test command: set-up if needed, then fmt, clippy -D warnings and every test
# (unit tests and integration tests against a real local etcd + kube-apiserver).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
# Incremental caches would double target/ for a one-shot build.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "test: cargo fmt --check"
cargo fmt --all -- --check
echo "test: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "test: cargo test"
cargo test --locked -- --test-threads="${CAPI_LOADGEN_TEST_THREADS:-2}"
