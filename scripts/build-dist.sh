#!/usr/bin/env bash
# build-dist.sh — rebuilds dist/ (the Node action) from source, reproducibly:
#   cargo build --profile wasm --target wasm32-wasip2  → image-promote.wasm (a WASI 0.2 component)
#   jco transpile (pinned in action-js/package-lock.json) → action-js/build/ (ESM + the core wasm
#     module; the component's host imports, wit/host.wit, mapped to action-js/host-*.mjs)
#   esbuild (pinned) wrapper.mjs + build/ + preview2-shim → dist/index.mjs + dist/worker-thread.bundle.js
#     (+ dist/http-worker.mjs, the worker of the host's one-call HTTP, copied as it is),
#     and the core module as dist/image-promote.core.wasm (read by index.mjs beside itself: not
#     inlined as base64, which cost Node a 4.7 MB parse and a decode on every start)
# The npm tools come from `npm ci` (exact versions of the lock file); the Rust target from rustup.
#   bash scripts/build-dist.sh            # writes dist/
#   bash scripts/build-dist.sh --check    # builds into a temporary directory and fails when the
#                                         # committed dist/ differs (stale dist)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
check=0
[ "${1:-}" = --check ] && check=1
start=$(date +%s)
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
# A build that does not depend on where the checkout lives or who built it.
export SOURCE_DATE_EPOCH=0
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$ROOT=/image-promote --remap-path-prefix=$HOME/.cargo=/cargo"
cargo build --locked --profile wasm --target wasm32-wasip2 --bin image-promote
wasm="$ROOT/target/wasm32-wasip2/wasm/image-promote.wasm"
echo "build-dist: component $(stat -c %s "$wasm") bytes after $(( $(date +%s) - start )) s" >&2
cd action-js
[ -d node_modules/@bytecodealliance/jco ] || npm ci --no-audit --no-fund
rm -rf build
# The component's own imports (wit/host.wit): digests by Node's crypto, action-js/host-digest.mjs;
# one-call HTTP exchanges, action-js/host-http.mjs (its worker, http-worker.mjs, goes into dist/);
# ECDSA P-256 verify and sign by Node's crypto, action-js/host-ecdsa.mjs.
npx --no-install jco transpile "$wasm" -o build --name image-promote --no-typescript --quiet \
  --map 'image-promote:host/digest=../host-digest.mjs' --map 'image-promote:host/http=../host-http.mjs' \
  --map 'image-promote:host/ecdsa=../host-ecdsa.mjs'

out="$ROOT/dist"
if [ "$check" = 1 ]; then out="$(mktemp -d)"; fi
mkdir -p "$out"
node bundle.mjs "$out"
cp build/image-promote.core.wasm "$out/image-promote.core.wasm"
cd "$ROOT"
DIST_FILES=(index.mjs worker-thread.bundle.js http-worker.mjs image-promote.core.wasm)
echo "build-dist: dist/index.mjs $(stat -c %s "$out/index.mjs") bytes, worker $(stat -c %s "$out/worker-thread.bundle.js") bytes, core wasm $(stat -c %s "$out/image-promote.core.wasm") bytes, $(( $(date +%s) - start )) s in all" >&2
if [ "$check" = 1 ]; then
  stale=0
  for f in "${DIST_FILES[@]}"; do cmp -s "$out/$f" "dist/$f" || stale=1; done
  if [ "$stale" = 1 ]; then
    echo "build-dist: dist/ is stale: run bash scripts/build-dist.sh and commit dist/" >&2
    rm -rf "$out"
    exit 1
  fi
  rm -rf "$out"
  echo "build-dist: dist/ is what the source builds" >&2
fi
