#!/usr/bin/env python3
"""Writes the seed corpus of peer_fuzz.cpp (harness/fuzz/corpus/*.bin) in its record layout:
[kind][length hi][length lo][payload]. Run from anywhere: python3 harness/fuzz/make_seeds.py"""
import os
import struct


def record(kind, payload):
    return bytes([kind]) + struct.pack(">H", len(payload)) + payload


def dhcp_discover():
    m = bytearray(300)
    m[0:4] = bytes([1, 1, 6, 0])
    m[4:8] = bytes.fromhex("12345678")
    m[10] = 0x80
    m[28:34] = bytes.fromhex("020000000010")
    m[236:240] = bytes([99, 130, 83, 99])
    m[240:247] = bytes([53, 1, 1, 55, 2, 1, 3])
    m[247] = 255
    return bytes(m)


def dns_query(name, qtype=1):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


SEEDS = {
    "dhcp_discover": record(2, dhcp_discover()) + record(6, b"\0" * 100),
    "dns_queries": record(3, dns_query("www.example.test")) + record(3, dns_query("alias.example.test")) +
                   record(3, dns_query("nope.test", 28)),
    "http_get_pipelined": record(4, b"GET / HTTP/1.1\r\nHost: s\r\n\r\nGET /x HTTP/1.1\r\nHost: s\r\n\r\n"),
    "http_chunked_post": record(4, b"POST / HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   b"5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n"),
    "echo_and_raw": record(5, b"echo me" * 50) + record(0, bytes.fromhex("ffffffffffff020000000009") + b"\x08\x06" +
                                                     bytes(46)),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(here, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(here, name + ".bin"), "wb") as f:
        f.write(data)
