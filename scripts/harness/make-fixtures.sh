#!/usr/bin/env bash
# make-fixtures.sh — build realistic, deterministic test images by hand (OCI layout JSON + tar/tar.gz
# layers hashed with sha256sum) and push them with plain HTTP calls (curl, monolithic blob uploads)
# to a registry (default: the harness "staging" registry, 127.0.0.1:5000).
#
# Images (repository:tag):
#   app/small:1.0         OCI manifest, linux/amd64, 3 gzip layers (incl. a whiteout), full config:
#                         Entrypoint, Cmd, User 1000:1000, Env, WorkingDir, ExposedPorts, StopSignal,
#                         OCI labels (source, revision, version, created, title, ...), history
#   app/multi:1.0         OCI image index: linux/amd64 + linux/arm64/v8 (per-arch base layer + shared layer)
#   app/big:1.0           OCI manifest, 4 gzip layers of 256 MiB seeded random (incompressible) data, ~1 GiB
#   app/many:1.0          OCI manifest, 200 small gzip layers
#   app/docker:1.0        Docker v2 schema 2 manifest (application/vnd.docker.distribution.manifest.v2+json)
#   app/nolabels:1.0      OCI manifest; config has no Labels, no Entrypoint/Cmd, no User (=> runs as root)
#   app/corrupt:1.0       layer blob's stored bytes tampered in registry storage (same size, wrong sha256)
#   app/corrupt:missing-blob   layer blob's data file deleted from registry storage (HEAD/GET -> 404)
# "Fails exactly one check" fixtures: app/small's recipe (same layers, OCI labels, Entrypoint/Cmd,
# User 1000:1000, linux/amd64, history matching the layers) with ONE thing changed:
#   app/noentry:1.0       no Entrypoint and no Cmd
#   app/root:1.0          no User (runs as root);  app/root:explicit  User "root"
#   app/wrongarch:1.0     linux/s390x (its base + app layers are the s390x variants)
#   app/oversized:1.0     extra 3 MiB incompressible gzip layer (image ~3.2 MiB)
# Other shapes:
#   app/multi:amd64-only  OCI index holding only app/multi:1.0's linux/amd64 child (same child digest)
#   app/zstd:1.0          OCI, one tar+zstd layer and one uncompressed tar layer (needs the zstd command)
#   app/artifact:1.0      OCI artifact: artifactType application/vnd.example.sbom.v1, config
#                         application/vnd.example.config.v1+json ({}), one application/spdx+json layer,
#                         subject = app/small:1.0's manifest (also pushed into app/artifact by digest)
#   app/nested:1.0        OCI index whose entries are app/multi:1.0's index (an index in an index) and
#                         app/small:1.0's manifest; children pushed into app/nested by digest first
#   app/foreign:1.0       [only with --only foreign] Docker v2s2 with a foreign layer (urls:
#                         https://example.invalid/layer.tar.gz) whose blob is NOT pushed (it is in the local
#                         OCI layout) + a normal gzip layer. The harness registries REFUSE it (HTTP 500 "invalid
#                         URL on layer" / MANIFEST_BLOB_UNKNOWN): distribution 2.8 accepts layer URLs only if
#                         its config sets validation.manifests.urls.allow.
# (corrupt images need write access to the registry's storage dir; the registry is restarted afterwards
#  so its in-memory blob-descriptor cache does not hide the damage.)
#
# Everything except the random payload is fixed (mtime 2024-01-01, uid/gid, modes, sorted tar entries,
# gzip -n), and the random payload is AES-256-CTR keystream under a key derived from a fixed seed, so
# digests are identical run to run (given the same GNU tar / gzip versions).
#
# Usage: make-fixtures.sh [--registry HOST:PORT] [--secure] [--only small,multi,...] [--rebuild] [--no-push]
#   --registry HOST:PORT  push target (default 127.0.0.1:$REG_STAGING_PORT, plain HTTP)
#   --secure              push to the harness TLS+auth registry (127.0.0.1:$REG_SECURE_PORT)
#   --only LIST           subset of: small,multi,big,many,docker,nolabels,corrupt,noentry,root,wrongarch,
#                         oversized,multi-amd64,zstd,artifact,nested; opt-in: foreign (not in the default set)
#                         (an image's dependencies, e.g. small for artifact, are built if missing, pushed by digest)
#   --rebuild             rebuild images even if cached in $REG_HARNESS_DIR/build/oci
#   --no-push             only build the OCI layout
# Outputs: $REG_HARNESS_DIR/build/oci (an OCI image layout with every image; ref names "small-1.0", ...),
#          $REG_HARNESS_DIR/build/digests.tsv (ref, digest, media type, total bytes), one line per pushed image on stdout.
set -euo pipefail
shopt -s inherit_errexit
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
umask 022
export LC_ALL=C TZ=UTC

registry="" use_secure=0 only="" rebuild=0 push=1
while [ $# -gt 0 ]; do
  case "$1" in
    --registry) registry=$2; shift 2 ;;
    --registry=*) registry=${1#*=}; shift ;;
    --secure) use_secure=1; shift ;;
    --only) only=$2; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    --rebuild) rebuild=1; shift ;;
    --no-push) push=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
ALL_IMAGES="small multi big many docker nolabels corrupt noentry root wrongarch oversized multi-amd64 zstd artifact nested"
# Only with --only: distribution 2.8 refuses manifests with layer URLs unless its config sets
# validation.manifests.urls.allow (the harness registries do not), so app/foreign cannot be pushed to them.
OPT_IN_IMAGES="foreign"
images=${only:-$ALL_IMAGES}; images=${images//,/ }
for i in $images; do case " $ALL_IMAGES $OPT_IN_IMAGES " in *" $i "*) ;; *) die "unknown image '$i'";; esac; done
need jq; need curl; need tar; need gzip; need sha256sum coreutils; need openssl

CURL=(curl -sS --retry 2)
if [ "$use_secure" = 1 ]; then
  registry=127.0.0.1:$REG_SECURE_PORT
  BASE=https://$registry
  CURL+=(--cacert "$(secure_cacert)" -u "$REG_SECURE_USER:$REG_SECURE_PASSWORD")
else
  registry=${registry:-127.0.0.1:$REG_STAGING_PORT}
  BASE=http://$registry
fi
# Which harness instance (if any) owns the target, for the storage-level corruption step.
target_inst=""
for n in $REG_ALL_INSTANCES; do [ "$registry" = "127.0.0.1:$(inst_port "$n")" ] && target_inst=$n; done

BUILD=$REG_HARNESS_DIR/build
OCI=$BUILD/oci
BLOBS=$OCI/blobs/sha256
REFS=$BUILD/refs
WORK=$BUILD/work
mkdir -p "$BLOBS" "$REFS" "$WORK"
printf '{"imageLayoutVersion":"1.0.0"}' >"$OCI/oci-layout"

