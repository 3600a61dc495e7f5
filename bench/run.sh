#!/usr/bin/env bash
# bench/run.sh — image-promote vs skopeo, crane and oras, side by side, on real local registries (issues 7, 15).
#
# Starts its own registries (scripts/harness: staging, production, secure = TLS + basic auth), pushes
# the fixtures (app/small, app/multi, app/big = 1 GiB in 4 layers, app/many = 200 layers), builds
# `cargo build --release`, then for every scenario runs `image-promote copy`, `skopeo copy`, `crane copy`
# and `oras cp` (bench/tools.sh says how each is invoked) alternately (the order rotates every run), --runs times each, resetting the destination before
# every single copy exactly as scripts/harness/bench-peers.sh does:
#   xreg-*    stop the destination registry, delete its storage, start it empty;
#   xrepo-*   delete the destination repository's directory, restart the registry (clears its cache);
#   recopy-*  nothing (the destination already holds everything).
# `sync` runs (untimed) before every timed command. skopeo runs as uid 65534 with a new, empty
# blob-info cache per run (a fresh CI runner). After every copy the destination's
# Docker-Content-Digest must equal the source digest; an image-promote run that fails this (or exits
# non-zero) stops the benchmark with exit 1 (unless --keep-going).
#
# Scenarios (--only takes a comma-separated subset):
#   xreg-small xreg-multi xreg-big xreg-many   staging -> production (multi: skopeo --all; big: + the
#                                              streaming floor, scripts/harness/floor-copy.sh; many: +
#                                              `image-promote promote` with the default policy's checks
#                                              and the three-requests-per-blob floor, floor-copy.sh)
#   xrepo-big-fresh   production app/big -> production promoted/big (image-promote, crane and oras mount;
#                     skopeo with an empty cache does not)
#   recopy-big        staging -> production when production already has app/big
#   secure-big secure-many   staging -> secure (TLS verified with the private CA, basic auth)
#   verify-big        sha256sum / openssl dgst -sha256 over the 4 layers (1 GiB) concatenated in a temp
#                     file, and `image-promote check REF --deep` if that command exists
#   conc-xreg-many conc-secure-many   image-promote --concurrency 4/8/16 (see --sweep)
#   startup           `image-promote --version` start time (hyperfine if installed, else 20 runs)
#                     and binary size, for the release binary and the static musl one (built as well when
#                     the x86_64-unknown-linux-musl target and musl-gcc are installed; --no-musl skips
#                     it); plus the size of the action's container image (Dockerfile: scratch + the
#                     static binary + a CA bundle), estimated from those files
#
# Usage: bench/run.sh [--runs N] [--only a,b] [--no-build] [--bin PATH] [--out DIR] [--sweep 4,8,16]
#                     [--shared-registries] [--keep-registries] [--keep-going] [--wait-quiet SECS]
#                     [--results FILE | --no-results-file] [--install-deps] [--build-from-head]
#                     [--retry-noisy K] [--nice N] [--no-musl] [--report-only]
#   --runs N             runs per tool and scenario (default 3)
#   --no-build           do not run `cargo build --release`; use target/release/image-promote as it is
#   --build-from-head    build the committed HEAD (git archive into DIR/src, target dir DIR/target) instead
#                        of the work tree, e.g. while others have half-edited files in it
#   --nice N             run the registries and the tools at niceness N, and set their sessions' autogroup
#                        nice to N as well (default -10 as root: other sessions such as cargo builds get
#                        ~10 % of the CPU while they compete; they still soak up idle time); 0 = leave as is
#   --retry-noisy K      re-run a copy (after resetting again) when other processes used > 0.5 CPU-s during
#                        it, at most K times (default 1); the noisy attempt stays in results.tsv, commented out
#   --bin PATH           benchmark this binary instead (implies --no-build)
#   --out DIR            results dir (default /tmp/image-promote-bench): results.tsv (one line per run),
#                        stats.tsv, summary.md, runs/ (time -v output, stdout/stderr, registry log slices)
#   --shared-registries  use the shared harness registries (/tmp/reg-harness, ports 5000-5002). DANGER:
#                        their production/secure storage is wiped many times, which breaks integration
#                        tests running at the same time. Default: private registries under DIR/registries
#                        on ports $BENCH_PORT+0/1/2 (5170-5172; the next free block of 3 if taken),
#                        stopped again at the end (--keep-registries leaves them up)
#   --sweep LIST         concurrencies for the conc-* scenarios (default 4,8,16)
#   --keep-going         record a failed image-promote copy and go on (exit 1 at the end)
#   --wait-quiet SECS    before starting, wait up to SECS for the machine to be idle (< 10 % busy over 5 s)
#   --results FILE       where the Markdown report goes besides stdout (default bench/RESULTS.md;
#                        with --only, none unless --results is given);
#                        --no-results-file writes it only to DIR/report.md. bench/notes.md, if present,
#                        is appended to the report (hand-written analysis of a run)
#   --report-only        do not measure: render DIR's last finished run again (RESULTS file, stdout), e.g.
#                        after editing bench/notes.md
#   --install-deps       apt-get the harness packages (scripts/harness/install-deps.sh) and hyperfine
set -euo pipefail
shopt -s inherit_errexit
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
HARNESS=$ROOT/scripts/harness
export LC_ALL=C
CMDLINE="bench/run.sh $*"

