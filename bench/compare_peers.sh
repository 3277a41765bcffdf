#!/bin/bash
# EMC against onnxruntime on the same MobileNet v1 (alpha 1.0 and 0.75, 224x224, 1000 classes,
# the Keras topology), measured one after the other in this one run, 1 thread, medians; prints
# the ratios (kpu-sim, and the cpu backend on the -p cpu conversion, against onnxruntime). Figures
# from different runs on a shared machine are not comparable.
#
#   bench/compare_peers.sh [BUILD_DIR=build] [WORK_DIR=BUILD_DIR/perf] [--scaling]
#
# Needs: BUILD_DIR/bin/emc-convert and emc-run; node + npm (samples/tfjs's packages for the TF.js
# model, onnxruntime-node@1.30.0 installed into WORK_DIR/ort as ../shared/perf/README.md says);
# Debian python3-onnx + python3-numpy for ../shared/perf/gen_models.py. Skips the peer (with a
# message) when npm or the ONNX generator is unavailable. --scaling also measures kpu-sim time
# against MACs (alpha 0.25/0.5/0.75/1.0) and emc-convert time against 1/8/32/128 calibration
# images.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SCALING=0
ARGS=()
for a in "$@"; do
  if [ "$a" = "--scaling" ]; then SCALING=1; else ARGS+=("$a"); fi
done
BUILD=$(cd "${ARGS[0]:-$ROOT/build}" && pwd) || exit 2
WORK=${ARGS[1]:-$BUILD/perf}
PERF_SHARED=${EMC_PERF_DIR:-$ROOT/../shared/perf}
RUNS=${RUNS:-20}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
for t in emc-convert emc-run; do
  [ -x "$BUILD/bin/$t" ] || { echo "missing $BUILD/bin/$t (build the tools first)" >&2; exit 2; }
done
log() { echo "# $*" >&2; }
median_of() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# --- EMC side: TF.js models, calibration images, kmodels --------------------------------------
if [ ! -d "$ROOT/samples/tfjs/node_modules" ]; then
  log "installing samples/tfjs packages (npm ci)"
  (cd "$ROOT/samples/tfjs" && npm ci --no-audit --no-fund >"$WORK/npm_samples.log" 2>&1) || {
    echo "SKIP: npm unreachable, cannot build the TF.js MobileNet (see $WORK/npm_samples.log)"
    exit 0
  }
