#!/usr/bin/env bash
# sync-container-action.sh — writes container/action.yml: the root action.yml (the Node action)
# with the container `runs:` block, so both declare exactly the same inputs and outputs.
# tests/action/yml.rs fails when container/action.yml is not what this script writes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sed '/^runs:$/,$d' action.yml > container/action.yml
cat >> container/action.yml <<'YML'
runs:
  using: docker
  # The repository's own Dockerfile, built from the same checkout (pinned by the action's ref).
  image: ../Dockerfile # zizmor: ignore[unpinned-images]
  args:
    - promote
YML
