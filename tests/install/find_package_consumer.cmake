# CTest script (tests/CMakeLists.txt, test `install.find_package_consumer`): installs the built
# tree into a fresh prefix, configures samples/custom_backend OUT OF TREE against it with
# find_package(emc), builds it, and runs it on a real kmodel (maixpy_mnist.kmodel: 11 layers, the
# last a SOFTMAX, ../shared/kmodels/SOURCES.md). An installed tool (emc-inspect) reads the same file.
# Inputs (-D): BUILD_DIR, SAMPLE_DIR, WORK_DIR, MODEL, CXX_COMPILER, BUILD_TYPE, and optionally
# LAUNCHER (compiler launcher, e.g. ccache) and EXTRA_FLAGS (the tree's sanitizer flags: the
# installed static libraries need the same runtime at link time).
foreach(var BUILD_DIR SAMPLE_DIR WORK_DIR MODEL CXX_COMPILER BUILD_TYPE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "find_package_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${MODEL}")
  message(FATAL_ERROR "missing fixture: ${MODEL}")
endif()

set(prefix "${WORK_DIR}/prefix")
set(consumer "${WORK_DIR}/consumer")
file(REMOVE_RECURSE "${WORK_DIR}")

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n${out}\n${err}")
  endif()
  set(run_out "${out}${err}" PARENT_SCOPE)
endfunction()

run("install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f include/emc/interpreter/backend.h include/emc/format/layer_types.def bin/emc-run
          bin/emc-convert bin/emc-inspect bin/emc-compare)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install did not put ${f} in ${prefix}")
  endif()
endforeach()
file(GLOB_RECURSE config "${prefix}/*/emcConfig.cmake")
if(NOT config)
  message(FATAL_ERROR "install did not put emcConfig.cmake under ${prefix}")
endif()
get_filename_component(config_dir "${config}" DIRECTORY)
file(READ "${config_dir}/emcTargets.cmake" targets)
foreach(lib format converter interpreter accel_sim cpu_backend)
  if(NOT targets MATCHES "add_library\\(emc::${lib} STATIC IMPORTED\\)")
    message(FATAL_ERROR "the installed package does not export emc::${lib}")
  endif()
endforeach()

set(flags)
if(LAUNCHER)
  list(APPEND flags "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
endif()
if(EXTRA_FLAGS)
  list(APPEND flags "-DCMAKE_CXX_FLAGS=${EXTRA_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA_FLAGS}")
endif()
# Only the fresh prefix may provide emc (no user/system package registry).
run("configure the out-of-tree sample" ${CMAKE_COMMAND} -S "${SAMPLE_DIR}" -B "${consumer}"
    "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF ${flags})
file(STRINGS "${consumer}/CMakeCache.txt" emc_dir REGEX "^emc_DIR:")
string(FIND "${emc_dir}" "${prefix}/" at)
if(NOT at GREATER -1)
  message(FATAL_ERROR "find_package(emc) did not use the installed package: ${emc_dir}")
endif()
run("build the out-of-tree sample" ${CMAKE_COMMAND} --build "${consumer}")

run("run the out-of-tree sample" "${consumer}/custom_backend_demo" "${MODEL}" --runs 2)
foreach(expect "backends: counting-softmax, kpu-sim, cpu" "counting-softmax calls: 2"
               "output 0: 10 values, sum 1.000000")
  string(FIND "${run_out}" "${expect}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the out-of-tree sample did not print '${expect}':\n${run_out}")
  endif()
endforeach()
if(NOT run_out MATCHES "layer 10 SOFTMAX +-> counting-softmax")
  message(FATAL_ERROR "SOFTMAX was not bound to the custom backend:\n${run_out}")
endif()

run("installed emc-inspect" "${prefix}/bin/emc-inspect" "${MODEL}")
if(NOT run_out MATCHES "SOFTMAX")
  message(FATAL_ERROR "installed emc-inspect did not list the model's layers:\n${run_out}")
endif()
message(STATUS "installed, built out of tree and ran: OK")
file(REMOVE_RECURSE "${WORK_DIR}")  # ~250 MB of libraries with debug info; kept only on failure
