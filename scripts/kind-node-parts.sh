#!/usr/bin/env bash
# shellcheck disable=SC2153 # BASE_IMAGE, K8S, ... are set by kind-node-image.sh
# The build steps of scripts/kind-node-image.sh (sourced by it, not run alone): the
# Kubernetes binaries, the Debian root file system, the control-plane images and the node
# image. Each step is skipped when its output is cached and says how long it took.
# Uses the variables kind-node-image.sh sets (K8S, MINOR, IMAGE, KIND_CACHE, BIN, LOGS, ...).
set -euo pipefail

K8S_BIN="$KIND_CACHE/$K8S/bin"
NODE_COMMANDS=(kubeadm kubelet kubectl kube-controller-manager kube-scheduler kube-proxy)

# The kube-apiserver and etcd of scripts/setup.sh (built there, or built now by it).
setup_binaries() {
  local etcd_v
  etcd_v=$(required "$REPO/servers/etcd/go.mod" go.etcd.io/etcd/server/v3)
  if [ ! -x "$CACHE_ROOT/assets/$K8S/kube-apiserver" ] || [ ! -x "$CACHE_ROOT/assets/$etcd_v/etcd" ]; then
    say "kube-apiserver $K8S / etcd $etcd_v: not built yet, running scripts/setup.sh --kubernetes $K8S"
    bash "$REPO/scripts/setup.sh" --kubernetes "$K8S" | sed 's/^/  /'
  fi
  APISERVER_BIN="$CACHE_ROOT/assets/$K8S/kube-apiserver"
  ETCD_BIN="$CACHE_ROOT/assets/$etcd_v/etcd"
}

