#!/usr/bin/env bash
# Fingerprints what emc-convert writes, to check that a refactoring of the converter (lowering,
# planning, emission) changes no output:
#   scripts/lowering_fingerprint.sh OUT.txt [BUILD_DIR]      # before the change (or on main)
#   ... change, rebuild emc-convert ...
#   scripts/lowering_fingerprint.sh AFTER.txt [BUILD_DIR] && diff OUT.txt AFTER.txt
# Each line: case name, sha256 of the kmodel, of its .map.json sidecar and of emc-convert's stderr
# (warnings, or the error of a model that does not convert, with its exit code). The cases: every
# samples/models model, the convertible Keras fixtures of tests/data/keras, the real models of
# ../shared/models and ../shared/models_h5, and the thirdparty MobileNetV2 / InceptionV3
# ($EMC_THIRDPARTY_DIR, default BUILD_DIR/thirdparty; scripts/thirdparty_models.sh), each for
# -p k210 and -p cpu; the small samples also with the option variants that pick other lowering
# forms (--dense kpu, --quantized-add, 16-bit per-layer weights, --approx-stride2 with -1,1 input).
#
# This is a before/after check run by hand, not a CTest: its reference is our own earlier output,
# which says nothing about correctness (the e2e tests check that against TF.js / Keras).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: lowering_fingerprint.sh OUT.txt [BUILD_DIR]}"
build="${2:-$root/build}"
conv="$build/bin/emc-convert"
[[ -x "$conv" ]] || { echo "no $conv (cmake --build $build --target emc-convert)" >&2; exit 1; }
thirdparty="${EMC_THIRDPARTY_DIR:-$build/thirdparty}"
shared="$root/../shared"
work="$(mktemp -d /tmp/emc_fingerprint.XXXXXX)"
trap 'rm -rf "$work"' EXIT
: >"$out"

sha() { sha256sum "$1" | cut -c1-16; }

# run NAME MODEL DATASET [emc-convert options...]
run() {
  local name="$1" model="$2" data="$3"
  shift 3
  local k="$work/out/$name.kmodel" rc=0
  mkdir -p "$work/out"
  "$conv" "$model" --dataset "$data" -o "$k" --quiet --threads 2 "$@" 2>"$work/err" >/dev/null ||
    rc=$?
  # The output path is the same in every run; strip it anyway so BUILD_DIR does not matter.
  sed -i "s|$work||g" "$work/err"
  if [[ $rc -eq 0 ]]; then
    echo "$name kmodel=$(sha "$k") map=$(sha "$k.map.json") stderr=$(sha "$work/err")" >>"$out"
  else
    echo "$name exit=$rc stderr=$(sha "$work/err")" >>"$out"
  fi
  rm -f "$k" "$k.map.json"
}

both() {  # NAME MODEL DATASET [options...]: -p k210 and -p cpu
  local name="$1"
  shift
  for p in k210 cpu; do run "$name.$p" "$1" "$2" -p "$p" "${@:3}"; done
}

# The range each model's stored .f32 inputs were made with (emc-convert refuses others).
range_of() {
  case "$1" in
    mobilenet_v1_025 | teachable_nested | tupleblog_gender) echo "--input-range -1,1" ;;
    deepmech_crop_detector) echo "--input-range mean=127.5:std=30" ;;  # noise in [-4.1, 3.8]
  esac
}

for d in "$root"/samples/models/*/; do
  m="$(basename "$d")"
  # shellcheck disable=SC2046
  both "$m" "$d/model.json" "$d/inputs" $(range_of "$m")
  both "$m.dense_kpu" "$d/model.json" "$d/inputs" --dense kpu $(range_of "$m")
  both "$m.qadd" "$d/model.json" "$d/inputs" --quantized-add $(range_of "$m")
  both "$m.w16" "$d/model.json" "$d/inputs" --weights-bits 16 --per-layer --no-bias-correction \
    $(range_of "$m")
  both "$m.approx" "$d/model.json" "$d/inputs" --approx-stride2 --input-range -1,1
done
both teachable_nested.list_form "$root/samples/models/teachable_nested/model_list_form.json" \
  "$root/samples/models/teachable_nested/inputs"

keras="$root/tests/data/keras"
for f in shapes_cnn_k2.h5 shapes_cnn_k213.keras shapes_cnn_k3.keras; do
  both "keras.$f" "$keras/$f" "$root/samples/models/shapes_cnn/inputs"
done
both keras.teachable_nested_k2.h5 "$keras/teachable_nested_k2.h5" \
  "$root/samples/models/teachable_nested/inputs" --input-range -1,1
for f in tiny_dense_f64.h5 tiny_dense_k213.keras tiny_dense_k3legacy.h5; do
  both "keras.$f" "$keras/$f" "$root/samples/models/tiny_dense/inputs"
done

for m in ml5_darknet_tiny neuralnetvis_cifar10 tupleblog_gender; do
  both "shared.$m" "$shared/models/$m/model.json" "$shared/models/$m/inputs" $(range_of "$m")
done
for m in deepmech_crop_detector tensorspace_keras_lenet; do
  both "shared_h5.$m" "$shared/models_h5/$m/model.h5" "$shared/models_h5/$m/inputs" $(range_of "$m")
done
both shared_h5.axelerate_yolov2_mbnet "$shared/models_h5/axelerate_yolov2_mbnet/model.h5" \
  "$root/samples/images"

if [[ -f "$thirdparty/mobilenet_v2/model.json" ]]; then
  both thirdparty.mobilenet_v2 "$thirdparty/mobilenet_v2/model.json" \
    "$thirdparty/mobilenet_v2/images" --input-range 0,1 --per-channel
  both thirdparty.mobilenet_v2.dense_kpu "$thirdparty/mobilenet_v2/model.json" \
    "$thirdparty/mobilenet_v2/images" --input-range 0,1 --dense kpu
  mkdir -p "$work/one_photo"
  cp "$thirdparty/inception_v3/images/$(ls "$thirdparty/inception_v3/images" | head -1)" \
    "$work/one_photo/"
  both thirdparty.inception_v3 "$thirdparty/inception_v3/model.json" "$work/one_photo" \
    --input-range 0,1
else
  echo "lowering_fingerprint: no $thirdparty/mobilenet_v2 (scripts/thirdparty_models.sh)" >&2
  exit 1
fi
echo "lowering_fingerprint: $(wc -l <"$out") cases -> $out"
