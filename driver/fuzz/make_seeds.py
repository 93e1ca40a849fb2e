#!/usr/bin/env python3
"""Writes the seed corpus of driver_fuzz.cpp (driver/fuzz/corpus/*.bin): a target byte (0 DHCP, 1 DNS,
2 WSGI), then records [kind][length hi][length lo][payload]. Run from anywhere:
python3 driver/fuzz/make_seeds.py"""
import os
import struct


def record(kind, payload):
    return bytes([kind]) + struct.pack(">H", len(payload)) + payload


def dhcp_reply(msg_type, lease=600):
    # Header fields the fuzzer patches (op, xid, chaddr, cookie) are left zero; kind bit 0 fills them.
    m = bytearray(240)
    m[16:20] = bytes([10, 0, 0, 100])                       # yiaddr
    opts = bytes([53, 1, msg_type, 54, 4, 10, 0, 0, 53, 1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 0, 1,
                  6, 8, 10, 0, 0, 53, 8, 8, 8, 8]) + bytes([51, 4]) + struct.pack(">I", lease)
    opts += bytes([58, 4]) + struct.pack(">I", lease // 2) + bytes([59, 4]) + struct.pack(">I", lease * 7 // 8)
    return bytes(m) + opts + b"\xff"


def name(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"


def dns_answers():
    # Answer count, then: a CNAME for the question (pointer to offset 12) to edge.example.com, and its A.
    cname = b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 60, len(name("edge.example.com"))) + name("edge.example.com")
    a = name("edge.example.com") + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([10, 0, 0, 81])
    return bytes([2]) + cname + a


SEEDS = {
    "dhcp_lease": bytes([0]) + record(1, dhcp_reply(2, 20)) + record(1, dhcp_reply(5, 20)) +
                  record(1, dhcp_reply(5, 20)) + record(1, dhcp_reply(5, 20)),
    "dhcp_nak": bytes([0]) + record(1, dhcp_reply(2)) + record(1, dhcp_reply(6)),
    "dns_cname": bytes([1]) + record(1, dns_answers()),
    "dns_loop": bytes([1]) + record(1, bytes([1]) + b"\xc0\x2b\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01"),
    "wsgi_get_post": bytes([2]) + record(0, b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nUser-Agent: f\r\n\r\n") +
                     record(1, b"POST /p HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n") +
                     record(0x10, b"hello"),
    "wsgi_bad": bytes([2]) + record(1, b"GET\r\n\r\n") + record(3, b"POST / HTTP/1.1\r\nContent-Length: 99\r\n"),
}

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for n, data in SEEDS.items():
        with open(os.path.join(out, n + ".bin"), "wb") as f:
            f.write(data)
