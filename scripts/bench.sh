#!/usr/bin/env bash
# Benchmark capi-loadgen against the reference clients: bench/bench.py (see its --help).
exec python3 "$(dirname "$0")/../bench/bench.py" "$@"
