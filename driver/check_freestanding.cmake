# Fails when the microcontroller build of the driver (-fno-exceptions -fno-rtti) references the heap,
# exceptions or RTTI: malloc/calloc/realloc/free, operator new/delete, __cxa_throw and friends, typeinfo.
# Run by ctest: cmake -DLIB=<libwiznet5k_freestanding.a> -DNM=<nm> -P check_freestanding.cmake
execute_process(COMMAND ${NM} -C --undefined-only ${LIB} OUTPUT_VARIABLE undefined RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed on ${LIB}")
endif()
set(bad "")
string(REPLACE "\n" ";" lines "${undefined}")
foreach(line ${lines})
  if(line MATCHES "U (malloc|calloc|realloc|free|operator new|operator delete|__cxa_throw|__cxa_allocate_exception|__cxa_begin_catch|__gxx_personality|typeinfo|__dynamic_cast|std::__throw)")
    list(APPEND bad "${line}")
  endif()
endforeach()
if(bad)
  string(REPLACE ";" "\n  " bad_text "${bad}")
  message(FATAL_ERROR "the driver core must not use the heap, exceptions or RTTI; it references:\n  ${bad_text}")
endif()
message(STATUS "driver core: no heap, exception or RTTI references")
