#!/usr/bin/env bash
# check-wasm.sh — the crate still builds for wasm32-wasip2 (the Node action's component): clippy
# for that target, warnings denied. Installs the target through rustup when missing. Quick (a
# check, no codegen); scripts/build-dist.sh does the real build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo clippy --target wasm32-wasip2 --lib --bin image-promote -- -D warnings
