"""The lab's DNS server: logs every query it receives (one JSON line each) and
answers NXDOMAIN. Attacks that try DNS aim here; tests read its log."""

import json
import socket
import sys


def qname(packet: bytes) -> str:
    labels, i = [], 12
    while i < len(packet) and packet[i]:
        n = packet[i]
        labels.append(packet[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += n + 1
    return ".".join(labels)


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", 53))
print(json.dumps({"event": "ready"}), flush=True)
while True:
    packet, peer = sock.recvfrom(4096)
    if len(packet) < 12:
        continue
    print(json.dumps({"query": qname(packet), "from": peer[0]}), flush=True)
    # Same id and question, response flag, NXDOMAIN, no answers.
    reply = packet[:2] + bytes([0x81, 0x83]) + packet[4:6] + b"\0\0\0\0\0\0" + packet[12:]
    sock.sendto(reply, peer)
    sys.stdout.flush()
