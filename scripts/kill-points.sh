#!/usr/bin/env bash
# kill-points.sh — SIGKILL a promotion of the 1 GiB fixture at N seeded moments, check that the
# destination tag never exists after a killed run, re-run each to completion, and check digests.
#   usage: scripts/kill-points.sh [POINTS (20)] [STEP_SECONDS (0.2)]
# Uses the harness registries on 5000/5001 (started and filled if needed) and the release binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
points=${1:-20} step=${2:-0.2}
BIN=${IMAGE_PROMOTE_BIN:-target/release/image-promote}
[ -x "$BIN" ] || cargo build --release
bash scripts/harness/start-registries.sh --quiet >/dev/null
bash scripts/harness/make-fixtures.sh --only big >/dev/null 2>&1
S=127.0.0.1:5000 P=127.0.0.1:5001
BIG=sha256:54a342bb7ee28dde5fc571e01352c4662eac804f4a217e6b654dadbabe193817
ACCEPT='application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json'
tag_digest() { curl -s -o /dev/null -D - -I -H "Accept: $ACCEPT" "http://$P/v2/$1/manifests/$2" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'; }
killed=0 finished=0 rerun_ok=0 leaked_tags=0
printf '| point | kill after s | killed mid-run | tag after kill | re-run | digest |\n|---:|---:|---|---|---|---|\n'
for i in $(seq 1 "$points"); do
  repo=killpoints/big-$$-$i
  delay=$(awk "BEGIN{print $i * $step}")
  "$BIN" copy "$S/app/big:1.0" "$P/$repo:1.0" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; mid=yes; killed=$((killed+1)); else wait "$pid" || true; mid=no; finished=$((finished+1)); fi
  after=$(tag_digest "$repo" 1.0)
  if [ "$mid" = yes ] && [ -n "$after" ]; then leaked_tags=$((leaked_tags+1)); fi
  if "$BIN" copy "$S/app/big:1.0" "$P/$repo:1.0" >/dev/null 2>&1; then rr=ok; else rr=FAILED; fi
  d=$(tag_digest "$repo" 1.0)
  [ "$rr" = ok ] && [ "$d" = "$BIG" ] && rerun_ok=$((rerun_ok+1))
  printf '| %d | %s | %s | %s | %s | %s |\n' "$i" "$delay" "$mid" "${after:-absent}" "$rr" "${d:0:19}…"
done
echo
echo "kills: $points tried, $killed killed mid-run, $finished finished first; tags present after a kill: $leaked_tags; re-runs completed with identical digest: $rerun_ok/$points"
[ "$leaked_tags" = 0 ] && [ "$rerun_ok" = "$points" ]
