#!/usr/bin/env python3
"""Writes the seed corpus of frame_fuzz.cpp (sim/fuzz/corpus/*.bin): one input per scenario, in the
input layout described at the top of frame_fuzz.cpp. Checksums and lengths are left at zero: the
harness's frame fix-ups fill them in. Run from anywhere: python3 sim/fuzz/make_seeds.py"""
import os
import struct

CHIP_MAC = bytes.fromhex("02005e000001")
PEER_MAC = bytes.fromhex("02005e000099")
CHIP_IP = bytes([192, 168, 1, 10])
PEER_IP = bytes([192, 168, 1, 20])
FIX_ALL = 0x38  # frame op 0 with: dst MAC = SHAR, IPv4 + lengths + checksums, dst IP = SIPR
FIX_CSUM = 0x10  # frame op 0 with: IPv4 + lengths + checksums only

def setup(sockets=(), bufs=0x12, bits=0, mr=0, addr=0):
    """sockets: list of (n, s, where)."""
    sock = [(0, 0)] * 8
    for n, s, where in sockets:
        sock[n] = (s, where)
    out = struct.pack(">HH", 0, 0) + bytes([bits, 1, mr, addr]) + bytes([bufs] * 8)
    return out + b"".join(bytes(p) for p in sock)

def eth(dst, ethertype, payload, src=PEER_MAC):
    f = dst + src + struct.pack(">H", ethertype) + payload
    return f + bytes(max(0, 60 - len(f)))  # the chip drops runts

def ipv4(proto, payload, src=PEER_IP, dst=CHIP_IP, options=b""):
    ihl = 5 + len(options) // 4
    total = 4 * ihl + len(payload)
    return bytes([0x40 | ihl, 0]) + struct.pack(">HHHBBH", total, 1, 0x4000, 64, proto, 0) + src + dst + options + payload

def udp(sport, dport, data):
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data

def tcp(sport, dport, seq, ack, flags, data=b"", mss=None):
    opts = struct.pack(">BBH", 2, 4, mss) if mss else b""
    off = (20 + len(opts)) // 4
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 8192, 0, 0) + opts + data

def frame(f, op=FIX_ALL):
    return bytes([op]) + struct.pack(">H", len(f)) + f

def cmd(n, idx, arg=b""):  # idx into frame_fuzz.cpp's commands[]: 0 OPEN .. 5 SEND, 6 SEND_MAC, 8 RECV
    return bytes([5, n | idx << 3]) + arg

def send(n, length, data=b""):
    return cmd(n, 5, struct.pack(">H", length) + data)

def recv(n):
    return cmd(n, 8, struct.pack(">H", 0xFFFF))

def peer(how=0x10):
    return bytes([7, how])

def wait(shift):
    return bytes([3, shift])

def arp_request(target=CHIP_IP):
    return eth(b"\xff" * 6, 0x0806, bytes.fromhex("000108000604") + b"\x00\x01" + PEER_MAC + PEER_IP + bytes(6) + target)

seeds = {
    "udp_roundtrip": setup([(1, 0x01, 0x00)])
    + frame(eth(CHIP_MAC, 0x0800, ipv4(17, udp(6000, 5000, bytes(range(20))))))
    + recv(1) + send(1, 100, bytes(range(64))) + wait(5) + peer() + wait(8) + peer(0x20) + recv(1) + wait(20),
    "tcp_server": setup([(2, 0x22, 0x03)])
    + frame(eth(CHIP_MAC, 0x0800, ipv4(6, tcp(41000, 80, 1000, 0, 0x02, mss=1460)))) + wait(4) + peer(0x10)
    + peer(0x1A) + wait(10) + recv(2) + send(2, 300) + wait(5) + peer(0x10) + cmd(2, 3) + wait(4) + peer(0x14)
    + wait(30),
    "tcp_client": setup([(3, 0x03, 0xC5)]) + wait(4) + peer(0x10) + wait(4) + peer(0x10) + send(3, 2000)
    + wait(8) + peer(0x1A) + recv(3) + wait(19) + cmd(3, 7) + wait(4) + peer(0x10) + cmd(3, 3) + peer(0x14)
    + wait(33),
    "macraw": setup([(0, 0x84, 0x00)], bits=0x30)
    + frame(eth(CHIP_MAC, 0x88B5, bytes(50)), op=0x08) + frame(eth(b"\xff" * 6, 0x86DD, bytes(60)), op=0)
    + frame(arp_request(), op=0x08) + recv(0) + send(0, 60, eth(PEER_MAC, 0x88B5, bytes(46), src=CHIP_MAC))
    + wait(10),
    "arp_icmp_unreachable": setup(mr=0x02)
    + frame(arp_request(), op=0x08)
    + frame(eth(CHIP_MAC, 0x0800, ipv4(1, bytes([8, 0, 0, 0, 0x12, 0x34, 0, 1]) + bytes(range(32)))))
    + frame(eth(CHIP_MAC, 0x0800, ipv4(17, udp(1111, 2222, bytes(20))))) + wait(10)
    + frame(eth(CHIP_MAC, 0x0800, ipv4(1, bytes([3, 3, 0, 0, 0, 0, 0, 0]) + ipv4(17, udp(5000, 5353, b""), src=CHIP_IP, dst=PEER_IP)))),
    "multicast": setup([(4, 0x06, 0x18)], mr=0x20)
    + frame(eth(bytes.fromhex("01005e000001"), 0x0800,
                ipv4(2, bytes([0x11, 100, 0, 0, 0, 0, 0, 0]), dst=bytes([224, 0, 0, 1]), options=b"\x94\x04\x00\x00")), op=FIX_CSUM)
    + frame(eth(bytes.fromhex("01005e010203"), 0x0800, ipv4(17, udp(7, 5000, bytes(30)), dst=bytes([239, 1, 2, 3]))), op=FIX_CSUM)
    + frame(eth(CHIP_MAC, 0x0842, b"\xff" * 6 + CHIP_MAC * 16), op=0)
    + recv(4) + send(4, 40) + wait(10) + cmd(4, 4) + wait(10),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(here, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(here, name + ".bin"), "wb") as f:
        f.write(data)
    print(f"{name}.bin: {len(data)} bytes")
