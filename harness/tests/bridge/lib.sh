# Shared by the real-network bridge tests (sourced, not run). Each test script:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bridge_require_tools ip ss tshark dnsmasq ...   # missing: skip (77), or fail under CI
#   bridge_enter_namespaces "$@"                     # re-runs the script inside fresh namespaces
#   ... make the tap, start daemons, run wizsim-bridge-check, assert ...
# Every test script takes: <wizsim-bridge-check> <artifact directory>.
#
# The script runs as PID 1 of a new PID namespace, in new network and mount namespaces
# (`unshare --net --pid --fork --mount-proc --kill-child`): every daemon it starts dies with it, also
# when ctest kills it on a timeout; nothing is left in the root namespace; tests run in parallel with the
# same addresses. As non-root it adds a user namespace (works where /dev/net/tun is 0666).
# Exit 77 = skipped (ctest SKIP_RETURN_CODE): no privileges (not root, no CAP_NET_ADMIN, no usable
# /dev/net/tun, namespaces not allowed), or a missing tool outside CI. Under CI (CI=true, as ci/test sets
# it) a missing tool fails: ci/lib.sh installs them.
# shellcheck shell=bash
set -euo pipefail

BRIDGE_SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
BRIDGE_NAME="$(basename "$0" .sh)"
BRIDGE_PACKAGES="dnsmasq-base busybox curl iproute2 iputils-ping bind9-dnsutils procps tshark"

bridge_log() { printf '[%s] %s\n' "$BRIDGE_NAME" "$*" >&2; }
bridge_skip() {
  bridge_log "SKIP: $*"
  exit 77
}
bridge_fail() {
  bridge_log "FAIL: $*"
  exit 1
}

bridge_in_ci() {
  case "${CI:-}" in "" | 0 | false | FALSE) return 1 ;; *) return 0 ;; esac
}

# Finds each tool (a path, or a name on PATH); a missing one skips the test, or fails it under CI.
bridge_require_tools() {
  local t missing=()
  for t in "$@"; do
    if [[ "$t" == /* ]]; then
      [ -x "$t" ] || missing+=("$t")
    else
      command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  bridge_in_ci &&
    bridge_fail "missing tools under CI: ${missing[*]} (ci/lib.sh's WIZSIM_TEST_PACKAGES installs them)"
  bridge_skip "missing tools: ${missing[*]} (Debian packages: $BRIDGE_PACKAGES)"
}

# Outside: checks the arguments and the privileges, then re-runs this script in new namespaces (does not
# return). Inside: sets TOOL and OUT, empties the artifact directory and returns.
bridge_enter_namespaces() {
  [ $# -eq 2 ] || { echo "usage: $0 <wizsim-bridge-check> <artifact dir>" >&2; exit 2; }
  TOOL="$1"
  OUT="$2"
  [ -x "$TOOL" ] || bridge_fail "no test program at $TOOL"
  case "$OUT" in
    /*/?*) ;;
    *) bridge_fail "the artifact directory must be an absolute path below /: $OUT" ;;
  esac
  if [ "${WIZSIM_BRIDGE_INSIDE:-}" = 1 ] && [ "$$" = 1 ]; then
    mkdir -p "$OUT"
    find "$OUT" -mindepth 1 -delete  # a previous run's ready/stop files would confuse this one
    bridge_log "artifacts in $OUT"
    return 0
  fi
  [ -e /dev/net/tun ] ||
    bridge_skip "no /dev/net/tun (a kernel without TUN/TAP, or a container without the device)"
  local unshare=(unshare --net --pid --fork --mount-proc --kill-child) probe
  if [ "$(id -u)" != 0 ]; then
    if ! [ -r /dev/net/tun ] || ! [ -w /dev/net/tun ]; then
      bridge_skip "not root, and /dev/net/tun is not read-writable for uid $(id -u): no tap possible"
    fi
    unshare+=(--user --map-root-user)
  fi
  if ! probe=$("${unshare[@]}" true 2>&1); then
    bridge_skip "cannot create network and PID namespaces (${probe:-unshare failed}): needs root or" \
      "user namespaces"
  fi
  export WIZSIM_BRIDGE_INSIDE=1
  exec "${unshare[@]}" bash "$BRIDGE_SCRIPT" "$TOOL" "$OUT"
}

# Whether this namespace sits in a user namespace (not the initial one): some daemons behave differently.
bridge_in_user_ns() { ! grep -qE '^ *0 +0 +4294967295 *$' /proc/self/uid_map; }

# The loopback up; a tap with IPv6 off (no MLD/DAD/RS noise), an optional address and MTU, up. Not being
# able to create it means no CAP_NET_ADMIN or no usable /dev/net/tun: skip.
bridge_lo_up() {
  local err
  err=$(ip link set lo up 2>&1) || bridge_skip "cannot configure the namespace's loopback ($err): no CAP_NET_ADMIN"
}
bridge_make_tap() {  # name [address/prefix] [mtu]
  local tap="$1" addr="${2:-}" mtu="${3:-}" err
  if ! err=$(ip tuntap add dev "$tap" mode tap 2>&1); then
    bridge_skip "cannot create a tap ($err): no CAP_NET_ADMIN or no usable /dev/net/tun"
  fi
  sysctl -qw "net.ipv6.conf.$tap.disable_ipv6=1" 2>/dev/null || true
  [ -z "$mtu" ] || ip link set "$tap" mtu "$mtu"
  [ -z "$addr" ] || ip addr add "$addr" dev "$tap"
  ip link set "$tap" up
}