EPOCH=1704067200                 # 2024-01-01T00:00:00Z
CREATED=2024-01-01T00:00:00Z
MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
MT_OCI_LAYER_GZ=application/vnd.oci.image.layer.v1.tar+gzip
MT_DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
MT_DOCKER_CONFIG=application/vnd.docker.container.image.v1+json
MT_DOCKER_LAYER_GZ=application/vnd.docker.image.rootfs.diff.tar.gzip
MT_DOCKER_LAYER_FOREIGN=application/vnd.docker.image.rootfs.foreign.diff.tar.gzip
MT_OCI_LAYER=application/vnd.oci.image.layer.v1.tar
MT_OCI_LAYER_ZSTD=application/vnd.oci.image.layer.v1.tar+zstd

# ------------------------------------------------------------------ building blocks
sha() { sha256sum "$1" | cut -d' ' -f1; }

# rand_bytes SEED N — N bytes of AES-256-CTR keystream keyed by sha256(SEED): incompressible, reproducible.
rand_bytes() {
  local key; key=$(printf '%s' "$1" | sha256sum | cut -c1-64)
  head -c "$2" /dev/zero | openssl enc -aes-256-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000
}

# store_blob FILE — move FILE into the layout's blob store; prints "sha256:<hex> <size>".
store_blob() {
  local f=$1 h s
  h=$(sha "$f"); s=$(stat -c %s "$f")
  if [ -f "$BLOBS/$h" ]; then rm -f "$f"; else mv "$f" "$BLOBS/$h"; fi
  echo "sha256:$h $s"
}

# store_json JSON — store compact JSON bytes exactly as given (no trailing newline); prints "digest size".
store_json() {
  local t; t=$(mktemp "$WORK/json.XXXXXX")
  printf '%s' "$1" >"$t"
  store_blob "$t"
}

# make_layer DIR [gzip-level] — deterministic tar of DIR's contents (entries sorted, no "./" prefix,
# numeric owners as set on disk, fixed mtime, ustar), gzipped. Prints "digest size diff_id".
make_layer() {
  local dir=$1 level=${2:-6} tarf gz diffid entries
  tarf=$(mktemp "$WORK/layer.XXXXXX.tar"); gz="$tarf.gz"
  # shellcheck disable=SC2012  # layer trees hold only plain file names
  mapfile -t entries < <(cd "$dir" && ls -A | sort)
  tar --create --file="$tarf" --directory="$dir" --format=ustar --sort=name --numeric-owner \
      --mtime="@$EPOCH" --no-acls --no-xattrs --no-selinux -- "${entries[@]}"
  diffid=sha256:$(sha "$tarf")
  gzip -n "-$level" -c "$tarf" >"$gz"
  rm -f "$tarf"
  echo "$(store_blob "$gz") $diffid"
}

# make_layer_as DIR none|zstd — same tar as make_layer, stored uncompressed (blob digest = diff_id) or
# compressed with zstd (level 3, one thread, checksum; deterministic for a given zstd version).
# Prints "digest size diff_id".
make_layer_as() {
  local dir=$1 comp=$2 tarf out diffid entries
  tarf=$(mktemp "$WORK/layer.XXXXXX.tar")
  # shellcheck disable=SC2012  # layer trees hold only plain file names
  mapfile -t entries < <(cd "$dir" && ls -A | sort)
  tar --create --file="$tarf" --directory="$dir" --format=ustar --sort=name --numeric-owner \
      --mtime="@$EPOCH" --no-acls --no-xattrs --no-selinux -- "${entries[@]}"
  diffid=sha256:$(sha "$tarf")
  case "$comp" in
    none) out=$tarf ;;
    zstd) out=$tarf.zst
          zstd -q -3 -T1 --check --no-progress -c "$tarf" >"$out"
          rm -f "$tarf" ;;
    *) die "make_layer_as: unknown compression '$comp'" ;;
  esac
  echo "$(store_blob "$out") $diffid"
}

# fresh_dir NAME — empty staging directory for a layer's file tree.
fresh_dir() { local d="$WORK/tree-$1"; rm -rf "$d"; mkdir -p "$d"; echo "$d"; }

put_file() {  # put_file ROOT PATH MODE UID:GID CONTENT
  local root=$1 p=$2 mode=$3 own=$4
  mkdir -p "$root/$(dirname "$p")"
  printf '%s' "$5" >"$root/$p"
  chmod "$mode" "$root/$p"; chown "$own" "$root/$p"
}
put_dir() { mkdir -p "$1/$2"; chmod "$3" "$1/$2"; chown "$4" "$1/$2"; }

labels_json() {  # labels_json NAME VERSION -> JSON object of OCI annotation-style labels
  local rev; rev=$(printf 'reg-harness/%s/%s' "$1" "$2" | sha1sum | cut -c1-40)
  jq -cn --arg n "$1" --arg v "$2" --arg rev "$rev" --arg c "$CREATED" '{
    "org.opencontainers.image.created": $c,
    "org.opencontainers.image.description": ("reg-harness fixture image " + $n),
    "org.opencontainers.image.licenses": "Apache-2.0",
    "org.opencontainers.image.revision": $rev,
    "org.opencontainers.image.source": "https://github.com/example/image-promote-fixtures",
    "org.opencontainers.image.title": $n,
    "org.opencontainers.image.vendor": "reg-harness",
    "org.opencontainers.image.version": $v
  }'
}

# Shared base root filesystem layer (tiny distro-like tree). $1 = arch tag for per-arch variants.
base_tree() {
  local arch=${1:-amd64} r; r=$(fresh_dir "base-$arch")
  put_dir  "$r" etc 0755 0:0
  put_file "$r" etc/passwd 0644 0:0 $'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\napp:x:1000:1000:app:/app:/usr/sbin/nologin\n'
  put_file "$r" etc/group 0644 0:0 $'root:x:0:\nnogroup:x:65534:\napp:x:1000:\n'
  put_file "$r" etc/os-release 0644 0:0 $'NAME="reg-harness base"\nID=reg-harness\nVERSION_ID=1\nPRETTY_NAME="reg-harness base 1 ('"$arch"$')"\n'
  put_file "$r" etc/motd 0644 0:0 $'built by reg-harness make-fixtures.sh\n'
  put_file "$r" etc/hosts 0644 0:0 $'127.0.0.1 localhost\n'
  put_file "$r" etc/ssl/certs/README 0644 0:0 $'placeholder for a CA bundle\n'
  put_dir  "$r" tmp 1777 0:0
  put_dir  "$r" root 0700 0:0
  put_dir  "$r" usr/bin 0755 0:0
  put_dir  "$r" var/log 0755 0:0
  rand_bytes "base-libc-$arch" 49152 | base64 -w 76 >"$r/usr/lib.fixture-libc.so.b64"
  chmod 0644 "$r/usr/lib.fixture-libc.so.b64"; chown 0:0 "$r/usr/lib.fixture-libc.so.b64"
  find "$r" -mindepth 1 -type d ! -path "$r/tmp" ! -path "$r/root" -exec chmod 0755 {} +
  echo "$r"
}

