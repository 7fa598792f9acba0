#!/bin/sh
# A runc wrapper for hosts whose capability bounding set lacks CAP_SYS_RESOURCE (some VMs and
# sandboxes): `docker run --privileged` asks runc for every capability and fails with "unable
# to apply caps: operation not permitted". This wrapper removes CAP_SYS_RESOURCE from the OCI
# spec of `runc create`/`runc run` (the bundle's config.json) and `runc exec` (--process
# FILE), then runs the real runc with the same arguments. scripts/kind-node-image.sh copies
# it into its cache and registers it with dockerd (`--add-runtime`, `--default-runtime`) only
# when it starts dockerd itself on such a host.
#
# The real runc: $CAPI_LOADGEN_REAL_RUNC, else the first runc on PATH that is not this file.
set -eu
real="${CAPI_LOADGEN_REAL_RUNC:-}"
if [ -z "$real" ]; then
  for d in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin /sbin /bin; do
    if [ -x "$d/runc" ] && [ "$d/runc" != "$0" ]; then real="$d/runc"; break; fi
  done
fi
[ -n "$real" ] || { echo "runc wrapper: no runc found" >&2; exit 127; }

bundle=""
process=""
prev=""
for a in "$@"; do
  case "$prev" in
    --bundle|-b) bundle="$a" ;;
    --process|-p) process="$a" ;;
  esac
  case "$a" in
    --bundle=*) bundle="${a#--bundle=}" ;;
    --process=*) process="${a#--process=}" ;;
  esac
  prev="$a"
done

# Drop one capability from every set of a JSON capabilities object at PATH in FILE.
drop() {
  file="$1" path="$2"
  [ -f "$file" ] || return 0
  tmp="$file.capi-loadgen.$$"
  jq "if $path then $path |= with_entries(.value |= (if type == \"array\" then map(select(. != \"CAP_SYS_RESOURCE\")) else . end)) else . end" \
    "$file" > "$tmp" && mv "$tmp" "$file"
}
[ -n "$bundle" ] && drop "$bundle/config.json" '.process.capabilities'
[ -n "$process" ] && drop "$process" '.capabilities'
exec "$real" "$@"
