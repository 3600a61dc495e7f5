#!/usr/bin/env bash
# demo.sh — set up and run a real promotion between two local registries.
#   1. installs the Debian packages (docker-registry, skopeo, jq, …) when run as root or with sudo
#   2. starts staging (127.0.0.1:5000) and production (127.0.0.1:5001) registries
#   3. builds and pushes the fixture images to staging
#   4. builds image-promote (release)
#   5. promotes app/small:1.0 staging → production with the default policy's checks, writing the
#      audit JSON, the errors log and a step summary; shows the digests agree (skopeo)
#   6. shows a refusal: app/nolabels:1.0 fails the checks (exit 3) and nothing is written
#   7. promotes app/multi:1.0 as 2.0 onto the moving tag prod (history recorded in the registry),
#      then rolls prod back to 1.0's digest (`rollback`: the same checks, kind rollback)
# Output goes to $DEMO_DIR (default /tmp/image-promote-demo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEMO_DIR=${DEMO_DIR:-/tmp/image-promote-demo}
# As root (a fresh Debian machine often has no sudo) nothing is elevated; otherwise sudo is used
# for the package install and the fixtures' scratch directory only.
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "demo: run as root, or install sudo: packages must be installed" >&2; exit 1; }
  SUDO=sudo
fi
# sudo resets PATH: find the invoking user's cargo.
if ! command -v cargo >/dev/null 2>&1; then
  for d in "${CARGO_HOME:-$HOME/.cargo}/bin" "/home/${SUDO_USER:-nobody}/.cargo/bin" /root/.cargo/bin; do
    [ -x "$d/cargo" ] && PATH="$d:$PATH" && break
  done
fi
command -v cargo >/dev/null || { echo "demo: cargo not found; install Rust with rustup" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Debian packages"
$SUDO bash scripts/harness/install-deps.sh
step "2. registries: staging 127.0.0.1:5000, production 127.0.0.1:5001"
bash scripts/harness/start-registries.sh --quiet
step "3. fixture images on staging"
$SUDO env REG_HARNESS_DIR="${REG_HARNESS_DIR:-/tmp/reg-harness}" bash scripts/harness/make-fixtures.sh --only small,nolabels,multi
step "4. build"
cargo build --release
BIN=target/release/image-promote

rm -rf "$DEMO_DIR"; mkdir -p "$DEMO_DIR"
repo=demo/app-$(date +%s)
step "5. promote 127.0.0.1:5000/app/small:1.0 -> 127.0.0.1:5001/$repo:1.0 (+ tag prod)"
GITHUB_STEP_SUMMARY="$DEMO_DIR/summary.md" "$BIN" promote \
  127.0.0.1:5000/app/small:1.0 "127.0.0.1:5001/$repo:1.0" --moving-tags prod \
  --expected-digest sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992 \
  --audit-dir "$DEMO_DIR/audit" --environment demo
echo
echo "source digest:      $(skopeo inspect --raw --tls-verify=false docker://127.0.0.1:5000/app/small:1.0 | sha256sum | cut -d' ' -f1)"
echo "destination digest: $(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:5001/$repo:1.0" | sha256sum | cut -d' ' -f1)"
echo "audit:   $(ls "$DEMO_DIR"/audit/*.json)"
echo "summary: $DEMO_DIR/summary.md"
sed -n '1,40p' "$DEMO_DIR/summary.md"

step "6. a refused promotion: app/nolabels:1.0 (no labels, no entrypoint, runs as root)"
set +e
GITHUB_STEP_SUMMARY="$DEMO_DIR/summary-refused.md" "$BIN" promote \
  127.0.0.1:5000/app/nolabels:1.0 "127.0.0.1:5001/$repo-refused:1.0" --audit-dir "$DEMO_DIR/audit-refused"
rc=$?
set -e
echo "exit code: $rc (3 = refused by checks); destination tag: $(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:5001/$repo-refused:1.0" >/dev/null 2>&1 && echo present || echo absent)"
[ "$rc" = 3 ]

step "7. a second release onto prod (app/multi:1.0 as 2.0), then a rollback of prod"
"$BIN" promote 127.0.0.1:5000/app/multi:1.0 "127.0.0.1:5001/$repo:2.0" --moving-tags prod \
  --audit-dir "$DEMO_DIR/audit-2.0" >/dev/null
echo "prod now:   $(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:5001/$repo:prod" | sha256sum | cut -d' ' -f1) (2.0)"
GITHUB_STEP_SUMMARY="$DEMO_DIR/summary-rollback.md" "$BIN" rollback "127.0.0.1:5001/$repo" --tag prod \
  --reason "demo: 2.0 misbehaves" --audit-dir "$DEMO_DIR/audit-rollback"
echo "prod after: $(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:5001/$repo:prod" | sha256sum | cut -d' ' -f1) (1.0's digest again)"
echo "summary: $DEMO_DIR/summary-rollback.md"
step "done: see $DEMO_DIR"