# app_tree NAME ARCH — application layer owned by uid 1000.
app_tree() {
  local n=$1 arch=$2 r; r=$(fresh_dir "app-$n-$arch")
  put_dir  "$r" app 0755 1000:1000
  put_dir  "$r" app/bin 0755 1000:1000
  put_file "$r" app/bin/server 0755 1000:1000 $'#!/bin/sh\n# reg-harness fixture entrypoint ('"$n/$arch"$')\nexec /usr/bin/env sh -c \'echo "serving on :${APP_PORT:-8080}"; sleep infinity\'\n'
  put_dir  "$r" app/lib 0755 1000:1000
  rand_bytes "app-$n-$arch" 98304 | base64 -w 76 >"$r/app/lib/payload-$arch.b64"
  chmod 0644 "$r/app/lib/payload-$arch.b64"; chown 1000:1000 "$r/app/lib/payload-$arch.b64"
  echo "$r"
}

# config_json ARCH [VARIANT] ENTRYPOINT_JSON CMD_JSON USER LABELS_JSON DIFFIDS_JSON HISTORY_JSON EXTRA_CONFIG_JSON
image_config() {
  jq -cn --arg created "$CREATED" --arg arch "$1" --arg variant "$2" \
     --argjson ep "$3" --argjson cmd "$4" --arg user "$5" --argjson labels "$6" \
     --argjson diffids "$7" --argjson history "$8" --argjson extra "$9" '
    {created: $created, author: "reg-harness", architecture: $arch}
    + (if $variant != "" then {variant: $variant} else {} end)
    + {os: "linux",
       config: ( (if $user != "" then {User: $user} else {} end)
               + {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
               + (if $ep != null then {Entrypoint: $ep} else {} end)
               + (if $cmd != null then {Cmd: $cmd} else {} end)
               + (if $labels != null then {Labels: $labels} else {} end)
               + $extra ),
       rootfs: {type: "layers", diff_ids: $diffids},
       history: $history}'
}

hist() {  # hist CREATED_BY [empty] -> one history entry
  if [ "${2:-}" = empty ]; then
    jq -cn --arg c "$CREATED" --arg b "$1" '{created: $c, created_by: $b, empty_layer: true}'
  else
    jq -cn --arg c "$CREATED" --arg b "$1" '{created: $c, created_by: $b, comment: "reg-harness"}'
  fi
}

# oci_manifest MEDIATYPE CONFIG_MT CONFIG_DIGEST CONFIG_SIZE LAYER_MT LAYERS("digest size" lines) [ANNOTATIONS_JSON]
manifest_json() {
  local mt=$1 cmt=$2 cd=$3 cs=$4 lmt=$5 layers=$6 ann=${7:-null}
  jq -cn --arg mt "$mt" --arg cmt "$cmt" --arg cd "$cd" --argjson cs "$cs" --arg lmt "$lmt" \
         --arg layers "$layers" --argjson ann "$ann" '
    {schemaVersion: 2, mediaType: $mt,
     config: {mediaType: $cmt, digest: $cd, size: $cs},
     layers: [ $layers | split("\n")[] | select(length > 0) | split(" ")
               | {mediaType: $lmt, digest: .[0], size: (.[1] | tonumber)} ]}
    + (if $ann != null then {annotations: $ann} else {} end)'
}

# record_ref NAME "digest size" MEDIATYPE
record_ref() { echo "$2 $3" >"$REFS/$1"; }
ref_cached() { [ "$rebuild" = 0 ] && [ -f "$REFS/$1" ] && [ -f "$BLOBS/$(cut -d' ' -f1 "$REFS/$1" | cut -d: -f2)" ]; }

# small_config_tree — app/small's third layer: app config + a whiteout of /etc/motd.
small_config_tree() {
  local cfgt; cfgt=$(fresh_dir small-config)
  put_dir  "$cfgt" app 0755 1000:1000
  put_dir  "$cfgt" app/config 0755 1000:1000
  put_file "$cfgt" app/config/app.yaml 0640 1000:1000 $'listen: ":8080"\nmetrics: ":9090"\nlog_level: info\n'
  put_file "$cfgt" app/VERSION 0644 1000:1000 $'1.0.0\n'
  put_dir  "$cfgt" etc 0755 0:0
  put_file "$cfgt" etc/.wh.motd 0644 0:0 ""        # whiteout: deletes /etc/motd from the base layer
  echo "$cfgt"
}

# have_ref NAME — the ref and its manifest blob exist in the layout (whatever --rebuild says).
have_ref() { [ -f "$REFS/$1" ] && [ -f "$BLOBS/$(cut -d' ' -f1 "$REFS/$1" | cut -d: -f2)" ]; }
# need_ref NAME IMAGE — build IMAGE first if a builder depends on ref NAME and it is not in the layout.
need_ref() { have_ref "$1" || { log "build $2 (needed by a later image)"; "build_${2//-/_}"; }; }

# layers_json — stdin lines "MEDIATYPE DIGEST SIZE [URL]" -> JSON array of layer descriptors.
layers_json() {
  jq -cR 'split(" ") | {mediaType: .[0], digest: .[1], size: (.[2] | tonumber)}
                     + (if length > 3 then {urls: [.[3]]} else {} end)' | jq -cs .
}

# ------------------------------------------------------------------ image builders
build_small() {  # -> refs/small-1.0
  local base app cfgt l1 l2 l3 d1 d2 d3 c m labels hist_j extra
  base=$(base_tree amd64)
  app=$(app_tree small amd64)
  cfgt=$(small_config_tree)
  _o=$(make_layer "$base"); read -r l1 s1 d1 <<<"$_o"
  _o=$(make_layer "$app"); read -r l2 s2 d2 <<<"$_o"
  _o=$(make_layer "$cfgt"); read -r l3 s3 d3 <<<"$_o"
  labels=$(labels_json small 1.0.0)
  hist_j=$(jq -cn --argjson a "$(hist 'ADD base-amd64.tar / # reg-harness')" \
                 --argjson b "$(hist 'ENV APP_ENV=production APP_PORT=8080' empty)" \
                 --argjson c "$(hist 'COPY app/ /app/ # reg-harness')" \
                 --argjson d "$(hist 'COPY config/ /app/config/ && rm /etc/motd # reg-harness')" \
                 --argjson e "$(hist 'USER 1000:1000' empty)" \
                 --argjson f "$(hist 'EXPOSE 8080/tcp 9090/tcp' empty)" \
                 --argjson g "$(hist 'ENTRYPOINT ["/app/bin/server"] CMD ["--port","8080"]' empty)" \
                 '[$a,$b,$c,$d,$e,$f,$g]')
  extra=$(jq -cn '{Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP_ENV=production","APP_PORT=8080"],
                   ExposedPorts: {"8080/tcp": {}, "9090/tcp": {}}, WorkingDir: "/app", StopSignal: "SIGTERM"}')
  c=$(image_config amd64 "" '["/app/bin/server"]' '["--port","8080"]' 1000:1000 "$labels" \
        "$(jq -cn --arg a "$d1" --arg b "$d2" --arg c "$d3" '[$a,$b,$c]')" "$hist_j" "$extra")
  _o=$(store_json "$c"); read -r cd cs <<<"$_o"
  m=$(manifest_json $MT_OCI_MANIFEST $MT_OCI_CONFIG "$cd" "$cs" $MT_OCI_LAYER_GZ $'\n'"$l1 $s1"$'\n'"$l2 $s2"$'\n'"$l3 $s3" \
        "$(jq -cn --arg c "$CREATED" '{"org.opencontainers.image.created": $c}')")
  record_ref small-1.0 "$(store_json "$m")" $MT_OCI_MANIFEST
}

build_multi() {  # -> refs/multi-1.0 (index) ; per-arch manifests are only referenced by digest
  local shared ls ss ds arch variant base app lb sb db la sa da c m idx_entries="" labels
  shared=$(fresh_dir multi-shared)
  put_dir  "$shared" app 0755 1000:1000
  put_dir  "$shared" app/static 0755 1000:1000
  rand_bytes "multi-shared-assets" 65536 | base64 -w 76 >"$shared/app/static/assets.b64"
  chmod 0644 "$shared/app/static/assets.b64"; chown 1000:1000 "$shared/app/static/assets.b64"
  _o=$(make_layer "$shared"); read -r ls ss ds <<<"$_o"
  labels=$(labels_json multi 1.0.0)
  for arch in amd64 arm64; do
    variant=""; [ "$arch" = arm64 ] && variant=v8
    base=$(base_tree "$arch"); app=$(app_tree multi "$arch")
    _o=$(make_layer "$base"); read -r lb sb db <<<"$_o"
    _o=$(make_layer "$app"); read -r la sa da <<<"$_o"
    c=$(image_config "$arch" "$variant" '["/app/bin/server"]' '["--port","8080"]' 1000:1000 "$labels" \
          "$(jq -cn --arg a "$db" --arg b "$da" --arg c "$ds" '[$a,$b,$c]')" \
          "$(jq -cn --argjson a "$(hist "ADD base-$arch.tar /")" --argjson b "$(hist 'COPY app/ /app/')" --argjson c "$(hist 'COPY static/ /app/static/')" '[$a,$b,$c]')" \
          '{"ExposedPorts":{"8080/tcp":{}},"WorkingDir":"/app"}')
    _o=$(store_json "$c"); read -r cd cs <<<"$_o"
    m=$(manifest_json $MT_OCI_MANIFEST $MT_OCI_CONFIG "$cd" "$cs" $MT_OCI_LAYER_GZ $'\n'"$lb $sb"$'\n'"$la $sa"$'\n'"$ls $ss")
    _o=$(store_json "$m"); read -r md ms <<<"$_o"
    idx_entries+=$(jq -cn --arg mt $MT_OCI_MANIFEST --arg d "$md" --argjson s "$ms" --arg a "$arch" --arg v "$variant" \
      '{mediaType: $mt, digest: $d, size: $s, platform: ({architecture: $a, os: "linux"} + (if $v != "" then {variant: $v} else {} end))}')$'\n'
  done
  m=$(printf '%s' "$idx_entries" | jq -cs --arg mt $MT_OCI_INDEX --arg c "$CREATED" \
        '{schemaVersion: 2, mediaType: $mt, manifests: ., annotations: {"org.opencontainers.image.created": $c, "org.opencontainers.image.version": "1.0.0"}}')
  record_ref multi-1.0 "$(store_json "$m")" $MT_OCI_INDEX
}

build_big() {  # 4 x 256 MiB random layers, built two at a time (gzip on random data is ~40 MB/s)
  local i r pids=() layers="" diffids=() c m hist_j
  for i in 1 2 3 4; do
    (
      r=$(fresh_dir "big-$i")
      put_dir "$r" data 0755 0:0
      rand_bytes "reg-harness-big-layer-$i" 268435456 >"$r/data/blob-$i.bin"
      chmod 0644 "$r/data/blob-$i.bin"; chown 0:0 "$r/data/blob-$i.bin"
      make_layer "$r" 1 >"$WORK/big-$i.out"
      rm -rf "$r"
    ) &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  done
  for p in "${pids[@]}"; do wait "$p"; done
  for i in 1 2 3 4; do
    read -r l s d <"$WORK/big-$i.out"
    layers+=$'\n'"$l $s"; diffids+=("$d")
  done
  hist_j=$(jq -cn '[range(1;5) | {created: "2024-01-01T00:00:00Z", created_by: ("COPY blob-\(.).bin /data/"), comment: "reg-harness"}]')
  c=$(image_config amd64 "" '["/bin/sh"]' '["-c","ls -l /data"]' 1000:1000 "$(labels_json big 1.0.0)" \
        "$(printf '%s\n' "${diffids[@]}" | jq -R . | jq -cs .)" "$hist_j" '{}')
  _o=$(store_json "$c"); read -r cd cs <<<"$_o"
  m=$(manifest_json $MT_OCI_MANIFEST $MT_OCI_CONFIG "$cd" "$cs" $MT_OCI_LAYER_GZ "$layers")
  record_ref big-1.0 "$(store_json "$m")" $MT_OCI_MANIFEST
}

build_many() {  # 200 small layers
  local i r l s d layers="" diffid_lines="" c m
  for i in $(seq -w 1 200); do
    r=$(fresh_dir many)
    put_dir  "$r" data 0755 0:0
    put_file "$r" "data/layer-$i.txt" 0644 0:0 "layer $i of 200"$'\n'"$(rand_bytes "many-$i" 768 | base64 -w 64)"$'\n'
    _o=$(make_layer "$r"); read -r l s d <<<"$_o"
    layers+=$'\n'"$l $s"; diffid_lines+="$d"$'\n'
  done
  c=$(image_config amd64 "" '["/bin/sh"]' '["-c","cat /data/*"]' 1000:1000 "$(labels_json many 1.0.0)" \
        "$(printf '%s' "$diffid_lines" | jq -R . | jq -cs .)" \
        "$(jq -cn '[range(1;201) | {created: "2024-01-01T00:00:00Z", created_by: ("COPY layer-\(.).txt /data/")}]')" '{}')
  _o=$(store_json "$c"); read -r cd cs <<<"$_o"
  m=$(manifest_json $MT_OCI_MANIFEST $MT_OCI_CONFIG "$cd" "$cs" $MT_OCI_LAYER_GZ "$layers")
  record_ref many-1.0 "$(store_json "$m")" $MT_OCI_MANIFEST
}

build_docker() {  # Docker v2 schema 2 manifest + Docker image config media types; base layer shared with app/small
  local base app l1 s1 d1 l2 s2 d2 c m
  base=$(base_tree amd64); app=$(app_tree docker amd64)
  _o=$(make_layer "$base"); read -r l1 s1 d1 <<<"$_o"
  _o=$(make_layer "$app"); read -r l2 s2 d2 <<<"$_o"
  c=$(image_config amd64 "" '["/app/bin/server"]' '["--port","8080"]' 1000:1000 "$(labels_json docker 1.0.0)" \
        "$(jq -cn --arg a "$d1" --arg b "$d2" '[$a,$b]')" \
        "$(jq -cn --argjson a "$(hist 'ADD base-amd64.tar /')" --argjson b "$(hist 'COPY app/ /app/')" '[$a,$b]')" \
        '{"ExposedPorts":{"8080/tcp":{}},"WorkingDir":"/app"}')
  c=$(jq -c '. + {docker_version: "24.0.7"}' <<<"$c")
  _o=$(store_json "$c"); read -r cd cs <<<"$_o"
  # Docker schema 2 manifests carry no annotations.
  m=$(manifest_json $MT_DOCKER_MANIFEST $MT_DOCKER_CONFIG "$cd" "$cs" $MT_DOCKER_LAYER_GZ $'\n'"$l1 $s1"$'\n'"$l2 $s2")
  record_ref docker-1.0 "$(store_json "$m")" $MT_DOCKER_MANIFEST
}

build_nolabels() {
  local r l s d c m
  r=$(fresh_dir nolabels)
  put_dir  "$r" opt 0755 0:0
  put_file "$r" opt/tool.sh 0755 0:0 $'#!/bin/sh\necho "no labels here"\n'
  _o=$(make_layer "$r"); read -r l s d <<<"$_o"
  c=$(image_config amd64 "" null null "" null "$(jq -cn --arg a "$d" '[$a]')" \
        "$(jq -cn --argjson a "$(hist 'COPY tool.sh /opt/')" '[$a]')" '{}')
  _o=$(store_json "$c"); read -r cd cs <<<"$_o"
  m=$(manifest_json $MT_OCI_MANIFEST $MT_OCI_CONFIG "$cd" "$cs" $MT_OCI_LAYER_GZ $'\n'"$l $s")
  record_ref nolabels-1.0 "$(store_json "$m")" $MT_OCI_MANIFEST
}

build_corrupt() {  # two images; each has its own unique 1 MiB payload layer (never shared with other fixtures)
  local v r l s d c m
  for v in 1.0 missing-blob; do
    r=$(fresh_dir "corrupt-$v")
    put_dir "$r" data 0755 0:0
    rand_bytes "reg-harness-corrupt-$v" 1048576 >"$r/data/payload.bin"
    chmod 0644 "$r/data/payload.bin"; chown 0:0 "$r/data/payload.bin"
    _o=$(make_layer "$r"); read -r l s d <<<"$_o"
    c=$(image_config amd64 "" '["/bin/true"]' null 1000:1000 "$(labels_json corrupt "$v")" \
          "$(jq -cn --arg a "$d" '[$a]')" "$(jq -cn --argjson a "$(hist 'COPY payload.bin /data/')" '[$a]')" '{}')
    _o=$(store_json "$c"); read -r cd cs <<<"$_o"
    m=$(manifest_json $MT_OCI_MANIFEST $MT_OCI_CONFIG "$cd" "$cs" $MT_OCI_LAYER_GZ $'\n'"$l $s")
    record_ref "corrupt-$v" "$(store_json "$m")" $MT_OCI_MANIFEST
  done
}

# small_variant NAME TAG MODE — app/small's recipe with exactly one thing changed, recorded as ref NAME-TAG.
#   MODE noentry: no Entrypoint, no Cmd | nouser: no User | rootuser: User "root" |
#        s390x: architecture s390x (s390x base + app layers) | oversized: extra 3 MiB incompressible layer
# Layers other than those are byte-identical to app/small's, so they dedupe in the registry.
declare -A SMALL_LAYERS=()
small_variant() {
  local name=$1 tag=$2 mode=$3 arch=amd64 ep='["/app/bin/server"]' cmd='["--port","8080"]' user=1000:1000
  local base app cfgt big l1 s1 d1 l2 s2 d2 l3 s3 d3 l4 s4 d4 layers diffids hs=() hist_j extra c m
  case "$mode" in
    noentry) ep=null; cmd=null ;;
    nouser) user="" ;;
    rootuser) user=root ;;
    s390x) arch=s390x ;;
    oversized) ;;
    *) die "small_variant: unknown mode $mode" ;;
  esac
  if [ -z "${SMALL_LAYERS[$arch]:-}" ]; then   # the three layers are the same for every variant of one arch
    base=$(base_tree "$arch"); app=$(app_tree small "$arch"); cfgt=$(small_config_tree)
    SMALL_LAYERS[$arch]="$(make_layer "$base") $(make_layer "$app") $(make_layer "$cfgt")"
  fi
  read -r l1 s1 d1 l2 s2 d2 l3 s3 d3 <<<"${SMALL_LAYERS[$arch]}"
  layers=$'\n'"$l1 $s1"$'\n'"$l2 $s2"$'\n'"$l3 $s3"
  diffids=$(jq -cn --arg a "$d1" --arg b "$d2" --arg c "$d3" '[$a,$b,$c]')
  hs+=("$(hist "ADD base-$arch.tar / # reg-harness")")
  hs+=("$(hist 'ENV APP_ENV=production APP_PORT=8080' empty)")
  hs+=("$(hist 'COPY app/ /app/ # reg-harness')")
  hs+=("$(hist 'COPY config/ /app/config/ && rm /etc/motd # reg-harness')")
  if [ "$mode" = oversized ]; then
    big=$(fresh_dir oversized)
    put_dir "$big" data 0755 0:0
    rand_bytes "reg-harness-oversized-layer" 3145728 >"$big/data/blob.bin"
    chmod 0644 "$big/data/blob.bin"; chown 0:0 "$big/data/blob.bin"
    _o=$(make_layer "$big" 1); read -r l4 s4 d4 <<<"$_o"
    layers+=$'\n'"$l4 $s4"
    diffids=$(jq -c --arg d "$d4" '. + [$d]' <<<"$diffids")
    hs+=("$(hist 'COPY blob.bin /data/ # reg-harness')")
  fi
  case "$mode" in
    nouser) ;;
    rootuser) hs+=("$(hist 'USER root' empty)") ;;
    *) hs+=("$(hist 'USER 1000:1000' empty)") ;;
  esac
  hs+=("$(hist 'EXPOSE 8080/tcp 9090/tcp' empty)")
  [ "$mode" = noentry ] || hs+=("$(hist 'ENTRYPOINT ["/app/bin/server"] CMD ["--port","8080"]' empty)")
  hist_j=$(printf '%s\n' "${hs[@]}" | jq -cs .)
  extra=$(jq -cn '{Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP_ENV=production","APP_PORT=8080"],
                   ExposedPorts: {"8080/tcp": {}, "9090/tcp": {}}, WorkingDir: "/app", StopSignal: "SIGTERM"}')
  c=$(image_config "$arch" "" "$ep" "$cmd" "$user" "$(labels_json "$name" 1.0.0)" "$diffids" "$hist_j" "$extra")
  _o=$(store_json "$c"); read -r cd cs <<<"$_o"
  m=$(manifest_json $MT_OCI_MANIFEST $MT_OCI_CONFIG "$cd" "$cs" $MT_OCI_LAYER_GZ "$layers" \
        "$(jq -cn --arg c "$CREATED" '{"org.opencontainers.image.created": $c}')")
  record_ref "$name-$tag" "$(store_json "$m")" $MT_OCI_MANIFEST
}

