# Keras models loaded natively (issue 11): .keras archives and legacy .h5 files into the ONNX
# module's model (src/keras/), through Debian's libhdf5-dev (C API), libjansson-dev and
# libzip-dev, found with pkg-config. Required when the module is listed in CLRNN_MODULES, as the
# ONNX module's protobuf-c is: tools/install-deps.sh installs all three. Needs the onnx module.
# Included by the top-level CMakeLists.txt after onnx.cmake.

if(NOT TARGET clrnn_objects OR NOT DEFINED CLRNN_ONNX_GEN)
  message(FATAL_ERROR "the keras module needs the onnx module (list it first in CLRNN_MODULES)")
endif()
find_package(PkgConfig REQUIRED)
pkg_check_modules(CLRNN_KERAS_DEPS IMPORTED_TARGET hdf5 jansson libzip)
if(NOT CLRNN_KERAS_DEPS_FOUND)
  message(FATAL_ERROR "Keras support needs HDF5, jansson and libzip with their pkg-config files "
                      "(Debian: libhdf5-dev libjansson-dev libzip-dev; tools/install-deps.sh)")
endif()

target_sources(clrnn_objects PRIVATE src/keras/keras.c src/keras/keras_ops.c)
# the ONNX module's node builder looks up the Keras loader's own operators only when they are built
target_compile_definitions(clrnn_objects PRIVATE CLRNN_HAVE_KERAS=1)
target_include_directories(clrnn_objects PRIVATE ${CLRNN_KERAS_DEPS_INCLUDE_DIRS})
foreach(t clrnn_objects clrnn clrnn_archive clrnn_static)
  target_link_libraries(${t} PRIVATE PkgConfig::CLRNN_KERAS_DEPS)
endforeach()
# a static libclrnn pulls these in through pkg-config (clrnn.pc) and, for clrnn::clrnn_static, the
# installed CMake package (clrnnConfig.cmake): both written by install.cmake
string(APPEND CLRNN_PC_REQUIRES_EXTRA " hdf5 jansson libzip")
string(APPEND CLRNN_PACKAGE_DEPS [=[
find_dependency(PkgConfig)
pkg_check_modules(CLRNN_KERAS_DEPS QUIET IMPORTED_TARGET hdf5 jansson libzip)
if(NOT CLRNN_KERAS_DEPS_FOUND)
  set(clrnn_FOUND FALSE)
  set(clrnn_NOT_FOUND_MESSAGE "clrnn was built with Keras support: HDF5, jansson and libzip with their pkg-config files are needed (Debian: libhdf5-dev libjansson-dev libzip-dev)")
  return()
endif()
]=])

if(TARGET clrnn-run)
  target_compile_definitions(clrnn-run PRIVATE CLRNN_HAVE_KERAS=1)
  target_link_libraries(clrnn-run PRIVATE PkgConfig::CLRNN_KERAS_DEPS)
endif()
