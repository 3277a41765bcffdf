#!/usr/bin/env bash
# Configures and builds EMC into build/ (or $EMC_BUILD_DIR). Extra arguments go to cmake configure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${EMC_BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"
# ccache (installed by deps.sh) makes rebuilds of unchanged files, and the second (sanitizer)
# configuration's shared headers, cheap; the build is the same without it.
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" "$@" >/dev/null
cmake --build "$build" -j"$jobs"
