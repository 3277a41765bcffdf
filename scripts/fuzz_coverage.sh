#!/usr/bin/env bash
# Line coverage of what the fuzz corpora reach: builds the harnesses with clang's source-based
# coverage (plus the fuzz build's sanitizers), replays each target's seeds and committed minimized
# corpus (fuzz/corpus/<target>: every edge the campaigns reached) once (-runs=0), and prints
# llvm-cov's summary line for the code the target is about (per-file report in the build folder).
#
#   scripts/fuzz_coverage.sh [TARGET...]          (default: all five)
#   EMC_COV_BUILD=<dir>   coverage build (default: build/fuzz-cov)
# Reports go to <cov build>/report-<target>.txt. See fuzz/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
COV=${EMC_COV_BUILD:-$ROOT/build/fuzz-cov}
SHARED=${EMC_SHARED_DIR:-$ROOT/../shared}
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz_kmodel_parser fuzz_model_json fuzz_keras_h5 fuzz_keras_zip fuzz_convert)

CC=clang-14 CXX=clang++-14 cmake -S "$ROOT" -B "$COV" -DEMC_BUILD_FUZZ=ON -DEMC_BUILD_TESTS=OFF \
  -DEMC_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fprofile-instr-generate -fcoverage-mapping" \
  -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" >/dev/null
cmake --build "$COV" -j"${EMC_FUZZ_JOBS:-2}" --target "${TARGETS[@]}"

for target in "${TARGETS[@]}"; do
  short=${target#fuzz_}
  inputs=()
  case "$target" in
    fuzz_kmodel_parser) inputs=("$ROOT/fuzz/seeds/kmodel" "$SHARED/kmodels"); src=(format/src) ;;
    fuzz_model_json) inputs=("$ROOT/fuzz/seeds/model_json"); src=(converter/src/import converter/src/graph) ;;
    fuzz_keras_h5) inputs=("$ROOT/fuzz/seeds/keras_h5" "$ROOT/tests/data/keras"); src=(converter/src/import) ;;
    fuzz_keras_zip) inputs=("$ROOT/fuzz/seeds/keras_zip" "$ROOT/tests/data/keras"); src=(converter/src/import) ;;
    fuzz_convert)
      inputs=("$ROOT/fuzz/seeds/convert")
      src=(converter/src interpreter/src accel_sim/src cpu_backend/src format/src)
      ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
  inputs+=("$ROOT/fuzz/corpus/$short")
  work="$COV/cov-$target"
  rm -rf "$work" && mkdir -p "$work"
  # Each input runs once; -runs=0 with folders replays every file in them.
  (cd "$work" && ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0 \
    LLVM_PROFILE_FILE="$work/%p.profraw" "$COV/fuzz/$target" -runs=0 -timeout=120 \
    -rss_limit_mb=4096 -malloc_limit_mb=4194304 "${inputs[@]}" >"$work/replay.txt" 2>&1)
  llvm-profdata-14 merge -sparse "$work"/*.profraw -o "$work/cov.profdata"
  paths=()
  for s in "${src[@]}"; do paths+=("$ROOT/$s"); done
  llvm-cov-14 report "$COV/fuzz/$target" -instr-profile="$work/cov.profdata" "${paths[@]}" \
    >"$COV/report-$target.txt"
  echo "== $target: ${inputs[*]} -> $COV/report-$target.txt"
  tail -1 "$COV/report-$target.txt"
done
