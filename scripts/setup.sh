#!/usr/bin/env bash
# Make etcd, etcdctl, kube-apiserver and protoc available for capi-loadgen (and shellcheck,
# which scripts/test.sh runs on every script).
#
# Idempotent and safe to rerun: each step checks first and says what it did.
# Lookup order for the binaries (the same order the tool uses at run time):
#   1. $KUBEBUILDER_ASSETS (the envtest convention: a folder holding etcd and kube-apiserver)
#   2. $PATH
#   3. ~/.cache/capi-loadgen/assets/<version>/ (what this script builds)
# On Debian 12 missing pieces are installed with apt; kube-apiserver is built from
# Debian's `kubernetes` source package (about 5 minutes on 2 cores, once).
set -euo pipefail

CACHE_ROOT="${CAPI_LOADGEN_CACHE:-$HOME/.cache/capi-loadgen}"
ASSETS_ROOT="$CACHE_ROOT/assets"
say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
fi

is_debian() { [ -r /etc/os-release ] && grep -qiE '^(ID|ID_LIKE)=.*debian' /etc/os-release; }
APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    $SUDO apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
}
apt_install() {
  is_debian || die "missing $* and this is not a Debian system. Install etcd >= 3.4 and kube-apiserver yourself (e.g. 'setup-envtest use -p path' and export KUBEBUILDER_ASSETS), or point capi-loadgen at a kind cluster with --kubeconfig."
  apt_update_once
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_asset() { # name -> prints path if found via KUBEBUILDER_ASSETS, PATH or cache
  local name="$1" p
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$name" ]; then
    echo "$KUBEBUILDER_ASSETS/$name"; return 0
  fi
  if p=$(command -v "$name" 2>/dev/null); then echo "$p"; return 0; fi
  for p in "$ASSETS_ROOT"/*/"$name"; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}

# --- protoc (etcd-client needs it at build time) -------------------------------------
if command -v protoc >/dev/null 2>&1 && [ -d /usr/include/google/protobuf ]; then
  say "protoc: $(command -v protoc) (present)"
else
  apt_install protobuf-compiler libprotobuf-dev
  say "protoc: installed $(protoc --version)"
fi

# --- etcd / etcdctl -------------------------------------------------------------------
if p=$(have_asset etcd); then
  say "etcd: $p (present)"
else
  apt_install etcd-server
  say "etcd: installed $(command -v etcd)"
fi
if p=$(have_asset etcdctl); then
  say "etcdctl: $p (present)"
else
  apt_install etcd-client
  say "etcdctl: installed $(command -v etcdctl)"
fi
# Debian's etcd-server package starts a system etcd on 127.0.0.1:2379; capi-loadgen uses its
# own free ports, so the service is harmless, but stop it so it does not eat memory.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  $SUDO systemctl stop etcd >/dev/null 2>&1 || true
  say "stopped the system etcd service (capi-loadgen starts its own)"
fi

# --- shellcheck (scripts/test.sh lints every script with it) -------------------------------
if command -v shellcheck >/dev/null 2>&1; then
  say "shellcheck: $(command -v shellcheck) (present)"
elif is_debian; then
  apt_install shellcheck
  say "shellcheck: installed $(command -v shellcheck)"
else
  say "shellcheck: not found; install it (https://github.com/koalaman/shellcheck#installing) for scripts/test.sh"
fi

# --- kube-apiserver ---------------------------------------------------------------------
if p=$(have_asset kube-apiserver); then
  say "kube-apiserver: $p (present)"
  exit 0
fi
is_debian || die "kube-apiserver not found and this is not a Debian system. Get it with 'setup-envtest use -p path' and export KUBEBUILDER_ASSETS=<that path>, or use a kind cluster (--kubeconfig)."

SRC_LIST=/etc/apt/sources.list.d/capi-loadgen-src.sources
if ! grep -rqs 'deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/ ; then
  say "adding a deb-src entry for bookworm ($SRC_LIST)"
  $SUDO tee "$SRC_LIST" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  APT_UPDATED=0
fi
apt_install golang-go rsync dpkg-dev golang-github-modern-go-reflect2-dev make

BUILD_ROOT="$CACHE_ROOT/build"
mkdir -p "$BUILD_ROOT"
cd "$BUILD_ROOT"
if ! ls -d kubernetes-*/ >/dev/null 2>&1; then
  say "apt-get source kubernetes (into $BUILD_ROOT)"
  apt-get source -qq kubernetes >/dev/null 2>&1 || apt-get source kubernetes
fi
TREES=("$BUILD_ROOT"/kubernetes-*/)
TREE=${TREES[0]%/}
VERSION=$(basename "$TREE" | sed 's/^kubernetes-//')
say "building kube-apiserver from $TREE (version $VERSION; about 5 minutes on 2 cores)"

# Go >= 1.19 breaks the vendored reflect2 v1.0.1 (nil-pointer panic on JSON maps): use Debian's v1.0.2.
R2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
R2_DST="$TREE/vendor/github.com/modern-go/reflect2"
if [ -d "$R2_SRC" ] && ! grep -qs 'capi-loadgen: replaced' "$R2_DST/.capi-loadgen"; then
  rm -rf "$R2_DST"
  cp -r "$R2_SRC" "$R2_DST"
  rm -f "$R2_DST/go.mod" "$R2_DST/go.sum"
  echo "capi-loadgen: replaced with $R2_SRC" > "$R2_DST/.capi-loadgen"
  say "replaced vendored reflect2 with Debian's $(basename "$(dirname "$R2_SRC")")/reflect2"
fi

mkdir -p "$TREE/.go/src/k8s.io"
ln -sfn "$TREE" "$TREE/.go/src/k8s.io/kubernetes"
(
  cd "$TREE/.go/src/k8s.io/kubernetes"
  export GOPATH="$TREE/.go" GO111MODULE=off GOFLAGS=-mod=vendor CGO_ENABLED=0
  unset GOFLAGS
  make WHAT=cmd/kube-apiserver
) > "$BUILD_ROOT/build.log" 2>&1 || { tail -n 30 "$BUILD_ROOT/build.log" >&2; die "kube-apiserver build failed (log: $BUILD_ROOT/build.log)"; }

BIN=$(find "$TREE/_output" -type f -name kube-apiserver -perm -u+x | head -n 1)
[ -n "$BIN" ] || die "build finished but no kube-apiserver binary under $TREE/_output"
KVER=$("$BIN" --version | awk '{print $2}')
DEST="$ASSETS_ROOT/$KVER"
mkdir -p "$DEST"
cp "$BIN" "$DEST/kube-apiserver"
say "kube-apiserver: built $KVER -> $DEST/kube-apiserver"
# The source tree is large; keep only the binary.
rm -rf "$BUILD_ROOT"
say "done"
