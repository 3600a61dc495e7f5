# shellcheck shell=bash
# bench/tools.sh — the tools bench/run.sh times, and how each one is invoked (sourced by run.sh after
# the registries are up). Needs OUT, STAGING, PROD, SECURE, HARNESS, IP, REG_SECURE_USER/PASSWORD.
#   image-promote          `copy --json` (or `promote` with the default policy's checks: "image-promote promote")
#   skopeo 1.9.3           as uid 65534 with a new, empty blob-info cache per run (a fresh CI runner)
#   crane 0.20.7, oras 1.3.3   the static Go binaries scripts/harness/fetch-peers.sh unpacks from Debian sid
#                          into $IMAGE_PROMOTE_PEERS/bin (default /tmp/image-promote-peers/bin); both log in to
#                          the TLS + basic-auth registry once with their own `login` into a private config
#                          file, and trust the harness CA (crane: SSL_CERT_FILE; oras: --ca-file). Defaults
#                          otherwise (crane: plain HTTP fallback for loopback registries; oras: --*-plain-http).
#   floor                  scripts/harness/floor-copy.sh (curl GET | PUT of every blob, all at once)

PEER_BIN=${IMAGE_PROMOTE_PEERS:-/tmp/image-promote-peers}/bin
PEERS="skopeo crane oras"   # the peers whose best median a scenario's image-promote is judged against

