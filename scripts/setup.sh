#!/usr/bin/env bash
# Make etcd, etcdctl, kube-apiserver, the reference controller, the slow disk (slowfs), protoc and the CRDs of Cluster
# API and of its providers (CAPD, Metal3, Nutanix) available for capi-loadgen; with
# --for-tests also the tools only the tests use: Prometheus, ShellCheck and valgrind.
#
#   scripts/setup.sh                                # the default versions (newest supported)
#   scripts/setup.sh --for-tests                    # also Prometheus, shellcheck and valgrind (scripts/test.sh)
#   scripts/setup.sh --kubernetes v1.34.4           # another kube-apiserver, beside the others
#   scripts/setup.sh --kubernetes v1.37.2,v1.20.2   # several at once
#   scripts/setup.sh --etcd v3.4.23                 # Debian's older etcd, beside the default
#   scripts/setup.sh --capi                         # also Cluster API's own managers (capi_controllers:)
#   scripts/setup.sh --all                          # every supported version (the test matrix) and the managers
#   scripts/setup.sh --bench                        # also the benchmark's baselines (bench/bench.py)
#   scripts/setup.sh --kind                         # also Docker, kind and a kind node image built here (scripts/kind-node-image.sh)
#   scripts/setup.sh --list                         # what is built, then exit
#
# scripts/quickstart.sh runs it without --for-tests; scripts/test.sh runs it with --all --for-tests.
#
# Idempotent and safe to rerun: each step checks first and says what it did and how long it
# took. Binaries are cached under ~/.cache/capi-loadgen/assets/<version>/ (one folder per
# kube-apiserver or etcd version); Go's module and build caches are kept, so a rebuild after
# a cache wipe of the assets takes a minute, not a cold build.
#
# Where the binaries come from:
#   - kube-apiserver v1.3x and etcd v3.6: the repository's Go modules under servers/, which
#     import k8s.io/kubernetes/cmd/kube-apiserver/app and go.etcd.io/etcd/server/v3/etcdmain
#     from the Go module proxy (nothing of upstream is copied). A Kubernetes version with a
#     committed modfile (servers/kube-apiserver/go.mod or versions/<v>.mod) builds exactly
#     those pins; any other served version gets a modfile generated in the cache.
#   - kube-apiserver v1.20.2: built from Debian's `kubernetes` source package with Debian's
#     Go 1.19 (about 5 minutes on 2 cores), for comparisons with older clusters.
#   - etcd v3.4.23: Debian's etcd-server/etcd-client packages, unpacked into the cache (not
#     installed, so no system etcd service starts and nothing shadows the default on PATH).
#   - capi-loadgen-reference-controller: servers/reference-controller (a controller-runtime
#     manager that `phases.steady.controller: reference` runs), cached in
#     assets/reference-controller/ and rebuilt when its sources change.
#   - capi-loadgen-slowfs: servers/slowfs (a FUSE pass-through file system whose fsync takes
#     longer, for `local.etcd_fsync_delay_ms`), cached in assets/slowfs/ the same way.
#   - Cluster API's managers (core, kubeadm control plane and bootstrap, CAPD) for
#     `capi_controllers:` profiles: upstream's main packages at the release servers/capi/go.mod
#     pins, built by scripts/capi-managers.sh into assets/capi/<version>/ (about 15 minutes
#     on 2 cores the first time).
#
# The tool looks for binaries in $KUBEBUILDER_ASSETS (the envtest convention), then $PATH, then
# this cache (newest version first unless a profile or flag names one).
#
# --bench also builds the reference clients bench/bench.py measures against (etcd's benchmark
# tool and a client-go creator, from the Go modules under bench/baselines/, by
# scripts/bench-baselines.sh into ~/.cache/capi-loadgen/bench/bin/) and checks python3.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE_ROOT="${CAPI_LOADGEN_CACHE:-$HOME/.cache/capi-loadgen}"
ASSETS_ROOT="$CACHE_ROOT/assets"
SERVERS="$REPO/servers"
say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
took() { echo "$(( $(now) - $1 )) s"; }

