#!/usr/bin/env bash
# Print a kind config adapted to the node image and the host it will run on (scripts/kind-up.sh
# writes it to .kind/<name>.kind-config.yaml and creates the cluster from that copy):
#
#   scripts/kind-config-for-node.sh CONFIG [--image IMAGE] [--kubeadm-v1beta4] [--cgroup-v1]
#
#   --image IMAGE       every node's `image:` becomes IMAGE (e.g. the local image of
#                       scripts/kind-node-image.sh; no registry digest needed)
#   --kubeadm-v1beta4   the config's kubeadm v1beta3 ClusterConfiguration patches rewritten as
#                       v1beta4 (extraArgs: a mapping becomes a list of name/value pairs): kind
#                       generates v1beta4 for v1.36+ nodes and skips a v1beta3 patch silently
#   --cgroup-v1         a KubeletConfiguration patch with failCgroupV1: false: kubelet v1.35+
#                       refuses to start on a cgroup v1 host otherwise
set -euo pipefail
die() { printf 'kind-config-for-node: error: %s\n' "$*" >&2; exit 2; }
CONFIG=""
IMAGE=""
V1BETA4=0
CGROUP_V1=0
while [ $# -gt 0 ]; do
  case "$1" in
    --image) [ $# -ge 2 ] || die "--image needs a value"; IMAGE="$2"; shift 2 ;;
    --kubeadm-v1beta4) V1BETA4=1; shift ;;
    --cgroup-v1) CGROUP_V1=1; shift ;;
    -*) die "unknown flag $1" ;;
    *) [ -z "$CONFIG" ] || die "one config only"; CONFIG="$1"; shift ;;
  esac
done
[ -f "$CONFIG" ] || die "no such kind config: ${CONFIG:-(none given)}"
awk -v image="$IMAGE" -v v1beta4="$V1BETA4" -v cgroupv1="$CGROUP_V1" '
  function kubelet_patch() {
    print "  - |"
    print "    apiVersion: kubelet.config.k8s.io/v1beta1"
    print "    kind: KubeletConfiguration"
    print "    failCgroupV1: false"
  }
  {
    match($0, /^[[:space:]]*/); ind = RLENGTH
    if (image != "" && $0 ~ /^[[:space:]]*(- )?image:/) { sub(/image:.*$/, "image: \"" image "\""); print; next }
    if (v1beta4 && $0 ~ /^[[:space:]]*apiVersion:[[:space:]]*kubeadm\.k8s\.io\/v1beta3[[:space:]]*$/) sub(/v1beta3/, "v1beta4")
    if (v1beta4 && inargs && ind > argind && $0 ~ /^[[:space:]]*[A-Za-z0-9-]+:[[:space:]]*[^[:space:]]/) {
      key = $0; sub(/^[[:space:]]*/, "", key); sub(/:.*$/, "", key)
      val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
      pad = substr($0, 1, ind)
      print pad "- name: " key
      print pad "  value: " val
      next
    }
    inargs = ($0 ~ /^[[:space:]]*extraArgs:[[:space:]]*$/)
    if (inargs) argind = ind
    print
    if (cgroupv1 && $0 ~ /^kubeadmConfigPatches:[[:space:]]*$/) { kubelet_patch(); patched = 1 }
  }
  END { if (cgroupv1 && !patched) { print "kubeadmConfigPatches:"; kubelet_patch() } }
' "$CONFIG"
