#!/usr/bin/env bash
# Pin the Dockerfile's base images by digest: each `FROM <image>:<tag>` (or an already pinned
# `<image>:<tag>@sha256:…`) becomes `<image>:<tag>@sha256:<digest>`, the digest of the tag's
# multi-platform index as the registry serves it now. Review the diff, then commit it.
#
#   scripts/pin-images.sh            # rewrite Dockerfile
#   scripts/pin-images.sh --check    # exit 1 if a FROM line is not pinned (CI)
#
# Needs registry access and `crane` (go install github.com/google/go-containerregistry/cmd/crane@latest)
# or `docker buildx imagetools`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILE="$ROOT/Dockerfile"
die() { printf 'pin-images: error: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" = "--check" ]; then
  bad=$(grep -E '^FROM ' "$FILE" | grep -v '@sha256:[0-9a-f]\{64\}' || true)
  [ -z "$bad" ] || { printf 'pin-images: not pinned by digest:\n%s\n' "$bad" >&2; exit 1; }
  echo "pin-images: every FROM line is pinned by digest"
  exit 0
fi

digest() {
  if command -v crane >/dev/null 2>&1; then
    crane digest "$1"
  elif docker buildx version >/dev/null 2>&1; then
    docker buildx imagetools inspect "$1" --format '{{json .Manifest.Digest}}' | tr -d '"'
  else
    die "neither crane nor docker buildx found"
  fi
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line; do
  if [[ "$line" =~ ^FROM[[:space:]]+([^[:space:]@]+)(@sha256:[0-9a-f]+)?(.*)$ ]]; then
    ref="${BASH_REMATCH[1]}"
    d=$(digest "$ref") || die "cannot resolve $ref"
    [[ "$d" =~ ^sha256:[0-9a-f]{64}$ ]] || die "$ref: unexpected digest '$d'"
    printf 'FROM %s@%s%s\n' "$ref" "$d" "${BASH_REMATCH[3]}" >> "$tmp"
    printf 'pin-images: %s -> %s\n' "$ref" "$d"
  else
    printf '%s\n' "$line" >> "$tmp"
  fi
done < "$FILE"
cp "$tmp" "$FILE"
