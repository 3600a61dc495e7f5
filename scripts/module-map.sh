#!/usr/bin/env bash
# module-map.sh — prints the module map of src/ as a Markdown table: file, lines, and the first
# sentence of the file's `//!` opening. docs/architecture.md carries its output.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "| file | lines | what it owns |"
echo "|---|---:|---|"
find src -name '*.rs' | sort | while read -r f; do
  lines=$(wc -l < "$f")
  what=$(grep -m1 -A3 '^//!' "$f" | sed -n '/^\/\/!/p' | sed 's#^//! \{0,1\}##' | tr '\n' ' ' \
    | sed 's/\([.;]\) .*/\1/; s/ (docs\/architecture.md[^)]*)//' | cut -c1-140 | sed 's/|/\\|/g')
  echo "| \`${f#src/}\` | $lines | $what |"
done