# The version a go.mod requires of a module (inside or outside a require block).
required() { awk -v m="$2" '$1=="require" && $2==m {print $3; exit} $1==m && $2 ~ /^v/ {print $2; exit}' "$1"; }
default_k8s() { required "$SERVERS/kube-apiserver/go.mod" k8s.io/kubernetes; }
default_etcd() { required "$SERVERS/etcd/go.mod" go.etcd.io/etcd/server/v3; }

K8S_VERSIONS=""
ETCD_VERSIONS=""
LIST=0
BENCH=0
CAPI=""
FOR_TESTS=0
KIND=0
while [ $# -gt 0 ]; do
  case "$1" in
    --kubernetes) [ $# -ge 2 ] || die "--kubernetes needs a version (e.g. v1.34.4)"; K8S_VERSIONS="$2"; shift 2 ;;
    --kubernetes=*) K8S_VERSIONS="${1#*=}"; shift ;;
    --etcd) [ $# -ge 2 ] || die "--etcd needs a version (e.g. v3.6.16)"; ETCD_VERSIONS="$2"; shift 2 ;;
    --etcd=*) ETCD_VERSIONS="${1#*=}"; shift ;;
    --all) K8S_VERSIONS=ALL; CAPI=default; shift ;;
    --capi) if [ $# -ge 2 ] && [[ "$2" =~ ^v[0-9] ]]; then CAPI="$2"; shift 2; else CAPI=default; shift; fi ;;
    --capi=*) CAPI="${1#*=}"; shift ;;
    --list) LIST=1; shift ;;
    --bench) BENCH=1; shift ;;
    --for-tests) FOR_TESTS=1; shift ;;
    --kind) KIND=1; shift ;;
    -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown argument '$1' (see scripts/setup.sh --help)" ;;
  esac
done
{ [ -n "$(default_k8s)" ] && [ -n "$(default_etcd)" ]; } || die "servers/kube-apiserver/go.mod or servers/etcd/go.mod names no version"
[ -n "$K8S_VERSIONS" ] || K8S_VERSIONS=$(default_k8s)
if [ "$K8S_VERSIONS" = ALL ]; then
  # The default, every version with a committed modfile, and the Debian-built v1.20.2.
  K8S_VERSIONS=$(default_k8s)
  for f in "$SERVERS"/kube-apiserver/versions/v*.mod; do
    [ -f "$f" ] && K8S_VERSIONS="$K8S_VERSIONS,$(basename "$f" .mod)"
  done
  K8S_VERSIONS="$K8S_VERSIONS,v1.20.2"
fi
[ -n "$ETCD_VERSIONS" ] || ETCD_VERSIONS=$(default_etcd)

if [ "$LIST" -eq 1 ]; then
  for d in "$ASSETS_ROOT"/v*/; do
    [ -d "$d" ] || continue
    printf '%s: %s\n' "$(basename "$d")" "$(find "$d" -maxdepth 1 -type f -printf '%f ')"
  done
  if [ -d "$CACHE_ROOT/bench/bin" ]; then
    printf 'bench: %s\n' "$(find "$CACHE_ROOT/bench/bin" -maxdepth 1 -type f -perm -u+x -printf '%f ')"
  fi
  exit 0
fi

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
  is_debian || die "missing $* and this is not a Debian system: install it yourself, or export KUBEBUILDER_ASSETS from 'setup-envtest use -p path', or point capi-loadgen at a kind cluster with --kubeconfig."
  apt_update_once
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- protoc (etcd-client needs it at build time) -------------------------------------
if command -v protoc >/dev/null 2>&1 && [ -d /usr/include/google/protobuf ]; then
  say "protoc: $(command -v protoc) (present)"
else
  apt_install protobuf-compiler libprotobuf-dev
  say "protoc: installed $(protoc --version)"
fi

