# C API tests: C programs (not GoogleTest) linked against the harness through wizsim/wizsim.h only.
# Included from harness/tests/CMakeLists.txt.
#  - capi.third_party_c_driver_talks_udp_and_tcp: a vendor-style C driver (its own function-pointer HAL,
#    its own register code) runs unmodified on the virtual chip and network, compiled as C99.
#  - capi.handle_pins_time_cable_and_log: the handle-based pins, exact byte times, RSTn/PLL lock, INTn,
#    the cable, run_until, the human log and per-instance clocks behind the callbacks (C99).
#  - capi.misuse_is_reported_never_fatal: every misuse returns an error and a message, compiled as C90
#    with -pedantic so the public header stays C89-clean.
enable_language(C)

set(WIZSIM_CAPI_TEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/capi)
set(WIZSIM_CAPI_C_WARNINGS -Wall -Wextra -Werror)

add_executable(capi_third_party_driver_test ${WIZSIM_CAPI_TEST_DIR}/third_party_driver_test.c
                                            ${WIZSIM_CAPI_TEST_DIR}/wiz_driver.c)
set_target_properties(capi_third_party_driver_test PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON
                      C_EXTENSIONS OFF)

add_executable(capi_pins_and_time_test ${WIZSIM_CAPI_TEST_DIR}/pins_and_time_test.c)
set_target_properties(capi_pins_and_time_test PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)

add_executable(capi_misuse_test ${WIZSIM_CAPI_TEST_DIR}/misuse_test.c)
set_target_properties(capi_misuse_test PROPERTIES C_STANDARD 90 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(capi_misuse_test PRIVATE -pedantic)

foreach(t capi_third_party_driver_test capi_pins_and_time_test capi_misuse_test)
  target_compile_options(${t} PRIVATE ${WIZSIM_CAPI_C_WARNINGS})
  target_link_libraries(${t} PRIVATE wizsim_harness)
  # The harness is C++: link with the C++ driver so libstdc++ comes along.
  set_target_properties(${t} PROPERTIES LINKER_LANGUAGE CXX)
endforeach()

add_test(NAME capi.third_party_c_driver_talks_udp_and_tcp
         COMMAND capi_third_party_driver_test ${CMAKE_CURRENT_BINARY_DIR}/capi_third_party.pcap
                 ${CMAKE_CURRENT_BINARY_DIR}/capi_third_party.jsonl)
add_test(NAME capi.handle_pins_time_cable_and_log
         COMMAND capi_pins_and_time_test ${CMAKE_CURRENT_BINARY_DIR}/capi_pins_and_time.log)
add_test(NAME capi.misuse_is_reported_never_fatal COMMAND capi_misuse_test)
set_tests_properties(capi.third_party_c_driver_talks_udp_and_tcp capi.handle_pins_time_cable_and_log
                     capi.misuse_is_reported_never_fatal
                     PROPERTIES TIMEOUT 60 LABELS capi)