fi
make_model() {  # alpha
  [ -f "$WORK/mnv1_$1/model.json" ] ||
    node "$HERE/make_mobilenet_tfjs.js" "$1" "$WORK/mnv1_$1" >/dev/null 2>"$WORK/make_$1.log" || return 1
}
make_calib() {  # n
  [ -d "$WORK/calib$1" ] || node "$HERE/make_calib_images.js" "$1" "$WORK/calib$1" >/dev/null || return 1
}
convert() {  # alpha images -> prints seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$BUILD/bin/emc-convert" "$WORK/mnv1_$1/model.json" --dataset "$WORK/calib$2" --input-range -1,1 \
    --quiet -o "$WORK/mnv1_$1.kmodel" >"$WORK/convert_$1_$2.log" 2>&1 || return 1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
convert_cpu() {  # alpha: the same network for -p cpu (the cpu backend's int8 kernels)
  "$BUILD/bin/emc-convert" "$WORK/mnv1_$1/model.json" --dataset "$WORK/calib8" --input-range -1,1 \
    --quiet -p cpu -o "$WORK/mnv1_$1_cpu.kmodel" >"$WORK/convert_$1_cpu.log" 2>&1
}
emc_ms() {  # alpha -> median ms of emc-run --bench
  "$BUILD/bin/emc-run" "$WORK/mnv1_$1.kmodel" --input "$WORK/calib1/calib_000.png" --bench "$RUNS" \
    --warmup 3 --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total_ms"]["median"])'
}
make_calib 1 && make_calib 8 || { echo "cannot write calibration images" >&2; exit 1; }
for a in 1.0 0.75; do
  make_model $a || { echo "cannot build the TF.js MobileNet alpha $a (see $WORK/make_$a.log)" >&2; exit 1; }
  convert $a 8 >/dev/null || { echo "emc-convert failed (see $WORK/convert_${a}_8.log)" >&2; exit 1; }
  convert_cpu $a || { echo "emc-convert -p cpu failed (see $WORK/convert_${a}_cpu.log)" >&2; exit 1; }
done

# --- Peer: onnxruntime-node ----------------------------------------------------------------------
PEER=1
if [ ! -d "$WORK/ort/node_modules/onnxruntime-node" ]; then
  log "installing onnxruntime-node@1.30.0 into $WORK/ort"
  mkdir -p "$WORK/ort"
  (cd "$WORK/ort" && ONNXRUNTIME_NODE_INSTALL=skip npm install --ignore-scripts --no-audit --no-fund \
    onnxruntime-node@1.30.0 >"$WORK/ort/npm.log" 2>&1) || {
    echo "SKIP peer: npm unreachable, onnxruntime-node not installed (see $WORK/ort/npm.log)"
    PEER=0
  }
fi
if [ $PEER = 1 ] && [ ! -f "$WORK/onnx/mobilenet_v1_1.0_u8u8.onnx" ]; then
  /usr/bin/python3 "$PERF_SHARED/gen_models.py" "$WORK/onnx" >"$WORK/gen_models.log" 2>&1 || {
    echo "SKIP peer: gen_models.py failed (apt-get install python3-onnx python3-numpy; see $WORK/gen_models.log)"
    PEER=0
  }
fi
[ $PEER = 1 ] && cp "$PERF_SHARED/bench_ort.js" "$HERE/bench_ort_cpu.js" "$WORK/ort/"
ort_ms() {  # model -> median ms, 1 thread
  (cd "$WORK/ort" && node bench_ort.js "$WORK/onnx/$1.onnx" 1 "$RUNS" 5) | sed -n 's/.*median=\([0-9.]*\).*/\1/p'
}

# CPU time per inference, median of per-run CPU times (emc-run --bench's thread CPU time;
# bench_ort_cpu.js: process.cpuUsage around each run). On a loaded machine the wall medians
# mostly measure the scheduler; CPU time is the steadier figure (both sides measured alike).
emc_cpu_ms() {  # alpha [kmodel suffix: _cpu for the -p cpu model]
  "$BUILD/bin/emc-run" "$WORK/mnv1_$1${2:-}.kmodel" --input "$WORK/calib1/calib_000.png" --bench "$RUNS" \
    --warmup 3 --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["cpu_ms"]["median"])'
}
ort_cpu_ms() {  # model
  (cd "$WORK/ort" && node bench_ort_cpu.js "$WORK/onnx/$1.onnx" 1 "$RUNS" 5) |
    sed -n 's/.*cpu_median=\([0-9.]*\).*/\1/p'
}

# --- One run: EMC and the peer back to back -----------------------------------------------------
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), runs=$RUNS, 1 thread"
printf "%-16s %14s %14s %14s %14s %10s %10s\n" model "EMC kpu-sim ms" "ort u8u8 ms" "ort u8s8 ms" "ort f32 ms" "EMC/u8u8" "EMC/u8s8"
for a in 1.0 0.75; do
  e=$(emc_ms $a)
  if [ $PEER = 1 ]; then
    u=$(ort_ms mobilenet_v1_${a}_u8u8); s=$(ort_ms mobilenet_v1_${a}_u8s8); f=$(ort_ms mobilenet_v1_${a}_f32)
    printf "%-16s %14.2f %14.2f %14.2f %14.2f %10.2f %10.2f\n" "MobileNet v1 $a" "$e" "$u" "$s" "$f" \
      "$(awk -v a="$e" -v b="$u" 'BEGIN { print a / b }')" "$(awk -v a="$e" -v b="$s" 'BEGIN { print a / b }')"
  else
    printf "%-16s %14.2f %14s %14s %14s %10s %10s\n" "MobileNet v1 $a" "$e" - - - - -
  fi
done
if [ $PEER = 1 ]; then
  echo "CPU time per inference (medians of per-run CPU time, the same $RUNS runs for both sides)"
  printf "%-16s %14s %14s %14s %10s %10s %14s %10s\n" model "EMC kpu-sim ms" "ort u8u8 ms" "ort u8s8 ms" \
    "EMC/u8u8" "EMC/u8s8" "EMC cpu ms" "cpu/u8s8"
  for a in 1.0 0.75; do
    e=$(emc_cpu_ms $a); u=$(ort_cpu_ms mobilenet_v1_${a}_u8u8); s=$(ort_cpu_ms mobilenet_v1_${a}_u8s8)
    c=$(emc_cpu_ms $a _cpu)
    printf "%-16s %14.2f %14.2f %14.2f %10.2f %10.2f %14.2f %10.2f\n" "MobileNet v1 $a" "$e" "$u" "$s" \
      "$(awk -v a="$e" -v b="$u" 'BEGIN { print a / b }')" "$(awk -v a="$e" -v b="$s" 'BEGIN { print a / b }')" \
      "$c" "$(awk -v a="$c" -v b="$s" 'BEGIN { print a / b }')"
  done