# --- the tools only the tests use (--for-tests): Prometheus, shellcheck, valgrind ----------
if [ "$FOR_TESTS" -eq 1 ]; then
  # --- prometheus (tests/own_env/prometheus.rs reads the observations from a real Prometheus
  # scraping the local environment; the test is skipped, saying so, without it) ----------------
  if [ -x /usr/bin/prometheus ]; then
    say "prometheus: /usr/bin/prometheus (present)"
  elif is_debian; then
    # Only the binary is used: the tests start their own Prometheus on a free port.
    apt_install prometheus
    say "prometheus: installed $(/usr/bin/prometheus --version 2>&1 | head -n1)"
  else
    say "prometheus: not found; tests/own_env/prometheus.rs will be skipped (https://prometheus.io/download/)"
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

  # --- valgrind (scripts/instructions.sh counts instructions with callgrind) ------------------
  if command -v valgrind >/dev/null 2>&1; then
    say "valgrind: $(command -v valgrind) (present)"
  elif is_debian; then
    apt_install valgrind
    say "valgrind: installed $(valgrind --version)"
  else
    say "valgrind: not found; install it (https://valgrind.org/downloads/) for scripts/instructions.sh"
  fi
else
  say "prometheus, shellcheck, valgrind: not needed without --for-tests (scripts/test.sh asks for them)"
fi

# --- Go (for the servers/ modules) -------------------------------------------------------
need_go() {
  command -v go >/dev/null 2>&1 || die "go not found: the modern kube-apiserver and etcd are built with Go >= 1.26 from the Go module proxy (install Go, or export KUBEBUILDER_ASSETS with prebuilt binaries)"
  local gv
  gv=$(go env GOVERSION | sed 's/^go//')
  case "$gv" in
    1.2[6-9]*|1.[3-9]*) ;;
    *) die "go $gv is too old for servers/ (needs >= 1.26; the Go in PATH was $(command -v go))" ;;
  esac
}

# Prints "module@version" of the first module the Go command could not fetch, from a build log.
refused_module() {
  grep -oE '(go: )?[A-Za-z0-9._~/-]+@v[0-9][A-Za-z0-9.+-]*: (reading|verifying|unrecognized|invalid|module .* not found|.*(404|410|not found))' "$1" \
    | head -n 1 | sed -E 's/^go: //; s/: .*//' || true
}

