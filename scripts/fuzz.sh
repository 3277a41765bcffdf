#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan + UBSan) and runs each of them for a given time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 600 s; fuzz_model_json,
#                                                        fuzz_kmodel_parser, fuzz_keras_h5,
#                                                        fuzz_keras_zip, fuzz_convert)
#   EMC_FUZZ_BUILD=<dir>  build directory (default: build/fuzz-clang)
#   EMC_FUZZ_JOBS=<n>     parallel build jobs (default: 2)
#   EMC_FUZZ_REPLAY=1     only replay the seeds and the kept corpus (-runs=0), no fresh fuzzing
#   EMC_FUZZ_RUNS=<n>     also stop after n executions (-runs=n), whichever of time and runs comes first
#
# Corpora are kept in <build>/run/<target>/corpus between runs; seeds are rebuilt every run from
# samples/models (model.json + shards), fuzz/seeds/ and ../shared/kmodels. Logs go to
# <build>/run/<target>/log-<UTC time>.txt. Any crash, leak, UBSan report, timeout or OOM makes
# this script exit non-zero; the reproducer is left as <build>/run/<target>/crash-* etc.
# See fuzz/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_PER_TARGET=${1:-600}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz_model_json fuzz_kmodel_parser fuzz_keras_h5 fuzz_keras_zip fuzz_convert)
BUILD=${EMC_FUZZ_BUILD:-$ROOT/build/fuzz-clang}
JOBS=${EMC_FUZZ_JOBS:-2}
SHARED=${EMC_SHARED_DIR:-$ROOT/../shared}

CC=clang-14 CXX=clang++-14 cmake -S "$ROOT" -B "$BUILD" -DEMC_BUILD_FUZZ=ON \
  -DEMC_BUILD_TESTS=OFF -DEMC_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}"

# model.json, then "\0--shard--\0" + shard bytes for every shard in manifest order (TF.js names
# its shards group<G>-shard<I>of<N>.bin, so a version sort gives the manifest order).
seed_model_json() {
  local dir=$1 out=$2
  cat "$dir/model.json" >"$out"
  local shard
  while IFS= read -r shard; do
    printf '\0--shard--\0' >>"$out"
    cat "$shard" >>"$out"
  done < <(find "$dir" -maxdepth 1 -name 'group*-shard*of*.bin' | sort -V)
}

status=0
for target in "${TARGETS[@]}"; do
  run="$BUILD/run/$target"
  mkdir -p "$run/corpus" "$run/seeds"
  rm -f "$run"/seeds/*
  # The committed minimized corpus of the last campaign seeds the next one (fuzz/README.md).
  short=${target#fuzz_}
  if [ -d "$ROOT/fuzz/corpus/$short" ]; then cp "$ROOT/fuzz/corpus/$short"/* "$run/seeds/"; fi
  flags=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  envs=()
  leak_replay=0
  case "$target" in
    fuzz_model_json)
      for d in "$ROOT"/samples/models/*/; do
        [ -f "$d/model.json" ] || continue
        name=$(basename "$d")
        seed_model_json "$d" "$run/seeds/$name.seed"
        cp "$d/model.json" "$run/seeds/$name.json-only"  # no shards: the missing-shard paths
      done
      cp "$ROOT"/fuzz/seeds/model_json/* "$run/seeds/"
      flags+=(-max_len=262144 -malloc_limit_mb=1024 -dict="$ROOT/fuzz/model_json.dict")
      ;;
    fuzz_keras_h5)
      # Small h5py-written Keras files (fuzz/seeds/make_keras_h5_seeds.py) and the test fixtures
      # up to 32 KB; the real files (0.1-10 MB) would only be cut at -max_len (fuzz/README.md).
      cp "$ROOT"/fuzz/seeds/keras_h5/*.h5 "$run/seeds/"
      for f in "$ROOT"/tests/data/keras/*.h5; do
        [ "$(stat -c %s "$f")" -le 32768 ] && cp "$f" "$run/seeds/"
      done
      # libhdf5 (uninstrumented) mallocs sizes a damaged file declares and checks for NULL, as
      # it gets in production; one of 1 GB or more from a file of at most 16 KB is a finding
      # (finding 5: 2.2 GB granted, then touched). It also leaks small blocks on some error
      # paths: a leak check after every such input (suppressed, but a whole-heap scan each time)
      # made the run 4x slower, so leaks are checked by the replay of the corpus below instead
      # (fuzz/README.md).
      envs=(ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0)
      leak_replay=1
      flags+=(-max_len=16384 -malloc_limit_mb=1024 -detect_leaks=0)
      ;;
    fuzz_keras_zip)
      for f in "$ROOT"/tests/data/keras/*.keras "$ROOT"/fuzz/seeds/keras_zip/*.keras; do
        [ "$(stat -c %s "$f")" -le 65536 ] && cp "$f" "$run/seeds/"
      done
      envs=(ASAN_OPTIONS=allocator_may_return_null=1 LSAN_OPTIONS=suppressions=$ROOT/fuzz/lsan_hdf5.supp)
      flags+=(-max_len=65536 -malloc_limit_mb=4194304)
      ;;
    fuzz_convert)
      # Any bytes are a model (fuzz/gen/model_gen.h); the committed inputs are past findings.
      # The slowest units (KPU layers with fitted tanh/sigmoid tables) take ~1-2 CPU-s under ASan
      # since the table check's speed-up (fuzz/README.md), 10x that wall at nice 19 on the loaded
      # machine: -timeout=60 catches hangs, not those.
      cp "$ROOT"/fuzz/seeds/convert/* "$run/seeds/"
      flags+=(-max_len=2048 -malloc_limit_mb=2048 -timeout=60)
      ;;
    fuzz_kmodel_parser)
      cp "$SHARED"/kmodels/*.kmodel "$run/seeds/"
      cp "$ROOT"/fuzz/seeds/kmodel/*.kmodel "$run/seeds/"  # EMC layer types (make_kmodel_seeds.py)
      flags+=(-max_len=65536 -malloc_limit_mb=512 -dict="$ROOT/fuzz/kmodel.dict")
      ;;
    *)
      flags+=(-max_len=65536)
      ;;
  esac
  log="$run/log-$(date -u +%Y%m%dT%H%M%SZ).txt"
  if [ "${EMC_FUZZ_REPLAY:-0}" = 1 ]; then
    flags+=(-runs=0)
  else
    flags+=(-max_total_time="$SECONDS_PER_TARGET")
    [ -n "${EMC_FUZZ_RUNS:-}" ] && flags+=(-runs="$EMC_FUZZ_RUNS")
  fi
  echo "== $target: $(git -C "$ROOT" rev-parse --short HEAD), log $log"
  if (cd "$run" && env "${envs[@]}" "$BUILD/fuzz/$target" "${flags[@]}" corpus seeds >"$log" 2>&1); then
    grep -E '^(#[0-9]+ +DONE|Done )|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
      "$log" || true
    if [ "$leak_replay" = 1 ] && ! (cd "$run" && env ASAN_OPTIONS=allocator_may_return_null=1 \
        LSAN_OPTIONS=suppressions="$ROOT/fuzz/lsan_hdf5.supp" "$BUILD/fuzz/$target" -runs=0 \
        -max_len=16384 -malloc_limit_mb=4194304 corpus seeds >>"$log" 2>&1); then
      echo "!! $target: the leak-checking replay of the corpus FAILED (see $log)"
      status=1
    fi
  else
    echo "!! $target FAILED (see $log):"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20 || true
    status=1
  fi
done
exit $status
