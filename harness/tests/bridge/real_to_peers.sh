#!/usr/bin/env bash
# Real clients against our peers, through a tap: a cross-check of the harness's DHCP, DNS and HTTP
# servers (and of the peer's IP/TCP stack under them) against real implementations. A peer_host at
# 192.168.77.2 runs dhcp_server, dns_server and http_server. In the namespace, with no address on the tap
# and no dnsmasq, busybox udhcpc takes a lease from OUR server and puts it on the tap, dig resolves
# through OUR DNS server, curl fetches from OUR HTTP server (a small file and a 100 kB generated body that
# must arrive byte-exact) and ping gets answers from the peer. tshark checks the capture independently.
# Usage: real_to_peers.sh <wizsim-bridge-check> <artifact dir>
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bridge_require_tools unshare ip ss sysctl busybox dig curl ping tshark cmp
bridge_enter_namespaces "$@"

TAP=wsim0
PEER=192.168.77.2
bridge_lo_up
bridge_make_tap "$TAP"  # no address: the lease from our DHCP server puts one there

"$TOOL" peers --eth "tap:$TAP" --ip "$PEER" --pcap "$OUT/bridge.pcap" --ready "$OUT/ready" \
  --stop "$OUT/stop" --serve-for 60 --big-size 100000 --write-big "$OUT/big.expected" \
  >"$OUT/peers.log" 2>"$OUT/peers.stderr" &
PEERS=$!
bridge_wait_file "$OUT/ready" "$PEERS" "the peers" 30

# udhcpc's script: configure the tap with the lease, as a real client does, and record it.
cat >"$OUT/udhcpc.script" <<SCRIPT
#!/bin/sh
case "\$1" in
  deconfig) ip addr flush dev "\$interface"; ip link set "\$interface" up ;;
  bound|renew)
    ip addr add "\$ip/\${mask:-24}" dev "\$interface"
    for v in ip mask subnet serverid dns domain lease router; do
      eval "echo \$v=\\\$\$v"
    done >"$OUT/lease.env" ;;
esac
exit 0
SCRIPT
chmod +x "$OUT/udhcpc.script"

dig_q() {  # name options...
  local name="$1"
  shift
  dig @"$PEER" +time=2 +tries=2 "$@" "$name" A 2>&1 || true
}
curl_get() {  # name url
  curl -sS -m 20 -o "$OUT/$1.body" -w '%{http_code}' "$2" 2>"$OUT/$1.err" || true
}
leased=0
if busybox udhcpc -i "$TAP" -f -q -n -t 3 -T 2 -A 1 -x hostname:wsim-test -s "$OUT/udhcpc.script" \
    >"$OUT/udhcpc.log" 2>&1; then
  leased=1
  dig_q www.peer.test >"$OUT/dig1.txt"
  dig_q alias.peer.test +short >"$OUT/dig2.txt"
  dig_q nothing.peer.test >"$OUT/dig3.txt"
  code1=$(curl_get hello "http://$PEER/hello.txt")
  code2=$(curl_get big "http://$PEER/big")
  code3=$(curl_get missing "http://$PEER/missing")
  ping -c 2 -i 0.2 -W 2 "$PEER" >"$OUT/ping.log" 2>&1 || true
fi
touch "$OUT/stop"
peers_rc=0
wait "$PEERS" || peers_rc=$?

cat "$OUT/peers.log" >&2
if [ "$peers_rc" != 0 ]; then
  tail -n 30 "$OUT/peers.stderr" >&2
  bridge_fail "the peers program failed ($peers_rc)"
fi
cat "$OUT/udhcpc.log" >&2
[ "$leased" = 1 ] || bridge_fail "udhcpc got no lease from our DHCP server"
lease_value() { sed -n "s/^$1=//p" "$OUT/lease.env"; }
ip=$(lease_value ip)
bridge_expect_match "$ip" '^192\.168\.77\.1[0-4][0-9]$' "leased address (pool .100-.149)"
bridge_expect_eq "$(lease_value serverid)" "$PEER" "DHCP server id"
bridge_expect_eq "$(lease_value dns)" "$PEER" "DNS server in the lease"
bridge_expect_eq "$(lease_value domain)" "peer.test" "domain in the lease"
bridge_expect_eq "$(lease_value lease)" 600 "lease time"
bridge_expect_match "$(ip -4 -br addr show dev "$TAP")" "$ip/24" "the lease is on the tap"
bridge_expect_match "$(cat "$OUT/dig1.txt")" 'status: NOERROR' "dig www.peer.test status"
bridge_expect_match "$(cat "$OUT/dig1.txt")" \
  "www\.peer\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+$PEER" "dig www.peer.test answer"
bridge_expect_eq "$(tr '\n' ' ' <"$OUT/dig2.txt")" "www.peer.test. $PEER " \
  "dig alias.peer.test (CNAME, then A)"
bridge_expect_match "$(cat "$OUT/dig3.txt")" 'status: NXDOMAIN' "dig of a name not in the zone"
bridge_expect_eq "$code1" 200 "curl /hello.txt status"
bridge_expect_eq "$(cat "$OUT/hello.body")" "hello from the wizsim peer" "curl /hello.txt body"
bridge_expect_eq "$code2" 200 "curl /big status"
cmp "$OUT/big.body" "$OUT/big.expected" >&2 || bridge_fail "the 100 kB body differs from the pattern"
bridge_log "ok: /big arrived byte-exact ($(stat -c %s "$OUT/big.body") octets)"
bridge_expect_eq "$code3" 404 "curl /missing status"
bridge_expect_eq "$(grep -c 'bytes from' "$OUT/ping.log" || true)" 2 "echo replies from the peer"

P="$OUT/bridge.pcap"
bridge_assert_clean "$P"
bridge_expect_eq "$(bridge_dhcp_sequence "$P")" "1 2 3 5" "DHCP message types"
ack=$(bridge_fields "$P" 'dhcp.option.dhcp == 5' dhcp.ip.your dhcp.option.dhcp_server_id | tr '\t' ' ')
bridge_expect_eq "$ack" "$ip $PEER" "the ACK in the capture"
bridge_expect_eq "$(bridge_fields "$P" 'dns.flags.response == 1 && dns.qry.name == "www.peer.test"' dns.a)" \
  "$PEER" "DNS answer in the capture"
bridge_expect_eq "$(bridge_fields "$P" http.response http.response.code | tr '\n' ' ')" "200 200 404 " \
  "HTTP responses in the capture"
bridge_log "passed"
