#!/usr/bin/env bash
# Create a kind cluster for capi-loadgen from one of kind-configs/*.yaml, then create the load
# identity (scripts/kind-identity.sh: a ServiceAccount kubeconfig, so API Priority and
# Fairness throttles the load like a real Cluster API controller).
#
#   scripts/kind-up.sh kind-configs/tuned.yaml [--name capi-loadgen] [--image IMAGE]
#
# The cluster name defaults to capi-loadgen (the name in every kind-configs/*.yaml); --name
# overrides it and the context becomes kind-<name>. Delete with scripts/kind-down.sh.
# --image (or $CAPI_LOADGEN_KIND_IMAGE) replaces the config's node image, e.g. the one
# scripts/kind-node-image.sh builds from local parts (no registry digest needed). The config
# is created from a copy, .kind/<name>.kind-config.yaml (scripts/kind-config-for-node.sh):
# with that image, its kubeadm v1beta3 patches rewritten as v1beta4 for a v1.36+ node (kind
# skips a patch of the other version silently), and kubelet's failCgroupV1: false on a
# cgroup v1 host. kind and kubectl are looked up on PATH, then in the cache of
# scripts/kind-node-image.sh.
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
# kind and kubectl as scripts/kind-node-image.sh caches them, after any on PATH.
PATH="$PATH:${CAPI_LOADGEN_CACHE:-$HOME/.cache/capi-loadgen}/kind/bin"
command -v kind >/dev/null 2>&1 || die "kind not found: install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
command -v kubectl >/dev/null 2>&1 || die "kubectl not found: install it (https://kubernetes.io/docs/tasks/tools/)"

if kind get clusters 2>/dev/null | grep -qx "$NAME"; then
  die "a kind cluster named $NAME already exists: delete it with scripts/kind-down.sh --name $NAME, or pass another --name"
fi
# The config as created: .kind/<name>.kind-config.yaml, adapted to the node image and the host
# (scripts/kind-config-for-node.sh): the --image, kubeadm v1beta4 patches for a v1.36+ node,
# and kubelet's failCgroupV1: false on a cgroup v1 host.
mkdir -p "$ROOT/.kind"
CREATE_CONFIG="$ROOT/.kind/$NAME.kind-config.yaml"
ADAPT=()
NODE_IMAGE="$IMAGE"
if [ -n "$IMAGE" ]; then
  ADAPT+=(--image "$IMAGE")
  grep -qE '^[[:space:]]*(- )?image:' "$CONFIG" || die "$CONFIG names no node image to replace with $IMAGE"
else
  NODE_IMAGE=$(sed -nE 's/^[[:space:]]*(- )?image:[[:space:]]*"?([^"[:space:]]+)"?.*$/\2/p' "$CONFIG" | head -n 1)
fi
# The node's Kubernetes minor version: from the image tag, else from the image's /kind/version.
MINOR=$(printf '%s' "$NODE_IMAGE" | sed -nE 's/.*:v1\.([0-9]+)\.[0-9]+.*/\1/p')
if [ -z "$MINOR" ] && [ -n "$NODE_IMAGE" ] && command -v docker >/dev/null 2>&1; then
  MINOR=$(docker run --rm --entrypoint cat "$NODE_IMAGE" /kind/version 2>/dev/null | sed -nE 's/^v1\.([0-9]+)\..*/\1/p' || true)
fi
if [ -n "$MINOR" ] && [ "$MINOR" -ge 36 ] && grep -q 'kubeadm.k8s.io/v1beta3' "$CONFIG"; then
  ADAPT+=(--kubeadm-v1beta4)
  printf 'kind-up: node v1.%s: the kubeadm v1beta3 patches of %s rewritten as v1beta4\n' "$MINOR" "$(basename "$CONFIG")"
fi
if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
  ADAPT+=(--cgroup-v1)
  printf 'kind-up: cgroup v1 host: kubelet patched with failCgroupV1: false\n'
fi
bash "$ROOT/scripts/kind-config-for-node.sh" "$CONFIG" "${ADAPT[@]}" > "$CREATE_CONFIG"
[ -z "$IMAGE" ] || printf 'kind-up: node image %s (config copied to %s)\n' "$IMAGE" "$CREATE_CONFIG"
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
