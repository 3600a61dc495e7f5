#!/usr/bin/env bash
# fetch-peers.sh — the peer tools the benchmark and the signature tests compare with, installed
# without touching the system's apt state (idempotent):
#   crane, oras, cosign   static Go binaries (libc only) unpacked from Debian's newest suite (sid),
#                         downloaded through the Debian mirror this machine's apt is configured with;
#   ferro-oci-server      a registry with the OCI 1.1 referrers API (distribution 2.8 has none),
#                         `cargo install`ed from crates.io (about 3–4 minutes the first time).
# Everything lands in $IMAGE_PROMOTE_PEERS (default /tmp/image-promote-peers):
#   bin/crane bin/oras bin/cosign bin/ferro-oci-server, and versions.txt (one "package version" line per tool).
# Usage: fetch-peers.sh [--no-ferro] [--no-debian]
set -euo pipefail
R=${IMAGE_PROMOTE_PEERS:-/tmp/image-promote-peers}
FERRO_VERSION=1.0.0
debian=1 ferro=1
for a in "$@"; do
  case "$a" in
    --no-ferro) ferro=0 ;;
    --no-debian) debian=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fetch-peers: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$R/bin"

if [ "$debian" = 1 ] && ! { [ -x "$R/bin/crane" ] && [ -x "$R/bin/oras" ] && [ -x "$R/bin/cosign" ]; }; then
  # The mirror is read from the apt sources (deb822 or one-line form), never written here.
  uri=$( { grep -rhoE '^(URIs:|deb) +[a-z]+://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } \
    | head -n1 | awk '{print $2}')
  [ -n "$uri" ] || { echo "fetch-peers: no Debian mirror found in /etc/apt/sources.list{,.d}; configure apt first" >&2; exit 1; }
  work="$R/apt"; rm -rf "$work"; mkdir -p "$work/lists/partial" "$work/debs" "$work/root"
  echo "deb $uri sid main" >"$work/sources.list"
  o=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=/dev/null
     -o Dir::State::Lists="$work/lists" -o Dir::Cache::archives="$work/debs")
  echo "fetch-peers: crane, oras, cosign from Debian sid"
  apt-get "${o[@]}" -qq update
  (cd "$work/debs" && apt-get "${o[@]}" -qq download crane oras cosign)
  : >"$R/debian-versions.txt"
  for d in "$work"/debs/*.deb; do
    dpkg-deb -x "$d" "$work/root"
    echo "$(dpkg-deb -f "$d" Package) $(dpkg-deb -f "$d" Version) (Debian sid)" >>"$R/debian-versions.txt"
  done
  for t in crane oras cosign; do
    [ -x "$work/root/usr/bin/$t" ] || { echo "fetch-peers: the $t package has no usr/bin/$t" >&2; exit 1; }
    install -m 0755 "$work/root/usr/bin/$t" "$R/bin/$t"
  done
  rm -rf "$work"
fi

if [ "$ferro" = 1 ] && [ ! -x "$R/bin/ferro-oci-server" ]; then
  echo "fetch-peers: cargo install ferro-oci-server@$FERRO_VERSION (debug build, a few minutes)"
  CARGO_TARGET_DIR="$R/ferro-target" cargo install --quiet --debug --locked --root "$R/ferro" \
    "ferro-oci-server@$FERRO_VERSION"
  install -m 0755 "$R/ferro/bin/ferro-oci-server" "$R/bin/ferro-oci-server"
  rm -rf "$R/ferro-target"
fi

{
  [ -f "$R/debian-versions.txt" ] && cat "$R/debian-versions.txt"
  [ -x "$R/bin/ferro-oci-server" ] && echo "ferro-oci-server $FERRO_VERSION (crates.io)"
} >"$R/versions.txt"
cat "$R/versions.txt"
