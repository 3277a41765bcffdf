#!/usr/bin/env bash
# Installs the Debian packages EMC needs, only those that are missing (idempotent, safe to re-run).
# Needs root (or sudo) for apt-get.
set -euo pipefail

packages=(cmake g++ make libcli11-dev nlohmann-json3-dev zlib1g-dev libgtest-dev libgmock-dev
          libstb-dev libbenchmark-dev libhdf5-dev clang-14 libclang-rt-14-dev ccache
          # Real photos (not code): the nsfwjs models' calibration set (samples/tfjs/thirdparty.js
          # copies them to build/thirdparty/<model>/calib/; tests/e2e/thirdparty_models_test.cpp).
          darknet python-matplotlib-data python3-skimage)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js + npm: the third-party model tests fetch their models with npm (scripts/thirdparty_models.sh).
# Checked by command, not package name, so a Node.js from another source (e.g. NodeSource) is kept.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
  echo "emc: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
