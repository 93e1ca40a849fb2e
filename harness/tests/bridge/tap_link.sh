#!/usr/bin/env bash
# The tap link on real taps: frames both ways through the kernel, short frames accepted, oversize frames
# dropped, an adopted fd, and the setup errors (missing, down, busy, tun, bad fds). The program does the
# checks (wizsim-bridge-check tapcheck); this script makes the taps it expects, in fresh namespaces.
# Usage: tap_link.sh <wizsim-bridge-check> <artifact dir>
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bridge_require_tools unshare ip sysctl
bridge_enter_namespaces "$@"

bridge_lo_up
bridge_make_tap wsim0 192.168.77.1/24
bridge_make_tap wsim1 192.168.78.1/24 9000   # a raised MTU: the kernel hands over frames > 1514
bridge_make_tap wsim3
ip tuntap add dev wsim2 mode tap             # left down
ip tuntap add dev wsimtun mode tun
ip -br link >"$OUT/links.txt"

if ! "$TOOL" tapcheck --prefix wsim >"$OUT/tapcheck.log" 2>"$OUT/tapcheck.stderr"; then
  cat "$OUT/tapcheck.log" "$OUT/tapcheck.stderr" >&2
  bridge_fail "tapcheck failed"
fi
cat "$OUT/tapcheck.log" >&2
bridge_log "passed"
