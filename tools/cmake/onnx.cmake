# ONNX models (issue 4): the protobuf-c parser generated at build time from the onnx.proto that
# libonnx-dev installs, the modules in src/onnx/ and their OpenCL kernels, the clrnn-run tool, and
# nothing else (its tests, tests/onnx/, are registered by tests/CMakeLists.txt).
# Included by the top-level CMakeLists.txt.

find_program(CLRNN_PROTOC_C protoc-c)
find_path(CLRNN_PROTOBUF_C_INCLUDE_DIR protobuf-c/protobuf-c.h)
find_library(CLRNN_PROTOBUF_C_LIBRARY protobuf-c)
set(CLRNN_ONNX_PROTO /usr/include/onnx/onnx.proto CACHE FILEPATH "onnx.proto the ONNX parser is generated from")
if(NOT CLRNN_PROTOC_C OR NOT CLRNN_PROTOBUF_C_INCLUDE_DIR OR NOT CLRNN_PROTOBUF_C_LIBRARY OR NOT EXISTS "${CLRNN_ONNX_PROTO}")
  message(FATAL_ERROR "ONNX support needs protoc-c, libprotobuf-c and onnx.proto "
                      "(Debian: protobuf-c-compiler libprotobuf-c-dev libonnx-dev); onnx.proto: ${CLRNN_ONNX_PROTO}")
endif()

set(CLRNN_ONNX_GEN ${CMAKE_CURRENT_BINARY_DIR}/onnx_gen)
file(MAKE_DIRECTORY ${CLRNN_ONNX_GEN})
get_filename_component(_onnx_proto_dir "${CLRNN_ONNX_PROTO}" DIRECTORY)
get_filename_component(_onnx_proto_name "${CLRNN_ONNX_PROTO}" NAME_WE)
add_custom_command(
  OUTPUT ${CLRNN_ONNX_GEN}/${_onnx_proto_name}.pb-c.c ${CLRNN_ONNX_GEN}/${_onnx_proto_name}.pb-c.h
  COMMAND ${CLRNN_PROTOC_C} --c_out=${CLRNN_ONNX_GEN} -I${_onnx_proto_dir} ${CLRNN_ONNX_PROTO}
  DEPENDS ${CLRNN_ONNX_PROTO}
  COMMENT "Generating the ONNX protobuf-c parser from ${CLRNN_ONNX_PROTO}" VERBATIM)

# The ONNX kernel program's files, in order (src/onnx/device.c builds them through program.c):
# the library's ABI header, storage.h (common.cl's helpers name its `store` type; fp32 here) and
# common.cl (REAL), the ONNX op codes, the kernels.
set(CLRNN_ONNX_CL_SOURCES
  ${PROJECT_SOURCE_DIR}/cl/abi.h
  ${PROJECT_SOURCE_DIR}/cl/storage.h
  ${PROJECT_SOURCE_DIR}/cl/common.cl
  ${PROJECT_SOURCE_DIR}/src/onnx/ox_abi.h
  ${PROJECT_SOURCE_DIR}/src/onnx/kernels.cl)
clrnn_embed_kernels(${CLRNN_ONNX_GEN}/onnx_kernels.c clrnn_ox_sources ${PROJECT_SOURCE_DIR} "Embedding the ONNX kernels"
                    ${CLRNN_ONNX_CL_SOURCES})

target_sources(clrnn_objects PRIVATE
  src/onnx/proto.c
  src/onnx/wire.c
  src/onnx/model.c
  src/onnx/value.c
  src/onnx/device.c
  src/onnx/ops.c
  src/onnx/ops_shape.c
  src/onnx/ops_math.c
  src/onnx/ops_elem.c
  src/onnx/ops_data.c
  src/onnx/ops_rnn.c
  src/onnx/ops_control.c
  src/onnx/fuse_loop.c
  src/onnx/export.c
  ${CLRNN_ONNX_GEN}/${_onnx_proto_name}.pb-c.c
  ${CLRNN_ONNX_GEN}/onnx_kernels.c)
target_include_directories(clrnn_objects PRIVATE ${CLRNN_ONNX_GEN} ${CLRNN_PROTOBUF_C_INCLUDE_DIR})
# Generated code: a newer protoc-c or compiler must not break the build with a warning.
set_source_files_properties(${CLRNN_ONNX_GEN}/${_onnx_proto_name}.pb-c.c PROPERTIES COMPILE_OPTIONS "-Wno-error")
# By name, so the exported static target asks the consumer's linker for -lprotobuf-c.
foreach(t clrnn_objects clrnn clrnn_archive clrnn_static)
  target_link_libraries(${t} PRIVATE protobuf-c)
endforeach()
# a static libclrnn pulls it in through pkg-config (clrnn.pc, written by install.cmake)
string(APPEND CLRNN_PC_REQUIRES_EXTRA " libprotobuf-c")

# ---- clrnn-run ----
if(CLRNN_BUILD_TOOLS)
  add_executable(clrnn-run tools/run.c)
  target_include_directories(clrnn-run PRIVATE src)
  target_compile_options(clrnn-run PRIVATE ${CLRNN_WARNINGS})
  target_link_libraries(clrnn-run PRIVATE clrnn_static clblast protobuf-c Threads::Threads m)
  install(TARGETS clrnn-run RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
