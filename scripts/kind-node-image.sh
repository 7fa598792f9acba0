#!/usr/bin/env bash
# Build a kind node image on this machine, from Debian packages and Go modules only (no
# container registry), and cache it; also make kind, kubectl and a Docker daemon available.
#
#   scripts/kind-node-image.sh                        # the Kubernetes version already built here, else the default
#   scripts/kind-node-image.sh --kubernetes v1.37.2   # a chosen version (served by the Go module proxy)
#   scripts/kind-node-image.sh --print-image          # the image name it builds, then exit
#   scripts/kind-node-image.sh --stop-docker          # stop the dockerd this script started, then exit
#   scripts/setup.sh --kind                           # the same (setup.sh runs this script)
#
# Then:  scripts/kind-up.sh kind-configs/tuned.yaml --image capi-loadgen/kind-node:<version>
#
# Every step says what it does and how long it took. Cached under ~/.cache/capi-loadgen/kind/
# ($CAPI_LOADGEN_CACHE/kind): bin/ (kind, kubectl, crictl, coredns, the runc wrapper),
# <version>/bin/ (kubeadm, kubelet, kubectl and the control-plane commands), base/rootfs
# (the Debian root file system) and images/kind-node-<version>.tar (`docker save` of the
# node image). A re-run with everything cached only loads the saved image (seconds).
#
# What the node image is made of (the steps of kind's own images/base/Dockerfile and
# `kind build node-image`, replayed with local parts):
#   - a Debian bookworm root file system (debootstrap --variant=minbase) with Debian's
#     systemd, containerd, runc, CNI plugins, iptables/nftables and conntrack, plus the files
#     of kind's images/base (entrypoint, systemd units, containerd config) from the
#     sigs.k8s.io/kind module;
#   - kubeadm, kubelet, kubectl, kube-controller-manager, kube-scheduler and kube-proxy built
#     from the k8s.io/kubernetes module (CGO_ENABLED=0, the staging modules replaced by their
#     published versions, as servers/kube-apiserver/modfile.sh does), kube-apiserver and etcd
#     from scripts/setup.sh's build; crictl (sigs.k8s.io/cri-tools) and CoreDNS from Go
#     modules; the pause container compiled statically from Kubernetes' build/pause/linux/pause.c;
#   - one small image per control-plane component (its binary and nothing else; kube-proxy on
#     the Debian root for iptables), `docker import`ed, tagged as `kubeadm config images list`
#     names them and imported into the node's containerd;
#   - a static bridge CNI configuration (one node; kind's kindnetd image is not built), and
#     the kubelet told to run on cgroup v1 hosts (--fail-cgroupv1=false).
#
# Docker: an answering daemon is used as it is. Otherwise, when dockerd is installed (apt:
# docker.io), this script starts it and says so; on a host whose capability bounding set lacks
# CAP_SYS_RESOURCE (privileged containers fail with "unable to apply caps"), it registers
# scripts/kind-runc-wrapper.sh (copied into the cache) as dockerd's default runtime. Nothing is
# written to /etc. Stop it with --stop-docker.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE_ROOT="${CAPI_LOADGEN_CACHE:-$HOME/.cache/capi-loadgen}"
KIND_CACHE="$CACHE_ROOT/kind"
BIN="$KIND_CACHE/bin"
LOGS="$KIND_CACHE/logs"
KIND_VERSION=v0.33.0
CRICTL_VERSION=v1.37.0
COREDNS_VERSION=v1.13.1
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${CAPI_LOADGEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE_IMAGE="capi-loadgen/kind-base:$DEBIAN_SUITE"
say() { printf 'kind-node-image: %s\n' "$*"; }
die() { printf 'kind-node-image: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
took() { echo "$(( $(now) - $1 )) s"; }
usage() { sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

K8S=""
PRINT=0
STOP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --kubernetes) [ $# -ge 2 ] || usage; K8S="$2"; shift 2 ;;
    --kubernetes=*) K8S="${1#*=}"; shift ;;
    --print-image) PRINT=1; shift ;;
    --stop-docker) STOP=1; shift ;;
    -h|--help) usage 0 ;;
    *) die "unknown argument '$1' (see scripts/kind-node-image.sh --help)" ;;
  esac
done

if [ "$STOP" -eq 1 ]; then
  pidfile="$KIND_CACHE/dockerd.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && die "dockerd (pid $pid) did not stop within 30 s"
    rm -f "$pidfile"
    say "stopped the dockerd this script started (pid $pid); its iptables chains and docker0 bridge stay until reboot or removal"
  else
    say "no dockerd started by this script is running"
  fi
  exit 0
fi

# --- which Kubernetes version ---------------------------------------------------------------
required() { awk -v m="$2" '$1=="require" && $2==m {print $3; exit} $1==m && $2 ~ /^v/ {print $2; exit}' "$1"; }
if [ -z "$K8S" ]; then
  # A version whose node binaries are cached, else the default kube-apiserver of setup.sh
  # (its Go build cache makes the rest of Kubernetes quicker to build).
  K8S=$(find "$KIND_CACHE" -maxdepth 3 -path '*/bin/kubelet' 2>/dev/null | sed -E 's|.*/(v1\.[0-9]+\.[0-9]+)/bin/kubelet|\1|' | sort -V | tail -n 1)
  [ -n "$K8S" ] || K8S=$(required "$REPO/servers/kube-apiserver/go.mod" k8s.io/kubernetes)
