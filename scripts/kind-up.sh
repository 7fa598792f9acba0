#!/usr/bin/env bash
# Create a kind cluster for capi-loadgen from one of kind-configs/*.yaml, then create the load
# identity (scripts/kind-identity.sh: a ServiceAccount kubeconfig, so API Priority and
# Fairness throttles the load like a real Cluster API controller).
#
#   scripts/kind-up.sh kind-configs/tuned.yaml [--name capi-loadgen]
#
# The cluster name defaults to capi-loadgen (the name in every kind-configs/*.yaml); --name
# overrides it and the context becomes kind-<name>. Delete with scripts/kind-down.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { printf 'kind-up: error: %s\n' "$*" >&2; exit 1; }
usage() { printf 'usage: scripts/kind-up.sh <kind-config.yaml> [--name NAME]\n' >&2; exit 2; }

CONFIG=""
NAME="capi-loadgen"
while [ $# -gt 0 ]; do
  case "$1" in
    --name) [ $# -ge 2 ] || usage; NAME="$2"; shift 2 ;;
    --name=*) NAME="${1#--name=}"; shift ;;
    -h|--help) usage ;;
    -*) die "unknown flag $1" ;;
    *) [ -z "$CONFIG" ] || usage; CONFIG="$1"; shift ;;
  esac
done
[ -n "$CONFIG" ] || usage
# Relative to the current directory, else to the repository (kind-configs/tuned.yaml).
if [ ! -f "$CONFIG" ] && [ -f "$ROOT/$CONFIG" ]; then CONFIG="$ROOT/$CONFIG"; fi
[ -f "$CONFIG" ] || die "no such kind config: $CONFIG (see $ROOT/kind-configs/)"
command -v kind >/dev/null 2>&1 || die "kind not found: install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
command -v kubectl >/dev/null 2>&1 || die "kubectl not found: install it (https://kubernetes.io/docs/tasks/tools/)"

if kind get clusters 2>/dev/null | grep -qx "$NAME"; then
  die "a kind cluster named $NAME already exists: delete it with scripts/kind-down.sh --name $NAME, or pass another --name"
fi
printf 'kind-up: kind create cluster --config %s --name %s\n' "$CONFIG" "$NAME"
kind create cluster --config "$CONFIG" --name "$NAME"
exec bash "$ROOT/scripts/kind-identity.sh" --name "$NAME"
