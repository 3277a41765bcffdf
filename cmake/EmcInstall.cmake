# `cmake --install <build> [--prefix P]` puts the public headers (include/emc/...), the static
# libraries, the tools (bin/) and a relocatable CMake package (lib/cmake/emc) in place, so that
#   find_package(emc 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE emc::interpreter emc::accel_sim emc::cpu_backend)
# works from any project. The libraries and headers are installed by emc_add_library, the tools by
# emc_add_tool; this file writes the package description. tests/install/ checks it end to end.
include(CMakePackageConfigHelpers)
set(EMC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/emc)
install(EXPORT emcTargets NAMESPACE emc:: DESTINATION ${EMC_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/emcConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/emcConfig.cmake
                              INSTALL_DESTINATION ${EMC_INSTALL_CMAKEDIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/emcConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/emcConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/emcConfigVersion.cmake
        DESTINATION ${EMC_INSTALL_CMAKEDIR})