# dnsmasq on `tap` with the flags of the de-risking study (no config file, no pid or lease file, no
# upstream, no ping check before an OFFER) plus the given ones; logs go to $OUT/dnsmasq.log. Sets
# DNSMASQ_PID. As real root it stays root (--user=root: nothing to protect in a throw-away namespace);
# in a user namespace only debug mode (--no-daemon) works, as it never changes uid.
bridge_start_dnsmasq() {  # tap flags...
  local tap="$1" mode=(--keep-in-foreground --user=root)
  shift
  bridge_in_user_ns && mode=(--no-daemon)
  dnsmasq "${mode[@]}" --conf-file=/dev/null --pid-file= --leasefile-ro --interface="$tap" \
    --bind-interfaces --no-resolv --no-hosts --no-ping --dhcp-authoritative --log-dhcp --log-queries \
    --log-facility="$OUT/dnsmasq.log" "$@" >"$OUT/dnsmasq.out" 2>&1 &
  # shellcheck disable=SC2034  # for the caller
  DNSMASQ_PID=$!
}

# Waits until something listens on proto (tcp|udp) port, polling ss; fails when `pid` dies first or after
# `seconds`.
bridge_wait_listen() {  # proto port pid what [seconds]
  local proto="$1" port="$2" pid="$3" what="$4" seconds="${5:-10}" i flag=t
  [ "$proto" = udp ] && flag=u
  for ((i = 0; i < seconds * 20; i++)); do
    [ -n "$(ss -Hln$flag "sport = :$port" 2>/dev/null)" ] && return 0
    kill -0 "$pid" 2>/dev/null || bridge_fail "$what exited before listening on $proto/$port (see $OUT)"
    sleep 0.05
  done
  bridge_fail "$what does not listen on $proto/$port after ${seconds}s"
}

# Waits for a file the test program writes when it is ready; fails when `pid` dies first.
bridge_wait_file() {  # file pid what [seconds]
  local file="$1" pid="$2" what="$3" seconds="${4:-30}" i
  for ((i = 0; i < seconds * 20; i++)); do
    [ -s "$file" ] && return 0
    kill -0 "$pid" 2>/dev/null || bridge_fail "$what exited before it was ready (see $OUT)"
    sleep 0.05
  done
  bridge_fail "$what not ready after ${seconds}s"
}

# Stops a background process by its PID and reaps it (the namespace would kill it anyway).
bridge_stop() {  # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# tshark on a capture, with checksum validation on (it is off by default).
bridge_tshark() {  # pcap args...
  local pcap="$1"
  shift
  tshark -n -r "$pcap" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE "$@" \
    2> >(grep -v 'This could be dangerous' >&2)
}

# Fails when the capture holds a bad checksum, a malformed packet or a frame over 1514 octets. TCP
# anomalies (retransmissions, duplicate ACKs ...) are listed without failing: the real peers run on the
# wall clock, and a loaded machine can make the kernel retransmit legitimately.
bridge_assert_clean() {  # pcap
  local pcap="$1" bad anomalies
  bad=$(bridge_tshark "$pcap" -Y 'ip.checksum.status == "Bad" || udp.checksum.status == "Bad" ||
      tcp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || _ws.malformed || frame.len > 1514')
  if [ -n "$bad" ]; then
    printf '%s\n' "$bad" >&2
    bridge_fail "bad checksums, malformed or oversize frames in $pcap"
  fi
  anomalies=$(bridge_tshark "$pcap" -Y 'tcp.analysis.flags && !tcp.analysis.window_update')
  if [ -n "$anomalies" ]; then
    bridge_log "note: TCP analysis flags (not failing):"
    printf '%s\n' "$anomalies" >&2
  fi
  bridge_log "ok: no bad checksum, malformed or oversize frame in $(bridge_tshark "$pcap" | wc -l) frames"
}

# tshark -T fields of the matching packets, one line per packet (tab between fields).
bridge_fields() {  # pcap filter field...
  local pcap="$1" filter="$2" args=()
  shift 2
  for f in "$@"; do args+=(-e "$f"); done
  bridge_tshark "$pcap" -Y "$filter" -T fields "${args[@]}"
}

# The DHCP message types in the capture, in order, on one line ("1 2 3 5").
bridge_dhcp_sequence() {  # pcap
  bridge_fields "$1" dhcp dhcp.option.dhcp | tr '\n' ' ' | sed 's/ *$//'
}

bridge_expect_eq() {  # actual expected what
  [ "$1" = "$2" ] || bridge_fail "$3: got '$1', expected '$2'"
  bridge_log "ok: $3 = '$1'"
}
bridge_expect_match() {  # actual regex what
  [[ "$1" =~ $2 ]] || bridge_fail "$3: got '$1', expected a match of /$2/"
  bridge_log "ok: $3 ~ /$2/"
}
