#!/usr/bin/env bash
# Installs dependencies, builds, and starts the gateway on its embedded defaults
# (config/switchyard.json: listens on 127.0.0.1:8080, admin on 127.0.0.1:8081).
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
# The gateway and every plugin; tests are built by packaging/test.sh.
cmake --build build -j"$(nproc)" --target switchyard switchyard_plugins
exec build/bin/switchyard --config config/switchyard.json