build_noentry()   { small_variant noentry 1.0 noentry; }
build_root()      { small_variant root 1.0 nouser; small_variant root explicit rootuser; }
build_wrongarch() { small_variant wrongarch 1.0 s390x; }
build_oversized() { small_variant oversized 1.0 oversized; }

build_multi_amd64() {  # app/multi:amd64-only — app/multi:1.0's index minus the arm64 entry (children untouched)
  local idx m
  need_ref multi-1.0 multi
  idx=$BLOBS/$(cut -d' ' -f1 "$REFS/multi-1.0" | cut -d: -f2)
  m=$(jq -c '.manifests |= map(select(.platform.os == "linux" and .platform.architecture == "amd64"))' "$idx")
  [ "$(jq '.manifests | length' <<<"$m")" = 1 ] || die "multi-amd64: expected one linux/amd64 entry in $idx"
  record_ref multi-amd64-only "$(store_json "$m")" $MT_OCI_INDEX
}

build_zstd() {  # one tar+zstd layer (app/small's base tree: same diff_id, other blob) + one plain tar layer
  local base app l1 s1 d1 l2 s2 d2 c m
  command -v zstd >/dev/null 2>&1 || { log "build zstd: no 'zstd' command (apt-get install zstd); app/zstd:1.0 SKIPPED"; return 0; }
  base=$(base_tree amd64); app=$(app_tree zstd amd64)
  _o=$(make_layer_as "$base" zstd); read -r l1 s1 d1 <<<"$_o"
  _o=$(make_layer_as "$app" none); read -r l2 s2 d2 <<<"$_o"
  [ "$l2" = "$d2" ] || die "zstd: uncompressed layer digest $l2 != diff_id $d2"
  c=$(image_config amd64 "" '["/app/bin/server"]' '["--port","8080"]' 1000:1000 "$(labels_json zstd 1.0.0)" \
        "$(jq -cn --arg a "$d1" --arg b "$d2" '[$a,$b]')" \
        "$(jq -cn --argjson a "$(hist 'ADD base-amd64.tar / # zstd')" --argjson b "$(hist 'COPY app/ /app/ # uncompressed')" '[$a,$b]')" \
        '{"ExposedPorts":{"8080/tcp":{}},"WorkingDir":"/app"}')
  _o=$(store_json "$c"); read -r cd cs <<<"$_o"
  m=$(jq -cn --arg mt $MT_OCI_MANIFEST --arg cmt $MT_OCI_CONFIG --arg cd "$cd" --argjson cs "$cs" --arg c "$CREATED" \
         --argjson layers "$(printf '%s %s %s\n%s %s %s\n' $MT_OCI_LAYER_ZSTD "$l1" "$s1" $MT_OCI_LAYER "$l2" "$s2" | layers_json)" \
        '{schemaVersion: 2, mediaType: $mt, config: {mediaType: $cmt, digest: $cd, size: $cs}, layers: $layers,
          annotations: {"org.opencontainers.image.created": $c}}')
  record_ref zstd-1.0 "$(store_json "$m")" $MT_OCI_MANIFEST
}

