#!/usr/bin/env bash
# Configures and builds EMC into build/ (or $EMC_BUILD_DIR). Extra arguments go to cmake configure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${EMC_BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$jobs"
