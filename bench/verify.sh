#!/usr/bin/env bash
# Deep-verification throughput: `image-promote check --deep` on app/big (1 GiB, 4 layers) against
# `openssl dgst -sha256` and `sha256sum` hashing the same bytes (the 4 layers fetched once into a
# tmp file, page-cache warm). Release build. Prints MB/s (10^6 bytes/s) and the ratio to openssl;
# the target is >= 0.8 x openssl. Usage: bench/verify.sh [--runs N] (best of N, default 3).
set -euo pipefail

RUNS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    *) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
REG="127.0.0.1:${REG_STAGING_PORT:-5000}"
REPO=app/big
TAG=1.0

for tool in openssl sha256sum curl jq; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/harness/install-deps.sh)" >&2; exit 1; }
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
setup() { "$@" >>"$TMP/setup.log" 2>&1 || { cat "$TMP/setup.log" >&2; echo "failed: $*" >&2; exit 1; }; }
setup bash scripts/harness/start-registries.sh --quiet
setup bash scripts/harness/make-fixtures.sh --only big
setup cargo build --release
BIN="$ROOT/target/release/image-promote"
manifest=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/$REPO/manifests/$TAG")
for d in $(jq -r '.layers[].digest' <<<"$manifest"); do
  curl -fsS "http://$REG/v2/$REPO/blobs/$d" >>"$TMP/layers.bin"
done
BYTES=$(stat -c %s "$TMP/layers.bin")
cat "$TMP/layers.bin" >/dev/null # page cache

now_ns() { date +%s%N; }
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.0f", b / (ns / 1e9) / 1e6 }'; }

time_ns() { # wall time (ns) of a command, output discarded
  local t0 t1
  t0=$(now_ns); "$@" >/dev/null; t1=$(now_ns)
  echo $((t1 - t0))
}

# Runs are paired (openssl, sha256sum, then image-promote, back to back) so each ratio compares
# figures taken under the same load; the best of each tool and the per-run ratios are printed.
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
OPENSSL_NS=0 SHA256SUM_NS=0 BEST_DEEP_MBPS=0 BEST_WALL_NS=0 RATIOS=""
for _ in $(seq "$RUNS"); do
  o=$(time_ns openssl dgst -sha256 "$TMP/layers.bin")
  s=$(time_ns sha256sum "$TMP/layers.bin")
  # image-promote: the deep phase as the layers result reports it (download + hash of every
  # blob, both cores), and the whole command's wall time (resolve, HEADs, every check).
  t0=$(now_ns)
  out=$("$BIN" check "$REG/$REPO:$TAG" --deep --json --no-docker-config) || {
    echo "image-promote check --deep failed:" >&2; echo "$out" >&2; exit 1; }
  t1=$(now_ns)
  deep=$(jq -r '[.results[] | select(.id == "layers") | .details.deep.mb_per_s][0]' <<<"$out")
  hashed=$(jq -r '[.results[] | select(.id == "layers") | .details.deep.bytes][0]' <<<"$out")
  w=$((t1 - t0))
  [[ $OPENSSL_NS -eq 0 || $o -lt $OPENSSL_NS ]] && OPENSSL_NS=$o
  [[ $SHA256SUM_NS -eq 0 || $s -lt $SHA256SUM_NS ]] && SHA256SUM_NS=$s
  [[ $BEST_WALL_NS -eq 0 || $w -lt $BEST_WALL_NS ]] && BEST_WALL_NS=$w
  if awk -v a="$deep" -v b="$BEST_DEEP_MBPS" 'BEGIN { exit !(a > b) }'; then BEST_DEEP_MBPS=$deep; fi
  RATIOS="$RATIOS $(awk -v d="$deep" -v b="$BYTES" -v ns="$o" 'BEGIN { printf "%.2f", d / (b / (ns / 1e9) / 1e6) }')"
done

OPENSSL_MBPS=$(mbps "$BYTES" "$OPENSSL_NS")
SHA256SUM_MBPS=$(mbps "$BYTES" "$SHA256SUM_NS")
DEEP_MBPS=$(printf "%.0f" "$BEST_DEEP_MBPS")
WALL_MBPS=$(mbps "$BYTES" "$BEST_WALL_NS")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "load average before: $LOAD"
echo "cpu: $(grep -m1 -o 'model name.*' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, sha_ni: $(grep -q -m1 sha_ni /proc/cpuinfo && echo yes || echo no)"
echo "bytes: $BYTES in 4 layers ($hashed hashed by --deep), best of $RUNS"
printf '%-34s %6s MB/s\n' "openssl dgst -sha256 (1 core)" "$OPENSSL_MBPS"
printf '%-34s %6s MB/s\n' "sha256sum (1 core)" "$SHA256SUM_MBPS"
printf '%-34s %6s MB/s  ratio to openssl %s\n' "image-promote --deep (download+hash)" "$DEEP_MBPS" "$(ratio "$DEEP_MBPS" "$OPENSSL_MBPS")"
printf '%-34s %6s MB/s  ratio to openssl %s\n' "image-promote check --deep (wall)" "$WALL_MBPS" "$(ratio "$WALL_MBPS" "$OPENSSL_MBPS")"
echo "paired per-run ratios (deep / openssl):$RATIOS"
awk -v a="$DEEP_MBPS" -v b="$OPENSSL_MBPS" 'BEGIN { exit !(a >= 0.8 * b) }' \
  && echo "target (>= 0.8 x openssl, best vs best): met" || echo "target (>= 0.8 x openssl, best vs best): NOT met"