build_artifact() {  # OCI 1.1 artifact (SPDX SBOM) whose subject is app/small:1.0
  local sd ss smt cd cs sbom ld ls m
  need_ref small-1.0 small
  read -r sd ss smt <"$REFS/small-1.0"
  _o=$(store_json '{}'); read -r cd cs <<<"$_o"
  sbom=$(jq -cn --arg c "$CREATED" --arg sd "$sd" '{
    spdxVersion: "SPDX-2.3", dataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
    name: "app/small:1.0", documentNamespace: ("https://example.invalid/spdx/app-small-1.0/" + ($sd | ltrimstr("sha256:"))),
    creationInfo: {created: $c, creators: ["Tool: reg-harness-make-fixtures"]},
    packages: [{SPDXID: "SPDXRef-Package-app", name: "app", versionInfo: "1.0.0", downloadLocation: "NOASSERTION",
                licenseConcluded: "Apache-2.0", licenseDeclared: "Apache-2.0", copyrightText: "NOASSERTION"}],
    relationships: [{spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: "SPDXRef-Package-app"}]}')
  _o=$(store_json "$sbom"); read -r ld ls <<<"$_o"
  m=$(jq -cn --arg mt $MT_OCI_MANIFEST --arg cd "$cd" --argjson cs "$cs" --arg ld "$ld" --argjson ls "$ls" \
         --arg sd "$sd" --argjson ss "$ss" --arg smt "$smt" --arg c "$CREATED" '{
    schemaVersion: 2, mediaType: $mt, artifactType: "application/vnd.example.sbom.v1",
    config: {mediaType: "application/vnd.example.config.v1+json", digest: $cd, size: $cs},
    layers: [{mediaType: "application/spdx+json", digest: $ld, size: $ls,
              annotations: {"org.opencontainers.image.title": "sbom.spdx.json"}}],
    subject: {mediaType: $smt, digest: $sd, size: $ss},
    annotations: {"org.opencontainers.image.created": $c,
                  "org.opencontainers.image.description": "SPDX SBOM of app/small:1.0",
                  "org.example.sbom.format": "spdx-2.3"}}')
  record_ref artifact-1.0 "$(store_json "$m")" $MT_OCI_MANIFEST
}

