#!/usr/bin/env bash
# Float vs kmodel accuracy of samples/models/fashion_cnn on ALL 10,000 Fashion-MNIST test images
# (the default test run uses the committed 300-image subset; this is the full set):
#   scripts/accuracy.sh [OUT_DIR]          # default: <repo>/build/accuracy
# Needs Debian dataset-fashion-mnist (apt-get install dataset-fashion-mnist) and the built tools
# (scripts/build.sh, or EMC_BUILD_DIR). Converts for -p k210 and -p cpu with the default flags,
# calibrated on the committed 500 TRAINING images (samples/models/fashion_cnn/calib: never a test
# image), then runs emc-compare --dataset on the test split in ImageFolder layout. Extra
# emc-convert flags can be given in EMC_CONVERT_FLAGS (e.g. "--per-layer"). Prints one line per
# target and writes OUT_DIR/<target>.json (emc-compare --json).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build/accuracy}"
bin="${EMC_BUILD_DIR:-$root/build}/bin"
data="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
model="$root/samples/models/fashion_cnn"

[[ -f "$data/t10k-images-idx3-ubyte.gz" ]] ||
  { echo "accuracy: no Fashion-MNIST in $data (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
for t in emc-convert emc-compare; do
  [[ -x "$bin/$t" ]] || { echo "accuracy: $bin/$t not built (scripts/build.sh)" >&2; exit 1; }
done
mkdir -p "$out"
if [[ ! -f "$out/test/.complete" ]]; then
  rm -rf "$out/test"
  python3 "$root/scripts/fashion_mnist_folder.py" "$out/test" --split t10k --data "$data"
  touch "$out/test/.complete"
fi
# shellcheck disable=SC2086
for target in k210 cpu; do
  "$bin/emc-convert" "$model/model.json" -p "$target" --input-range 0,1 \
    --dataset "$model/calib" -o "$out/fashion_$target.kmodel" ${EMC_CONVERT_FLAGS:-} 2>"$out/convert_$target.log"
  "$bin/emc-compare" "$model/model.json" "$out/fashion_$target.kmodel" --dataset "$out/test" \
    --json -q >"$out/$target.json"
  python3 - "$out/$target.json" "$target" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))['summary']
n = s['labelled']
f, q = s['float_top1_correct'], s['quant_top1_correct']
print(f"{sys.argv[2]:5s} {n} test images: float top-1 {100 * f / n:.2f} %  kmodel top-1 {100 * q / n:.2f} %  "
      f"difference {100 * (q - f) / n:+.2f} points  top-1 agreement {100 * s['top1_agreement']:.2f} %  "
      f"mean |dp| {s['mean_abs_dp']:.5f}  max |dp| {s['max_abs_dp']:.4f}")
PY
done
