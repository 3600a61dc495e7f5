#!/usr/bin/env bash
# Builds the action's container image from the Dockerfile (BuildKit, BIN_STAGE=prebuilt with a
# static musl release binary) on a private dockerd started by hand, then runs it exactly as the
# GitHub runner runs a Docker action (--network host, -e INPUT_*, /github/workspace and
# /github/file_commands mounts) against the real registries of scripts/harness, and asserts on the
# outputs, the step summary and the audit (validated against schemas/audit.schema.json).
# Prints the image size and start time. Slow (a release build): kept out of `cargo test`.
#
#   bash tests/container.sh            # needs root (apt-get, dockerd); ~3–6 min the first time
#   KEEP_DOCKERD=1 bash tests/container.sh   # leave the daemon running (DOCKER_HOST printed)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${CONTAINER_TEST_DIR:-/tmp/image-promote-container}"
TARGET=x86_64-unknown-linux-musl
IMAGE=image-promote:container-test
SMALL=sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992
NOLABELS=sha256:007c8b118f8a96a163e7f6c903855283bc1e8bfc4e544af28efb3147a2932182
PASSED=0
FAILED=0

log() { printf '[container] %s\n' "$*" >&2; }
pass() { PASSED=$((PASSED + 1)); log "ok: $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
    local what="$1"; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
now_ms() { date +%s%3N; }

# --- tools -----------------------------------------------------------------------------------
need_apt=()
[[ -x /usr/sbin/dockerd && -x /usr/bin/docker ]] || need_apt+=(docker.io)
command -v musl-gcc >/dev/null || need_apt+=(musl-tools)
command -v skopeo >/dev/null || need_apt+=(skopeo)
if ((${#need_apt[@]})); then
    log "installing ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
python3 -c 'import jsonschema' 2>/dev/null || pip install -q jsonschema

# --- the static binary -----------------------------------------------------------------------
# CONTAINER_PROFILE=ci-container (CI) trades thin LTO for build time; the default is the shipped
# release profile.
PROFILE="${CONTAINER_PROFILE:-release}"
log "building the static binary ($TARGET, profile $PROFILE)"
(cd "$ROOT" && cargo build --profile "$PROFILE" --locked --target "$TARGET" --bin image-promote)
BIN="$ROOT/target/$TARGET/$PROFILE/image-promote"
file "$BIN" 2>/dev/null | grep -q 'static' || log "warning: $BIN may not be static: $(file "$BIN" 2>/dev/null)"

# --- dockerd, by hand ------------------------------------------------------------------------
mkdir -p "$WORK"
D="$WORK/docker"
mkdir -p "$D"
export DOCKER_HOST="unix://$D/docker.sock"
DOCKER=/usr/bin/docker
started_dockerd=0
if ! $DOCKER info >/dev/null 2>&1; then
    log "starting dockerd (data in $D)"
    /usr/sbin/dockerd --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/dockerd.pid" \
        -H "$DOCKER_HOST" --bridge=none --iptables=false >"$D/dockerd.log" 2>&1 &
    started_dockerd=1
    for _ in $(seq 1 100); do $DOCKER info >/dev/null 2>&1 && break; sleep 0.1; done
    $DOCKER info >/dev/null 2>&1 || { tail -20 "$D/dockerd.log" >&2; exit 1; }
fi
stop_dockerd() {
    if [[ -n "${GH_PID:-}" ]]; then kill "$GH_PID" 2>/dev/null || true; fi
    if ((started_dockerd)) && [[ -z "${KEEP_DOCKERD:-}" && -f "$D/dockerd.pid" ]]; then
        kill "$(cat "$D/dockerd.pid")" 2>/dev/null || true
    fi
}
trap stop_dockerd EXIT

# --- the image -------------------------------------------------------------------------------
CTX="$WORK/context"
rm -rf "$CTX" && mkdir -p "$CTX/prebuilt"
cp "$ROOT/Dockerfile" "$CTX/Dockerfile"
cp "$BIN" "$CTX/prebuilt/image-promote"
cp /etc/ssl/certs/ca-certificates.crt "$CTX/prebuilt/ca-certificates.crt"
log "docker build (BuildKit, BIN_STAGE=prebuilt)"
t0=$(now_ms)
DOCKER_BUILDKIT=1 $DOCKER build -q --build-arg BIN_STAGE=prebuilt -t "$IMAGE" "$CTX" >/dev/null
build_ms=$(($(now_ms) - t0))
size=$($DOCKER image inspect -f '{{.Size}}' "$IMAGE")

# --- registries and fixtures -----------------------------------------------------------------
bash "$ROOT/scripts/harness/start-registries.sh" --secure --quiet
bash "$ROOT/scripts/harness/make-fixtures.sh" --only small,nolabels >/dev/null
bash "$ROOT/scripts/harness/make-fixtures.sh" --secure --only small >/dev/null
HARNESS="${REG_HARNESS_DIR:-/tmp/reg-harness}"
STAGING=127.0.0.1:${REG_STAGING_PORT:-5000}
PRODUCTION=127.0.0.1:${REG_PRODUCTION_PORT:-5001}
SECURE=127.0.0.1:${REG_SECURE_PORT:-5002}
SECURE_USER=${REG_SECURE_USER:-harness}
SECURE_PASSWORD=${REG_SECURE_PASSWORD:-harness-pass}
RUN_ID="c$$-$(date +%s)"

# Extra `-e` arguments for the next runs (the runner's other variables).
EXTRA_ENV=()

# run_action NAME INPUT=VALUE...: runs the image as the runner does; sets EXIT, WS, FC.
run_action() {
    local name="$1"; shift
    WS="$WORK/runs/$name/workspace"
    FC="$WORK/runs/$name/file_commands"
    rm -rf "$WORK/runs/$name" && mkdir -p "$WS" "$FC"
    : >"$FC/set_output" && : >"$FC/step_summary"
    local envs=(
        -e GITHUB_ACTIONS=true -e GITHUB_WORKSPACE=/github/workspace
        -e GITHUB_OUTPUT=/github/file_commands/set_output
        -e GITHUB_STEP_SUMMARY=/github/file_commands/step_summary
        -e GITHUB_RUN_ID=99 -e GITHUB_RUN_ATTEMPT=1 -e GITHUB_REPOSITORY=acme/app
        -e GITHUB_SERVER_URL=https://github.com -e GITHUB_SHA=0123456789abcdef0123456789abcdef01234567
        -e GITHUB_WORKFLOW=release -e GITHUB_JOB=promote -e GITHUB_ACTOR=octocat
    )
    local declared
    declared=$(python3 -c 'import sys,yaml; print("\n".join(yaml.safe_load(open(sys.argv[1]))["inputs"]))' "$ROOT/container/action.yml" 2>/dev/null \
        || sed -n '/^inputs:/,/^outputs:/s/^  \([a-z-]*\):$/\1/p' "$ROOT/container/action.yml")
    local input
    for input in $declared; do envs+=(-e "INPUT_${input^^}="); done
    envs+=("${EXTRA_ENV[@]}")
    local kv key
    for kv in "$@"; do
        key="${kv%%=*}"
        envs+=(-e "INPUT_${key^^}=${kv#*=}")
    done
    set +e
    $DOCKER run --rm --network host --workdir /github/workspace "${envs[@]}" \
        -v "$WS:/github/workspace" -v "$FC:/github/file_commands" \
        "$IMAGE" promote >"$WORK/runs/$name/stdout" 2>"$WORK/runs/$name/stderr"
    EXIT=$?
    set -e
}

# output NAME: one value from the heredoc-syntax outputs file of the last run.
output() {
    python3 - "$FC/set_output" "$1" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i, out = 0, {}
while i < len(lines):
    if "<<" in lines[i]:
        name, delim = lines[i].split("<<", 1)
        j = lines.index(delim, i + 1)
        out[name] = "\n".join(lines[i + 1:j])
        i = j + 1
    else:
        i += 1
print(out.get(sys.argv[2], ""))
PY
}

audit_valid() {
    local file="$WS/$(output audit-file)"
    [[ -f "$file" ]] && python3 - "$ROOT/schemas/audit.schema.json" "$file" <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.validate(json.load(open(sys.argv[2])), schema, cls=jsonschema.Draft202012Validator)
PY
}

audit_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$WS/$(output audit-file)" "$1"; }

# 1. A clean promotion.
DST="$PRODUCTION/container/$RUN_ID-small:1.0"
t0=$(now_ms)
run_action clean source="$STAGING/app/small:1.0" destination="$DST" expected-digest="$SMALL" environment=production
promote_ms=$(($(now_ms) - t0))
check "clean: exit 0" test "$EXIT" = 0
check "clean: status promoted" test "$(output status)" = promoted
check "clean: digest output" test "$(output digest)" = "$SMALL"
check "clean: skopeo sees the same digest" test "$(skopeo inspect --raw --tls-verify=false "docker://$DST" | sha256sum | cut -d' ' -f1)" = "${SMALL#sha256:}"
check "clean: audit schema-valid" audit_valid
check "clean: audit records the environment" test "$(audit_field "['approval']['environment']")" = production
check "clean: step summary written" grep -q '## ✅ image-promote: promoted' "$FC/step_summary"
check "clean: groups in the log" grep -q '::group::' "$WORK/runs/clean/stdout"

# 2. A refusal.
DST="$PRODUCTION/container/$RUN_ID-nolabels:1.0"
run_action refused source="$STAGING/app/nolabels:1.0" destination="$DST"
check "refused: exit 3" test "$EXIT" = 3
check "refused: status refused" test "$(output status)" = refused
check "refused: no destination tag" bash -c "! skopeo inspect --raw --tls-verify=false docker://$DST >/dev/null 2>&1"
check "refused: audit schema-valid" audit_valid
check "refused: error annotation" grep -q '^::error title=image-promote VALIDATION' "$WORK/runs/refused/stdout"

# 3. TLS + basic auth, CA certificate from the workspace, secrets masked and never written.
DST="$SECURE/container/$RUN_ID-secure:1.0"
mkdir -p "$WORK/ca" && cp "$HARNESS/secure/certs/ca.crt" "$WORK/ca/ca.crt"
run_action secure source="$STAGING/app/small:1.0" destination="$DST" \
    destination-username="$SECURE_USER" destination-password="$SECURE_PASSWORD" ca-cert="$(cat "$WORK/ca/ca.crt")"
check "secure: exit 0" test "$EXIT" = 0
check "secure: status promoted" test "$(output status)" = promoted
check "secure: mask first" test "$(head -c 12 "$WORK/runs/secure/stdout")" = "::add-mask::"
leaks=$(cat "$WORK/runs/secure/stdout" "$WORK/runs/secure/stderr" "$FC/set_output" "$FC/step_summary" \
    "$WS"/image-promote-audit/* | grep -v '^::add-mask::' | grep -c -F "$SECURE_PASSWORD" || true)
check "secure: the password appears nowhere else" test "$leaks" = 0

# 4. Approvals and the environment URL, with a fake GitHub API on loopback (GHES-shaped base).
GH_TOKEN_FAKE=ghs_containerFakeToken0123456789
GH_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$GH_PORT" "$GH_TOKEN_FAKE" <<'PY' &
import http.server, json, sys
port, token = int(sys.argv[1]), sys.argv[2]
env = {"id": 161088068, "name": "production", "url": "https://api.github.com/repos/acme/app/environments/production",
       "created_at": "2020-11-23T22:00:40Z", "updated_at": "2020-11-23T22:00:40Z"}
routes = {
    "/api/v3/repos/acme/app/actions/runs/99/approvals": [
        {"state": "approved", "comment": "ship it", "environments": [env],
         "user": {"login": "alice", "id": 1, "type": "User", "site_admin": False}}],
    "/api/v3/repos/acme/app/actions/runs/99/attempts/1/jobs?per_page=100": {"total_count": 1, "jobs": [
        {"id": 7, "status": "in_progress", "started_at": "2026-12-01T20:15:00Z", "runner_name": "runner-9"}]},
}
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer " + token:
            code, body = 401, {"message": "Bad credentials"}
        elif self.path in routes:
            code, body = 200, routes[self.path]
        else:
            code, body = 404, {"message": "Not Found"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY
GH_PID=$!
for _ in $(seq 1 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $GH_PORT), 1)" 2>/dev/null && break; sleep 0.1; done
EXTRA_ENV=(-e "GITHUB_API_URL=http://127.0.0.1:$GH_PORT/api/v3" -e RUNNER_NAME=runner-9 -e RUST_LOG=trace)
DST="$PRODUCTION/container/$RUN_ID-approved:1.0"
run_action approved source="$STAGING/app/small:1.0" destination="$DST" environment=production \
    github-token="$GH_TOKEN_FAKE" require-approval=true
check "approved: exit 0" test "$EXIT" = 0
check "approved: environment-url output" test "$(output environment-url)" = "https://$PRODUCTION/v2/container/$RUN_ID-approved/manifests/$SMALL"
check "approved: the summary's approval line" grep -qF '| **Approval** | approved by @alice: "ship it" (no later than 2026-12-01T20:15:00Z, the job'"'"'s start) |' "$FC/step_summary"
check "approved: audit approvers" test "$(audit_field "['approval']['approvers']")" = "['alice']"
check "approved: audit schema-valid" audit_valid
leaks=$(cat "$WORK/runs/approved/stdout" "$WORK/runs/approved/stderr" "$FC/set_output" "$FC/step_summary" \
    "$WS"/image-promote-audit/* | grep -v '^::add-mask::' | grep -c -F "$GH_TOKEN_FAKE" || true)
check "approved: the token appears nowhere (RUST_LOG=trace)" test "$leaks" = 0
# Another run's approvals are not shown: refused before anything is written.
EXTRA_ENV+=(-e GITHUB_RUN_ID=100)
DST="$PRODUCTION/container/$RUN_ID-unapproved:1.0"
run_action unapproved source="$STAGING/app/small:1.0" destination="$DST" environment=production \
    github-token="$GH_TOKEN_FAKE" require-approval=true
check "unapproved: exit 3" test "$EXIT" = 3
check "unapproved: nothing written" bash -c "! skopeo inspect --raw --tls-verify=false docker://$DST >/dev/null 2>&1"
check "unapproved: the approval condition failed" test "$(audit_field "['conditions'][0]['status']")" = failed
kill "$GH_PID" 2>/dev/null || true
EXTRA_ENV=()

# Size and start time.
start_samples=()
for _ in 1 2 3 4 5; do
    t0=$(now_ms)
    $DOCKER run --rm --network host "$IMAGE" --version >/dev/null
    start_samples+=($(($(now_ms) - t0)))
done
start_ms=$(printf '%s\n' "${start_samples[@]}" | sort -n | sed -n 3p)
t0=$(date +%s%N)
for _ in $(seq 1 20); do "$BIN" --version >/dev/null; done
bin_us=$((($(date +%s%N) - t0) / 20000))

printf 'image %s: %s bytes (%.1f MB); build %s ms\n' "$IMAGE" "$size" "$(echo "$size/1000000" | bc -l)" "$build_ms"
printf 'start: docker run --version median %s ms (samples %s); the binary alone %s us\n' "$start_ms" "${start_samples[*]}" "$bin_us"
printf 'clean promotion in the container, docker run included: %s ms\n' "$promote_ms"
printf 'container: %d passed, %d failed\n' "$PASSED" "$FAILED"
((FAILED == 0))