build_kubernetes() {
  local t0 b ld pkg missing=0 c
  setup_binaries
  for c in "${NODE_COMMANDS[@]}"; do [ -x "$K8S_BIN/$c" ] || missing=1; done
  if [ "$missing" -eq 0 ] && "$K8S_BIN/kubeadm" version -o short 2>/dev/null | grep -qx "$K8S"; then
    say "Kubernetes $K8S commands: $K8S_BIN (present)"
    ln -sf "$K8S_BIN/kubectl" "$BIN/kubectl"
    return
  fi
  need_go
  t0=$(now)
  # A throwaway module that requires k8s.io/kubernetes and replaces its staging modules by
  # their published versions; tools.go names the commands so `go mod tidy` pins their imports.
  b="$KIND_CACHE/build/kubernetes-$K8S"
  mkdir -p "$b" "$K8S_BIN"
  (cd /tmp && bash "$REPO/servers/kube-apiserver/modfile.sh" "$K8S") | sed 's|^module .*|module capi-loadgen/kind-node|' > "$b/go.mod.tmp" \
    || die "the Go module proxy refused k8s.io/kubernetes@$K8S"
  mv "$b/go.mod.tmp" "$b/go.mod"
  {
    echo '//go:build tools'
    echo
    echo 'package tools'
    echo
    echo 'import ('
    for c in "${NODE_COMMANDS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    echo ')'
  } > "$b/tools.go"
  (cd "$b" && go mod tidy) > "$LOGS/kubernetes-$K8S.log" 2>&1 || { tail -n 20 "$LOGS/kubernetes-$K8S.log" >&2; die "go mod tidy for k8s.io/kubernetes@$K8S failed (log $LOGS/kubernetes-$K8S.log)"; }
  ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X '$pkg.gitVersion=$K8S' -X '$pkg.gitMajor=1' -X '$pkg.gitMinor=$MINOR' -X '$pkg.gitTreeState=clean' -X '$pkg.buildDate=1970-01-01T00:00:00Z'"
  done
  say "Kubernetes $K8S commands: building ${NODE_COMMANDS[*]} from k8s.io/kubernetes@$K8S with $(go env GOVERSION) (about 10-20 minutes on 2 cores the first time; log $LOGS/kubernetes-$K8S.log)"
  # shellcheck disable=SC2046 # one package path per command
  (cd "$b" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$K8S_BIN/" $(printf 'k8s.io/kubernetes/cmd/%s ' "${NODE_COMMANDS[@]}")) >> "$LOGS/kubernetes-$K8S.log" 2>&1 \
    || { tail -n 20 "$LOGS/kubernetes-$K8S.log" >&2; die "building Kubernetes $K8S failed (log $LOGS/kubernetes-$K8S.log)"; }
  "$K8S_BIN/kubeadm" version -o short | grep -qx "$K8S" || die "built kubeadm does not report $K8S"
  ln -sf "$K8S_BIN/kubectl" "$BIN/kubectl"
  say "Kubernetes $K8S commands: built -> $K8S_BIN ($(took "$t0"))"
}

# The Debian root file system (shared by every Kubernetes version) as the docker image BASE_IMAGE.
build_base_rootfs() {
  local t0 root="$KIND_CACHE/base/rootfs" pkgs
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "base image $BASE_IMAGE: present in docker"
    return
  fi
  t0=$(now)
  if [ ! -x "$root/usr/bin/containerd" ]; then
    # kind's images/base package list (systemd, conntrack, iptables, nftables, iproute2, ...)
    # plus Debian's containerd, runc and CNI plugins in place of kind's own builds.
    pkgs=systemd,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins,socat,ebtables
    say "base: debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR (log $LOGS/debootstrap.log)"
    rm -rf "$root.tmp"
    mkdir -p "$KIND_CACHE/base"
    debootstrap --variant=minbase --include="$pkgs" "$DEBIAN_SUITE" "$root.tmp" "$DEBIAN_MIRROR" > "$LOGS/debootstrap.log" 2>&1 \
      || { tail -n 20 "$LOGS/debootstrap.log" >&2; die "debootstrap failed (log $LOGS/debootstrap.log)"; }
    rm -rf "$root.tmp/var/cache/apt/archives/"*.deb "$root.tmp/var/lib/apt/lists/"*
    rm -rf "$root"
    mv "$root.tmp" "$root"
  fi
  tar -C "$root" -c . | docker import - "$BASE_IMAGE" >/dev/null
  say "base image $BASE_IMAGE: $root imported ($(took "$t0"))"
}

# A one-binary image: BINARY at /usr/local/bin/NAME (and /NAME when ROOT_LINK=1), imported as TAG.
one_binary_image() { # tag binary name [root_link]
  local tag="$1" binary="$2" name="$3" root_link="${4:-0}" d
  d=$(mktemp -d)
  mkdir -p "$d/usr/local/bin" "$d/tmp" "$d/etc" "$d/var/run"
  chmod 1777 "$d/tmp"
  cp "$binary" "$d/usr/local/bin/$name"
  [ "$root_link" -eq 0 ] || ln -s "usr/local/bin/$name" "$d/$name"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' > "$d/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$d/etc/group"
  printf 'hosts: files dns\n' > "$d/etc/nsswitch.conf"
  [ -f /etc/ssl/certs/ca-certificates.crt ] && mkdir -p "$d/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/"
  tar -C "$d" -c . | docker import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change "ENTRYPOINT [\"/usr/local/bin/$name\"]" - "$tag" >/dev/null
  rm -rf "$d"
}

# The images kubeadm runs (its `config images list`), each from a local binary.
build_component_images() {
  local t0 list img name tag pause_c
  t0=$(now)
  list="$KIND_CACHE/$K8S/images.txt"
  "$K8S_BIN/kubeadm" config images list --kubernetes-version "$K8S" > "$list"
  pause_c="$(go env GOMODCACHE)/k8s.io/kubernetes@$K8S/build/pause/linux/pause.c"
  [ -f "$pause_c" ] || (cd /tmp && go mod download "k8s.io/kubernetes@$K8S") || die "k8s.io/kubernetes@$K8S not in the Go module cache"
  COMPONENT_TAGS=()
  while read -r img; do
    name=$(basename "${img%:*}")
    tag="${img##*:}"
    case "$name" in
      kube-apiserver) one_binary_image "$img" "$APISERVER_BIN" kube-apiserver ;;
      kube-controller-manager|kube-scheduler) one_binary_image "$img" "$K8S_BIN/$name" "$name" ;;
      etcd) one_binary_image "$img" "$ETCD_BIN" etcd ;;
      coredns) one_binary_image "$img" "$BIN/coredns" coredns 1 ;;
      pause)
        gcc -Os -static -DVERSION="$tag" -o "$KIND_CACHE/$K8S/pause" "$pause_c" || die "gcc -static $pause_c failed"
        one_binary_image "$img" "$KIND_CACHE/$K8S/pause" pause 1 ;;
      kube-proxy)
        # kube-proxy runs iptables/nft and conntrack: the Debian root, plus the binary.
        printf 'FROM %s\nCOPY kube-proxy /usr/local/bin/kube-proxy\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nENTRYPOINT ["/usr/local/bin/kube-proxy"]\n' "$BASE_IMAGE" \
          | docker build -q -t "$img" -f - "$K8S_BIN" >> "$LOGS/node-build.log" 2>&1 ;;
      *) die "kubeadm $K8S lists an image this script does not know how to build: $img" ;;
    esac
    COMPONENT_TAGS+=("$img")
  done < "$list"
  PAUSE_IMAGE=$(grep '/pause:' "$list")
  say "control-plane images: ${COMPONENT_TAGS[*]} (etcd is $(basename "$(dirname "$ETCD_BIN")"), CoreDNS $COREDNS_VERSION) ($(took "$t0"))"
}

