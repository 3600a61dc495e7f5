#!/usr/bin/env bash
# module-map.sh — prints the module map of src/ as a Markdown table: file, lines, and the first
# sentence of the file's `//!` opening. With --write, replaces the table in docs/architecture.md
# (the lines from `| file | lines |` to the end of that table).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
table() {
  echo "| file | lines | what it owns |"
  echo "|---|---:|---|"
  find src -name '*.rs' | sort | while read -r f; do
    lines=$(wc -l < "$f")
    what=$( { grep -m1 -A3 "^//!" "$f" || true; } | sed -n '/^\/\/!/p' | sed 's#^//! \{0,1\}##' | tr '\n' ' ' \
      | sed 's/\([.;]\) .*/\1/; s/ (docs\/architecture.md[^)]*)//' | cut -c1-140 | sed 's/|/\\|/g')
    echo "| \`${f#src/}\` | $lines | $what |"
  done
}
if [ "${1:-}" = --write ]; then
  doc=docs/architecture.md
  new=$(mktemp)
  table > "$new.table"
  awk -v t="$new.table" '
    /^\| file \| lines \| what it owns \|$/ { while ((getline l < t) > 0) print l; skip = 1; next }
    skip && /^\|/ { next }
    { skip = 0; print }
  ' "$doc" > "$new"
  mv "$new" "$doc"; rm -f "$new.table"
else
  table
fi
