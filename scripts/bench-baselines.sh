#!/usr/bin/env bash
# Build the reference clients bench/bench.py compares capi-loadgen with, from Go modules
# (scripts/setup.sh --bench runs this), into ~/.cache/capi-loadgen/bench/bin/:
#   etcd-benchmark     etcd's own Go `benchmark` tool (tools/benchmark of go.etcd.io/etcd/v3),
#                      from bench/baselines/etcd-benchmark/go.mod (a `tool` directive), with
#                      etcd's client modules at the version servers/etcd/go.mod pins
#   client-go-creator  bench/baselines/creator/ (its own module), against the k8s.io/client-go
#                      release of the kube-apiserver servers/kube-apiserver/go.mod pins
# Idempotent: a binary is rebuilt only when its module's files (go.mod, go.sum, *.go) changed;
# the sha256 of their contents is kept beside it in <binary>.src-sha256 (bench/bench.py checks
# it) and what was built in <binary>.built. Go builds run under nice -n 19.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE_ROOT="${CAPI_LOADGEN_CACHE:-$HOME/.cache/capi-loadgen}"
BENCH_ROOT="$CACHE_ROOT/bench"
BIN="$BENCH_ROOT/bin"
BASELINES="$REPO/bench/baselines"
say() { printf 'bench-baselines: %s\n' "$*"; }
die() { printf 'bench-baselines: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
took() { echo "$(( $(now) - $1 )) s"; }

# The version a go.mod requires of a module (the same helper as setup.sh's).
required() { awk -v m="$2" '$1=="require" && $2==m {print $3; exit} $1==m && $2 ~ /^v/ {print $2; exit}' "$1"; }
# "module@version" of the first module the Go command could not fetch (as setup.sh reads it;
# nothing when there is none).
refused_module() {
  grep -oE '(go: )?[A-Za-z0-9._~/-]+@v[0-9][A-Za-z0-9.+-]*: (reading|verifying|unrecognized|invalid|module .* not found|.*(404|410|not found))' "$1" \
    | head -n 1 | sed -E 's/^go: //; s/: .*//' || true
}
# The key of a module's sources: sha256 of go.mod, go.sum and its *.go files (name order),
# concatenated. bench/bench.py computes the same key to refuse a stale binary.
src_key() { # module dir
  local files=("$1/go.mod" "$1/go.sum") f LC_ALL=C  # byte order, as bench.py sorts
  for f in "$1"/*.go; do [ -f "$f" ] && files+=("$f"); done
  cat "${files[@]}" | sha256sum | cut -d' ' -f1
}

command -v go >/dev/null 2>&1 || die "go not found: the baselines are built with Go >= 1.26 from the Go module proxy"
GOV=$(go env GOVERSION | sed 's/^go//')
case "$GOV" in
  1.2[6-9]*|1.[3-9]*) ;;
  *) die "go $GOV is too old for bench/baselines (needs >= 1.26; the Go in PATH was $(command -v go))" ;;
esac
mkdir -p "$BIN"

# build NAME MODULE_DIR PACKAGE DESCRIPTION: builds PACKAGE inside MODULE_DIR into $BIN/NAME
# unless the cached binary was built from the same sources.
build() {
  local name="$1" dir="$2" pkg="$3" what="$4" out="$BIN/$1" key t0 log m
  key=$(src_key "$dir")
  if [ -x "$out" ] && [ "$(cat "$out.src-sha256" 2>/dev/null)" = "$key" ]; then
    say "$name: $out (present, built from these sources, sha256 ${key:0:12}; $(cat "$out.built" 2>/dev/null || echo 'build time unknown'))"
    return 0
  fi
  if [ -x "$out" ]; then say "$name: ${dir#"$REPO"/} changed since the cached build: rebuilding"; fi
  t0=$(now)
  log="$BENCH_ROOT/$name.build.log"
  say "$name: building $what with $(go env GOVERSION)"
  (cd "$dir" && CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "-s -w" -o "$out.tmp" "$pkg") > "$log" 2>&1 || {
    m=$(refused_module "$log")
    [ -n "$m" ] && die "the Go module proxy refused $m while building $name (log: $log)"
    grep -q 'missing go.sum entry' "$log" && die "${dir#"$REPO"/}/go.sum is not complete for its go.mod (run go mod tidy there; log: $log)"
    tail -n 20 "$log" >&2
    die "$name: go build failed (log: $log)"
  }
  mv "$out.tmp" "$out"
  echo "$key" > "$out.src-sha256"
  echo "$what, $(go env GOVERSION), built in $(took "$t0") on $(date -u +%FT%TZ)" > "$out.built"
  say "$name: built -> $out ($(took "$t0"))"
}

# --- a. etcd's Go benchmark tool -------------------------------------------------------------
EB="$BASELINES/etcd-benchmark"
ETCD_PIN=$(required "$REPO/servers/etcd/go.mod" go.etcd.io/etcd/server/v3)
ETCD_CLIENT=$(required "$EB/go.mod" go.etcd.io/etcd/client/v3)
ETCD_TOOL=$(required "$EB/go.mod" go.etcd.io/etcd/v3)
[ -n "$ETCD_PIN" ] || die "servers/etcd/go.mod names no go.etcd.io/etcd/server/v3 version"
[ "$ETCD_CLIENT" = "$ETCD_PIN" ] \
  || die "bench/baselines/etcd-benchmark/go.mod has go.etcd.io/etcd/client/v3 ${ETCD_CLIENT:-none} but servers/etcd/go.mod pins etcd $ETCD_PIN (cd bench/baselines/etcd-benchmark && go get go.etcd.io/etcd/client/v3@$ETCD_PIN go.etcd.io/etcd/api/v3@$ETCD_PIN go.etcd.io/etcd/server/v3@$ETCD_PIN && go mod tidy)"
build etcd-benchmark "$EB" go.etcd.io/etcd/v3/tools/benchmark \
  "etcd benchmark (go.etcd.io/etcd/v3/tools/benchmark $ETCD_TOOL, etcd client modules $ETCD_CLIENT)"

# --- b. the client-go creator ----------------------------------------------------------------
CR="$BASELINES/creator"
K8S_PIN=$(required "$REPO/servers/kube-apiserver/go.mod" k8s.io/kubernetes)
CLIENT_GO=$(required "$CR/go.mod" k8s.io/client-go)
[ -n "$K8S_PIN" ] || die "servers/kube-apiserver/go.mod names no k8s.io/kubernetes version"
# Kubernetes vX.Y.Z ships client-go v0.Y.Z.
[ "${CLIENT_GO#v0.}" = "${K8S_PIN#v1.}" ] \
  || die "bench/baselines/creator/go.mod has k8s.io/client-go ${CLIENT_GO:-none} but servers/kube-apiserver/go.mod pins kube-apiserver $K8S_PIN (cd bench/baselines/creator && go get k8s.io/client-go@v0.${K8S_PIN#v1.} k8s.io/apimachinery@v0.${K8S_PIN#v1.} && go mod tidy)"
build client-go-creator "$CR" . "client-go creator (k8s.io/client-go $CLIENT_GO, for kube-apiserver $K8S_PIN)"
