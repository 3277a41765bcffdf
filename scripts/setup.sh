#!/usr/bin/env bash
# One command on a fresh Debian machine: installs what is missing, builds EMC, and runs the main job
# on a bundled sample — the TF.js shapes CNN (samples/models/shapes_cnn, trained by samples/tfjs):
#   1. emc-convert: model.json -> kmodel V3 for the K210, calibrated on the bundled images
#   2. emc-run:     the kmodel on the KPU simulator, with the per-layer profile
#   3. emc-compare: float model vs kmodel on the same images, top-5 side by side + HTML report
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${EMC_BUILD_DIR:-$root/build}"
"$root/scripts/deps.sh"
EMC_BUILD_DIR="$build" "$root/scripts/build.sh"

bin="$build/bin"
sample="$root/samples/models/shapes_cnn"
out="$build/demo"
mkdir -p "$out"

echo
echo "== 1. convert samples/models/shapes_cnn/model.json for the K210 =="
"$bin/emc-convert" "$sample/model.json" -p k210 --dataset "$sample/calib" --input-range 0,1 \
  -o "$out/shapes_cnn.kmodel" --report

echo
echo "== 2. run it on the KPU simulator =="
"$bin/emc-run" "$out/shapes_cnn.kmodel" --input "$sample/images/star_1.png" \
  --labels "$sample/labels.txt" --top 5 --profile

echo
echo "== 3. float model vs kmodel, top-5 side by side =="
"$bin/emc-compare" "$sample/model.json" "$out/shapes_cnn.kmodel" --labels "$sample/labels.txt" \
  --image "$sample/images/star_1.png" --image "$sample/images/triangle_2.png" \
  --image "$sample/images/ring_1.png" --report "$out/shapes_cnn_report.html"

echo
echo "== 4. the same over every bundled test image (top-1 agreement, |dp|) =="
"$bin/emc-compare" "$sample/model.json" "$out/shapes_cnn.kmodel" --labels "$sample/labels.txt" \
  --dataset "$sample/images" --quiet

echo
echo "Done. kmodel: $out/shapes_cnn.kmodel (+ .map.json), report: $out/shapes_cnn_report.html"
