#!/usr/bin/env bash
# Builds Cluster API's own managers from the Go module proxy for `phases.steady.controller: capi`
# (called by scripts/setup.sh --capi; runs alone too):
#
#   scripts/capi-managers.sh            # the version servers/capi/go.mod pins (v1.14.2)
#   scripts/capi-managers.sh --check    # exit 0 when the cached binaries are present and current
#
# The four binaries are upstream's `main` packages, built as they are (nothing is copied):
#   cluster-api-controller           sigs.k8s.io/cluster-api/core
#   kubeadm-control-plane-controller sigs.k8s.io/cluster-api/controlplane/kubeadm
#   kubeadm-bootstrap-controller     sigs.k8s.io/cluster-api/bootstrap/kubeadm
#   capd-manager                     sigs.k8s.io/cluster-api/test/infrastructure/docker (CAPD,
#                                    with the in-memory DevCluster/DevMachine backend)
# and the upstream CRDs, webhook configurations and CAPD's in-memory ClusterClass templates
# are copied out of the module cache next to them, into
# ~/.cache/capi-loadgen/assets/capi/<version>/. A cold build takes about 15 minutes on 2 cores
# (the core manager most of it); Go's build cache makes a rebuild a matter of seconds.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MOD="$REPO/servers/capi"
CACHE_ROOT="${CAPI_LOADGEN_CACHE:-$HOME/.cache/capi-loadgen}"
say() { printf 'capi-managers: %s\n' "$*"; }
die() { printf 'capi-managers: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (see scripts/capi-managers.sh --help)" ;;
esac

version=$(awk '$1=="sigs.k8s.io/cluster-api" && $2 ~ /^v/ {print $2; exit}' "$MOD/go.mod")
[ -n "$version" ] || die "servers/capi/go.mod requires no sigs.k8s.io/cluster-api version"
dest="$CACHE_ROOT/assets/capi/$version"
stamp=$(cat "$MOD/go.mod" "$MOD/go.sum" "$MOD/overlay/rate_limiter_metrics.go.txt" "$0" | sha256sum | cut -c1-16)
bins="cluster-api-controller kubeadm-control-plane-controller kubeadm-bootstrap-controller capd-manager"
present() {
  [ "$(cat "$dest/stamp" 2>/dev/null)" = "$stamp" ] || return 1
  for b in $bins; do [ -x "$dest/bin/$b" ] || return 1; done
  [ -s "$dest/templates/clusterclass-in-memory.yaml" ]
}
if present; then
  say "Cluster API $version managers: $dest (present)"
  exit 0
fi
[ "$CHECK" -eq 0 ] || exit 1
command -v go >/dev/null 2>&1 || die "go not found: Cluster API's managers are built with Go >= 1.26 from the Go module proxy"
mkdir -p "$CACHE_ROOT/build" "$dest.tmp/bin"
log="$CACHE_ROOT/build/capi-$version.log"
: > "$log"
ld="-s -w"
major=$(echo "${version#v}" | cut -d. -f1); minor=$(echo "$version" | cut -d. -f2)
for kv in "gitVersion=$version" "gitMajor=$major" "gitMinor=$minor" "gitTreeState=clean" "buildDate=1970-01-01T00:00:00Z"; do
  ld="$ld -X 'sigs.k8s.io/cluster-api/version.$kv'"
done
# Cluster API's test module (CAPD) requires core and api at v0.0.0-00010101000000-000000000000,
# satisfied upstream only by its `replace ../` lines, which Go ignores in a dependency; and Go
# refuses to add files to packages inside its module cache. So the three modules the pins in
# servers/capi/go.mod name are laid out as the repository lays them out (core at the root, api/
# and test/ beside it) in the build cache, and each manager is built by upstream's own go.mod.
(cd "$MOD" && go mod download sigs.k8s.io/cluster-api sigs.k8s.io/cluster-api/api sigs.k8s.io/cluster-api/test) >> "$log" 2>&1 \
  || die "the Go module proxy refused a Cluster API module (log: $log)"
moddir() { (cd "$MOD" && go list -m -f '{{.Dir}}' "$1"); }
src="$CACHE_ROOT/build/capi-src/$version"
rm -rf "$src"; mkdir -p "$src"
cp -r "$(moddir sigs.k8s.io/cluster-api)" "$src/cluster-api"
chmod -R u+w "$src"
cp -r "$(moddir sigs.k8s.io/cluster-api/api)" "$src/cluster-api/api"
cp -r "$(moddir sigs.k8s.io/cluster-api/test)" "$src/cluster-api/test"
chmod -R u+w "$src"

# Each main package gains one file (servers/capi/overlay/) that exposes client-go's rate-limiter
# wait on the manager's /metrics; `go build -overlay` adds it without changing upstream's files.
overlay_src="$MOD/overlay/rate_limiter_metrics.go.txt"
build() { # name module-dir package-dir
  local t0 overlay; t0=$(now)
  say "$1: building $3 of sigs.k8s.io/cluster-api $version (the first build of the core manager takes about 15 minutes on 2 cores)"
  overlay="$CACHE_ROOT/build/capi-overlay-$1.json"
  printf '{"Replace":{"%s/%s/zz_capi_loadgen_rate_limiter_metrics.go":"%s"}}\n' "$2" "$3" "$overlay_src" > "$overlay"
  (cd "$2" && GOWORK=off CGO_ENABLED=0 go build -trimpath -overlay "$overlay" -ldflags "$ld" -o "$dest.tmp/bin/$1" "./$3") >> "$log" 2>&1 || {
    tail -n 20 "$log" >&2
    die "$1: go build of $3 failed (log: $log)"
  }
  say "$1: built ($(( $(now) - t0 )) s)"
}
build cluster-api-controller "$src/cluster-api" core
build kubeadm-control-plane-controller "$src/cluster-api" controlplane/kubeadm
build kubeadm-bootstrap-controller "$src/cluster-api" bootstrap/kubeadm
build capd-manager "$src/cluster-api/test" infrastructure/docker

# The manifests each manager's deployment installs: CRDs and webhook configurations.
core="$src/cluster-api"
testmod="$src/cluster-api/test"
copy_provider() { # name dir
  mkdir -p "$dest.tmp/providers/$1/crds"
  cp "$2"/config/crd/bases/*.yaml "$dest.tmp/providers/$1/crds/"
  cp "$2"/config/webhook/manifests.yaml "$dest.tmp/providers/$1/webhooks.yaml"
}
copy_provider core "$core/core"
copy_provider kubeadm-control-plane "$core/controlplane/kubeadm"
copy_provider kubeadm-bootstrap "$core/bootstrap/kubeadm"
copy_provider capd "$testmod/infrastructure/docker"
mkdir -p "$dest.tmp/templates"
cp "$testmod"/infrastructure/docker/templates/clusterclass-in-memory.yaml \
   "$testmod"/infrastructure/docker/templates/cluster-template-in-memory.yaml "$dest.tmp/templates/"
chmod -R u+w "$dest.tmp"
echo "$stamp" > "$dest.tmp/stamp"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
rm -rf "$src"
say "Cluster API $version managers -> $dest"