fi
# The float executor (bench_float_executor, built with -DEMC_BUILD_BENCH=ON): the same Keras
# MobileNet v1 1.0 topology with random weights, fused as calibration runs it; median wall ms.
FLOAT_BENCH="$BUILD/bench/bench_float_executor"
float_ms() {  # benchmark name regex -> median ms
  "$FLOAT_BENCH" --benchmark_filter="$1" --benchmark_repetitions="$2" --benchmark_min_time=0.01 \
    --benchmark_report_aggregates_only=true --benchmark_format=json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys
b=[x for x in json.load(sys.stdin)["benchmarks"] if x.get("aggregate_name")=="median"]
print(b[0]["real_time"], b[0]["cpu_time"])'
}
if [ -x "$FLOAT_BENCH" ]; then
  fc=-
  [ $PEER = 1 ] && fc=$(ort_cpu_ms mobilenet_v1_1.0_f32)
  printf "%-34s %14s %14s %10s %14s %14s %10s\n" "float executor" "EMC ms" "ort f32 ms" "EMC/f32" \
    "EMC CPU ms" "ort f32 CPU ms" "CPU ratio"
  for v in "fast avx512:BM_MobileNetV1_a100_224_Fast/2\$:$RUNS" "fast avx2:BM_MobileNetV1_a100_224_Fast/1\$:$RUNS" \
           "exact (TF.js):BM_MobileNetV1_a100_224_Optimized\$:5"; do
    IFS=: read -r label re reps <<<"$v"
    read -r e ec <<<"$(float_ms "$re" "$reps")"
    if [ $PEER = 1 ]; then
      f=$(ort_ms mobilenet_v1_1.0_f32)
      printf "%-34s %14.2f %14.2f %10.2f %14.2f %14.2f %10.2f\n" "MobileNet v1 1.0 $label" "$e" "$f" \
        "$(awk -v a="$e" -v b="$f" 'BEGIN { print a / b }')" "$ec" "$fc" \
        "$(awk -v a="$ec" -v b="$fc" 'BEGIN { print a / b }')"
    else
      printf "%-34s %14.2f %14s %10s %14.2f %14s %10s\n" "MobileNet v1 1.0 $label" "$e" - - "$ec" - -
    fi
  done
else
  echo "float executor: $FLOAT_BENCH not built (configure with -DEMC_BUILD_BENCH=ON)"
fi
"$BUILD/bin/emc-run" "$WORK/mnv1_1.0.kmodel" --input "$WORK/calib1/calib_000.png" --bench 3 --warmup 1 |
  grep "peak RSS" | sed 's/^/MobileNet v1 1.0 emc-run /'

[ $SCALING = 1 ] || exit 0
echo
echo "kpu-sim time against MACs (emc-run --bench $RUNS, median)"
printf "%-8s %10s %10s %12s\n" alpha "M MACs" "ms" "ns/MAC"
declare -A MACS=([0.25]=41 [0.5]=149 [0.75]=325 [1.0]=569)  # Keras MobileNet v1 @224 (gen_models.py)
for a in 0.25 0.5 0.75 1.0; do
  make_model $a && { [ -f "$WORK/mnv1_$a.kmodel" ] || convert $a 8 >/dev/null; } || continue
  e=$(emc_ms $a)
  printf "%-8s %10s %10.2f %12.3f\n" $a ${MACS[$a]} "$e" "$(awk -v a="$e" -v m="${MACS[$a]}" 'BEGIN { print a * 1e6 / (m * 1e6) }')"
done
echo
echo "emc-convert MobileNet v1 1.0 wall time against calibration images (minmax, default threads; median of 3)"
printf "%-8s %10s\n" images "s"
for n in 1 8 32 128; do
  make_calib $n || continue
  t=$(for r in 1 2 3; do convert 1.0 $n; done | median_of)
  printf "%-8s %10.2f\n" $n "$t"
done