build_nested() {  # index -> [ app/multi:1.0's index, app/small:1.0's manifest (linux/amd64) ]
  local md ms mmt sd ss smt m
  need_ref multi-1.0 multi; need_ref small-1.0 small
  read -r md ms mmt <"$REFS/multi-1.0"; read -r sd ss smt <"$REFS/small-1.0"
  m=$(jq -cn --arg mt $MT_OCI_INDEX --arg md "$md" --argjson ms "$ms" --arg mmt "$mmt" \
         --arg sd "$sd" --argjson ss "$ss" --arg smt "$smt" --arg c "$CREATED" '{
    schemaVersion: 2, mediaType: $mt,
    manifests: [{mediaType: $mmt, digest: $md, size: $ms, annotations: {"org.example.fixture.role": "nested-index"}},
                {mediaType: $smt, digest: $sd, size: $ss, platform: {architecture: "amd64", os: "linux"}}],
    annotations: {"org.opencontainers.image.created": $c, "org.opencontainers.image.version": "1.0.0"}}')
  record_ref nested-1.0 "$(store_json "$m")" $MT_OCI_INDEX
}

build_foreign() {  # Docker v2s2: foreign base layer (URL only; blob kept in the layout, never pushed) + normal layer
  local fb app l1 s1 d1 l2 s2 d2 c m
  fb=$(fresh_dir foreign-base)
  put_dir  "$fb" etc 0755 0:0
  put_file "$fb" etc/os-release 0644 0:0 $'NAME="reg-harness foreign base"\nID=reg-harness-foreign\nVERSION_ID=1\n'
  put_dir  "$fb" usr 0755 0:0
  rand_bytes "foreign-base" 16384 | base64 -w 76 >"$fb/usr/foreign-base.b64"
  chmod 0644 "$fb/usr/foreign-base.b64"; chown 0:0 "$fb/usr/foreign-base.b64"
  app=$(app_tree foreign amd64)
  _o=$(make_layer "$fb"); read -r l1 s1 d1 <<<"$_o"
  _o=$(make_layer "$app"); read -r l2 s2 d2 <<<"$_o"
  c=$(image_config amd64 "" '["/app/bin/server"]' '["--port","8080"]' 1000:1000 "$(labels_json foreign 1.0.0)" \
        "$(jq -cn --arg a "$d1" --arg b "$d2" '[$a,$b]')" \
        "$(jq -cn --argjson a "$(hist 'ADD foreign-base.tar / # foreign layer')" --argjson b "$(hist 'COPY app/ /app/')" '[$a,$b]')" \
        '{"ExposedPorts":{"8080/tcp":{}},"WorkingDir":"/app"}')
  c=$(jq -c '. + {docker_version: "24.0.7"}' <<<"$c")
  _o=$(store_json "$c"); read -r cd cs <<<"$_o"
  m=$(jq -cn --arg mt $MT_DOCKER_MANIFEST --arg cmt $MT_DOCKER_CONFIG --arg cd "$cd" --argjson cs "$cs" \
         --argjson layers "$(printf '%s %s %s %s\n%s %s %s\n' $MT_DOCKER_LAYER_FOREIGN "$l1" "$s1" \
                               https://example.invalid/layer.tar.gz $MT_DOCKER_LAYER_GZ "$l2" "$s2" | layers_json)" \
        '{schemaVersion: 2, mediaType: $mt, config: {mediaType: $cmt, digest: $cd, size: $cs}, layers: $layers}')
  record_ref foreign-1.0 "$(store_json "$m")" $MT_DOCKER_MANIFEST
}

