#!/usr/bin/env bash
# Prints a go.mod for this module that builds kube-apiserver from k8s.io/kubernetes@vX.Y.Z.
#
#   servers/kube-apiserver/modfile.sh v1.34.4 > servers/kube-apiserver/versions/v1.34.4.mod
#   (cd servers/kube-apiserver && go mod tidy -modfile=versions/v1.34.4.mod)
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0
# and replaces them with ./staging/src/..., which a dependent module cannot see. The standard
# way to depend on it is to replace each staging module with its published v0.Y.Z; the list
# is read from k8s.io/kubernetes' own go.mod at that version, so it is always complete.
set -euo pipefail
v="${1:?usage: modfile.sh vX.Y.Z}"
[[ "$v" =~ ^v1\.[0-9]+\.[0-9]+$ ]] || { echo "modfile.sh: '$v' is not a version like v1.34.4" >&2; exit 2; }
upstream=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
{ [ -n "$upstream" ] && [ -f "$upstream" ]; } || { echo "go: k8s.io/kubernetes@$v: not found on the module proxy" >&2; exit 1; }
gover=$(awk '$1=="go" {print $2; exit}' "$upstream")
echo "module capi-loadgen/servers/kube-apiserver"
echo
echo "go $gover"
echo
echo "require k8s.io/kubernetes $v"
echo
echo "replace ("
awk '/=> \.\/staging\/src\//{print $1}' "$upstream" | sort -u | while read -r m; do
  printf '\t%s => %s v0.%s\n' "$m" "$m" "${v#v1.}"
done
echo ")"
