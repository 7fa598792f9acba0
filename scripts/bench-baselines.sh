#!/usr/bin/env bash
# Build the reference clients scripts/bench.sh compares capi-loadgen with, once,
# and cache them under ~/.cache/capi-loadgen/bench/bin/:
#   etcd-benchmark     etcd's Go `benchmark` tool, from Debian's `etcd` source package (3.4.23),
#                      GOPATH mode against the golang-*-dev packages in /usr/share/gocode
#   client-go-creator  bench/baselines/creator/main.go, built GOPATH-style inside Debian's
#                      `kubernetes` 1.20.2 source tree against its vendored client-go; rebuilt
#                      whenever main.go's content changes (sha256 kept in client-go-creator.src-sha256)
# Idempotent: each step checks first and says what it did. Go builds run under nice -n 19.
# Prints the two binaries' paths on its last two lines as NAME=PATH.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_ROOT="${CAPI_LOADGEN_CACHE:-$HOME/.cache/capi-loadgen}"
BENCH_ROOT="$CACHE_ROOT/bench"
BIN="$BENCH_ROOT/bin"
SRC="$BENCH_ROOT/src"
say() { printf 'bench-baselines: %s\n' "$*" >&2; }
die() { printf 'bench-baselines: error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
fi
grep -qiE '^(ID|ID_LIKE)=.*debian' /etc/os-release 2>/dev/null \
  || die "the baselines are built from Debian source packages; this is not a Debian system"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    $SUDO apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
}
apt_install_missing() { # packages -> installs those not installed
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    say "packages present: $*"
    return 0
  fi
  apt_update_once
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

mkdir -p "$BIN" "$SRC"

# --- deb-src (scripts/setup.sh adds the same entry for the kube-apiserver build) ----------
SRC_LIST=/etc/apt/sources.list.d/capi-loadgen-src.sources
if grep -rqs '^[[:space:]]*\(Types:.*deb-src\|deb-src\)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  say "deb-src entry present"
else
  say "adding a deb-src entry for bookworm ($SRC_LIST)"
  $SUDO tee "$SRC_LIST" >/dev/null <<'SRCLIST'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRCLIST
  APT_UPDATED=0
  apt_update_once
fi
apt_install_missing golang-go dpkg-dev golang-github-modern-go-reflect2-dev
say "go: $(go version)"

# --- a. etcd's Go benchmark tool ---------------------------------------------------------
ETCD_BENCH="$BIN/etcd-benchmark"
if [ -x "$ETCD_BENCH" ]; then
  say "etcd-benchmark: $ETCD_BENCH (present; $(cat "$ETCD_BENCH.built" 2>/dev/null || echo 'build time unknown'))"
else
  t0=$(now)
  ETCD_SRC="$SRC/etcd"
  mkdir -p "$ETCD_SRC"
  if ! compgen -G "$ETCD_SRC/etcd-*/tools/benchmark" >/dev/null; then
    say "apt-get source etcd (into $ETCD_SRC)"
    (cd "$ETCD_SRC" && nice -n 19 apt-get source -qq etcd >/dev/null 2>&1) \
      || (cd "$ETCD_SRC" && nice -n 19 apt-get source etcd) || die "apt-get source etcd failed"
  else
    say "etcd source tree present under $ETCD_SRC"
  fi
  ETCD_TREES=("$ETCD_SRC"/etcd-*/)
  ETCD_TREE=${ETCD_TREES[0]%/}
  if [ "$($SUDO apt-get -s build-dep etcd 2>/dev/null | grep -c '^Inst ' || true)" -gt 0 ]; then
    say "apt-get build-dep etcd (the golang-*-dev packages the GOPATH build needs)"
    DEBIAN_FRONTEND=noninteractive nice -n 19 $SUDO apt-get build-dep -y -qq etcd >/dev/null
  else
    say "build dependencies of etcd present"
  fi
  GP="$ETCD_SRC/gopath"
  mkdir -p "$GP/src/go.etcd.io"
  ln -sfn "$ETCD_TREE" "$GP/src/go.etcd.io/etcd"
  say "building etcd-benchmark from $ETCD_TREE (GOPATH mode with /usr/share/gocode)"
  (
    cd "$GP/src/go.etcd.io/etcd"
    GOPATH="$GP:/usr/share/gocode" GO111MODULE=off CGO_ENABLED=0 \
      nice -n 19 go build -o "$ETCD_BENCH.tmp" ./tools/benchmark
  ) > "$BENCH_ROOT/etcd-benchmark.build.log" 2>&1 \
    || { tail -n 20 "$BENCH_ROOT/etcd-benchmark.build.log" >&2; die "etcd benchmark build failed (log: $BENCH_ROOT/etcd-benchmark.build.log)"; }
  mv "$ETCD_BENCH.tmp" "$ETCD_BENCH"
  echo "built in $(elapsed "$t0") s from $(basename "$ETCD_TREE") on $(date -u +%FT%TZ)" > "$ETCD_BENCH.built"
  say "etcd-benchmark: $(cat "$ETCD_BENCH.built") -> $ETCD_BENCH"
fi

# --- b. the client-go creator --------------------------------------------------------------
CREATOR_SRC="$ROOT/bench/baselines/creator/main.go"
CREATOR="$BIN/client-go-creator"
[ -f "$CREATOR_SRC" ] || die "missing $CREATOR_SRC"
# Keyed by the source's content, not by mtimes: the cache is shared by every checkout.
CREATOR_SUM=$(sha256sum "$CREATOR_SRC" | cut -d' ' -f1)
if [ -x "$CREATOR" ] && [ "$(cat "$CREATOR.src-sha256" 2>/dev/null)" = "$CREATOR_SUM" ]; then
  say "client-go-creator: $CREATOR (present, built from this main.go, sha256 ${CREATOR_SUM:0:12}; $(cat "$CREATOR.built" 2>/dev/null || echo 'build time unknown'))"
else
  if [ -x "$CREATOR" ]; then say "client-go-creator: main.go changed since the cached build (sha256 now ${CREATOR_SUM:0:12}): rebuilding"; fi
  t0=$(now)
  # The kubernetes tree: setup.sh's (if it was kept), else ours, else fetch it again.
  K8S_TREE=""
  for d in "$CACHE_ROOT"/build/kubernetes-*/ "$SRC"/k8s/kubernetes-*/; do
    if [ -d "$d/staging/src/k8s.io/client-go" ]; then K8S_TREE=${d%/}; break; fi
  done
  if [ -z "$K8S_TREE" ]; then
    mkdir -p "$SRC/k8s"
    say "no kubernetes source tree in $CACHE_ROOT (setup.sh deletes it after building kube-apiserver): apt-get source kubernetes (into $SRC/k8s)"
    (cd "$SRC/k8s" && nice -n 19 apt-get source -qq kubernetes >/dev/null 2>&1) \
      || (cd "$SRC/k8s" && nice -n 19 apt-get source kubernetes) || die "apt-get source kubernetes failed"
    K8S_TREES=("$SRC"/k8s/kubernetes-*/)
    K8S_TREE=${K8S_TREES[0]%/}
  else
    say "kubernetes source tree present: $K8S_TREE"
  fi
  # Go >= 1.19 breaks the vendored reflect2 v1.0.1 (modern Go's reflect changes; see reflect2's release notes): use Debian's v1.0.2, as setup.sh does.
  R2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
  R2_DST="$K8S_TREE/vendor/github.com/modern-go/reflect2"
  if ! grep -qs 'capi-loadgen: replaced' "$R2_DST/.capi-loadgen"; then
    rm -rf "$R2_DST"
    cp -r "$R2_SRC" "$R2_DST"
    rm -f "$R2_DST/go.mod" "$R2_DST/go.sum"
    echo "capi-loadgen: replaced with $R2_SRC" > "$R2_DST/.capi-loadgen"
    say "replaced the tree's vendored reflect2 with Debian's golang-github-modern-go-reflect2-dev"
  fi
  mkdir -p "$K8S_TREE/.go/src/k8s.io" "$K8S_TREE/cmd/capi-loadgen-bench-creator"
  ln -sfn "$K8S_TREE" "$K8S_TREE/.go/src/k8s.io/kubernetes"
  cp "$CREATOR_SRC" "$K8S_TREE/cmd/capi-loadgen-bench-creator/main.go"
  # The key of what is compiled (main.go may change again while this builds).
  CREATOR_SUM=$(sha256sum "$K8S_TREE/cmd/capi-loadgen-bench-creator/main.go" | cut -d' ' -f1)
  say "building client-go-creator inside $K8S_TREE (GOPATH mode, vendored client-go)"
  (
    cd "$K8S_TREE/.go/src/k8s.io/kubernetes"
    GOPATH="$K8S_TREE/.go" GO111MODULE=off CGO_ENABLED=0 \
      nice -n 19 go build -o "$CREATOR.tmp" ./cmd/capi-loadgen-bench-creator
  ) > "$BENCH_ROOT/client-go-creator.build.log" 2>&1 \
    || { tail -n 20 "$BENCH_ROOT/client-go-creator.build.log" >&2; die "client-go creator build failed (log: $BENCH_ROOT/client-go-creator.build.log)"; }
  mv "$CREATOR.tmp" "$CREATOR"
  echo "$CREATOR_SUM" > "$CREATOR.src-sha256"
  echo "built in $(elapsed "$t0") s against $(basename "$K8S_TREE") from main.go sha256 ${CREATOR_SUM:0:12} on $(date -u +%FT%TZ)" > "$CREATOR.built"
  say "client-go-creator: $(cat "$CREATOR.built") -> $CREATOR"
fi

echo "ETCD_BENCHMARK=$ETCD_BENCH"
echo "CLIENT_GO_CREATOR=$CREATOR"