# ------------------------------------------------------------------ pushing (Distribution API v2, by hand)
http_code() { "${CURL[@]}" -o /dev/null -w '%{http_code}' "$@"; }

push_blob() {  # push_blob REPO DIGEST
  local repo=$1 dg=$2 f loc sep code
  f=$BLOBS/${dg#sha256:}
  [ -f "$f" ] || die "blob $dg missing from $OCI"
  code=$(http_code -I "$BASE/v2/$repo/blobs/$dg")
  [ "$code" = 200 ] && return 0
  loc=$("${CURL[@]}" -o /dev/null -D - -X POST "$BASE/v2/$repo/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  [ -n "$loc" ] || die "POST $BASE/v2/$repo/blobs/uploads/ returned no Location"
  case "$loc" in http://*|https://*) ;; /*) loc=$BASE$loc ;; *) die "odd upload Location: $loc" ;; esac
  sep='?'; case "$loc" in *\?*) sep='&' ;; esac
  # monolithic upload: one PUT with the whole body, streamed from disk (-T does not buffer in memory)
  code=$(http_code -X PUT -H 'Content-Type: application/octet-stream' -T "$f" "$loc${sep}digest=$dg")
  [ "$code" = 201 ] || die "PUT blob $dg to $repo: HTTP $code"
}

put_manifest() {  # put_manifest REPO REF DIGEST MEDIATYPE
  local repo=$1 ref=$2 dg=$3 mt=$4 hdrs code got
  hdrs=$(mktemp "$WORK/hdr.XXXXXX")
  code=$("${CURL[@]}" -o "$hdrs.body" -D "$hdrs" -w '%{http_code}' -X PUT -H "Content-Type: $mt" \
          --data-binary "@$BLOBS/${dg#sha256:}" "$BASE/v2/$repo/manifests/$ref")
  if [ "$code" != 201 ] && jq -e '[.layers[]?.urls // empty] | length > 0' "$BLOBS/${dg#sha256:}" >/dev/null; then
    die "PUT manifest $repo:$ref: HTTP $code $(cat "$hdrs.body") -- it has layer URLs: distribution refuses them unless its config has validation.manifests.urls.allow (e.g. ['^https://example\\.invalid/'])"
  fi
  [ "$code" = 201 ] || die "PUT manifest $repo:$ref: HTTP $code $(cat "$hdrs.body")"
  got=$(tr -d '\r' <"$hdrs" | awk 'tolower($1)=="docker-content-digest:"{print $2}')
  [ "$got" = "$dg" ] || die "registry computed $got for $repo:$ref, expected $dg"
  rm -f "$hdrs" "$hdrs.body"
}

push_manifest_tree() {  # push_manifest_tree REPO REF DIGEST MEDIATYPE  (index -> children first; subject first)
  local repo=$1 ref=$2 dg=$3 mt=$4 f cdg cmt b sub
  f=$BLOBS/${dg#sha256:}
  # An OCI 1.1 "subject" (artifact -> image) is pushed into the same repository by digest beforehand.
  sub=$(jq -r '.subject // empty | "\(.digest) \(.mediaType)"' "$f")
  if [ -n "$sub" ]; then read -r cdg cmt <<<"$sub"; push_manifest_tree "$repo" "$cdg" "$cdg" "$cmt"; fi
  case "$mt" in
    "$MT_OCI_INDEX"|application/vnd.docker.distribution.manifest.list.v2+json)
      while read -r cdg cmt; do push_manifest_tree "$repo" "$cdg" "$cdg" "$cmt"; done \
        < <(jq -r '.manifests[] | "\(.digest) \(.mediaType)"' "$f") ;;
    *)
      # layers with urls (foreign / non-distributable) are fetched from those URLs: never pushed
      for b in $(jq -r '.config.digest, (.layers[] | select((.urls // []) | length == 0) | .digest)' "$f"); do
        push_blob "$repo" "$b"
      done ;;
  esac
  put_manifest "$repo" "$ref" "$dg" "$mt"
}

