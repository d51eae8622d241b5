#!/bin/bash
# Install the dependencies, build, and start the registry with its embedded defaults:
# HTTPS on 0.0.0.0:5000, a CA and server certificate generated on first start, data in
# /var/lib/berth as root (./berth-data otherwise). Extra arguments go to `berthd serve`.
#   sudo scripts/run.sh [--listen ADDR:PORT] [--tls-san NAME] ...
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/install-deps.sh"
"$src/scripts/build.sh"
exec "${BERTH_BUILD_DIR:-$src/build-release}/berthd" serve "$@"
