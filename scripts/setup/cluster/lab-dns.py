#!/usr/bin/env python3
"""The Kubernetes lab's DNS server (pods' clusterDNS): answers every name under
.test with the lab web server's address (but the names given their own),
everything else NXDOMAIN, and logs each query as one JSON line so tests can
assert who asked what (and that a bottle's agent never asked).
Usage: lab-dns.py LISTEN_IP ANSWER_IP [NAME=IP ...]"""

from __future__ import annotations

import json
import socket
import struct
import sys

A = 1
QTYPES = {A: "A", 5: "CNAME", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 65: "HTTPS"}


def question(packet: bytes) -> tuple[str, int, int]:
    """The first question's name, type, and the offset just past it."""
    labels, i = [], 12
    while i < len(packet) and packet[i]:
        n = packet[i]
        labels.append(packet[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += n + 1
    qtype = struct.unpack("!H", packet[i + 1 : i + 3])[0] if i + 3 <= len(packet) else 0
    return ".".join(labels), qtype, i + 5


def answer(packet: bytes, answer_ip: bytes, named: dict[str, bytes] | None = None) -> tuple[bytes, str]:
    name, qtype, end = question(packet)
    answer_ip = (named or {}).get(name.lower().rstrip("."), answer_ip)
    head = packet[:2]
    rd = packet[2] & 0x01
    ours = name.lower().rstrip(".").endswith(".test")
    if not ours:  # NXDOMAIN, question echoed, no records
        return head + bytes([0x84 | rd, 0x83]) + b"\0\x01\0\0\0\0\0\0" + packet[12:end], "NXDOMAIN"
    if qtype != A:  # the name exists, with no record of this type
        return head + bytes([0x84 | rd, 0x80]) + b"\0\x01\0\0\0\0\0\0" + packet[12:end], "NODATA"
    record = b"\xc0\x0c" + struct.pack("!HHIH", A, 1, 5, 4) + answer_ip
    return head + bytes([0x84 | rd, 0x80]) + b"\0\x01\0\x01\0\0\0\0" + packet[12:end] + record, "A"


def main(listen_ip: str, answer_ip: str, *names: str) -> None:
    named = {n.split("=")[0].lower(): socket.inet_aton(n.split("=")[1]) for n in names}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((listen_ip, 53))
    ip = socket.inet_aton(answer_ip)
    print(json.dumps({"event": "ready"}), flush=True)
    while True:
        packet, peer = sock.recvfrom(4096)
        if len(packet) < 17:
            continue
        name, qtype, _ = question(packet)
        reply, result = answer(packet, ip, named)
        event = {"query": name, "type": QTYPES.get(qtype, qtype), "from": peer[0], "answer": result}
        print(json.dumps(event), flush=True)
        sock.sendto(reply, peer)


if __name__ == "__main__":
    main(*sys.argv[1:])
