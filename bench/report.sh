# shellcheck shell=bash
# bench/report.sh — renders bench/run.sh's results (sourced by run.sh): summarize -> DIR/stats.tsv and
# DIR/summary.md; targets -> the issue-7 target table; report -> the full Markdown (RESULTS.md).
# Needs OUT, RES, IP, BENCH, RESULTS and the run's metadata (DIR/meta.sh after a run).

# ------------------------------------------------------------------ summary
summarize() {
  local SUM=$OUT/summary.md STATS=$OUT/stats.tsv
  # stats.tsv: one line per (scenario, tool) in first-seen order
  awk -F'\t' '
    function med(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
      return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
    }
    NR == 1 || /^#/ { next }
    {
      key = $1 SUBSEP $2
      if (!(key in n)) { order[++nk] = key }
      k = ++n[key]
      w[key, k] = $4 + 0; rss[key, k] = $5 + 0; cpu[key, k] = $6 + $7
      dr[key, k] = $10; sr[key, k] = $11; sc[key, k] = $12 + 0; dc[key, k] = $13 + 0; oc[key, k] = $14 + 0
      if ($9 !~ /ok$/) bad[key]++
    }
    END {
      print "scenario\ttool\tn\tmedian_s\tmin_s\tmax_s\tmax_rss_mib\ttool_cpu_s\tsrc_reg_cpu_s\tdst_reg_cpu_s\tdst_requests\tsrc_requests\tother_cpu_max_s\tfailed"
      for (x = 1; x <= nk; x++) {
        key = order[x]; m = n[key]; split(key, kk, SUBSEP)
        mn = w[key, 1]; mx = w[key, 1]; rm = 0; om = 0
        for (i = 1; i <= m; i++) {
          ww[i] = w[key, i]; cc[i] = cpu[key, i]; s1[i] = sc[key, i]; d1[i] = dc[key, i]
          if (ww[i] < mn) mn = ww[i]; if (ww[i] > mx) mx = ww[i]
          if (rss[key, i] > rm) rm = rss[key, i]; if (oc[key, i] > om) om = oc[key, i]
        }
        if (dr[key, 1] == "-") { drq = "-" } else { for (i = 1; i <= m; i++) q[i] = dr[key, i] + 0; drq = med(q, m) }
        if (sr[key, 1] == "-" || sr[key, 1] == "same") { srq = sr[key, 1] } else { for (i = 1; i <= m; i++) q[i] = sr[key, i] + 0; srq = med(q, m) }
        printf "%s\t%s\t%d\t%.3f\t%.3f\t%.3f\t%.1f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%.2f\t%d\n", kk[1], kk[2], m, med(ww, m), mn, mx,
          rm / 1024, med(cc, m), med(s1, m), med(d1, m), drq, srq, om, bad[key] + 0
      }
    }' "$RES" >"$STATS"

  {
    echo "| scenario | tool | median s | min s | max s | image-promote / skopeo | **vs best peer** | vs reference | peak RSS MiB | tool CPU s | registry CPU s src / dst | requests dst / src | other_cpu_s max | runs |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    awk -F'\t' -v vbytes="${VERIFY_BYTES:-0}" -v peers="${PEERS:-skopeo}" '
      BEGIN { np = split(peers, pl, " "); for (i = 1; i <= np; i++) ispeer[pl[i]] = 1 }
      NR == FNR { if (FNR > 1) { med[$1, $2] = $4; if (($2 in ispeer) && (!($1 in best) || $4 < best[$1])) { best[$1] = $4; bestn[$1] = $2 } } ; next }
      FNR == 1 { next }
      {
        sc = $1; tool = $2; base = sc; sub(/^conc-/, "", base)
        ratio = ""; ref = ""
        if (tool ~ /^image-promote/ && (base, "skopeo") in med && med[base, "skopeo"] > 0) ratio = sprintf("%.2f", $4 / med[base, "skopeo"])
        vbest = ""
        if (tool ~ /^image-promote/ && (base in best) && best[base] > 0) vbest = sprintf("**%.2f** (%s)", $4 / best[base], bestn[base])
        if ((sc == "xreg-big" || sc == "xreg-many") && (sc, "floor") in med && med[sc, "floor"] > 0 && tool != "floor") ref = sprintf("%.2f × floor", $4 / med[sc, "floor"])
        if (sc == "verify-big") {
          if (vbytes > 0 && $4 > 0) ref = sprintf("%.0f MB/s", vbytes / 1e6 / $4)
          if (tool != "openssl" && (sc, "openssl") in med && $4 > 0) ref = ref sprintf(", %.2f × openssl", med[sc, "openssl"] / $4)
        }
        reg = (sc == "verify-big") ? (tool ~ /image-promote/ ? sprintf("%.2f / -", $9) : "-") : ($12 == "same" ? sprintf("(one) %.2f", $10) : sprintf("%.2f / %.2f", $9, $10))
        req = ($11 == "-") ? "-" : ($12 == "same" ? $11 " (one registry)" : $11 " / " $12)
        flag = ($13 > 0.5) ? " *" : ""
        runs = ($14 > 0) ? $14 " of " $3 " FAILED" : $3 " ok"
        printf "| %s | %s | %.3f | %.3f | %.3f | %s | %s | %s | %.1f | %.2f | %s | %s | %.2f%s | %s |\n", sc, tool, $4, $5, $6, ratio, vbest, ref, $7, $8, reg, req, $13, flag, runs
      }' "$STATS" "$STATS"
    if [ -s "$OUT/startup.tsv" ]; then
      echo
      echo "| binary | size | kind | \`--version\` start time |"
      echo "|---|---:|---|---|"
      awk -F'\t' '{ printf "| %s | %.2f MiB | %s | median %s ms, min %s ms, max %s ms (%s) |\n", ($1 == "static" ? "static (musl), as in the container image" : "release (the one benchmarked above)"), $2 / 1048576, $3, $5, $6, $7, $4 }' "$OUT/startup.tsv"
      [ -z "${IMAGE_BYTES:-}" ] || printf '\nContainer image (estimate: the Dockerfile puts only the static binary and a CA bundle on `scratch`): %.1f MB uncompressed, %.1f MB as a gzip layer.\n' \
        "$(awk -v b="$IMAGE_BYTES" 'BEGIN{print b / 1e6}')" "$(awk -v b="$IMAGE_GZ" 'BEGIN{print b / 1e6}')"
    fi
    echo
    echo "Requests seen by the registries in run 1 (ping = GET /v2/; post = upload start; patch = upload body; put_blob = upload end, with the body when no PATCH came first; mount_ok = POST ?mount= answered 201; 401 = refused with the basic-auth challenge; uploads / blobs in flight = most upload bodies at once / most blobs between their first HEAD and their final PUT):"
    echo
    echo "| scenario | tool | destination | source | uploads / blobs in flight | source GETs in flight | image-promote's blob actions |"
    echo "|---|---|---|---|---:|---:|---|"
    awk -F'\t' 'NR > 1 && !/^#/ && $3 == 1 && $15 != "-" { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $15, $16, $17, $18, $19 }' "$RES"
    targets
  } >"$SUM"
}