tools_setup() {
  if ! [ -x "$PEER_BIN/crane" ] || ! [ -x "$PEER_BIN/oras" ]; then
    log "crane/oras missing in $PEER_BIN: running scripts/harness/fetch-peers.sh --no-ferro"
    "$HARNESS/fetch-peers.sh" --no-ferro >"$OUT/fetch-peers.log" 2>&1 || { tail -n 20 "$OUT/fetch-peers.log" >&2; die "fetch-peers.sh failed"; }
  fi
  CRANE_VERSION=$(awk '$1=="crane"{print $2}' "$PEER_BIN/../debian-versions.txt" 2>/dev/null || true)
  ORAS_VERSION=$("$PEER_BIN/oras" version 2>/dev/null | awk '/^Version:/{print $2}')
  SKHOME=$OUT/skopeo-home
  POLICY=$OUT/policy.json
  printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$POLICY"
  rm -rf "$SKHOME"; mkdir -p "$SKHOME/run" "$SKHOME/tmp" "$SKHOME/caches"
  chmod 0700 "$SKHOME/run"; chmod 0644 "$POLICY"
  AS_NOBODY=()
  if [ "$(id -u)" = 0 ]; then AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups); chown -R 65534:65534 "$SKHOME"; fi
  SK_PLAIN=(--src-tls-verify=false --dest-tls-verify=false)
  SK_SECURE=(--src-tls-verify=false --dest-cert-dir "$(secure_certdir)" --dest-creds "$REG_SECURE_USER:$REG_SECURE_PASSWORD")
  # image-promote: plain HTTP only for the two harness HTTP registries; the secure one is verified with the CA.
  IP_ENV=(env -u RUST_LOG DOCKER_CONFIG=/nonexistent-docker-config)
  IP_PLAIN=(--no-docker-config --insecure-registries "$STAGING,$PROD")
  IP_SECURE=(--no-docker-config --insecure-registries "$STAGING" --ca-cert "$(secure_cacert)" --dest-creds "$REG_SECURE_USER:$REG_SECURE_PASSWORD")
  # crane and oras: a private HOME and config each, logged in once (untimed) to the secure registry.
  local ch=$OUT/crane-home oh=$OUT/oras-home
  rm -rf "$ch" "$oh"; mkdir -p "$ch/docker" "$oh"
  CRANE=(env -i PATH=/usr/bin:/bin HOME="$ch" DOCKER_CONFIG="$ch/docker" SSL_CERT_FILE="$(secure_cacert)" "$PEER_BIN/crane")
  ORAS=(env -i PATH=/usr/bin:/bin HOME="$oh" "$PEER_BIN/oras")
  ORAS_AUTH=$oh/auth.json
  printf '%s\n' "$REG_SECURE_PASSWORD" | "${CRANE[@]}" auth login "$SECURE" -u "$REG_SECURE_USER" --password-stdin >"$OUT/crane-login.log" 2>&1 \
    || { cat "$OUT/crane-login.log" >&2; die "crane auth login $SECURE failed"; }
  printf '%s\n' "$REG_SECURE_PASSWORD" | "${ORAS[@]}" login "$SECURE" -u "$REG_SECURE_USER" --password-stdin \
    --ca-file "$(secure_cacert)" --registry-config "$ORAS_AUTH" >"$OUT/oras-login.log" 2>&1 \
    || { cat "$OUT/oras-login.log" >&2; die "oras login $SECURE failed"; }
  ORAS_PLAIN=(--from-plain-http --to-plain-http)
  ORAS_SECURE=(--from-plain-http --to-ca-file "$(secure_cacert)" --to-registry-config "$ORAS_AUTH")
  PROMOTE_AUDIT=$OUT/promote-audit
}
fresh_cache() {  # fresh_cache NAME -> new empty XDG_DATA_HOME (skopeo's blob-info cache lives below it)
  local d="$SKHOME/caches/$1"; rm -rf "$d"; mkdir -p "$d"
  [ ${#AS_NOBODY[@]} -eq 0 ] || chown 65534:65534 "$d"
  echo "$d"
}
skopeo_argv() {  # skopeo_argv CACHE_DIR -> array SKOPEO (an exec chain: /usr/bin/time measures skopeo itself)
  SKOPEO=("${AS_NOBODY[@]}"
    env HOME="$SKHOME" XDG_DATA_HOME="$1" XDG_RUNTIME_DIR="$SKHOME/run" XDG_CONFIG_HOME="$SKHOME/config"
    skopeo --tmpdir "$SKHOME/tmp" --policy "$POLICY")
}

# copy_tool SC TOOL RUN SRC_INST DST_INST DST_HOST SRC_REF DST_REPO WANT MODE [skopeo extra args]
# MODE: plain | secure. TOOL: image-promote[ -cN] | image-promote promote | skopeo | crane | oras | floor
copy_tool() {
  local sc=$1 tool=$2 run=$3 si=$4 di=$5 dh=$6 sref=$7 drepo=$8 want=$9 mode=${10}; shift 10
  local cache ipargs=() skargs=() orargs=() conc=()
  if [ "$mode" = secure ]; then ipargs=("${IP_SECURE[@]}"); skargs=("${SK_SECURE[@]}"); orargs=("${ORAS_SECURE[@]}")
  else ipargs=("${IP_PLAIN[@]}"); skargs=("${SK_PLAIN[@]}"); orargs=("${ORAS_PLAIN[@]}"); fi
  case "$tool" in
    "image-promote promote")  # the default policy's checks + copy + verify + audit record
      rm -rf "$PROMOTE_AUDIT"; mkdir -p "$PROMOTE_AUDIT"
      one_copy "$sc" "$tool" "$run" "$si" "$di" "$dh" "$drepo" "$want" -- \
        "${IP_ENV[@]}" "$IP" promote "${ipargs[@]}" --audit-dir "$PROMOTE_AUDIT" "$sref" "$dh/$drepo:1.0" ;;
    image-promote*)
      case "$tool" in *" -c"*) conc=(--concurrency "${tool##* -c}") ;; esac
      one_copy "$sc" "$tool" "$run" "$si" "$di" "$dh" "$drepo" "$want" -- \
        "${IP_ENV[@]}" "$IP" copy --json "${conc[@]}" "${ipargs[@]}" "$sref" "$dh/$drepo:1.0" ;;
    skopeo)
      cache=$(fresh_cache "$sc.$run")
      skopeo_argv "$cache"
      one_copy "$sc" "$tool" "$run" "$si" "$di" "$dh" "$drepo" "$want" -- \
        "${SKOPEO[@]}" copy "${skargs[@]}" "$@" "docker://$sref" "docker://$dh/$drepo:1.0" ;;
    crane)  # copies every platform of an index by default
      one_copy "$sc" "$tool" "$run" "$si" "$di" "$dh" "$drepo" "$want" -- \
        "${CRANE[@]}" copy "$sref" "$dh/$drepo:1.0" ;;
    oras)   # copies the whole graph (an index with its manifests) by default
      one_copy "$sc" "$tool" "$run" "$si" "$di" "$dh" "$drepo" "$want" -- \
        "${ORAS[@]}" cp "${orargs[@]}" "$sref" "$dh/$drepo:1.0" ;;
    floor)  # staging -> production only
      local src_repo=${sref#*/}; src_repo=${src_repo%:*}
      one_copy "$sc" "$tool" "$run" "$si" "$di" "$dh" "$drepo" "$want" -- \
        env REG_STAGING_PORT="$REG_STAGING_PORT" REG_PRODUCTION_PORT="$REG_PRODUCTION_PORT" \
        bash "$HARNESS/floor-copy.sh" "$src_repo" 1.0 "$drepo" ;;
  esac
}
