#!/usr/bin/env bash
# The chip against real Linux software, through a tap: the chip (raw_client over the segment) gets a
# lease from dnsmasq, resolves web.test with dnsmasq's DNS, fetches a file from python's http.server
# through a chip TCP socket, then serves HTTP on port 80 while ping and curl from the namespace reach it.
# tshark then checks the capture independently: DHCP 1 2 3 5, the DNS answer, HTTP 200 both ways, ICMP
# echo replies from the chip, and no bad checksum, malformed or oversize frame.
# Usage: chip_to_real.sh <wizsim-bridge-check> <artifact dir>
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bridge_require_tools unshare ip ss sysctl dnsmasq /usr/bin/python3 curl ping tshark
bridge_enter_namespaces "$@"

TAP=wsim0
HOST=192.168.77.1
bridge_lo_up
bridge_make_tap "$TAP" "$HOST/24"

mkdir -p "$OUT/www"
BODY="hello from the real python http.server"
printf '%s\n' "$BODY" >"$OUT/www/hello.txt"

bridge_start_dnsmasq "$TAP" --dhcp-range=192.168.77.50,192.168.77.99,255.255.255.0,1h \
  --address=/example.test/192.168.77.10 --host-record=web.test,$HOST
/usr/bin/python3 -m http.server 8080 --bind "$HOST" --directory "$OUT/www" >"$OUT/http.server.log" 2>&1 &
HTTPD=$!
bridge_wait_listen udp 67 "$DNSMASQ_PID" dnsmasq
bridge_wait_listen udp 53 "$DNSMASQ_PID" dnsmasq
bridge_wait_listen tcp 8080 "$HTTPD" http.server

"$TOOL" chip --eth "tap:$TAP" --pcap "$OUT/bridge.pcap" --ready "$OUT/ready" --stop "$OUT/stop" \
  --dns-name web.test --http-port 8080 --http-path /hello.txt --expect "$BODY" --serve-for 60 \
  --min-served 2 >"$OUT/chip.log" 2>"$OUT/chip.stderr" &
CHIP=$!
bridge_wait_file "$OUT/ready" "$CHIP" "the chip" 30
CHIP_IP=$(sed -n 's/^ip=//p' "$OUT/ready")
bridge_log "the chip has $CHIP_IP"

# Real clients against the chip.
ping -c 3 -i 0.2 -W 2 "$CHIP_IP" >"$OUT/ping.log" 2>&1 || true
curl_get() {  # name url
  curl -sS -m 10 -o "$OUT/$1.body" -w '%{http_code}' "$2" 2>"$OUT/$1.err" || true
}
code1=$(curl_get curl1 "http://$CHIP_IP/first")
code2=$(curl_get curl2 "http://$CHIP_IP/second")
touch "$OUT/stop"
chip_rc=0
wait "$CHIP" || chip_rc=$?
bridge_stop "$HTTPD"
bridge_stop "$DNSMASQ_PID"

cat "$OUT/chip.log" >&2
if [ "$chip_rc" != 0 ]; then
  tail -n 30 "$OUT/chip.stderr" >&2
  bridge_fail "the chip program failed ($chip_rc)"
fi
bridge_expect_eq "$(grep -c 'bytes from' "$OUT/ping.log" || true)" 3 "echo replies from the chip to ping"
bridge_expect_eq "$code1" 200 "curl status (first request)"
bridge_expect_eq "$code2" 200 "curl status (second request)"
bridge_expect_match "$(cat "$OUT/curl1.body")" \
  "^hello from the simulated W5500 at $CHIP_IP, request 1 for /first" "curl body"
bridge_expect_match "$(cat "$OUT/curl2.body")" "request 2 for /second" "curl body (second)"
grep -q "DHCPACK($TAP) $CHIP_IP" "$OUT/dnsmasq.log" || bridge_fail "dnsmasq's log has no DHCPACK for $CHIP_IP"

# The capture, checked by Wireshark's dissectors.
P="$OUT/bridge.pcap"
bridge_assert_clean "$P"
bridge_expect_eq "$(bridge_dhcp_sequence "$P")" "1 2 3 5" "DHCP message types"
bridge_expect_eq "$(bridge_fields "$P" 'dhcp.option.dhcp == 5' dhcp.ip.your)" "$CHIP_IP" "address in the ACK"
bridge_expect_eq "$(bridge_fields "$P" 'dns.flags.response == 1' dns.qry.name dns.a | tr '\t' ' ')" \
  "web.test $HOST" "DNS answer"
bridge_expect_eq "$(bridge_fields "$P" http.response ip.src http.response.code | tr '\t\n' '  ')" \
  "$HOST 200 $CHIP_IP 200 $CHIP_IP 200 " "HTTP responses (http.server to the chip, then the chip to curl)"
bridge_expect_eq "$(bridge_fields "$P" "icmp.type == 0 && ip.src == $CHIP_IP" icmp.seq | wc -l)" 3 \
  "ICMP echo replies from the chip in the capture"
bridge_log "passed"