fi
[[ "$K8S" =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || die "--kubernetes: '$K8S' is not a version like v1.37.2"
MINOR="${BASH_REMATCH[1]}"
IMAGE="capi-loadgen/kind-node:$K8S"
ARCHIVE="$KIND_CACHE/images/kind-node-$K8S.tar"
if [ "$PRINT" -eq 1 ]; then echo "$IMAGE"; exit 0; fi
mkdir -p "$BIN" "$LOGS" "$KIND_CACHE/images"
T_ALL=$(now)
say "Kubernetes $K8S, kind $KIND_VERSION; cache $KIND_CACHE"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
is_debian() { [ -r /etc/os-release ] && grep -qiE '^(ID|ID_LIKE)=.*debian' /etc/os-release; }

# --- host packages --------------------------------------------------------------------------
t0=$(now)
missing=()
command -v dockerd >/dev/null 2>&1 || command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  is_debian || die "missing ${missing[*]} and this is not Debian: install them yourself"
  say "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "host packages: installed (${#missing[@]}) ($(took "$t0"))"
else
  say "host packages: docker, debootstrap, iptables, jq, gcc (present)"
fi

# --- the Docker daemon ------------------------------------------------------------------------
t0=$(now)
if docker info >/dev/null 2>&1; then
  say "docker: a daemon answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null)), used as it is"
else
  command -v dockerd >/dev/null 2>&1 || die "no Docker daemon answers and dockerd is not installed (apt-get install docker.io)"
  args=()
  capbnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
  if [ $(( 0x$capbnd >> 24 & 1 )) -eq 0 ]; then
    install -m 0755 "$REPO/scripts/kind-runc-wrapper.sh" "$BIN/capi-loadgen-runc"
    args=(--add-runtime "capi-loadgen-runc=$BIN/capi-loadgen-runc" --default-runtime capi-loadgen-runc)
    say "docker: this host's capability bounding set lacks CAP_SYS_RESOURCE: default runtime $BIN/capi-loadgen-runc (drops it from every container)"
  fi
  say "docker: no daemon answers; starting dockerd ${args[*]} (log $LOGS/dockerd.log; stop it with scripts/kind-node-image.sh --stop-docker)"
  setsid dockerd "${args[@]}" > "$LOGS/dockerd.log" 2>&1 < /dev/null &
  echo $! > "$KIND_CACHE/dockerd.pid"
  deadline=$(( $(now) + 60 ))
  until docker info >/dev/null 2>&1; do
    [ "$(now)" -lt "$deadline" ] || { tail -n 20 "$LOGS/dockerd.log" >&2; die "dockerd did not answer within 60 s (log $LOGS/dockerd.log)"; }
    kill -0 "$(cat "$KIND_CACHE/dockerd.pid")" 2>/dev/null || { tail -n 20 "$LOGS/dockerd.log" >&2; die "dockerd exited (log $LOGS/dockerd.log)"; }
    sleep 0.5
  done
  say "docker: dockerd started, pid $(cat "$KIND_CACHE/dockerd.pid") ($(took "$t0"))"
fi

# --- Go-built tools: kind, crictl, CoreDNS ----------------------------------------------------
need_go() { command -v go >/dev/null 2>&1 || die "go not found: kind, crictl, CoreDNS and Kubernetes are built from Go modules (install Go >= 1.26)"; }
go_install() { # name module@version check-command...
  local name="$1" mod="$2" t0
  shift 2
  if [ -x "$BIN/$name" ] && "$@" >/dev/null 2>&1; then say "$name: $BIN/$name (present)"; return; fi
  need_go
  t0=$(now)
  say "$name: go install $mod"
  (cd /tmp && GOBIN="$BIN" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install -trimpath -ldflags '-s -w' "$mod") > "$LOGS/$name.log" 2>&1 \
    || { tail -n 20 "$LOGS/$name.log" >&2; die "go install $mod failed (log $LOGS/$name.log)"; }
  say "$name: built -> $BIN/$name ($(took "$t0"))"
}
go_install kind "sigs.k8s.io/kind@$KIND_VERSION" sh -c "'$BIN/kind' version | grep -q ' $KIND_VERSION '"
go_install crictl "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" test -x "$BIN/crictl"
go_install coredns "github.com/coredns/coredns@$COREDNS_VERSION" sh -c "'$BIN/coredns' -version | grep -q '${COREDNS_VERSION#v}'"

# The node image: present in docker, else loaded from the cached archive (the warm path).
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  ln -sf "$KIND_CACHE/$K8S/bin/kubectl" "$BIN/kubectl" 2>/dev/null || true
  say "node image $IMAGE: present in docker"
  say "done ($(took "$T_ALL")): scripts/kind-up.sh kind-configs/tuned.yaml --image $IMAGE"
  exit 0
fi
if [ -s "$ARCHIVE" ] && [ -x "$KIND_CACHE/$K8S/bin/kubectl" ]; then
  t0=$(now)
  docker load -i "$ARCHIVE" >/dev/null || die "docker load -i $ARCHIVE failed"
  ln -sf "$KIND_CACHE/$K8S/bin/kubectl" "$BIN/kubectl"
  say "node image $IMAGE: loaded from $ARCHIVE ($(took "$t0"))"
  say "done ($(took "$T_ALL")): scripts/kind-up.sh kind-configs/tuned.yaml --image $IMAGE"
  exit 0
fi

# --- the build steps (scripts/kind-node-parts.sh) ----------------------------------------
# shellcheck source=scripts/kind-node-parts.sh
source "$REPO/scripts/kind-node-parts.sh"
build_kubernetes
build_base_rootfs
build_component_images
build_node_image
t0=$(now)
docker save -o "$ARCHIVE.tmp" "$IMAGE"
mv "$ARCHIVE.tmp" "$ARCHIVE"
say "node image $IMAGE: saved -> $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1), $(took "$t0"))"
say "done ($(took "$T_ALL")): scripts/kind-up.sh kind-configs/tuned.yaml --image $IMAGE"
