#!/usr/bin/env bash
# Build the tool's container image on this machine without a registry (the Dockerfile pulls
# its base images from one) and load it into a kind cluster:
#
#   scripts/kind-tool-image.sh [--name capi-loadgen] [--binary PATH] [--tag capi-loadgen:dev] [--no-load]
#
# The image is the release binary, the shared libraries it links (glibc and libgcc_s, read
# with ldd), CA certificates, the shipped profiles and a non-root user (65532, as in the
# Dockerfile's distroless base), `docker import`ed and tagged capi-loadgen:dev, the tag
# deploy/indexed-job.yaml runs. It is then saved to an archive and loaded into the kind
# cluster NAME with `kind load image-archive` (skip with --no-load).
# The binary: --binary, else the release build (cargo build --release --locked, in the
# target folder scripts/instructions.sh also uses, beside the servers' cache).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE_ROOT="${CAPI_LOADGEN_CACHE:-$HOME/.cache/capi-loadgen}"
PATH="$PATH:$CACHE_ROOT/kind/bin"
say() { printf 'kind-tool-image: %s\n' "$*"; }
die() { printf 'kind-tool-image: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

NAME=capi-loadgen
BINARY=""
TAG=capi-loadgen:dev
LOAD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --name) [ $# -ge 2 ] || die "--name needs a value"; NAME="$2"; shift 2 ;;
    --binary) [ $# -ge 2 ] || die "--binary needs a value"; BINARY="$2"; shift 2 ;;
    --tag) [ $# -ge 2 ] || die "--tag needs a value"; TAG="$2"; shift 2 ;;
    --no-load) LOAD=0; shift ;;
    -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
docker info >/dev/null 2>&1 || die "no Docker daemon answers (scripts/kind-node-image.sh starts one)"
t0=$(now)
if [ -z "$BINARY" ]; then
  export CARGO_TARGET_DIR="${CAPI_LOADGEN_RELEASE_TARGET:-$CACHE_ROOT/target-release}"
  say "cargo build --release --locked (target $CARGO_TARGET_DIR)"
  cargo build --release --locked --quiet --manifest-path "$ROOT/Cargo.toml"
  BINARY="$CARGO_TARGET_DIR/release/capi-loadgen"
fi
[ -x "$BINARY" ] || die "$BINARY is not an executable"

d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/usr/local/bin" "$d/tmp" "$d/etc/ssl/certs" "$d/home/nonroot"
chmod 1777 "$d/tmp"
install -m 0755 "$BINARY" "$d/usr/local/bin/capi-loadgen"
# The libraries the dynamic linker will look for, at the paths ldd resolved them to.
ldd "$BINARY" | awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]*ld-linux/ {print $1}' | while read -r lib; do
  mkdir -p "$d$(dirname "$lib")"
  cp -L "$lib" "$d$lib"
done
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$d/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$d/etc/group"
printf 'hosts: files dns\n' > "$d/etc/nsswitch.conf"
cp -r "$ROOT/profiles" "$d/home/nonroot/profiles"
chown -R 65532:65532 "$d/home/nonroot"
tar -C "$d" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'WORKDIR /home/nonroot' \
  --change 'USER 65532:65532' \
  --change 'ENTRYPOINT ["/usr/local/bin/capi-loadgen"]' \
  --change 'CMD ["--help"]' - "$TAG" >/dev/null
docker run --rm "$TAG" --version >/dev/null || die "the image $TAG does not run its binary"
say "image $TAG: $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}') from $BINARY ($(( $(now) - t0 )) s)"
if [ "$LOAD" -eq 1 ]; then
  t0=$(now)
  archive="$d/capi-loadgen-image.tar"
  docker save -o "$archive" "$TAG"
  kind load image-archive "$archive" --name "$NAME"
  say "kind load image-archive -> cluster $NAME ($(( $(now) - t0 )) s)"
fi
