# Reliability (issue 6), included by the top-level CMakeLists: the libFuzzer targets (CLRNN_FUZZ,
# clang only; tools/fuzz.sh builds and runs them). The bad-input, thread, cache-fault and
# determinism suites, and the sanitizer options of every test program, are in tests/CMakeLists.txt
# (registered when this module is listed in CLRNN_MODULES).

option(CLRNN_FUZZ "Build the libFuzzer targets (needs clang as the C compiler)" OFF)

# ---- fuzzing (clang's libFuzzer) ----
# Each target compiles only the sources it exercises (no OpenCL needed), instrumented with
# -fsanitize=fuzzer,address,undefined. Adding a target: list its harness and sources below.
if(CLRNN_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CLRNN_FUZZ needs clang (configure with CC=clang; see tools/fuzz.sh)")
  endif()
  set(CLRNN_FUZZ_FLAGS -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
      -fno-sanitize-recover=undefined)
  function(clrnn_fuzzer name)
    add_executable(${name} ${ARGN})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
    target_compile_definitions(${name} PRIVATE CL_TARGET_OPENCL_VERSION=120)
    target_compile_options(${name} PRIVATE ${CLRNN_WARNINGS} ${CLRNN_FUZZ_FLAGS})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE m)
  endfunction()
  clrnn_fuzzer(fuzz_npy ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_npy.c ${PROJECT_SOURCE_DIR}/src/core/npy.c
               ${PROJECT_SOURCE_DIR}/src/core/status.c
               ${PROJECT_SOURCE_DIR}/src/core/files.c)
  # The ONNX loader needs the whole library (a context, device tensors for folded constants): its
  # objects get coverage instrumentation too, and the target links them with OpenCL and CLBlast.
  if(TARGET clrnn_objects AND EXISTS ${PROJECT_SOURCE_DIR}/tools/cmake/onnx.cmake)
    target_compile_options(clrnn_objects PRIVATE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
    clrnn_fuzzer(fuzz_onnx ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_onnx.c $<TARGET_OBJECTS:clrnn_objects>)
    target_link_libraries(fuzz_onnx PRIVATE OpenCL::OpenCL clblast ${CLRNN_PROTOBUF_C_LIBRARY} Threads::Threads)
    if(TARGET PkgConfig::CLRNN_KERAS_DEPS)
      target_link_libraries(fuzz_onnx PRIVATE PkgConfig::CLRNN_KERAS_DEPS)
      # the Keras loader: configs wrapped with fixed weights (or, CLRNN_FUZZ_KERAS_RAW=1, whole files)
      clrnn_fuzzer(fuzz_keras ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_keras.c $<TARGET_OBJECTS:clrnn_objects>)
      target_link_libraries(fuzz_keras PRIVATE OpenCL::OpenCL clblast ${CLRNN_PROTOBUF_C_LIBRARY} Threads::Threads
                            PkgConfig::CLRNN_KERAS_DEPS)
      target_compile_definitions(fuzz_keras PRIVATE
        CLRNN_FUZZ_KERAS_WEIGHTS="${PROJECT_SOURCE_DIR}/tests/fuzz/keras_weights.h5")
    endif()
  endif()
endif()