build_node_image() {
  local t0 ctx kindmod cid
  t0=$(now)
  kindmod="$(go env GOMODCACHE)/sigs.k8s.io/kind@$KIND_VERSION"
  [ -d "$kindmod/images/base/files" ] || (cd /tmp && go mod download "sigs.k8s.io/kind@$KIND_VERSION") || die "sigs.k8s.io/kind@$KIND_VERSION not in the Go module cache"
  ctx=$(mktemp -d)
  cp -r "$kindmod/images/base/files" "$ctx/files"
  chmod -R u+w "$ctx/files"
  mkdir -p "$ctx/bin"
  for c in kubeadm kubelet kubectl; do cp "$K8S_BIN/$c" "$ctx/bin/"; done
  cp "$BIN/crictl" "$ctx/bin/"
  # A single-node network: Debian's bridge, host-local and portmap plugins on kind's pod subnet.
  cat > "$ctx/10-bridge.conflist" <<'CNI'
{
  "cniVersion": "1.0.0",
  "name": "kind-bridge",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
  # kind applies these two manifests after kubeadm; a ConfigMap says what the image has instead.
  cat > "$ctx/placeholder.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: capi-loadgen-kind-node
  namespace: kube-system
data:
  note: "capi-loadgen's local node image: a static bridge CNI in /etc/cni/net.d, no kindnetd, no storage provisioner"
YAML
  cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $BASE_IMAGE
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY bin/ /usr/bin/
COPY 10-bridge.conflist /etc/cni/net.d/10-bridge.conflist
COPY placeholder.yaml /kind/manifests/default-cni.yaml
COPY placeholder.yaml /kind/manifests/default-storage.yaml
RUN chmod 755 /kind /kind/bin /kind/bin/* /usr/local/bin/* /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl /usr/bin/crictl \\
 && mv /usr/bin/crictl /usr/local/bin/crictl \\
 && ln -sf /usr/bin/containerd /usr/local/bin/containerd \\
 && mkdir -p /opt/cni && ln -sfn /usr/lib/cni /opt/cni/bin \\
 && find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \\
 && ln -sf /usr/lib/systemd/systemd /sbin/init \\
 && sed -i -E '/^(OOMScoreAdjust|LimitNOFILE|LimitNPROC|LimitCORE)=/d' /etc/systemd/system/containerd.service \\
 && sed -i -E 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/; s|sandbox_image = .*|sandbox_image = "$PAUSE_IMAGE"|' /etc/containerd/config.toml \\
 && ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \\
 && echo 'KUBELET_EXTRA_ARGS=--runtime-cgroups=/system.slice/containerd.service --fail-cgroupv1=false' > /etc/default/kubelet \\
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \\
 && systemctl mask systemd-binfmt.service \\
 && mkdir -p /etc/kubernetes/manifests \\
 && echo "$K8S" > /kind/version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
DOCKERFILE
  say "node image: docker build (kind's images/base steps on $BASE_IMAGE; log $LOGS/node-build.log)"
  docker build -t "$IMAGE-build" "$ctx" > "$LOGS/node-build.log" 2>&1 || { tail -n 20 "$LOGS/node-build.log" >&2; die "docker build of the node image failed (log $LOGS/node-build.log)"; }
  # Preload the control-plane images into the node's containerd, as `kind build node-image` does.
  docker save -o "$ctx/images.tar" "${COMPONENT_TAGS[@]}"
  cid=$(docker run -d --privileged --entrypoint /bin/sleep "$IMAGE-build" infinity)
  docker cp "$ctx/images.tar" "$cid:/images.tar"
  docker exec "$cid" bash -c '
    set -e
    nohup containerd > /tmp/containerd.log 2>&1 &
    for _ in $(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
    ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests /images.tar >/dev/null
    ctr --namespace=k8s.io images list -q | grep "^registry.k8s.io/" | sort
    pkill containerd
    for _ in $(seq 100); do pgrep containerd >/dev/null || break; sleep 0.2; done
    rm -f /images.tar /tmp/containerd.log' > "$LOGS/node-preload.log" 2>&1 \
    || { docker rm -f "$cid" >/dev/null; tail -n 20 "$LOGS/node-preload.log" >&2; die "preloading the images into the node failed (log $LOGS/node-preload.log)"; }
  docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' "$cid" "$IMAGE" >/dev/null
  docker rm -f "$cid" >/dev/null
  docker rmi "$IMAGE-build" >/dev/null 2>&1 || true
  rm -rf "$ctx"
  say "node image $IMAGE: built ($(sed 's/^/  /' "$LOGS/node-preload.log" | tr '\n' ' ')) ($(took "$t0"))"
}