RUNS=3 only="" build=1 BIN="" bin_given=0 musl=1 OUT=/tmp/image-promote-bench shared=0 keep_regs=0 keep_going=0
wait_quiet=0 RESULTS=$BENCH/RESULTS.md results_given=0 SWEEP=4,8,16 install=0 from_head=0 RETRY_NOISY=1 NICE=-10 report_only=0
[ "$(id -u)" = 0 ] || NICE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --bin) BIN=$2; build=0; bin_given=1; shift 2 ;;
    --no-musl) musl=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --shared-registries) shared=1; shift ;;
    --keep-registries) keep_regs=1; shift ;;
    --keep-going) keep_going=1; shift ;;
    --wait-quiet) wait_quiet=$2; shift 2 ;;
    --results) RESULTS=$2; results_given=1; shift 2 ;;
    --no-results-file) RESULTS=""; results_given=1; shift ;;
    --sweep) SWEEP=$2; shift 2 ;;
    --install-deps) install=1; shift ;;
    --build-from-head) from_head=1; shift ;;
    --retry-noisy) RETRY_NOISY=$2; shift 2 ;;
    --nice) NICE=$2; shift 2 ;;
    --report-only) report_only=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
# A partial run (--only) does not replace the committed bench/RESULTS.md unless --results says so.
if [ -n "$only" ] && [ "$results_given" = 0 ]; then RESULTS=""; fi
case "$RUNS" in ''|*[!0-9]*|0) echo "bench/run.sh: --runs needs a positive integer" >&2; exit 2 ;; esac
case "$RETRY_NOISY" in ''|*[!0-9]*) echo "bench/run.sh: --retry-noisy needs an integer" >&2; exit 2 ;; esac
case "$OUT" in /*) ;; *) OUT=$(pwd)/$OUT ;; esac

# ------------------------------------------------------------------ registries: private by default
if [ "$shared" = 1 ]; then
  export REG_HARNESS_DIR=${REG_HARNESS_DIR:-/tmp/reg-harness}
  export REG_STAGING_PORT=${REG_STAGING_PORT:-5000} REG_PRODUCTION_PORT=${REG_PRODUCTION_PORT:-5001} REG_SECURE_PORT=${REG_SECURE_PORT:-5002}
else
  # Ignore REG_* from a sourced harness env.sh: never touch the registries the test suite uses.
  export REG_HARNESS_DIR=$OUT/registries
  unset REG_STAGING_PORT REG_PRODUCTION_PORT REG_SECURE_PORT
fi
export REG_SECURE_USER=${REG_SECURE_USER:-harness} REG_SECURE_PASSWORD=${REG_SECURE_PASSWORD:-harness-pass}
# shellcheck source=../scripts/harness/lib.sh
. "$HARNESS/lib.sh"
# shellcheck source=lib.sh
. "$BENCH/lib.sh"
# shellcheck source=report.sh
. "$BENCH/report.sh"
RES=$OUT/results.tsv
IP=$OUT/bin/image-promote
if [ "$report_only" = 1 ]; then  # re-render DIR/report.md and RESULTS from a finished run (e.g. after editing bench/notes.md)
  [ -s "$OUT/meta.sh" ] && [ -s "$RES" ] || die "--report-only: no finished run in $OUT"
  # shellcheck disable=SC1091
  . "$OUT/meta.sh"
  summarize
  write_report
  exit 0
fi

if [ "$shared" = 0 ]; then
  # Private ports: $BENCH_PORT (default 5170) + 0/1/2, or the next free block of three (+10, +20, …), unless
  # the ports hold our own registries from an earlier --keep-registries run.
  port_ok() {  # port_ok INSTANCE PORT: free, or held by our own registry for INSTANCE
    local pid; pid=$(running_pid "$1")
    if [ -n "$pid" ]; then grep -q "addr: 127.0.0.1:$2\$" "$(inst_config "$1")" 2>/dev/null; else ! port_busy "$2"; fi
  }
  base=${BENCH_PORT:-5170}
  for _ in $(seq 1 20); do
    port_ok staging "$base" && port_ok production $((base + 1)) && port_ok secure $((base + 2)) && break
    base=$((base + 10))
  done
  export REG_STAGING_PORT=$base REG_PRODUCTION_PORT=$((base + 1)) REG_SECURE_PORT=$((base + 2))
fi

ALL="xreg-small xreg-multi xreg-big xreg-many xrepo-big-fresh recopy-big secure-big secure-many verify-big conc-xreg-many conc-secure-many startup"
selected() { [ -z "$only" ] || case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for s in ${only//,/ }; do case " $ALL " in *" $s "*) ;; *) die "unknown scenario '$s' (known: $ALL)" ;; esac; done
[ "$RUNS" -ge 3 ] || log "NOTE: --runs $RUNS (< 3): fine for a smoke test, not for figures"

if [ "$install" = 1 ]; then
  "$HARNESS/install-deps.sh"
  command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null || log "hyperfine not installed (the start-time loop is used instead)"
fi
need skopeo; need curl; need jq; need openssl; need bc; need sha256sum coreutils
[ "$(id -u)" != 0 ] || need setpriv util-linux
[ -x /usr/bin/time ] || die "GNU time missing (apt-get install time)"

mkdir -p "$OUT/runs" "$OUT/bin"
rm -f "$OUT"/runs/* 2>/dev/null || true
RES=$OUT/results.tsv
CLK_TCK=$(getconf CLK_TCK)
printf 'scenario\ttool\trun\twall_s\tmax_rss_kb\tuser_s\tsys_s\texit\tcheck\tdst_requests\tsrc_requests\tsrc_registry_cpu_s\tdst_registry_cpu_s\tother_cpu_s\tdst_breakdown\tsrc_breakdown\tmax_par_upload/blobs_in_flight\tmax_par_src_gets\tblob_actions\n' >"$RES"

STAGING=127.0.0.1:$REG_STAGING_PORT
PROD=127.0.0.1:$REG_PRODUCTION_PORT
SECURE=127.0.0.1:$REG_SECURE_PORT
ACCEPT='application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.docker.distribution.manifest.v2+json'
declare -A EXPECT=(
  [small]=sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992
  [multi]=sha256:f4bde69193791bb9b12817907ecaa4613f0c5400ea04135655c76f6a99694d3b
  [big]=sha256:54a342bb7ee28dde5fc571e01352c4662eac804f4a217e6b654dadbabe193817
  [many]=sha256:398d22ec3018c1bdc67ef5ac5dfcd232b8d8010b658d1d56adfeabe38a7a8faa
)
FAILS=()

cleanup() {
  local rc=$?
  if [ "$shared" = 0 ] && [ "$keep_regs" = 0 ] && [ -d "$REG_HARNESS_DIR" ]; then
    "$HARNESS/stop-registries.sh" >/dev/null 2>&1 || true
  fi
  [ "$rc" = 0 ] || log "bench/run.sh failed (exit $rc); partial results in $OUT"
}
trap cleanup EXIT

# ------------------------------------------------------------------ quiet machine?
if [ "$wait_quiet" -gt 0 ]; then
  deadline=$(($(date +%s) + wait_quiet))
  while :; do
    f=$(busy_fraction 5)
    awk -v f="$f" 'BEGIN{exit !(f < 0.10)}' && { log "machine idle (busy $f over 5 s)"; break; }
    [ "$(date +%s)" -lt "$deadline" ] || { log "WARNING: machine still busy ($f) after ${wait_quiet}s; going on"; break; }
    log "machine busy ($f of all CPUs over 5 s); waiting"
  done
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ build
if [ -n "$BIN" ]; then
  [ -x "$BIN" ] || die "--bin $BIN is not an executable"
elif [ "$build" = 1 ] && [ "$from_head" = 1 ]; then
  need cargo
  HEAD_REV=$(cd "$ROOT" && git rev-parse HEAD)   # fixed now: others may commit while this builds
  log "building the committed HEAD (${HEAD_REV:0:7}) in $OUT/src (about 2-3 min on 2 cores when cold)"
  rm -rf "$OUT/src"; mkdir -p "$OUT/src"
  (cd "$ROOT" && git archive --format=tar "$HEAD_REV") | tar -x -C "$OUT/src"
  (cd "$OUT/src" && CARGO_TARGET_DIR=$OUT/target cargo build --release) >"$OUT/cargo-build.log" 2>&1 \
    || { tail -n 30 "$OUT/cargo-build.log" >&2; die "cargo build --release of HEAD failed (log: $OUT/cargo-build.log)"; }
  BIN=$OUT/target/release/image-promote
elif [ "$build" = 1 ]; then
  need cargo
  log "cargo build --release (about 2 min on 2 cores when cold)"
  (cd "$ROOT" && cargo build --release) >"$OUT/cargo-build.log" 2>&1 \
    || { tail -n 30 "$OUT/cargo-build.log" >&2; die "cargo build --release failed (log: $OUT/cargo-build.log); --no-build benchmarks the existing binary, --build-from-head the committed HEAD"; }
  BIN=$ROOT/target/release/image-promote
else
  BIN=$ROOT/target/release/image-promote
  [ -x "$BIN" ] || die "$BIN missing: build it (drop --no-build)"
fi
# Work on a private copy: a concurrent `cargo build` must not swap the binary in the middle of the run.
cp "$BIN" "$OUT/bin/image-promote.new" && mv -f "$OUT/bin/image-promote.new" "$OUT/bin/image-promote"
# The static (musl) binary that the action's container image ships: built too when the target is installed.
STATIC_SRC=""
if [ "$musl" = 1 ] && [ "$bin_given" = 0 ]; then
  MT=x86_64-unknown-linux-musl
  if [ "$build" = 1 ] && rustup target list --installed 2>/dev/null | grep -qx "$MT" && command -v musl-gcc >/dev/null; then
    log "cargo build --release --target $MT (the static binary of the container image)"
    if [ "$from_head" = 1 ]; then
      (cd "$OUT/src" && CARGO_TARGET_DIR=$OUT/target cargo build --release --target "$MT" --bin image-promote) >"$OUT/cargo-build-musl.log" 2>&1 \
        && STATIC_SRC=$OUT/target/$MT/release/image-promote
    else
      (cd "$ROOT" && cargo build --release --target "$MT" --bin image-promote) >"$OUT/cargo-build-musl.log" 2>&1 \
        && STATIC_SRC=$ROOT/target/$MT/release/image-promote
    fi
    [ -n "$STATIC_SRC" ] || log "WARNING: the musl build failed ($OUT/cargo-build-musl.log); static-binary figures skipped"
  elif [ "$build" = 0 ] && [ -x "$ROOT/target/$MT/release/image-promote" ]; then
    STATIC_SRC=$ROOT/target/$MT/release/image-promote
    log "using the existing static binary $STATIC_SRC (built $(date -r "$STATIC_SRC" -u +%FT%TZ); may be older than $BIN)"
  else
    log "no static (musl) binary: needs 'rustup target add $MT' and musl-tools; static-binary figures skipped"
  fi
fi
STATIC_IP=""
if [ -n "$STATIC_SRC" ]; then
  cp "$STATIC_SRC" "$OUT/bin/image-promote-static.new" && mv -f "$OUT/bin/image-promote-static.new" "$OUT/bin/image-promote-static"
  STATIC_IP=$OUT/bin/image-promote-static
fi
SRC_BIN=$BIN
IP=$OUT/bin/image-promote
IP_VERSION=$("$IP" --version 2>&1 | head -n1)
IP_SHA=$(sha256sum "$IP" | cut -c1-16)
GIT_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "${HEAD_REV:-}" ] || GIT_REV=${HEAD_REV:0:7}
GIT_DIRTY=$(cd "$ROOT" && git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null | grep -c . || true)
GIT_STATE="$GIT_DIRTY tracked files modified in the work tree"
[ "$from_head" = 1 ] && [ "$build" = 1 ] && GIT_STATE="built from the committed HEAD; the work tree had $GIT_DIRTY modified tracked files"
log "benchmarking $IP_VERSION ($SRC_BIN, sha256 $IP_SHA…, git $GIT_REV, $GIT_STATE)"

# ------------------------------------------------------------------ priority
# Everything started from here on (registries, tools, floor, hashing) inherits this niceness. With
# sched_autogroup (the default on Debian kernels) CPU is shared between sessions first, so the nice value
# of this session's autogroup, and of each registry's (start-registries.sh setsid's them), is set too.
boost() {  # boost PID
  [ "$NICE" != 0 ] && [ -n "$1" ] || return 0
  renice -n "$NICE" -p "$1" >/dev/null 2>&1 || true
  [ -w "/proc/$1/autogroup" ] && echo "$NICE" >"/proc/$1/autogroup" 2>/dev/null || true
}
boost_registries() { local n; for n in staging production secure; do boost "$(running_pid "$n")"; done; }
if [ "$NICE" != 0 ]; then
  renice -n "$NICE" -p $$ >/dev/null || { log "WARNING: renice $NICE failed; running at normal priority"; NICE=0; }
  boost $$
fi

# ------------------------------------------------------------------ registries + fixtures
log "starting registries under $REG_HARNESS_DIR (staging $STAGING, production $PROD, secure $SECURE)"
"$HARNESS/start-registries.sh" --secure --quiet >/dev/null
boost_registries

manifest_digest() {  # manifest_digest HOST REPO REF -> digest or empty
  local host=$1 repo=$2 ref=$3 scheme=http args=()
  if [ "$host" = "$SECURE" ]; then scheme=https; args=(--cacert "$(secure_cacert)" -u "$REG_SECURE_USER:$REG_SECURE_PASSWORD"); fi
  curl -s -I -H "Accept: $ACCEPT" "${args[@]}" "$scheme://$host/v2/$repo/manifests/$ref" | tr -d '\r' \
    | awk 'tolower($1)=="docker-content-digest:"{print $2}'
}

missing=()
for f in small multi big many; do
  [ "$(manifest_digest "$STAGING" "app/$f" 1.0)" = "${EXPECT[$f]}" ] || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
  # The OCI layout is content-addressed: reuse the shared harness's build instead of rebuilding 1 GiB.
  if [ "$shared" = 0 ] && [ ! -d "$REG_HARNESS_DIR/build/oci" ] && [ -d /tmp/reg-harness/build/oci ]; then
    log "seeding the fixture build from /tmp/reg-harness/build/oci"
    mkdir -p "$REG_HARNESS_DIR/build"
    cp -a /tmp/reg-harness/build/oci /tmp/reg-harness/build/refs "$REG_HARNESS_DIR/build/" 2>/dev/null || rm -rf "$REG_HARNESS_DIR/build"
  fi
  log "pushing fixtures (${missing[*]}) to staging (builds them first if needed: ~40 s)"
  "$HARNESS/make-fixtures.sh" --only "$(IFS=,; echo "${missing[*]}")" >"$OUT/make-fixtures.log" 2>&1 \
    || { tail -n 20 "$OUT/make-fixtures.log" >&2; die "make-fixtures.sh failed"; }
fi
declare -A SRC_DIGEST
for f in small multi big many; do
  SRC_DIGEST[$f]=$(manifest_digest "$STAGING" "app/$f" 1.0)
  [ -n "${SRC_DIGEST[$f]}" ] || die "staging has no app/$f:1.0"
  [ "${SRC_DIGEST[$f]}" = "${EXPECT[$f]}" ] || log "WARNING: app/$f:1.0 is ${SRC_DIGEST[$f]}, not the documented ${EXPECT[$f]} (other tar/gzip versions?)"
done

# ------------------------------------------------------------------ the tools (bench/tools.sh)
# shellcheck source=tools.sh
. "$BENCH/tools.sh"
tools_setup

reset_instance() { "$HARNESS/start-registries.sh" --only "$1" --wipe --quiet >/dev/null; boost "$(running_pid "$1")"; }
restart_instance() { "$HARNESS/start-registries.sh" --only "$1" --restart --quiet >/dev/null; boost "$(running_pid "$1")"; }
drop_repo() {  # drop_repo INSTANCE REPO — remove a repository's metadata from storage, restart (clears its cache)
  rm -rf "$(inst_data "$1")/docker/registry/v2/repositories/$2"
  restart_instance "$1"
}

# record SCENARIO TOOL RUN CHECK DST_REQ SRC_REQ SRC_CPU DST_CPU DST_BREAKDOWN SRC_BREAKDOWN PAR SRCPAR
record() {
  local other
  # other_cpu_s: machine busy CPU-s during the run minus the tool's and the registries' own: a noisy neighbour.
  other=$(awk -v b="$T_BUSY" -v u="$T_USER" -v s="$T_SYS" -v x="$7" -v y="$8" \
    'BEGIN{o = b - u - s - (x + 0) - (y + 0); printf "%.2f", (o < 0 ? 0 : o)}')
  LAST_OTHER=$other
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$T_WALL" "$T_RSS" \
    "$T_USER" "$T_SYS" "$T_EXIT" "$4" "$5" "$6" "$7" "$8" "$other" "$9" "${10}" "${11}" "${12}" "${13:--}" >>"$RES"
  if awk -v o="$other" 'BEGIN{exit !(o > 0.5)}'; then
    log "WARNING: $1/$2 run $3: ${other} CPU-s used by other processes during the run (noisy neighbour?)"
  fi
  log "$1 $2 run $3: ${T_WALL}s rss=$((T_RSS / 1024))MiB req dst=$5 src=$6 other_cpu=${other} $4"
}

# one_copy SCENARIO TOOL RUN SRC_INST DST_INST DST_HOST DST_REPO WANT -- command...
# Times one copy, slices the registry logs, checks the destination digest.
one_copy() {
  local sc=$1 tool=$2 run=$3 si=$4 di=$5 dh=$6 drepo=$7 want=$8; shift 9
  local label="$sc.${tool// /_}.$run" soff doff sc0 dc0 sc1 dc1 got check dst src dreq sreq scpu dcpu
  soff=$(log_off "$si"); doff=$(log_off "$di")
  sc0=$(cpu_ticks "$si"); dc0=$(cpu_ticks "$di")
  timed "$label" -- "$@"
  sc1=$(cpu_ticks "$si"); dc1=$(cpu_ticks "$di")
  sleep 0.1   # let the registries flush their last log lines
  log_slice "$di" "$doff" >"$OUT/runs/$label.dst.log"
  dreq=$(nreq "$OUT/runs/$label.dst.log")
  dst=$(reqstats <"$OUT/runs/$label.dst.log")
  dcpu=$(ticks_s "$dc0" "$dc1")
  if [ "$si" != "$di" ]; then
    log_slice "$si" "$soff" >"$OUT/runs/$label.src.log"
    sreq=$(nreq "$OUT/runs/$label.src.log"); src=$(reqstats <"$OUT/runs/$label.src.log"); scpu=$(ticks_s "$sc0" "$sc1")
  else
    sreq="same"; src=$'same\t-\t-'; scpu=0
  fi
  got=$(manifest_digest "$dh" "$drepo" 1.0)
  if [ "$T_EXIT" = 0 ] && [ "$got" = "$want" ]; then check=digest-ok; else check="FAIL(exit=$T_EXIT,got=${got:-none})"; fi
  local actions=-
  case "$tool" in image-promote*)  # what the tool says it did with each blob (--json)
    actions=$(jq -r '.blobs | "copied=\(.copied),mounted=\(.mounted),skipped=\(.skipped)"' "$OUT/runs/$label.stdout" 2>/dev/null || echo "?") ;;
  esac
  record "$sc" "$tool" "$run" "$check" "$dreq" "$sreq" "$scpu" "$dcpu" "$(cut -f1 <<<"$dst")" "$(cut -f1 <<<"$src")" \
    "$(cut -f2 <<<"$dst")" "$(cut -f3 <<<"$src")" "$actions"
  if [ "$check" != digest-ok ]; then
    log "!!!!! $sc $tool run $run: $check (want $want); stderr: $OUT/runs/$label.stderr"
    tail -n 5 "$OUT/runs/$label.stderr" >&2 || true
    FAILS+=("$sc/$tool/$run: $check")
    case "$tool" in
      image-promote*) [ "$keep_going" = 1 ] || { summarize; die "image-promote copy failed its digest check ($sc run $run)"; } ;;
    esac
  fi
}

# rotate RUN tool... -> the tools, rotated by RUN-1 (so no tool always goes first)
rotate() { local r=$1 n; shift; n=$#; local a=("$@") i; for ((i = 0; i < n; i++)); do echo "${a[$(((i + r - 1) % n))]}"; done; }

# attempt RESET -- command...: RESET (a command, ':' for none), then the command; again (up to
# RETRY_NOISY times) while other processes used > 0.5 CPU-s during it. The noisy line in results.tsv is
# kept, commented out with '#'.
NOISY_RETRIES=0
attempt() {
  local reset=$1 tries=0; shift 2
  while :; do
    $reset
    "$@"
    if [ "$tries" -lt "$RETRY_NOISY" ] && awk -v o="${LAST_OTHER:-0}" 'BEGIN{exit !(o > 0.5)}'; then
      sed -i '$ s/^/#/' "$RES"; tries=$((tries + 1)); NOISY_RETRIES=$((NOISY_RETRIES + 1))
      log "re-running: a neighbour used ${LAST_OTHER} CPU-s (attempt $((tries + 1)) of $((RETRY_NOISY + 1)))"
    else
      return 0
    fi
  done
}


# ------------------------------------------------------------------ scenarios
run_xreg() {  # run_xreg SCENARIO IMAGE TOOLS [skopeo extra args]
  local sc=$1 img=$2 tools=$3 i t order; shift 3
  for i in $(seq 1 "$RUNS"); do
    mapfile -t order < <(IFS=,; rotate "$i" $tools)
    for t in "${order[@]}"; do
      attempt "reset_instance production" -- \
        copy_tool "$sc" "$t" "$i" staging production "$PROD" "$STAGING/app/$img:1.0" "app/$img" "${SRC_DIGEST[$img]}" plain "$@"
    done
  done
}
seed_prod_big() {  # untimed: production = exactly app/big:1.0 (copied by skopeo)
  reset_instance production
  skopeo_argv "$(fresh_cache seed)"
  "${SKOPEO[@]}" copy -q "${SK_PLAIN[@]}" "docker://$STAGING/app/big:1.0" "docker://$PROD/app/big:1.0" >/dev/null
  [ "$(manifest_digest "$PROD" app/big 1.0)" = "${SRC_DIGEST[big]}" ] || die "seeding production with app/big failed"
}
run_xrepo() {
  local sc=$1 i t order
  seed_prod_big
  for i in $(seq 1 "$RUNS"); do
    mapfile -t order < <(IFS=,; rotate "$i" image-promote $PEER_LIST)
    for t in "${order[@]}"; do
      attempt "drop_repo production promoted" -- \
        copy_tool "$sc" "$t" "$i" production production "$PROD" "$PROD/app/big:1.0" promoted/big "${SRC_DIGEST[big]}" plain
    done
  done
}
run_recopy() {
  local sc=$1 i t order
  seed_prod_big
  for i in $(seq 1 "$RUNS"); do
    mapfile -t order < <(IFS=,; rotate "$i" image-promote $PEER_LIST)
    for t in "${order[@]}"; do
      attempt : -- copy_tool "$sc" "$t" "$i" staging production "$PROD" "$STAGING/app/big:1.0" app/big "${SRC_DIGEST[big]}" plain
    done
  done
}
run_secure() {  # run_secure SCENARIO IMAGE TOOLS
  local sc=$1 img=$2 tools=$3 i t order
  for i in $(seq 1 "$RUNS"); do
    mapfile -t order < <(IFS=,; rotate "$i" $tools)
    for t in "${order[@]}"; do
      attempt "reset_instance secure" -- \
        copy_tool "$sc" "$t" "$i" staging secure "$SECURE" "$STAGING/app/$img:1.0" "app/$img" "${SRC_DIGEST[$img]}" secure
    done
  done
}
sweep_tools() { local c s=""; for c in ${SWEEP//,/ }; do s="$s${s:+,}image-promote -c$c"; done; echo "$s"; }

HAS_CHECK=0
"$IP" --help 2>/dev/null | grep -qE '^ +check( |$)' && HAS_CHECK=1
run_verify() {
  local sc=verify-big i t order cfg layers f bytes argv=()
  local vdir=$OUT/verify; mkdir -p "$vdir"
  cfg=$REG_HARNESS_DIR/build/oci/blobs/sha256/${SRC_DIGEST[big]#sha256:}
  [ -s "$cfg" ] || die "verify-big: manifest blob $cfg missing from the fixture build"
  layers=$(jq -r '.layers[].digest' "$cfg")
  : >"$vdir/layers.bin"
  for f in $layers; do cat "$REG_HARNESS_DIR/build/oci/blobs/sha256/${f#sha256:}" >>"$vdir/layers.bin"; done
  bytes=$(stat -c %s "$vdir/layers.bin")
  VERIFY_BYTES=$bytes
  cat "$vdir/layers.bin" >/dev/null   # page cache warm, like the registry's blob files
  local tools="sha256sum,openssl"
  if [ "$HAS_CHECK" = 1 ]; then
    tools="$tools,image-promote check"
    argv=("${IP_ENV[@]}" "$IP" check "$STAGING/app/big:1.0" --deep)
    "$IP" check --help 2>/dev/null | grep -q -- '--insecure-registr' && argv+=(--insecure-registries "$STAGING")
    "$IP" check --help 2>/dev/null | grep -q -- '--no-docker-config' && argv+=(--no-docker-config)
  else
    log "verify-big: this image-promote has no 'check' command: n/a"
  fi
  VERIFY_ARGV=("${argv[@]}") VERIFY_FILE=$vdir/layers.bin
  for i in $(seq 1 "$RUNS"); do
    mapfile -t order < <(IFS=,; rotate "$i" $tools)
    for t in "${order[@]}"; do attempt : -- verify_one "$t" "$i"; done
  done
  rm -f "$vdir/layers.bin"
}

verify_one() {  # verify_one TOOL RUN
  local sc=verify-big t=$1 i=$2 label="verify-big.${1// /_}.$2" s0 s1 check=ok
  s0=$(cpu_ticks staging)
  case "$t" in
    sha256sum) timed "$label" -- sha256sum "$VERIFY_FILE" ;;
    openssl) timed "$label" -- openssl dgst -sha256 "$VERIFY_FILE" ;;
    "image-promote check") timed "$label" -- "${VERIFY_ARGV[@]}" ;;
  esac
  s1=$(cpu_ticks staging)
  [ "$T_EXIT" = 0 ] || { check="FAIL(exit=$T_EXIT)"; FAILS+=("$sc/$t/$i: $check"); }
  record "$sc" "$t" "$i" "$check" - - "$(ticks_s "$s0" "$s1")" 0 - - - -
}

bin_kind() {  # bin_kind FILE -> "ELF ..., dynamically linked: libs | statically linked; stripped"
  local lk libs
  libs=$(ldd "$1" 2>/dev/null | awk '$1 ~ /^lib/{print $1}' | paste -sd' ' || true)
  if [ -n "$libs" ]; then lk="dynamically linked: $libs"; else lk="statically linked"; fi
  echo "$(file -b "$1" | cut -d, -f1,2); $lk; $(file -b "$1" | grep -q 'not stripped' && echo "not stripped" || echo stripped)"
}
startup_of() {  # startup_of FILE NAME -> sets S_MED S_MIN S_MAX S_METHOD (ms)
  local f=$1 name=$2
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 10 --runs 200 --export-json "$OUT/startup.$name.json" "$f --version" >"$OUT/startup.$name.txt" 2>&1 \
      || hyperfine --shell=none --warmup 10 --runs 200 --export-json "$OUT/startup.$name.json" "$f --version" >"$OUT/startup.$name.txt" 2>&1
    S_METHOD="hyperfine -N, 200 runs"
    read -r S_MED S_MIN S_MAX < <(jq -r '.results[0] | "\(.median * 1000) \(.min * 1000) \(.max * 1000)"' "$OUT/startup.$name.json")
  else
    local i t0 t1
    : >"$OUT/startup.$name.txt"
    for i in $(seq 1 20); do
      t0=$(date +%s%N); "$f" --version >/dev/null; t1=$(date +%s%N)
      echo $(((t1 - t0) / 1000)) >>"$OUT/startup.$name.txt"
    done
    S_METHOD="loop of 20 (hyperfine not installed; includes bash fork/exec)"
    read -r S_MED S_MIN S_MAX < <(sort -n "$OUT/startup.$name.txt" | awk '{a[NR] = $1 / 1000} END{printf "%s %s %s\n", (a[10] + a[11]) / 2, a[1], a[NR]}')
  fi
}
run_startup() {  # --version start time and size of the benchmarked binary and, if built, the static (musl) one
  local name f
  : >"$OUT/startup.tsv"
  for name in dynamic static; do
    f=$IP; [ "$name" = dynamic ] || f=$STATIC_IP
    [ -n "$f" ] && [ -x "$f" ] || continue
    startup_of "$f" "$name"
    printf '%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\n' "$name" "$(stat -c %s "$f")" "$(bin_kind "$f")" "$S_METHOD" "$S_MED" "$S_MIN" "$S_MAX" >>"$OUT/startup.tsv"
    log "startup ($name): median ${S_MED} ms ($S_METHOD); $(stat -c %s "$f") bytes ($(bin_kind "$f"))"
    STARTUP_MED=$S_MED STARTUP_KIND=$name
  done
  # The action's image (Dockerfile: FROM scratch + the static binary + a CA bundle): its size is the
  # static binary plus the CA bundle; the registry stores the gzip'ed layer.
  IMAGE_BYTES="" IMAGE_GZ=""
  if [ -n "$STATIC_IP" ] && [ -s /etc/ssl/certs/ca-certificates.crt ]; then
    local d=$OUT/image-estimate
    rm -rf "$d"; mkdir -p "$d/etc/ssl/certs"
    cp "$STATIC_IP" "$d/image-promote"; cp /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/"
    IMAGE_BYTES=$(du -sb --apparent-size "$d" | cut -f1)
    IMAGE_GZ=$(tar -C "$d" -cf - image-promote etc | gzip -6 | wc -c)
    rm -rf "$d"
    log "container image (estimate): $IMAGE_BYTES bytes uncompressed, $IMAGE_GZ bytes as a gzip layer"
  fi
}

# ------------------------------------------------------------------ run
T_START=$(date -u +%FT%TZ)
PEER_LIST=${PEERS// /,}
SC_ARGS_MULTI=(--all)
for sc in $ALL; do
  selected "$sc" || continue
  log "===== scenario $sc"
  case "$sc" in
    xreg-small) run_xreg "$sc" small "image-promote,$PEER_LIST" ;;
    xreg-multi) run_xreg "$sc" multi "image-promote,$PEER_LIST" "${SC_ARGS_MULTI[@]}" ;;
    xreg-big)   run_xreg "$sc" big "image-promote,$PEER_LIST,floor" ;;
    xreg-many)  run_xreg "$sc" many "image-promote,image-promote promote,$PEER_LIST,floor" ;;
    xrepo-big-fresh) run_xrepo "$sc" ;;
    recopy-big) run_recopy "$sc" ;;
    secure-big)  run_secure "$sc" big "image-promote,$PEER_LIST" ;;
    secure-many) run_secure "$sc" many "image-promote,$PEER_LIST" ;;
    verify-big) run_verify ;;
    conc-xreg-many) run_xreg "$sc" many "$(sweep_tools)" ;;
    conc-secure-many) run_secure "$sc" many "$(sweep_tools)" ;;
    startup) run_startup ;;
  esac
done
T_END=$(date -u +%FT%TZ)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
summarize

save_meta
write_report
log "results: $RES ; stats: $OUT/stats.tsv ; per-run details: $OUT/runs/"
[ ${#FAILS[@]} -eq 0 ] || { log "FAILED runs: ${#FAILS[@]}"; exit 1; }
