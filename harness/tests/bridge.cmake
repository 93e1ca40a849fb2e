# The real-network bridge tests (bridge.hpp). The pacer check needs nothing; the others run a script in
# harness/tests/bridge/ that makes its own network and PID namespaces with a tap, starts real software in
# them (dnsmasq, python's http.server, curl, ping, udhcpc, dig) and runs wizsim-bridge-check against it.
# They need root (or user namespaces and an accessible /dev/net/tun) and skip with 77 otherwise; a missing
# tool skips too, except under CI. Artifacts (pcaps, daemon logs, program output) stay in
# <build>/harness/tests/bridge/<test>/.
if(NOT TARGET wizsim-bridge-check)
  return()
endif()
add_test(NAME bridge.pacer COMMAND wizsim-bridge-check pacer)
set_tests_properties(bridge.pacer PROPERTIES TIMEOUT 60 LABELS "bridge")
foreach(script tap_link chip_to_real real_to_peers)
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/bridge/${script}.sh)
    add_test(NAME bridge.${script}
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/bridge/${script}.sh $<TARGET_FILE:wizsim-bridge-check>
                     ${CMAKE_CURRENT_BINARY_DIR}/bridge/${script})
    set_tests_properties(bridge.${script} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180 LABELS "bridge;network")
  endif()
endforeach()