version_ok() { # binary version-prefix -> 0 if `binary --version` names that version
  [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qE "(^| |v)${2#v}([^0-9]|$)"
}

# --- kube-apiserver from Go modules ----------------------------------------------------
build_apiserver_go() {
  local v="$1" dest="$ASSETS_ROOT/$1" t0 modfile gen minor log
  t0=$(now)
  need_go
  minor=$(echo "$v" | cut -d. -f2)
  if [ "$v" = "$(default_k8s)" ]; then
    modfile="$SERVERS/kube-apiserver/go.mod"
  elif [ -f "$SERVERS/kube-apiserver/versions/$v.mod" ]; then
    modfile="$SERVERS/kube-apiserver/versions/$v.mod"
  else
    gen="$CACHE_ROOT/build/modfiles"
    mkdir -p "$gen"
    modfile="$gen/$v.mod"
    say "kube-apiserver $v: no committed modfile, generating $modfile"
    bash "$SERVERS/kube-apiserver/modfile.sh" "$v" > "$modfile.tmp" 2> "$gen/$v.log" || {
      m=$(refused_module "$gen/$v.log"); m=${m:-k8s.io/kubernetes@$v}
      die "the Go module proxy refused $m (log: $gen/$v.log); try a served version (e.g. --kubernetes $(default_k8s))"
    }
    mv "$modfile.tmp" "$modfile"
    (cd "$SERVERS/kube-apiserver" && go mod tidy -modfile="$modfile") > "$gen/$v.log" 2>&1 || {
      m=$(refused_module "$gen/$v.log"); m=${m:-"a dependency of k8s.io/kubernetes@$v"}
      rm -f "$modfile"
      die "the Go module proxy refused $m (log: $gen/$v.log); try a served version (e.g. --kubernetes $(default_k8s))"
    }
  fi
  say "kube-apiserver $v: building from k8s.io/kubernetes@$v with $(go env GOVERSION) (modfile $modfile; about 10 minutes on 2 cores the first time)"
  mkdir -p "$dest" "$CACHE_ROOT/build"
  log="$CACHE_ROOT/build/kube-apiserver-$v.log"
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X '$pkg.gitVersion=$v' -X '$pkg.gitMajor=1' -X '$pkg.gitMinor=$minor' -X '$pkg.gitTreeState=clean' -X '$pkg.buildDate=1970-01-01T00:00:00Z'"
  done
  (cd "$SERVERS/kube-apiserver" && CGO_ENABLED=0 go build -modfile="$modfile" -trimpath -ldflags "$ld" -o "$dest/kube-apiserver.tmp" .) > "$log" 2>&1 || {
    m=$(refused_module "$log")
    [ -n "$m" ] && die "the Go module proxy refused $m while building kube-apiserver $v (log: $log); try a served version (e.g. --kubernetes $(default_k8s))"
    tail -n 20 "$log" >&2
    die "kube-apiserver $v: go build failed (log: $log)"
  }
  mv "$dest/kube-apiserver.tmp" "$dest/kube-apiserver"
  version_ok "$dest/kube-apiserver" "$v" || die "built $dest/kube-apiserver does not report $v"
  say "kube-apiserver $v: built -> $dest/kube-apiserver ($(took "$t0"))"
}

# --- kube-apiserver v1.20.2 from Debian's source package -------------------------------
build_apiserver_debian() {
  local v="$1" t0 build tree
  t0=$(now)
  is_debian || die "kube-apiserver $v is built from Debian's kubernetes source package, and this is not Debian"
  local src_list=/etc/apt/sources.list.d/capi-loadgen-src.sources
  if ! grep -rqs 'deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/ ; then
    say "adding a deb-src entry for bookworm ($src_list)"
    $SUDO tee "$src_list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    APT_UPDATED=0
  fi
  apt_install golang-go rsync dpkg-dev golang-github-modern-go-reflect2-dev make
  # The vendored tree of v1.20.2 needs Debian's Go 1.19, not the Go 1.26 in PATH.
  local go119=/usr/lib/go-1.19/bin
  [ -x "$go119/go" ] || die "Debian's Go 1.19 not found at $go119 (package golang-1.19-go)"
  build="$CACHE_ROOT/build/debian-kubernetes"
  rm -rf "$build"; mkdir -p "$build"
  say "kube-apiserver $v: apt-get source kubernetes (into $build)"
  (cd "$build" && { apt-get source -qq kubernetes >/dev/null 2>&1 || apt-get source kubernetes; })
  tree=$(find "$build" -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)
  [ -n "$tree" ] || die "apt-get source kubernetes left no kubernetes-* tree in $build"
  # Go >= 1.19 breaks the vendored reflect2 v1.0.1 (nil-pointer panic on JSON maps): use Debian's v1.0.2.
  local r2_src=/usr/share/gocode/src/github.com/modern-go/reflect2 r2_dst="$tree/vendor/github.com/modern-go/reflect2"
  rm -rf "$r2_dst"; cp -r "$r2_src" "$r2_dst"; rm -f "$r2_dst/go.mod" "$r2_dst/go.sum"
  mkdir -p "$tree/.go/src/k8s.io"
  ln -sfn "$tree" "$tree/.go/src/k8s.io/kubernetes"
  say "kube-apiserver $v: building with Debian's Go 1.19 (about 5 minutes on 2 cores)"
  (
    cd "$tree/.go/src/k8s.io/kubernetes"
    export PATH="$go119:$PATH" GOPATH="$tree/.go" GO111MODULE=off CGO_ENABLED=0 GOTOOLCHAIN=local
    unset GOFLAGS
    make WHAT=cmd/kube-apiserver
  ) > "$CACHE_ROOT/build/kube-apiserver-$v.log" 2>&1 || { tail -n 30 "$CACHE_ROOT/build/kube-apiserver-$v.log" >&2; die "kube-apiserver $v build failed (log: $CACHE_ROOT/build/kube-apiserver-$v.log)"; }
  local bin
  bin=$(find "$tree/_output" -type f -name kube-apiserver -perm -u+x | head -n 1)
  [ -n "$bin" ] || die "build finished but no kube-apiserver binary under $tree/_output"
  mkdir -p "$ASSETS_ROOT/$v"
  cp "$bin" "$ASSETS_ROOT/$v/kube-apiserver"
  version_ok "$ASSETS_ROOT/$v/kube-apiserver" "$v" || die "Debian's kubernetes source built $("$bin" --version), not $v"
  rm -rf "$build" # the source tree is large; keep only the binary
  say "kube-apiserver $v: built -> $ASSETS_ROOT/$v/kube-apiserver ($(took "$t0"))"
}

# --- etcd + etcdctl from Go modules ----------------------------------------------------
build_etcd_go() {
  local v="$1" dest="$ASSETS_ROOT/$1" t0 log
  t0=$(now)
  need_go
  [ "$v" = "$(default_etcd)" ] || die "etcd $v: servers/etcd/go.mod pins $(default_etcd); edit it (go get go.etcd.io/etcd/server/v3@$v go.etcd.io/etcd/etcdctl/v3@$v) or use --etcd v3.4.23 for Debian's"
  mkdir -p "$dest" "$CACHE_ROOT/build"
  log="$CACHE_ROOT/build/etcd-$v.log"
  say "etcd $v: building etcd and etcdctl from go.etcd.io/etcd@$v with $(go env GOVERSION)"
  (cd "$SERVERS/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dest/" ./etcd ./etcdctl) > "$log" 2>&1 || {
    m=$(refused_module "$log")
    [ -n "$m" ] && die "the Go module proxy refused $m while building etcd $v (log: $log); try Debian's etcd with --etcd v3.4.23"
    tail -n 20 "$log" >&2
    die "etcd $v: go build failed (log: $log)"
  }
  version_ok "$dest/etcd" "$v" || die "built $dest/etcd does not report $v"
  say "etcd $v: built -> $dest/etcd, $dest/etcdctl ($(took "$t0"))"
}

# --- etcd v3.4.23 from Debian's packages (unpacked, not installed) ----------------------
unpack_etcd_debian() {
  local v="$1" t0 tmp
  t0=$(now)
  is_debian || die "etcd $v comes from Debian's etcd-server package, and this is not Debian"
  apt_update_once
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq etcd-server etcd-client >/dev/null) || die "apt-get download etcd-server etcd-client failed"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
  mkdir -p "$ASSETS_ROOT/$v"
  cp "$tmp/root/usr/bin/etcd" "$tmp/root/usr/bin/etcdctl" "$ASSETS_ROOT/$v/"
  rm -rf "$tmp"
  version_ok "$ASSETS_ROOT/$v/etcd" "$v" || die "Debian's etcd-server is $("$ASSETS_ROOT/$v/etcd" --version | head -n 1), not $v"
  say "etcd $v: unpacked Debian's etcd-server/etcd-client -> $ASSETS_ROOT/$v/ ($(took "$t0"))"
}

