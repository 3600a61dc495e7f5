#!/usr/bin/env bash
# install-deps.sh — install the Debian packages the harness uses (idempotent; needs root or sudo).
#   docker-registry (CNCF distribution 2.8), skopeo, umoci, apache2-utils (htpasswd), openssl, time,
#   curl, jq, bc, zstd (app/zstd fixture), util-linux (setsid, setpriv), tar, gzip, coreutils.
# On a host where systemd is PID 1, installing docker-registry also enables and starts the packaged
# service on :5000, which would collide with the harness. If THIS run installed the package, the
# packaged service is disabled again (it was not running before we installed it).
set -euo pipefail
pkgs=(docker-registry skopeo umoci apache2-utils openssl time curl jq bc zstd ca-certificates util-linux tar gzip coreutils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "install-deps: all present"; exit 0; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if printf '%s\n' "${missing[@]}" | grep -qx docker-registry && [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
  if systemctl is-active --quiet docker-registry 2>/dev/null; then
    echo "install-deps: disabling the docker-registry service that the package just started on :5000"
    $SUDO systemctl disable --now docker-registry
  fi
fi
docker-registry --version; skopeo --version; umoci --version
