#!/usr/bin/env bash
# start-ferro.sh — start ferro-oci-server (a registry with the OCI 1.1 referrers API) on loopback.
#
# Idempotent and safe to call from several test processes at once (flock): an instance already
# answering GET /v2/ on the port is left alone; otherwise it is started detached (setsid), with its
# storage, log and pid under DIR/ferro. Storage is never wiped. Exits non-zero if it does not answer
# within $REG_READY_TIMEOUT (20) seconds.
#
# Usage: start-ferro.sh [--dir DIR] [--port PORT] [--bin PATH]
#   --dir   scratch root (default $REG_HARNESS_DIR or /tmp/reg-harness)
#   --port  port on 127.0.0.1 (default $REG_FERRO_PORT or 5003)
#   --bin   the binary (default $FERRO_OCI_BIN, else ferro-oci-server in
#           /tmp/image-promote-peers/bin (fetch-peers.sh installs it), else on PATH)
# Stop with: kill "$(cat DIR/ferro/ferro.pid)"
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

port=${REG_FERRO_PORT:-5003}
bin=${FERRO_OCI_BIN:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) REG_HARNESS_DIR=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
if [ -z "$bin" ]; then
  if [ -x /tmp/image-promote-peers/bin/ferro-oci-server ]; then
    bin=/tmp/image-promote-peers/bin/ferro-oci-server
  else
    bin=$(command -v ferro-oci-server || true)
  fi
fi
[ -n "$bin" ] && [ -x "$bin" ] || die "ferro-oci-server not found (run $HERE/fetch-peers.sh)"
need curl
need setsid util-linux
need flock util-linux

dir="$REG_HARNESS_DIR/ferro"
mkdir -p "$dir/data"
up() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$port/v2/"; }

exec 9>"$dir/start.lock"
flock 9
if up; then exit 0; fi
FERRO_OCI_LISTEN="127.0.0.1:$port" FERRO_OCI_STORAGE_DIR="$dir/data" \
  setsid "$bin" >>"$dir/ferro.log" 2>&1 < /dev/null 9>&- &
echo $! > "$dir/ferro.pid"
for _ in $(seq 1 $((REG_READY_TIMEOUT * 10))); do
  if up; then exit 0; fi
  sleep 0.1
done
die "ferro-oci-server on 127.0.0.1:$port did not answer GET /v2/ (log: $dir/ferro.log)"