IFS=',' read -r -a ETCDS <<< "$ETCD_VERSIONS"
for v in "${ETCDS[@]}"; do
  [[ "$v" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--etcd: '$v' is not a version like v3.6.16"
  if version_ok "$ASSETS_ROOT/$v/etcd" "$v" && [ -x "$ASSETS_ROOT/$v/etcdctl" ]; then
    say "etcd $v: $ASSETS_ROOT/$v/etcd (present)"
  elif [ "$v" = "v3.4.23" ]; then
    unpack_etcd_debian "$v"
  else
    build_etcd_go "$v"
  fi
done

IFS=',' read -r -a K8S <<< "$K8S_VERSIONS"
for v in "${K8S[@]}"; do
  [[ "$v" =~ ^v1\.[0-9]+\.[0-9]+$ ]] || die "--kubernetes: '$v' is not a version like v1.37.2"
  if version_ok "$ASSETS_ROOT/$v/kube-apiserver" "$v"; then
    say "kube-apiserver $v: $ASSETS_ROOT/$v/kube-apiserver (present)"
  elif [ "$v" = "v1.20.2" ]; then
    build_apiserver_debian "$v"
  else
    build_apiserver_go "$v"
  fi
done

# --- small Go servers of the project's own, built from servers/<name> -------------------
# Cached in $ASSETS_ROOT/<name>/ with a stamp of their sources: rebuilt when a .go file,
# go.mod or go.sum changes. Arguments: the folder under servers/, the binary's name, the
# label said in messages, and the upstream module whose version is said.
build_go_server() {
  local name=$1 binary=$2 label=$3 module=$4
  local dir="$SERVERS/$name" dest="$ASSETS_ROOT/$name" t0 log stamp
  local bin="$dest/$binary"
  t0=$(now)
  stamp=$(cat "$dir"/*.go "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-16)
  if [ -x "$bin" ] && [ "$(cat "$dest/stamp" 2>/dev/null)" = "$stamp" ]; then
    say "$label: $bin (present, sources $stamp)"
    return
  fi
  need_go
  mkdir -p "$dest" "$CACHE_ROOT/build"
  log="$CACHE_ROOT/build/$name.log"
  say "$label: building $module@$(required "$dir/go.mod" "$module") with $(go env GOVERSION)"
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .) > "$log" 2>&1 || {
    m=$(refused_module "$log")
    [ -n "$m" ] && die "the Go module proxy refused $m while building the $label (log: $log)"
    tail -n 20 "$log" >&2
    die "$label: go build failed (log: $log)"
  }
  mv "$bin.tmp" "$bin"
  "$bin" --version >/dev/null 2>&1 || die "built $bin does not run"
  echo "$stamp" > "$dest/stamp"
  say "$label: built -> $bin ($(took "$t0"))"
}

# The reference controller (controller-runtime, servers/reference-controller).
build_go_server reference-controller capi-loadgen-reference-controller "reference controller" sigs.k8s.io/controller-runtime
# The slow disk (servers/slowfs: a FUSE pass-through with a delayed fsync);
# `local.etcd_fsync_delay_ms` mounts etcd's data directory through it.
build_go_server slowfs capi-loadgen-slowfs slowfs github.com/hanwen/go-fuse/v2
[ -e /dev/fuse ] || say "slowfs: /dev/fuse is missing here: local.etcd_fsync_delay_ms needs the fuse kernel module (modprobe fuse)"

# --- Cluster API's CRDs (fleet.crd_dir, and the tests of the ClusterClass-era kinds) -------
# The CustomResourceDefinitions of a Cluster API release, as generated upstream, from the
# sigs.k8s.io/cluster-api module on the Go module proxy (core, kubeadm bootstrap and control
# plane: Cluster, ClusterClass, MachineHealthCheck, MachinePool, the templates, ...), copied
# into $ASSETS_ROOT/capi-crds/<version>/. Point `fleet.crd_dir` at that folder for real schemas.
CAPI_CRDS_VERSION=v1.14.2
fetch_capi_crds() {
  local dest="$ASSETS_ROOT/capi-crds/$CAPI_CRDS_VERSION" t0 dir log
  t0=$(now)
  if [ -s "$dest/cluster.x-k8s.io_clusterclasses.yaml" ]; then
    say "Cluster API $CAPI_CRDS_VERSION CRDs: $dest (present)"
    return
  fi
  need_go
  mkdir -p "$CACHE_ROOT/build"
  log="$CACHE_ROOT/build/capi-crds.log"
  dir=$(cd "$SERVERS/reference-controller" && go mod download -json "sigs.k8s.io/cluster-api@$CAPI_CRDS_VERSION" 2> "$log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    die "the Go module proxy refused sigs.k8s.io/cluster-api@$CAPI_CRDS_VERSION (log: $log)"
  fi
  mkdir -p "$dest.tmp"
  cp "$dir"/core/config/crd/bases/cluster.x-k8s.io_*.yaml \
     "$dir"/bootstrap/kubeadm/config/crd/bases/*.yaml \
     "$dir"/controlplane/kubeadm/config/crd/bases/*.yaml "$dest.tmp/"
  chmod -R u+w "$dest.tmp"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
  say "Cluster API $CAPI_CRDS_VERSION CRDs: $(find "$dest" -name '*.yaml' | wc -l) files -> $dest ($(took "$t0"))"
}
fetch_capi_crds

# --- the providers' CRDs (the tests of the provider API versions) -----------------------------
# The CustomResourceDefinitions of the three modelled infrastructure providers, as generated
# upstream, from their modules on the Go module proxy, into
# $ASSETS_ROOT/provider-crds/<provider>/<version>/: CAPD (DockerCluster, DockerMachine, the
# Dev* kinds and templates) from Cluster API's test module at the same release as the CRDs
# above, Metal3 (Metal3Cluster, Metal3Machine, templates) from CAPM3's module and Nutanix
# (NutanixCluster, NutanixMachine, templates) from CAPX's. A module the proxy does not serve is reported and skipped:
# the tests that install that provider's CRDs then say they were skipped.
METAL3_CRDS_VERSION=v1.13.2
NUTANIX_CRDS_VERSION=v1.10.3
fetch_provider_crds() { # name module version folder-in-module
  local name="$1" module="$2" version="$3" sub="$4" dest t0 dir log
  dest="$ASSETS_ROOT/provider-crds/$name/$version"
  t0=$(now)
  if compgen -G "$dest/*.yaml" >/dev/null; then
    say "$name $version CRDs: $dest (present)"
    return
  fi
  need_go
  mkdir -p "$CACHE_ROOT/build"
  log="$CACHE_ROOT/build/provider-crds-$name.log"
  dir=$(cd "$SERVERS/reference-controller" && go mod download -json "$module@$version" 2> "$log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
  if [ -z "$dir" ] || [ ! -d "$dir/$sub" ]; then
    say "$name $version CRDs: not fetched, the Go module proxy refused $module@$version (log: $log); the tests that install them are skipped"
    return
  fi
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  cp "$dir/$sub"/infrastructure.cluster.x-k8s.io_*.yaml "$dest.tmp/"
  chmod -R u+w "$dest.tmp"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
  say "$name $version CRDs: $(find "$dest" -name '*.yaml' | wc -l) files -> $dest ($(took "$t0"))"
}
fetch_provider_crds capd sigs.k8s.io/cluster-api/test "$CAPI_CRDS_VERSION" infrastructure/docker/config/crd/bases
fetch_provider_crds metal3 github.com/metal3-io/cluster-api-provider-metal3 "$METAL3_CRDS_VERSION" config/crd/bases
fetch_provider_crds nutanix github.com/nutanix-cloud-native/cluster-api-provider-nutanix "$NUTANIX_CRDS_VERSION" config/crd/bases

# --- Cluster API's own managers (capi_controllers:) ------------------------------------------
if [ -n "$CAPI" ]; then
  pinned=$(required "$SERVERS/capi/go.mod" sigs.k8s.io/cluster-api)
  if [ "$CAPI" != default ] && [ "$CAPI" != "$pinned" ]; then
    die "--capi $CAPI: servers/capi/go.mod pins $pinned (edit its three sigs.k8s.io/cluster-api requires and replaces, then go mod tidy), or use --capi $pinned"
  fi
  need_go
  bash "$REPO/scripts/capi-managers.sh" | sed 's/^capi-managers: /setup: /'
fi

# Debian's etcd-server package (if someone installed it) starts a system etcd on
# 127.0.0.1:2379; capi-loadgen uses its own free ports, but stop it so it does not eat memory.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  $SUDO systemctl stop etcd >/dev/null 2>&1 || true
  say "stopped the system etcd service (capi-loadgen starts its own)"
fi
# --- the benchmark's baselines (bench/bench.py) -----------------------------------------
if [ "$BENCH" -eq 1 ]; then
  t0=$(now)
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
    say "python3: $(command -v python3) ($(python3 --version 2>&1 | cut -d' ' -f2), present)"
  elif is_debian; then
    apt_install python3
    say "python3: installed $(python3 --version 2>&1)"
  else
    die "python3 >= 3.9 not found: bench/bench.py needs it (standard library only)"
  fi
  need_go
  bash "$REPO/scripts/bench-baselines.sh" | sed 's/^bench-baselines: /setup: bench: /'
  say "bench: baselines ready under $CACHE_ROOT/bench/bin ($(took "$t0"))"
fi

# --- a kind node image from local parts (--kind) ---------------------------------------------
if [ "$KIND" -eq 1 ]; then
  bash "$REPO/scripts/kind-node-image.sh" | sed 's/^kind-node-image: /setup: kind: /'
fi

say "done"
