# Benchmarks and CLBlast tuning (issue 5), included by the top-level CMakeLists after tests/:
#   - clrnn-bench: timings of one shape or the S1-S6 suite, optionally side by side with oneDNN
#     (found here as an optional library; CLRNN_HAVE_DNNL), time-to-first-result, SVG plot;
#   - clrnn-tune: tunes CLBlast for the GEMMs clrnn issues and writes the device's tuning file;
#   - smoke tests that run both tools on tiny shapes.
if(NOT CLRNN_BUILD_TOOLS)
  return()
endif()

option(CLRNN_WITH_DNNL "Compare with oneDNN in clrnn-bench when libdnnl is found" ON)

set(CLRNN_BENCH_DNNL OFF)
if(CLRNN_WITH_DNNL)
  find_library(CLRNN_DNNL_LIBRARY NAMES dnnl)
  find_path(CLRNN_DNNL_INCLUDE_DIR NAMES oneapi/dnnl/dnnl.h)
  if(CLRNN_DNNL_LIBRARY AND CLRNN_DNNL_INCLUDE_DIR)
    set(CLRNN_BENCH_DNNL ON)
    # oneDNN's CPU engine runs on OpenMP (Debian's build: libgomp); the bench sets its thread count.
    find_package(OpenMP COMPONENTS C)
    message(STATUS "clrnn-bench: oneDNN comparison enabled (${CLRNN_DNNL_LIBRARY})")
  else()
    message(STATUS "clrnn-bench: oneDNN not found, comparison disabled")
  endif()
endif()

add_library(clrnn_bench_common STATIC ${PROJECT_SOURCE_DIR}/tools/bench_common.c)
target_link_libraries(clrnn_bench_common PUBLIC clrnn_static m)
target_compile_options(clrnn_bench_common PRIVATE ${CLRNN_WARNINGS})

add_executable(clrnn-bench ${PROJECT_SOURCE_DIR}/tools/bench.c)
target_include_directories(clrnn-bench PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_options(clrnn-bench PRIVATE ${CLRNN_WARNINGS})
target_link_libraries(clrnn-bench PRIVATE clrnn_bench_common clrnn_static clblast Threads::Threads m)
if(CLRNN_BENCH_DNNL)
  target_compile_definitions(clrnn-bench PRIVATE CLRNN_HAVE_DNNL=1)
  target_include_directories(clrnn-bench PRIVATE ${CLRNN_DNNL_INCLUDE_DIR})
  target_link_libraries(clrnn-bench PRIVATE ${CLRNN_DNNL_LIBRARY})
  if(OpenMP_C_FOUND)
    target_compile_definitions(clrnn-bench PRIVATE CLRNN_HAVE_OPENMP=1)
    target_link_libraries(clrnn-bench PRIVATE OpenMP::OpenMP_C)
  endif()
endif()

add_executable(clrnn-tune ${PROJECT_SOURCE_DIR}/tools/tune.c)
target_include_directories(clrnn-tune PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_options(clrnn-tune PRIVATE ${CLRNN_WARNINGS})
target_link_libraries(clrnn-tune PRIVATE clrnn_bench_common clrnn_static clblast Threads::Threads m)

install(TARGETS clrnn-bench clrnn-tune RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# ---- smoke tests: tiny shapes, one repeat, the JSON keys scripts rely on ----
if(CLRNN_BUILD_TESTS)
  add_test(NAME bench_smoke_lstm
    COMMAND clrnn-bench --cell lstm --seq 3 --batch 2 --input 5 --hidden 4 --repeat 1 --json)
  add_test(NAME bench_smoke_gru_lbr_bidir_lengths
    COMMAND clrnn-bench --cell gru_lbr --seq 4 --batch 3 --input 3 --hidden 6 --layers 2 --bidirectional
            --min-len 1 --repeat 1 --json)
  add_test(NAME bench_smoke_csv
    COMMAND clrnn-bench --cell rnn_relu --seq 2 --batch 2 --input 3 --hidden 3 --repeat 1 --csv)
  set_tests_properties(bench_smoke_lstm bench_smoke_gru_lbr_bidir_lengths PROPERTIES
    PASS_REGULAR_EXPRESSION "\"median_ms\": [0-9.]+.*\"min_ms\": [0-9.]+.*\"gflops\": [0-9.]+")
  set_tests_properties(bench_smoke_csv PROPERTIES PASS_REGULAR_EXPRESSION "median_ms,min_ms,gflops")
  # A damaged tuning file is reported and ignored: the run still succeeds.
  add_test(NAME bench_smoke_bad_tuning_file
    COMMAND ${CMAKE_COMMAND} -E env CLRNN_TUNING_FILE=${PROJECT_SOURCE_DIR}/tools/cmake/bench.cmake
            $<TARGET_FILE:clrnn-bench> --cell gru --seq 2 --batch 2 --input 3 --hidden 3 --repeat 1 --json)
  set_tests_properties(bench_smoke_bad_tuning_file PROPERTIES
    PASS_REGULAR_EXPRESSION "tuning file ignored.*\"median_ms\"")
  # A valid tuning file wins over the shipped table; one breaking a kernel's rules is rejected whole.
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/tune-smoke-good.txt
    "clrnn-clblast-tuning-v1\n# test file\nGemmRoutine XGEMM_MIN_INDIRECT_SIZE=77\n")
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/tune-smoke-bad.txt
    "clrnn-clblast-tuning-v1\nXgemm GEMMK=1 KREG=8 KWG=1 KWI=1 MDIMA=8 MDIMC=8 MWG=32 NDIMB=8 NDIMC=8 NWG=64 SA=0 SB=0 STRM=0 STRN=0 VWM=4 VWN=8\n")
  add_test(NAME tune_smoke_file_applied
    COMMAND ${CMAKE_COMMAND} -E env CLRNN_TUNING_FILE=${CMAKE_CURRENT_BINARY_DIR}/tune-smoke-good.txt
            $<TARGET_FILE:clrnn-tune> --show)
  set_tests_properties(tune_smoke_file_applied PROPERTIES
    PASS_REGULAR_EXPRESSION "\\(loaded\\).*GemmRoutine +from tuning file +XGEMM_MIN_INDIRECT_SIZE=77")
  add_test(NAME tune_smoke_file_rejected
    COMMAND ${CMAKE_COMMAND} -E env CLRNN_TUNING_FILE=${CMAKE_CURRENT_BINARY_DIR}/tune-smoke-bad.txt
            $<TARGET_FILE:clrnn-tune> --show)
  set_tests_properties(tune_smoke_file_rejected PROPERTIES PASS_REGULAR_EXPRESSION "REJECTED.*MWG = NWG")
  add_test(NAME tune_smoke_show COMMAND clrnn-tune --show)
  set_tests_properties(tune_smoke_show PROPERTIES PASS_REGULAR_EXPRESSION "tuning file:")
  set_tests_properties(bench_smoke_lstm bench_smoke_gru_lbr_bidir_lengths bench_smoke_csv
    bench_smoke_bad_tuning_file tune_smoke_show tune_smoke_file_applied tune_smoke_file_rejected
    PROPERTIES ENVIRONMENT "${CLRNN_TEST_ENV}" TIMEOUT 120)
endif()
