#!/usr/bin/env bash
# test.sh — the project's test command (README): installs the Debian packages the tests need
# (when run as root or with sudo) and the peer tools (scripts/harness/fetch-peers.sh), then format check, clippy, and every test. The integration
# tests start the real registries themselves (scripts/harness, idempotent) and push the fixtures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${SKIP_DEPS:-0}" != 1 ]; then
  if [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; then
    bash scripts/harness/install-deps.sh
  fi
  # crane, oras, cosign (Debian sid, unpacked under /tmp, apt state untouched) and ferro-oci-server
  # (a registry with the OCI referrers API, from crates.io): the signature and history tests use them.
  bash scripts/harness/fetch-peers.sh
fi
for c in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo clippy for wasm32-wasip2 (the Node action's component)"
bash scripts/check-wasm.sh
echo "== cargo test"
cargo test --all-targets --no-fail-fast -- --test-threads="${TEST_THREADS:-4}"