size_lines() {  # size_lines DIGEST -> "digest size" of the manifest and all it references (recursively), minus url layers
  local dg=$1 f c; f=$BLOBS/${dg#sha256:}
  echo "$dg $(stat -c %s "$f")"
  if jq -e '.manifests' "$f" >/dev/null; then
    for c in $(jq -r '.manifests[].digest' "$f"); do size_lines "$c"; done
  else
    jq -r '.config, (.layers[] | select((.urls // []) | length == 0)) | "\(.digest) \(.size)"' "$f"
  fi
}
# bytes of all distinct blobs + manifests the image references and the registry stores (not a subject, not
# foreign layers)
total_size() { size_lines "$1" | sort -u | awk '{s+=$2} END{print s}'; }

# ------------------------------------------------------------------ storage-level damage (corrupt fixtures)
blob_data_path() { echo "$(inst_data "$target_inst")/docker/registry/v2/blobs/sha256/$(echo "${1#sha256:}" | cut -c1-2)/${1#sha256:}/data"; }

damage_corrupt() {
  local md l p size off
  [ -n "$target_inst" ] || { log "corrupt: target $registry is not a harness instance; pushed intact, NOT damaged"; return 0; }
  # app/corrupt:1.0 — overwrite 32 bytes in the middle of the layer's stored data (size unchanged):
  # HEAD still answers 200 with the right size, GET streams bytes whose sha256 != digest.
  md=$(cut -d' ' -f1 "$REFS/corrupt-1.0"); l=$(jq -r '.layers[0].digest' "$BLOBS/${md#sha256:}")
  p=$(blob_data_path "$l"); size=$(stat -c %s "$p"); off=$((size / 2))
  printf 'REG-HARNESS-CORRUPTED-BYTES!!!!!' | dd of="$p" bs=1 seek="$off" conv=notrunc status=none
  log "corrupt: app/corrupt:1.0 layer $l tampered at offset $off of $size in $p"
  # app/corrupt:missing-blob — delete the layer's data file: manifest still lists it, HEAD/GET -> 404 BLOB_UNKNOWN.
  md=$(cut -d' ' -f1 "$REFS/corrupt-missing-blob"); l=$(jq -r '.layers[0].digest' "$BLOBS/${md#sha256:}")
  p=$(blob_data_path "$l"); rm -f "$p"
  log "corrupt: app/corrupt:missing-blob layer $l data file deleted ($p)"
  # the in-memory blob-descriptor cache would otherwise keep answering HEAD 200 for the deleted blob
  if [ -n "$(running_pid "$target_inst")" ]; then
    "$HERE/start-registries.sh" --only "$target_inst" --restart --quiet >/dev/null
    log "corrupt: restarted $target_inst to drop its blob-descriptor cache"
  fi
}

# corrupt_in_place — true when both corrupt fixtures are already pushed and damaged in storage, so a re-run
# needs neither a push nor the registry restart (which would break clients in flight).
corrupt_in_place() {
  local md l p
  [ -n "$target_inst" ] || return 1
  [ -f "$REFS/corrupt-1.0" ] && [ -f "$REFS/corrupt-missing-blob" ] || return 1
  for t in 1.0 missing-blob; do
    [ "$(http_code -I -H "Accept: $MT_OCI_MANIFEST" "$BASE/v2/app/corrupt/manifests/$t")" = 200 ] || return 1
  done
  md=$(cut -d' ' -f1 "$REFS/corrupt-1.0"); l=$(jq -r '.layers[0].digest' "$BLOBS/${md#sha256:}")
  p=$(blob_data_path "$l"); [ -f "$p" ] && grep -qa 'REG-HARNESS-CORRUPTED-BYTES' "$p" || return 1
  md=$(cut -d' ' -f1 "$REFS/corrupt-missing-blob"); l=$(jq -r '.layers[0].digest' "$BLOBS/${md#sha256:}")
  p=$(blob_data_path "$l"); [ ! -e "$p" ] || return 1
}

# ------------------------------------------------------------------ main
declare -A REPO_OF=([small]=app/small [multi]=app/multi [big]=app/big [many]=app/many [docker]=app/docker [nolabels]=app/nolabels [corrupt]=app/corrupt
  [noentry]=app/noentry [root]=app/root [wrongarch]=app/wrongarch [oversized]=app/oversized [multi-amd64]=app/multi
  [zstd]=app/zstd [artifact]=app/artifact [nested]=app/nested [foreign]=app/foreign)
# ref names are "<repository basename>-<tag>"
declare -A REFS_OF=([small]=small-1.0 [multi]=multi-1.0 [big]=big-1.0 [many]=many-1.0 [docker]=docker-1.0 [nolabels]=nolabels-1.0 [corrupt]="corrupt-1.0 corrupt-missing-blob"
  [noentry]=noentry-1.0 [root]="root-1.0 root-explicit" [wrongarch]=wrongarch-1.0 [oversized]=oversized-1.0
  [multi-amd64]=multi-amd64-only [zstd]=zstd-1.0 [artifact]=artifact-1.0 [nested]=nested-1.0 [foreign]=foreign-1.0)

for img in $images; do
  cached=1
  for r in ${REFS_OF[$img]}; do ref_cached "$r" || cached=0; done
  if [ "$cached" = 1 ]; then log "build $img: cached"; continue; fi
  [ "$(id -u)" = 0 ] || die "building layers needs root (files are chown'ed to 0:0 / 1000:1000 before tar); run with sudo"
  t0=$(date +%s.%N)
  "build_${img//-/_}"
  log "build $img: done in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s"
done
rm -rf "$WORK"/tree-* "$WORK"/*.out "$WORK"/json.* 2>/dev/null || true

# OCI layout index.json listing every built image (ref name = "<image>-<tag>")
for r in "$REFS"/*; do
  read -r dg sz mt <"$r"
  jq -cn --arg mt "$mt" --arg d "$dg" --argjson s "$sz" --arg n "$(basename "$r")" \
     '{mediaType: $mt, digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": $n}}'
done | jq -cs '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: .}' >"$OCI/index.json"

[ "$push" = 1 ] || { log "built only (--no-push); layout: $OCI"; exit 0; }
code=$(http_code "$BASE/v2/")
[ "$code" = 200 ] || die "registry $BASE does not answer GET /v2/ with 200 (got $code); start it with start-registries.sh"

tsv=$BUILD/digests.tsv
: >"$tsv.new"
corrupt_done=0
if case " $images " in *" corrupt "*) true ;; *) false ;; esac && corrupt_in_place; then corrupt_done=1; fi
for img in $images; do
  if [ "$img" = corrupt ] && [ "$corrupt_done" = 1 ]; then
    log "corrupt: already pushed and damaged in place; not pushed again"
    for r in ${REFS_OF[$img]}; do
      read -r dg sz mt <"$REFS/$r"; tag=${r#corrupt-}
      printf '%s/app/corrupt:%s\t%s\t%s\t%s\n' "$registry" "$tag" "$dg" "$mt" "$(total_size "$dg")" >>"$tsv.new"
    done
    continue
  fi
  for r in ${REFS_OF[$img]}; do
    [ -f "$REFS/$r" ] || { log "skip ${REPO_OF[$img]}: ref $r was not built"; continue; }
    read -r dg sz mt <"$REFS/$r"
    tag=${r#"${REPO_OF[$img]##*/}"-}
    t0=$(date +%s.%N)
    push_manifest_tree "${REPO_OF[$img]}" "$tag" "$dg" "$mt"
    printf '%s/%s:%s\t%s\t%s\t%s\n' "$registry" "${REPO_OF[$img]}" "$tag" "$dg" "$mt" "$(total_size "$dg")" >>"$tsv.new"
    printf '%s/%s:%s %s\n' "$registry" "${REPO_OF[$img]}" "$tag" "$dg"
    log "pushed ${REPO_OF[$img]}:$tag in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s"
  done
done
case " $images " in *" corrupt "*) [ "$corrupt_done" = 1 ] || damage_corrupt ;; esac
# keep lines for images not pushed this time
if [ -f "$tsv" ]; then
  while IFS=$'\t' read -r ref rest; do grep -q "^$ref	" "$tsv.new" || printf '%s\t%s\n' "$ref" "$rest" >>"$tsv.new"; done <"$tsv"
fi
sort "$tsv.new" >"$tsv"; rm -f "$tsv.new"
log "digests: $tsv"
