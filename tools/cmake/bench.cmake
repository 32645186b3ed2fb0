# Benchmarks and CLBlast tuning (issue 5), included by the top-level CMakeLists after tests/:
#   - clrnn-bench: timings of one shape or the S1-S6 suite, optionally side by side with oneDNN
#     (found here as an optional library; CLRNN_HAVE_DNNL), time-to-first-result, SVG plot;
#   - clrnn-tune: tunes CLBlast for the GEMMs clrnn issues and writes the device's tuning file;
#   (their smoke tests on tiny shapes: tests/CMakeLists.txt).
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
