#!/usr/bin/env bash
# Print the host port on which a kind config publishes etcd's metrics, or nothing.
#
#   scripts/kind-metrics-port.sh kind-configs/tuned.yaml     # -> 2381
#
# The port etcd serves its metrics on inside the node is the one of the config's
# `listen-metrics-urls`; the host port is the `hostPort` of the extraPortMappings entry whose
# `containerPort` is exactly that port (2381 does not match 23811). scripts/kind-up.sh builds
# CAPI_LOADGEN_ETCD_METRICS_URL from it.
set -euo pipefail
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  printf 'usage: scripts/kind-metrics-port.sh <kind-config.yaml>\n' >&2
  exit 2
fi

CONTAINER_PORT=$(sed -nE 's/^[[:space:]]*listen-metrics-urls:[[:space:]]*"?[a-z]+:\/\/[^,"]*:([0-9]+)"?[[:space:]]*$/\1/p' "$1" | head -n 1)
[ -n "$CONTAINER_PORT" ] || exit 0
awk -v want="$CONTAINER_PORT" '
  function value(line) { sub(/^[^:]*:[[:space:]]*/, "", line); sub(/[[:space:]]*(#.*)?$/, "", line); gsub(/"/, "", line); return line }
  function flush() { if (!found && c == want && h ~ /^[0-9]+$/) { print h; found = 1 } c = ""; h = "" }
  /^[[:space:]]*-[[:space:]]/ { flush() }
  { line = $0; sub(/^[[:space:]]*(-[[:space:]]+)?/, "", line) }
  line ~ /^containerPort:/ { c = value(line) }
  line ~ /^hostPort:/ { h = value(line) }
  END { flush() }
' "$1"
