#!/usr/bin/env bash
# Installs what Switchyard builds, tests and benchmarks with, from Debian 12's packages only.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PACKAGES=(
  build-essential cmake ccache pkg-config git python3 curl ca-certificates
  libpoco-dev nlohmann-json3-dev libboost-dev libboost-filesystem-dev libspdlog-dev
  libgtest-dev libgmock-dev libssl-dev
  libpq-dev postgresql # the PostgreSQL store and postgres log sink (libpq); their tests' private server
  libsqlite3-dev
  libre2-dev # redaction patterns in logged bodies (linear time, no stack blow-up)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
