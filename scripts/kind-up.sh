#!/usr/bin/env bash
# Create a kind cluster for capi-loadgen from one of kind-configs/*.yaml, then create the load
# identity (scripts/kind-identity.sh: a ServiceAccount kubeconfig, so API Priority and
# Fairness throttles the load like a real Cluster API controller).
#
#   scripts/kind-up.sh kind-configs/tuned.yaml [--name capi-loadgen] [--image IMAGE]
#
# The cluster name defaults to capi-loadgen (the name in every kind-configs/*.yaml); --name
# overrides it and the context becomes kind-<name>. Delete with scripts/kind-down.sh.
# --image (or $CAPI_LOADGEN_KIND_IMAGE) replaces the config's node image, e.g. one built
# locally with `kind build node-image` (no registry digest needed): the config is copied
# with every node's `image:` set to it. The kubeadm patches in kind-configs/*.yaml are
# v1beta3, which kind applies to nodes before v1.36.
#
# It also writes .kind/<name>.env, to `source` before running the tool:
#   KUBECONFIG                      the load identity's kubeconfig (kubectl's convention;
#                                   capi-loadgen reads it like kubectl does)
#   CAPI_LOADGEN_ETCD_METRICS_URL   http://127.0.0.1:<host port>/metrics when the config
#                                   publishes etcd's metrics on the host (tuned.yaml does, on
#                                   2381; scripts/kind-metrics-port.sh reads the port), so WAL
#                                   fsync, backend commit, leader changes and db size are
#                                   observed
#
# etcd's Status (db size in use) needs etcd's client port and a client certificate. kind's
# etcd serves clients on https://<node IP>:2379 (reachable from a Linux host) and kubeadm
# writes a health-check client certificate into the node; copy it out with
#   mkdir -p .kind/etcd && for f in ca.crt healthcheck-client.crt healthcheck-client.key; do
#     docker cp "<name>-control-plane:/etc/kubernetes/pki/etcd/$f" .kind/etcd/; done
#   docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' <name>-control-plane
# and name them in the profile:
#   observe:
#     etcd: {endpoints: ["https://<node IP>:2379"], ca_file: .kind/etcd/ca.crt,
#            cert_file: .kind/etcd/healthcheck-client.crt, key_file: .kind/etcd/healthcheck-client.key}
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { printf 'kind-up: error: %s\n' "$*" >&2; exit 1; }
usage() { printf 'usage: scripts/kind-up.sh <kind-config.yaml> [--name NAME] [--image IMAGE]\n' >&2; exit 2; }

CONFIG=""
NAME="capi-loadgen"
IMAGE="${CAPI_LOADGEN_KIND_IMAGE:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --name) [ $# -ge 2 ] || usage; NAME="$2"; shift 2 ;;
    --name=*) NAME="${1#--name=}"; shift ;;
    --image) [ $# -ge 2 ] || usage; IMAGE="$2"; shift 2 ;;
    --image=*) IMAGE="${1#--image=}"; shift ;;
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
CREATE_CONFIG="$CONFIG"
if [ -n "$IMAGE" ]; then
  mkdir -p "$ROOT/.kind"
  CREATE_CONFIG="$ROOT/.kind/$NAME.kind-config.yaml"
  # Every node's image, whatever its tag or digest; the value is quoted for YAML.
  sed -E "s|^([[:space:]]*(- )?image:).*$|\1 \"$IMAGE\"|" "$CONFIG" > "$CREATE_CONFIG"
  grep -q 'image:' "$CREATE_CONFIG" || die "$CONFIG names no node image to replace with $IMAGE"
  printf 'kind-up: node image %s (config copied to %s)\n' "$IMAGE" "$CREATE_CONFIG"
fi
printf 'kind-up: kind create cluster --config %s --name %s\n' "$CREATE_CONFIG" "$NAME"
kind create cluster --config "$CREATE_CONFIG" --name "$NAME"
bash "$ROOT/scripts/kind-identity.sh" --name "$NAME"

ENV_FILE="$ROOT/.kind/$NAME.env"
{
  printf 'export KUBECONFIG=%q\n' "$ROOT/.kind/$NAME.kubeconfig"
  # The host port the config publishes etcd's metrics port on (tuned.yaml: 2381).
  PORT=$(bash "$ROOT/scripts/kind-metrics-port.sh" "$CONFIG")
  if [ -n "$PORT" ]; then
    printf 'export CAPI_LOADGEN_ETCD_METRICS_URL=http://127.0.0.1:%s/metrics\n' "$PORT"
  else
    printf '# %s does not publish etcd metrics on the host: etcd is not observed (see kind-configs/tuned.yaml)\n' "$(basename "$CONFIG")"
  fi
} > "$ENV_FILE"
printf 'kind-up: wrote %s; then: source %s && capi-loadgen run profiles/quickstart.yaml\n' "$ENV_FILE" "$ENV_FILE"
