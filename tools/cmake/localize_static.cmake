# Makes libclrnn.a safe to link beside an application's own code: its objects are merged into one
# relocatable object (ld -r) and every hidden symbol of it (all but clrnn.h's CLRNN_API functions:
# the objects are compiled with -fvisibility=hidden) is made local (objcopy --localize-hidden), as
# the shared library's linker does. References between clrnn's own objects are resolved by then,
# so an application may define clrnn_fail, onnx__model_proto__unpack or any other of its names.
#   cmake -DLIB=libclrnn.a -DLD=ld -DOBJCOPY=objcopy -DAR=ar -P localize_static.cmake
# Run after each archive of the library (CMakeLists.txt, POST_BUILD of clrnn_archive);
# tests/install/test_exports.sh checks the result.
set(work "${LIB}.localize")
file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${work}")
set(obj "${work}/clrnn.o")
execute_process(COMMAND "${LD}" -r --whole-archive "${LIB}" -o "${obj}" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ld -r of ${LIB} failed: ${err}")
endif()
execute_process(COMMAND "${OBJCOPY}" --localize-hidden "${obj}" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "objcopy --localize-hidden failed: ${err}")
endif()
file(REMOVE "${LIB}")
execute_process(COMMAND "${AR}" rcs "${LIB}" "${obj}" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ar of ${LIB} failed: ${err}")
endif()
file(REMOVE_RECURSE "${work}")
