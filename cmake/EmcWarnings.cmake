# emc_target_defaults(<target>): warnings (-Wall -Wextra, kept clean) and the shared include layout.
function(emc_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wcast-align -Wimplicit-fallthrough)
  # GCC 12 at -O3 reports a -Wrestrict overlap inside libstdc++'s std::string operator+ that
  # cannot happen (GCC bug 105329, fixed in GCC 13); only that compiler gets it switched off.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
endfunction()

# emc_add_library(<name>): one static library per top-level folder; sources are every .cpp under
# <folder>/src, public headers under <folder>/include/emc/<folder>/. The library is also reachable
# as emc::<folder> (the name find_package(emc) gives it), and it is installed with its headers into
# the `emcTargets` export set (see the root CMakeLists.txt).
function(emc_add_library name)
  string(REGEX REPLACE "^emc_" "" _export ${name})
  file(GLOB_RECURSE _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  if(NOT _srcs)  # a folder whose sources are not written yet: headers only
    add_library(${name} INTERFACE)
    set(_scope INTERFACE)
  else()
    add_library(${name} STATIC ${_srcs})
    set(_scope PUBLIC)
    target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    emc_target_defaults(${name})
  endif()
  target_include_directories(${name} ${_scope}
                             $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
                             $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(${name} ${_scope} cxx_std_20)
  set_target_properties(${name} PROPERTIES EXPORT_NAME ${_export})
  add_library(emc::${_export} ALIAS ${name})
  install(TARGETS ${name} EXPORT emcTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# emc_add_gtest(<name> <dir> LIBS ...): one GoogleTest executable from every .cpp under <dir>.
function(emc_add_gtest name dir)
  cmake_parse_arguments(ARG "" "" "LIBS" ${ARGN})
  file(GLOB_RECURSE _srcs CONFIGURE_DEPENDS ${dir}/*.cpp)
  add_executable(${name} ${_srcs})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gmock GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE EMC_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
                                             EMC_SHARED_DIR="${EMC_SHARED_DIR}")
  emc_target_defaults(${name})
  gtest_discover_tests(${name} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} DISCOVERY_TIMEOUT 60)
endfunction()
