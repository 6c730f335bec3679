#!/usr/bin/env python3
"""Prints N distinct loopback ports free now, below the kernel's ephemeral range: ports from that
range can be taken at any moment as the source port of an outgoing connection (for instance
between nodes already started), so a node started later could find its port gone.
Usage: python3 scripts/free-ports.py N"""
import random
import socket
import sys

n = int(sys.argv[1])
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
held = []
for _ in range(n * 100):
    if len(held) == n:
        break
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(10000, max(low, 11000))))
        held.append(s)
    except OSError:
        s.close()
if len(held) < n:
    sys.exit(f"found only {len(held)} free ports of {n}")
ports = [s.getsockname()[1] for s in held]
# Closed before printing: the caller reads the line and may bind at once, while this process
# could still be exiting (and holding the sockets) if they were left for exit to close.
for s in held:
    s.close()
print(" ".join(str(p) for p in ports), flush=True)
