#!/usr/bin/env bash
# Fetches the real trained third-party TF.js models the e2e tests use (npm package nsfwjs, pinned in
# samples/tfjs/package-lock.json) and writes their TF.js reference outputs:
#   scripts/thirdparty_models.sh [OUT_DIR]     # default: <repo>/build/thirdparty
# Then: EMC_THIRDPARTY_DIR=OUT_DIR ctest ... -R ThirdParty (scripts/test.sh does both).
# Runs `npm ci` in samples/tfjs when node_modules is missing or was installed from another
# package-lock.json; samples/tfjs/thirdparty.js skips all work when OUT_DIR/stamp.json matches.
# Nothing it downloads is part of the repository.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build/thirdparty}"
tfjs="$root/samples/tfjs"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "thirdparty: '$tool' not found (scripts/deps.sh installs nodejs and npm)" >&2; exit 1; }
done

lock_hash="$(sha256sum "$tfjs/package-lock.json" | cut -d' ' -f1)"
stamp="$tfjs/node_modules/.emc-package-lock.sha256"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_hash" ]]; then
  echo "== thirdparty: npm ci in samples/tfjs =="
  (cd "$tfjs" && npm ci --no-audit --no-fund --ignore-scripts)
  echo "$lock_hash" >"$stamp"
fi

echo "== thirdparty: models and TF.js references -> $out =="
start=$SECONDS
node "$tfjs/thirdparty.js" "$out"
echo "thirdparty: done in $((SECONDS - start)) s"
