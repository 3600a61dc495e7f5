#!/usr/bin/env bash
# fuzz.sh [SECONDS_PER_TARGET] — runs every cargo-fuzz target in fuzz/ for SECONDS_PER_TARGET
# (default 300), one after another, and prints per target: seconds, runs executed, corpus size,
# crashes. Exits non-zero if any target crashed (reproduce with
# `cd fuzz && cargo +nightly fuzz run -s none <target> artifacts/<target>/<file>`). Not part of CI.
#
# Inputs: fuzz/seeds/<target> (real inputs, named: manifests from the staging registry, trimmed
# scan reports, registries' WWW-Authenticate headers, config.json samples, policies) and
# fuzz/corpus/<target> (what earlier runs found, minimized). Both are committed and only read:
# new inputs go to fuzz/target/new-corpus/<target> (git-ignored). With FUZZ_MERGE=1 they are
# merged into fuzz/corpus/<target> afterwards, which is then minimized to the smallest set that
# keeps every coverage edge beyond the seeds (libFuzzer -set_cover_merge, as `cargo fuzz cmin`).
#
# Environment: FUZZ_TARGETS="a b" (default: all, from `cargo fuzz list`), FUZZ_SANITIZER
# (default none: the code under test is safe Rust, and without ASan the build and each run are
# several times faster; set `address` to use it), FUZZ_MERGE=1. Needs nightly and cargo-fuzz
# (`cargo install cargo-fuzz`). Run it niced if others share the machine: `nice -n 10 scripts/fuzz.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"

seconds="${1:-300}"
sanitizer="${FUZZ_SANITIZER:-none}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz)" >&2
  exit 2
fi

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
echo "== building fuzz targets (sanitizer: $sanitizer)"
cargo +nightly fuzz build -s "$sanitizer" >/dev/null
# Run the binaries just built (not `cargo fuzz run`, which rebuilds first): every target then
# fuzzes the same code, even if the tree changes while the script runs.
bin="target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

# Largest input tried per target: room for the biggest seed, not much more.
max_len() {
  case "$1" in
    reference | digest) echo 1024 ;;
    www_authenticate) echo 4096 ;;
    docker_config | policy) echo 16384 ;;
    manifest | scan_report) echo 65536 ;;
    *) echo 4096 ;;
  esac
}

logs=target/fuzz-logs
mkdir -p "$logs"
summary=()
failed=0
for t in $targets; do
  new="target/new-corpus/$t"
  mkdir -p "$new" "corpus/$t" "seeds/$t" "artifacts/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  echo "== $t: ${seconds}s"
  start=$(date +%s)
  status=0
  "$bin/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$seconds" \
    -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "$new" "corpus/$t" "seeds/$t" >"$logs/$t.log" 2>&1 || status=$?
  took=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1 || true)
  corpus=$({ grep -oE 'corp: [0-9]+/[0-9]+(b|Kb|Mb)' "$logs/$t.log" || true; } | tail -1 | cut -d' ' -f2)
  crashes=$(($(find "artifacts/$t" -type f | wc -l) - before))
  if [ "$status" != 0 ] && [ "$crashes" = 0 ]; then
    crashes=1 # a failure libFuzzer did not save (e.g. the harness itself); see the log
  fi
  if [ "$crashes" != 0 ]; then
    failed=1
    echo "   CRASH: see $PWD/$logs/$t.log and artifacts/$t/"
    grep -m1 -E "panicked at|ERROR: libFuzzer" -A3 "$logs/$t.log" || true
  fi
  summary+=("$(printf '%-18s %6ss %12s runs  corpus %-14s crashes %s' "$t" "$took" "${runs:-?}" "${corpus:-?}" "$crashes")")
  if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$crashes" = 0 ]; then
    merged="target/merged-corpus/$t"
    rm -rf "$merged" && mkdir -p "$merged"
    cp seeds/"$t"/* "$merged"/ 2>/dev/null || true # counted as covered, removed again below
    "$bin/$t" -set_cover_merge=1 -use_counters=0 -max_len="$(max_len "$t")" \
      "$merged" "corpus/$t" "$new" >"$logs/$t.cmin.log" 2>&1
    for f in seeds/"$t"/*; do rm -f "$merged/$(basename "$f")"; done
    rm -rf "corpus/$t" "$new" && mv "$merged" "corpus/$t"
  fi
done

echo
echo "== fuzz summary (${seconds}s per target; corpus = entries/bytes libFuzzer kept)"
printf '%s\n' "${summary[@]}"
exit "$failed"
