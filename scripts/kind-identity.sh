#!/usr/bin/env bash
# Create capi-loadgen's load identity in an existing kind cluster and write a kubeconfig that
# uses it: applies deploy/rbac.yaml (ServiceAccount capi-loadgen in capi-loadgen-system and
# its ClusterRole), asks for a token with `kubectl create token`, and writes
# .kind/<name>.kubeconfig (in this repository) with the context kind-<name> (the tool's safety guard accepts
# kind-* contexts on a loopback server). The token is written to that file only (mode 600),
# never printed.
#
#   scripts/kind-identity.sh [--name capi-loadgen] [--out .kind/<name>.kubeconfig]
#
# Uses kind's admin context kind-<name> from $KUBECONFIG or ~/.kube/config (where
# `kind create cluster` puts it). The token lives $CAPI_LOADGEN_TOKEN_DURATION (default 720h;
# the apiserver may shorten it); rerun this script for a fresh one.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { printf 'kind-identity: error: %s\n' "$*" >&2; exit 1; }
usage() { printf 'usage: scripts/kind-identity.sh [--name NAME] [--out FILE]\n' >&2; exit 2; }

NAME="capi-loadgen"
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --name) [ $# -ge 2 ] || usage; NAME="$2"; shift 2 ;;
    --name=*) NAME="${1#--name=}"; shift ;;
    --out) [ $# -ge 2 ] || usage; OUT="$2"; shift 2 ;;
    --out=*) OUT="${1#--out=}"; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument $1" ;;
  esac
done
command -v kubectl >/dev/null 2>&1 || die "kubectl not found: install it (https://kubernetes.io/docs/tasks/tools/)"

NS=capi-loadgen-system
SA=capi-loadgen
CONTEXT="kind-$NAME"
OUT="${OUT:-$ROOT/.kind/$NAME.kubeconfig}"
DURATION="${CAPI_LOADGEN_TOKEN_DURATION:-720h}"
admin() { kubectl --context "$CONTEXT" "$@"; }

SERVER=$(kubectl config view --raw --minify --context "$CONTEXT" -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null) \
  || die "no context $CONTEXT in the kubeconfig: is the kind cluster $NAME up? (scripts/kind-up.sh)"
CA_DATA=$(kubectl config view --raw --minify --context "$CONTEXT" -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
if [ -z "$SERVER" ] || [ -z "$CA_DATA" ]; then
  die "context $CONTEXT has no server or certificate-authority-data"
fi

# A kind cluster is a throwaway test cluster: the opt-in deploy/rbac-crds.yaml lets runs
# install their CRDs themselves (on a shared cluster, install them as an admin instead:
# capi-loadgen crds <profile> | kubectl apply -f -).
printf 'kind-identity: kubectl apply -f deploy/rbac.yaml -f deploy/rbac-crds.yaml (context %s)\n' "$CONTEXT"
admin apply -f "$ROOT/deploy/rbac.yaml" -f "$ROOT/deploy/rbac-crds.yaml" >/dev/null
TOKEN=$(admin -n "$NS" create token "$SA" --duration "$DURATION") \
  || die "kubectl create token failed (needs kubectl and Kubernetes >= 1.24)"
[ -n "$TOKEN" ] || die "kubectl create token returned nothing"

mkdir -p "$(dirname "$OUT")"
umask 077
TMP="$OUT.tmp.$$"
trap 'rm -f "$TMP"' EXIT
cat > "$TMP" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: $CONTEXT
  cluster:
    server: $SERVER
    certificate-authority-data: $CA_DATA
users:
- name: $SA
  user:
    token: $TOKEN
contexts:
- name: $CONTEXT
  context:
    cluster: $CONTEXT
    user: $SA
current-context: $CONTEXT
KUBECONFIG
mv "$TMP" "$OUT"
trap - EXIT
unset TOKEN

printf 'kind-identity: wrote %s (ServiceAccount %s/%s, context %s, server %s)\n' "$OUT" "$NS" "$SA" "$CONTEXT" "$SERVER"
printf 'capi-loadgen run profiles/quickstart.yaml --kubeconfig %s --context %s\n' "$OUT" "$CONTEXT"
