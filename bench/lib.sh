# shellcheck shell=bash
# bench/lib.sh — measurement helpers for bench/run.sh (sourced after scripts/harness/lib.sh).
# Needs: OUT (results dir), RES (results.tsv), CLK_TCK.

sync_quiet() { sync || true; }

# Machine busy ticks (user nice system irq softirq steal) from /proc/stat.
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# busy_fraction SECS -> fraction (0..1) of all CPUs busy over SECS seconds.
busy_fraction() {
  local a b
  a=$(awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
  sleep "$1"
  b=$(awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN{split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.2f", (d > 0 ? (y[1] - x[1]) / d : 0)}'
}

# cpu_ticks INSTANCE -> utime+stime of our registry process (ticks), 0 if not running.
cpu_ticks() {
  local pid; pid=$(running_pid "$1")
  if [ -n "$pid" ]; then awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$pid/stat"; else echo 0; fi
}
ticks_s() { awk -v a="$1" -v b="$2" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (b - a) / t}'; }

# timed LABEL -- command...  -> sets T_WALL T_RSS T_USER T_SYS T_EXIT T_BUSY (never fails).
# stdout -> $OUT/runs/LABEL.stdout, stderr -> LABEL.stderr, time -v -> LABEL.time.
timed() {
  local label=$1; shift 2
  local tf="$OUT/runs/$label.time" t0 t1 b0 b1
  sync_quiet
  b0=$(busy_ticks)
  t0=$(date +%s%N)
  set +e
  /usr/bin/time -v -o "$tf" "$@" </dev/null >"$OUT/runs/$label.stdout" 2>"$OUT/runs/$label.stderr"
  T_EXIT=$?
  set -e
  t1=$(date +%s%N)
  b1=$(busy_ticks)
  T_BUSY=$(ticks_s "$b0" "$b1")
  T_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b - a) / 1e9}')
  T_RSS=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf"); T_RSS=${T_RSS:-0}
  T_USER=$(awk -F': ' '/User time \(seconds\)/{print $2}' "$tf"); T_USER=${T_USER:-0}
  T_SYS=$(awk -F': ' '/System time \(seconds\)/{print $2}' "$tf"); T_SYS=${T_SYS:-0}
}

# Registry log slices (the lines a registry wrote during one timed run).
log_off() { stat -c %s "$(inst_log "$1")" 2>/dev/null || echo 0; }
log_slice() { tail -c +"$(($2 + 1))" "$(inst_log "$1")"; }
# nreq FILE -> number of requests the registry answered: its access-log lines (the "response completed"
# lines miss the requests refused with 401 before authentication, which are logged as a warning).
ACCESS_RE='^[0-9a-fA-F.:]+ - [^ ]+ \[[^]]+\] "[A-Z]+ '
nreq() { grep -cE "$ACCESS_RE" "$1" || true; }

# reqstats < registry log slice -> "COUNTS<TAB>MAXPAR_PATCH/BLOBS_IN_FLIGHT<TAB>MAXPAR_GET_BLOB"
# (same parser as scripts/harness/bench-peers.sh). MAXPAR_PATCH: most upload-body requests (PATCH, or a
# PUT that carries the body) overlapping; BLOBS_IN_FLIGHT: most blobs between their first HEAD and their
# final upload PUT (or 201 mount).
reqstats() {
  local tmp; tmp=$(mktemp "$OUT/runs/reqstats.XXXXXX")
  awk -v iv="$tmp" '
    function dur(s,   t, v, u) {  # Go duration string ("1.5ms", "653.599µs", "1m2.5s") -> seconds
      gsub(/"/, "", s); t = 0
      while (match(s, /^[0-9.]+/)) {
        v = substr(s, 1, RLENGTH) + 0; s = substr(s, RLENGTH + 1)
        if (match(s, /^[^0-9.]+/)) { u = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1) } else u = "s"
        if (u == "ns") t += v / 1e9; else if (u == "ms") t += v / 1e3; else if (u == "s") t += v
        else if (u == "m") t += v * 60; else if (u == "h") t += v * 3600; else t += v / 1e6
      }
      return t
    }
    /^[0-9a-fA-F.:]+ - [^ ]+ \[[^]]+\] "[A-Z]+ [^"]*" 401 / { c["401"]++; next }
    /msg="response completed( with error)?"/ {
      ts = ""; m = ""; u = ""; d = 0; st = ""; ct = ""
      if (match($0, /time="[^"]+"/)) ts = substr($0, RSTART + 6, RLENGTH - 7)
      split(substr(ts, 12), hms, ":"); sub(/Z$/, "", hms[3])
      end = hms[1] * 3600 + hms[2] * 60 + hms[3]
      if (match($0, /http\.request\.method=[A-Z]+/)) m = substr($0, RSTART + 20, RLENGTH - 20)
      if (match($0, /http\.request\.uri=("[^"]*"|[^ ]+)/)) u = substr($0, RSTART + 17, RLENGTH - 17)
      if (match($0, /http\.response\.duration=("[^"]*"|[^ ]+)/)) d = dur(substr($0, RSTART + 23, RLENGTH - 23))
      if (match($0, /http\.response\.status=[0-9]+/)) st = substr($0, RSTART + 21, RLENGTH - 21)
      k = ""; dg = ""
      if (match(u, /sha256(:|%3A)[0-9a-f]+/)) { dg = substr(u, RSTART, RLENGTH); sub(/%3A/, ":", dg) }
      if (dg != "" && m == "HEAD" && u ~ /\/blobs\//) { if (!(dg in first) || end - d < first[dg]) first[dg] = end - d }
      if (dg != "" && m == "PUT" && u ~ /\/blobs\/uploads\//) last[dg] = end
      if (dg != "" && m == "POST" && u ~ /mount=/ && st == 201) last[dg] = end
      if (u ~ /^"?\/v2\/"?$/) k = "ping"
      else if (u ~ /\/blobs\/uploads\//) {
        if (m == "POST" && u ~ /mount=/) k = (st == 201 ? "mount_ok" : "mount_miss")
        else if (m == "POST") k = "post"
        else if (m == "PATCH") { k = "patch"; printf "U %.6f %.6f\n", end - d, end > iv }
        else if (m == "PUT") { k = "put_blob"; if (d > 0.005) printf "U %.6f %.6f\n", end - d, end > iv }
      }
      else if (u ~ /\/blobs\//) { k = tolower(m) "_blob"; if (m == "GET") printf "G %.6f %.6f\n", end - d, end > iv }
      else if (u ~ /\/manifests\//) k = tolower(m) "_manifest"
      else k = tolower(m) "_other"
      if (k != "") c[k]++
    }
    END {
      for (x in last) if (x in first) printf "L %.6f %.6f\n", first[x], last[x] > iv
      n = split("401 ping head_blob get_blob post mount_ok mount_miss patch put_blob head_manifest get_manifest put_manifest", order, " ")
      s = ""
      for (i = 1; i <= n; i++) if (order[i] in c) { s = s (s == "" ? "" : ",") order[i] "=" c[order[i]]; delete c[order[i]] }
      for (k in c) s = s (s == "" ? "" : ",") k "=" c[k]
      printf "%s", (s == "" ? "-" : s)
    }'
  printf '\t%s/%s\t%s\n' "$(maxpar U "$tmp")" "$(maxpar L "$tmp")" "$(maxpar G "$tmp")"
  rm -f "$tmp"
}
maxpar() {  # maximum number of overlapping intervals of kind $1
  awk -v k="$1" '$1==k{print $2, 1; print $3, -1}' "$2" | sort -k1,1n -k2,2n \
    | awk 'BEGIN{c=0;m=0} {c+=$2; if(c>m)m=c} END{print m}'
}