targets() {  # the issue-7 targets, judged from stats.tsv
  local STATS=$OUT/stats.tsv
  echo
  echo "Issue-7 targets (this run):"
  echo
  echo "| target | measured | holds? |"
  echo "|---|---|---|"
  awk -F'\t' -v vbytes="${VERIFY_BYTES:-0}" -v st="${STARTUP_MED:-}" -v sk="${STARTUP_KIND:-}" -v img="${IMAGE_BYTES:-0}" -v imggz="${IMAGE_GZ:-0}" -v binb="$( [ -f "$IP" ] && stat -c %s "$IP" || echo 0)" '
    NR > 1 { med[$1, $2] = $4; if ($7 > maxrss[$1]) { maxrss[$1] = $7 } ; if ($2 ~ /^image-promote/ && $7 > iprss) { iprss = $7; iprss_sc = $1 } ; seen[$1, $2] = 1 }
    function row(name, have, val, ok, unit) {
      if (!have) { printf "| %s | not measured | - |\n", name; return }
      printf "| %s | %s | %s |\n", name, val, (ok ? "yes" : "**no**")
    }
    function ratio(sc, a, b,   h) { return ((sc, a) in med && (sc, b) in med && med[sc, b] > 0) ? med[sc, a] / med[sc, b] : -1 }
    END {
      r = ratio("xreg-big", "image-promote", "floor"); row("xreg-big ≤ 1.1 × floor", r >= 0, sprintf("%.2f × floor (%.2f s vs %.2f s)", r, med["xreg-big", "image-promote"], med["xreg-big", "floor"]), r <= 1.1)
      r = ratio("xreg-many", "image-promote", "skopeo"); row("xreg-many ≤ 0.5 × skopeo", r >= 0, sprintf("%.2f ×", r), r <= 0.5)
      r = ratio("secure-many", "image-promote", "skopeo"); row("secure-many ≤ 0.5 × skopeo", r >= 0, sprintf("%.2f ×", r), r <= 0.5)
      r = ratio("xrepo-big-fresh", "image-promote", "skopeo"); row("xrepo-big-fresh ≤ 0.05 × skopeo", r >= 0, sprintf("%.3f ×", r), r <= 0.05)
      r = ratio("recopy-big", "image-promote", "skopeo"); row("recopy-big ≤ 1.0 × skopeo", r >= 0, sprintf("%.2f ×", r), r <= 1.0)
      row("peak RSS ≤ 64 MiB (image-promote, every scenario)", iprss > 0, sprintf("max %.1f MiB (%s)", iprss, iprss_sc), iprss <= 64)
      if (("verify-big", "image-promote check") in med) {
        r = med["verify-big", "openssl"] / med["verify-big", "image-promote check"]
        row("verify-big throughput ≥ 0.8 × openssl", 1, sprintf("%.2f × (%.0f vs %.0f MB/s)", r, vbytes / 1e6 / med["verify-big", "image-promote check"], vbytes / 1e6 / med["verify-big", "openssl"]), r >= 0.8)
      } else if (("verify-big", "openssl") in med) printf "| verify-big throughput ≥ 0.8 × openssl | n/a: no `image-promote check --deep` yet | - |\n"
      else row("verify-big throughput ≥ 0.8 × openssl", 0)
      row("`--version` in < 20 ms", st != "", sprintf("%.2f ms median (%s binary)", st, sk), st + 0 < 20)
      if (img > 0) row("container image < 20 MB", 1, sprintf("≈ %.1f MB uncompressed (static binary + CA bundle on scratch), %.1f MB gzipped; estimate, not a built image", img / 1e6, imggz / 1e6), img < 20e6)
      else printf "| container image < 20 MB | not measured (no static binary); the release binary alone is %.1f MB | - |\n", binb / 1e6
    }' "$STATS"
  echo
  echo "Issue-15 targets (this run; best peer = the fastest median of ${PEERS:-skopeo} in the same scenario):"
  echo
  echo "| target | measured | holds? |"
  echo "|---|---|---|"
  awk -F'\t' -v peers="${PEERS:-skopeo}" '
    BEGIN { np = split(peers, pl, " "); for (i = 1; i <= np; i++) ispeer[pl[i]] = 1 }
    NR > 1 { med[$1, $2] = $4; if (($2 in ispeer) && (!($1 in best) || $4 < best[$1])) { best[$1] = $4; bestn[$1] = $2 } }
    function vs(sc, tool, lim, name,   r) {
      if (!((sc, tool) in med) || !(sc in best)) { printf "| %s | not measured | - |\n", name; return }
      r = med[sc, tool] / best[sc]
      printf "| %s | %.2f × %s (%.3f s vs %.3f s) | %s |\n", name, r, bestn[sc], med[sc, tool], best[sc], (r <= lim ? "yes" : "**no**")
    }
    END {
      n = split("xreg-small xreg-multi xreg-big xreg-many xrepo-big-fresh recopy-big secure-big secure-many", sc, " ")
      for (i = 1; i <= n; i++) vs(sc[i], "image-promote", 0.95, sc[i] " copy ≤ 0.95 × best peer")
      if (("xreg-big", "floor") in med) printf "| (xreg-big: the registries floor, curl GET \\| PUT) | floor %.3f s = %.2f × best peer | - |\n", med["xreg-big", "floor"], med["xreg-big", "floor"] / best["xreg-big"]
      if (("xreg-many", "floor") in med) printf "| (xreg-many: the registries floor, curl POST, GET, PUT per blob at --concurrency 8) | floor %.3f s = %.2f × best peer; image-promote %.2f × floor | %s |\n", med["xreg-many", "floor"], med["xreg-many", "floor"] / best["xreg-many"], med["xreg-many", "image-promote"] / med["xreg-many", "floor"], (med["xreg-many", "image-promote"] <= med["xreg-many", "floor"] ? "≤ 1.0 × floor: yes" : "≤ 1.0 × floor: **no**")
      vs("xreg-many", "image-promote", 0.6, "xreg-many copy ≤ 0.6 × best peer")
      vs("secure-many", "image-promote", 0.6, "secure-many copy ≤ 0.6 × best peer")
      vs("xreg-many", "image-promote promote", 1.0, "xreg-many `promote` (default checks) ≤ 1.0 × best peer copy")
    }' "$STATS"
}

