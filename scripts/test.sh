#!/usr/bin/env bash
# The test command: set-up if needed, then shellcheck of every script, fmt, clippy -D warnings,
# rustdoc -D warnings and every test (unit tests and integration tests against a real local
# etcd + kube-apiserver).
set -euo pipefail
cd "$(dirname "$0")/.."
# Every supported kube-apiserver version: the version-matrix test runs on each one built.
bash scripts/setup.sh --all --for-tests
export PATH="$HOME/.cargo/bin:$PATH"
# Builds are cached beside the servers, so a fresh clone (CI) reuses the dependencies'
# builds of the last run; set CARGO_TARGET_DIR to build elsewhere.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capi-loadgen/target-test}"
# Incremental caches would double the target folder for a one-shot build.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# A failing test's panic message, not a backtrace, is the last thing it prints: CI logs
# keep only the head and the tail of the output.
export RUST_BACKTRACE=0
# Test threads get the 8 MiB of stack the binary's main thread has (their default is 2 MiB;
# a whole run's future is polled on them).
export RUST_MIN_STACK="${RUST_MIN_STACK:-8388608}"
echo "test: shellcheck scripts/*.sh"
command -v shellcheck >/dev/null 2>&1 || { echo "test: error: shellcheck not found (scripts/setup.sh --for-tests installs it on Debian)" >&2; exit 1; }
shellcheck scripts/*.sh
echo "test: cargo fmt --check"
cargo fmt --all -- --check
echo "test: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "test: cargo doc --no-deps (RUSTDOCFLAGS=-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
echo "test: instruction counts (scripts/instructions.sh, baseline bench/instructions-baseline.json)"
bash scripts/instructions.sh
echo "test: cargo test"
cargo test --locked --no-fail-fast -- --test-threads="${CAPI_LOADGEN_TEST_THREADS:-2}"
