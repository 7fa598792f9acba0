#!/usr/bin/env bash
# Delete the kind cluster made by scripts/kind-up.sh, the ServiceAccount kubeconfig that
# scripts/kind-identity.sh wrote for it, and the .kind/<name>.env (and copied config) that
# kind-up.sh wrote.
#
#   scripts/kind-down.sh [--name capi-loadgen]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { printf 'kind-down: error: %s\n' "$*" >&2; exit 1; }
usage() { printf 'usage: scripts/kind-down.sh [--name NAME]\n' >&2; exit 2; }

NAME="capi-loadgen"
while [ $# -gt 0 ]; do
  case "$1" in
    --name) [ $# -ge 2 ] || usage; NAME="$2"; shift 2 ;;
    --name=*) NAME="${1#--name=}"; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument $1" ;;
  esac
done
command -v kind >/dev/null 2>&1 || die "kind not found: install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"

if kind get clusters 2>/dev/null | grep -qx "$NAME"; then
  printf 'kind-down: kind delete cluster --name %s\n' "$NAME"
  kind delete cluster --name "$NAME"
else
  printf 'kind-down: no kind cluster named %s\n' "$NAME"
fi
for f in "$ROOT/.kind/$NAME.kubeconfig" "$ROOT/.kind/$NAME.env" "$ROOT/.kind/$NAME.kind-config.yaml"; do
  if [ -f "$f" ]; then
    rm -f "$f"
    printf 'kind-down: removed %s\n' "$f"
  fi
done
