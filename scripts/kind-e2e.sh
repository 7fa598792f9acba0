#!/usr/bin/env bash
# The end-to-end test on a real kind cluster (tests/kind_e2e/): the node image first
# (scripts/kind-node-image.sh: built from local parts the first time, loaded from its cache
# after), the release binary, then `cargo test --test kind_e2e` with it in $CAPI_LOADGEN,
# which creates a cluster with
# scripts/kind-up.sh kind-configs/tuned.yaml, runs the quickstart, the ServiceAccount path,
# the Indexed Job of 3 shards and its merge, cleanup, two nights of scripts/nightly.sh with
# compare, and the webhook path, then deletes the cluster.
#
#   scripts/kind-e2e.sh                          # the locally built node image
#   scripts/kind-e2e.sh --kubernetes v1.37.2     # ... of that Kubernetes version
#   scripts/kind-e2e.sh --image kindest/node:v1.35.0@sha256:...   # a published image (kind pulls it)
#
# Not part of scripts/test.sh (it takes minutes and needs Docker): the nightly workflow runs
# it. A dockerd this script had scripts/kind-node-image.sh start is stopped at the end.
# Results of the steps: .kind/e2e-<pid>-results/ (or $CAPI_LOADGEN_KIND_E2E_OUT).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE_ROOT="${CAPI_LOADGEN_CACHE:-$HOME/.cache/capi-loadgen}"
say() { printf 'kind-e2e: %s\n' "$*"; }
die() { printf 'kind-e2e: error: %s\n' "$*" >&2; exit 2; }
now() { date +%s; }

IMAGE=""
K8S=()
while [ $# -gt 0 ]; do
  case "$1" in
    --image) [ $# -ge 2 ] || die "--image needs a value"; IMAGE="$2"; shift 2 ;;
    --kubernetes) [ $# -ge 2 ] || die "--kubernetes needs a version"; K8S=(--kubernetes "$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done

T0=$(now)
DOCKER_BEFORE=0
docker info >/dev/null 2>&1 && DOCKER_BEFORE=1
stop_docker() {
  if [ "$DOCKER_BEFORE" -eq 0 ]; then bash "$ROOT/scripts/kind-node-image.sh" --stop-docker; fi
}
trap stop_docker EXIT

t=$(now)
if [ -z "$IMAGE" ]; then
  bash "$ROOT/scripts/kind-node-image.sh" ${K8S[@]+"${K8S[@]}"}
  IMAGE=$(bash "$ROOT/scripts/kind-node-image.sh" --print-image ${K8S[@]+"${K8S[@]}"})
else
  # kind and kubectl (and a Docker daemon) without building an image.
  docker info >/dev/null 2>&1 || die "no Docker daemon answers: start one, or run without --image"
  command -v kind >/dev/null 2>&1 || [ -x "$CACHE_ROOT/kind/bin/kind" ] || die "kind not found (scripts/kind-node-image.sh installs it)"
fi
NODE_IMAGE_SECONDS=$(( $(now) - t ))
say "node image $IMAGE ready in $NODE_IMAGE_SECONDS s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"

export CAPI_LOADGEN_KIND_E2E=1 CAPI_LOADGEN_KIND_IMAGE="$IMAGE"
export RUST_MIN_STACK="${RUST_MIN_STACK:-8388608}" RUST_BACKTRACE=0
# The tool the test runs (and puts into the Job's image): the release build, in the target
# folder scripts/instructions.sh also uses; the test itself is an ordinary debug test binary.
t=$(now)
RELEASE_TARGET="${CAPI_LOADGEN_RELEASE_TARGET:-$CACHE_ROOT/target-release}"
say "cargo build --release --locked (target $RELEASE_TARGET)"
CARGO_TARGET_DIR="$RELEASE_TARGET" cargo build --release --locked --manifest-path "$ROOT/Cargo.toml"
export CAPI_LOADGEN="$RELEASE_TARGET/release/capi-loadgen"
BUILD_SECONDS=$(( $(now) - t ))
t=$(now)
say "cargo test --locked --test kind_e2e (binary under test: $CAPI_LOADGEN)"
cargo test --locked --manifest-path "$ROOT/Cargo.toml" --test kind_e2e -- --nocapture
say "done: node image $NODE_IMAGE_SECONDS s, release build $BUILD_SECONDS s, test $(( $(now) - t )) s, total $(( $(now) - T0 )) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
