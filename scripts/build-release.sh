#!/usr/bin/env bash
# build-release.sh — the prebuilt CLI that a release publishes: a static musl binary for this
# machine's architecture (linux amd64 or arm64), checked to be static and to run, named
#   image-promote-<version>-<arch>-unknown-linux-musl            (the binary)
#   image-promote-<version>-<arch>-unknown-linux-musl.sha256     (`sha256sum` format)
# in OUT (default target/release-assets). The release workflow runs it on an amd64 and an arm64
# runner and publishes both with one SHA256SUMS (.github/workflows/release.yml).
#
#   bash scripts/build-release.sh                 # release profile (thin LTO), the shipped build
#   PROFILE=ci-container bash scripts/build-release.sh   # quicker, for a check
#   OUT=/tmp/assets bash scripts/build-release.sh
# Needs musl-gcc (Debian/Ubuntu package musl-tools: installed when run as root) and rustup.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROFILE="${PROFILE:-release}"
OUT="${OUT:-$ROOT/target/release-assets}"

case "$(uname -m)" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) echo "build-release: no prebuilt target for $(uname -m) (linux amd64 and arm64 are built)" >&2; exit 2 ;;
esac
target="$arch-unknown-linux-musl"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] || { echo "build-release: no version in Cargo.toml" >&2; exit 1; }

if ! command -v musl-gcc >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musl-tools >/dev/null
  else
    echo "build-release: musl-gcc is missing: apt-get install musl-tools (as root)" >&2; exit 1
  fi
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

cargo build --profile "$PROFILE" --locked --target "$target" --bin image-promote
bin="target/$target/$PROFILE/image-promote"

# Static: no program interpreter and no dynamic section (a musl binary linked by Rust is
# static-pie; either way there is nothing for a loader to find).
if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
  echo "build-release: $bin asks for a program interpreter: not a static binary" >&2; exit 1
fi
if readelf -d "$bin" 2>/dev/null | grep -q '(NEEDED)'; then
  echo "build-release: $bin needs shared libraries: $(readelf -d "$bin" | grep NEEDED)" >&2; exit 1
fi
got=$("$bin" --version)
case "$got" in
  *"$version"*) ;;
  *) echo "build-release: $bin --version printed '$got', expected version $version" >&2; exit 1 ;;
esac

mkdir -p "$OUT"
name="image-promote-$version-$target"
install -m 0755 "$bin" "$OUT/$name"
(cd "$OUT" && sha256sum "$name" >"$name.sha256" && sha256sum -c --quiet "$name.sha256")
echo "build-release: $OUT/$name ($(stat -c %s "$OUT/$name") bytes, static, '$got')"
cat "$OUT/$name.sha256"
