#!/usr/bin/env bash
# Set up if needed (only what the quickstart runs: not the test-only tools that
# `scripts/setup.sh --for-tests` adds), build, and run profiles/quickstart.yaml against the
# local environment (a real etcd + kube-apiserver on 127.0.0.1, started and stopped by the tool).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked --quiet
exec ./target/release/capi-loadgen run profiles/quickstart.yaml "$@"
