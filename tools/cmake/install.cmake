# Installing clrnn like a library (issue 12), included by the top-level CMakeLists.txt last, after
# the optional modules (they add their dependencies to CLRNN_PC_REQUIRES_EXTRA and
# CLRNN_PACKAGE_DEPS):
#   - the one version: project(VERSION) in CMakeLists.txt; clrnn.h's macros must agree;
#   - install rules: libclrnn.so (SONAME per major) and libclrnn.a, clrnn.h, the license, the
#     CMake package (clrnn::clrnn, clrnn::clrnn_static) and clrnn.pc;
#   - the checks of the build tree: the .so exports exactly clrnn.h's functions, every tool answers
#     --version. tools/check-install.sh (install_consumer, and .ci/run) checks an installed tree.

# ---- one version ----
file(STRINGS ${PROJECT_SOURCE_DIR}/include/clrnn.h _clrnn_hdr_version
     REGEX "^#define CLRNN_VERSION_(MAJOR|MINOR|PATCH|STRING) ")
string(REGEX MATCH "MAJOR ([0-9]+)" _m "${_clrnn_hdr_version}")
set(_clrnn_hdr "${CMAKE_MATCH_1}")
string(REGEX MATCH "MINOR ([0-9]+)" _m "${_clrnn_hdr_version}")
string(APPEND _clrnn_hdr ".${CMAKE_MATCH_1}")
string(REGEX MATCH "PATCH ([0-9]+)" _m "${_clrnn_hdr_version}")
string(APPEND _clrnn_hdr ".${CMAKE_MATCH_1}")
string(REGEX MATCH "STRING \"([^\"]*)\"" _m "${_clrnn_hdr_version}")
if(NOT _clrnn_hdr STREQUAL PROJECT_VERSION OR NOT CMAKE_MATCH_1 STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "include/clrnn.h says version ${_clrnn_hdr} (CLRNN_VERSION_STRING \"${CMAKE_MATCH_1}\") "
                      "but CMakeLists.txt's project() says ${PROJECT_VERSION}: change both together")
endif()

# ---- install ----
install(TARGETS clrnn clrnn_archive EXPORT clrnnTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/NOTICE ${PROJECT_SOURCE_DIR}/CHANGELOG.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(EXPORT clrnnTargets NAMESPACE clrnn:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/clrnn)
configure_package_config_file(${PROJECT_SOURCE_DIR}/tools/cmake/clrnnConfig.cmake.in
  ${CMAKE_BINARY_DIR}/clrnnConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/clrnn)
# 0.x: any 0.y satisfies a request for 0.x (documented in the README: no ABI promise before 1.0)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/clrnnConfigVersion.cmake COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/clrnnConfig.cmake ${CMAKE_BINARY_DIR}/clrnnConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/clrnn)
# pkgconfig sits in <libdir>/pkgconfig: one ".." per libdir component, plus one for pkgconfig
string(REGEX REPLACE "[^/]+" ".." CLRNN_PC_UP "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
configure_file(${PROJECT_SOURCE_DIR}/tools/cmake/clrnn.pc.in ${CMAKE_BINARY_DIR}/clrnn.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/clrnn.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