# ------------------------------------------------------------------ report
report() {
  local noisy
  noisy=$(awk -F'\t' 'NR > 1 && !/^#/ && $14 > 0.5' "$RES" | wc -l)
  echo "# image-promote benchmark results"
  echo
  echo "Generated by \`$CMDLINE\` from $T_START to $T_END. Per-run data: \`results.tsv\` in the results dir ($OUT)."
  echo
  echo "## Machine"
  echo
  echo "- $(nproc) CPUs: $(lscpu | awk -F': +' '/^Model name/{print $2; exit}'), SHA-NI: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no), AVX-512: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)"
  echo "- memory: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r); $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
  echo "- docker-registry $(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null) ($("$REG_REGISTRY_BIN" --version 2>/dev/null | awk '{print $NF}')); skopeo $(dpkg-query -W -f='${Version}' skopeo 2>/dev/null); crane ${CRANE_VERSION:-?}; oras ${ORAS_VERSION:-?}; openssl $(openssl version | awk '{print $2}'); coreutils $(sha256sum --version | awk 'NR==1{print $NF}')"
  echo "- $IP_VERSION, git $GIT_REV ($GIT_STATE), binary sha256 $IP_SHA…, $(rustc --version 2>/dev/null || echo 'rustc ?')"
  echo "- registries: $([ "$shared" = 1 ] && echo "the shared harness ones" || echo "private instances") (staging $STAGING, production $PROD, secure $SECURE), storage under $REG_HARNESS_DIR"
  echo "- load average at start $LOAD_START, at end $LOAD_END; kept runs with other_cpu_s > 0.5: $noisy of $(grep -vc '^#' "$RES" | awk '{print $1 - 1}'); runs re-done because a neighbour used > 0.5 CPU-s: $NOISY_RETRIES (at most $RETRY_NOISY per run)"
  echo
  echo "**Noise caveat.** This is a shared 2-vCPU VM; the registries' own CPU dominates the big copies. \`other_cpu_s\` is the"
  echo "CPU-seconds the machine spent on processes other than the tool and the registries during a run (from /proc/stat);"
  echo "values above 0.5 are marked \`*\` and mean a neighbour (e.g. a cargo build) competed for the CPUs. Single runs vary"
  echo "by ±20 %; compare medians and ratios within one invocation, and re-run at a quiet moment before trusting small"
  echo "differences."
  echo
  echo "Method: $RUNS runs per tool and scenario; registries, tools and hashing at niceness $NICE;"
  echo "a run during which other processes used > 0.5 CPU-s is done again (at most $RETRY_NOISY times); tools alternate (order rotated each run); destination reset before every"
  echo "copy as in scripts/harness/bench-peers.sh (cross-registry: wipe storage + restart; cross-repo: delete the repository"
  echo "+ restart; recopy: nothing); \`sync\` before each timed command; skopeo as uid 65534 with a new empty blob-info cache"
  echo "per run; crane and oras (static Go binaries from Debian sid, scripts/harness/fetch-peers.sh) at their defaults, logged in to the"
  echo "TLS registry once with their own \`login\` and trusting the harness CA (bench/tools.sh); \`image-promote promote\` runs the default policy's checks; wall time from nanosecond clocks, peak RSS and CPU from \`/usr/bin/time -v\`; requests = access-log lines"
  echo "in each registry's log for that run (medians; (one registry) = source and destination are the same registry); every copy's destination Docker-Content-Digest checked against the source."
  echo "floor = scripts/harness/floor-copy.sh (xreg-big: every blob piped curl GET | PUT, all at once; xreg-many: three curl processes, every POST, then every GET, then every PUT, 8 at a time over kept-alive connections; wall time of the whole script)."
  if [ -n "${VERIFY_BYTES:-}" ]; then
    echo "verify-big hashes the 4 app/big layers ($(awk -v b="$VERIFY_BYTES" 'BEGIN{printf "%.0f", b/1e6}') MB) concatenated in a page-cached temp file;"
    echo "\`image-promote check --deep\` $([ "$HAS_CHECK" = 1 ] && echo "fetches the same layers from staging and hashes them" || echo "does not exist in this build: n/a")."
  fi
  echo
  echo "## Results"
  echo
  cat "$OUT/summary.md"
  if [ ${#FAILS[@]} -gt 0 ]; then echo; echo "**Failed runs:**"; printf -- '- %s\n' "${FAILS[@]}"; fi
  if [ -s "$BENCH/notes.md" ]; then echo; cat "$BENCH/notes.md"; fi
}
save_meta() {  # what --report-only needs to render the report again
  { declare -p CMDLINE T_START T_END LOAD_START LOAD_END IP_VERSION IP_SHA GIT_REV GIT_STATE shared STAGING PROD SECURE \
    REG_HARNESS_DIR RUNS NICE RETRY_NOISY NOISY_RETRIES VERIFY_BYTES HAS_CHECK STARTUP_MED STARTUP_KIND CRANE_VERSION ORAS_VERSION PEERS IMAGE_BYTES IMAGE_GZ FAILS 2>/dev/null || true; } \
    | sed 's/^declare -a /declare -ga /; s/^declare -- /declare -g /; s/^declare -i /declare -gi /' >"$OUT/meta.sh"
}
write_report() {
  report >"$OUT/report.md"
  cat "$OUT/report.md"
  if [ -n "$RESULTS" ]; then cp "$OUT/report.md" "$RESULTS"; log "wrote $RESULTS"; fi
}
