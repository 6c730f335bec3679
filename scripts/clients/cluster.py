"""A 3-node kv_server cluster in child processes, for the real-client checks: free ports, a
temporary data directory, --client-addrs so cluster-aware clients find the leader, and helpers
to find and SIGKILL the leader. Standard library only."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


FREE_PORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "free-ports.py")


def free_ports(n):
    """N loopback ports free now, below the kernel's ephemeral range (scripts/free-ports.py)."""
    out = subprocess.check_output([sys.executable, FREE_PORTS, str(n)], text=True)
    return [int(p) for p in out.split()]


def call(port, *args, timeout=2.0):
    """One command over a fresh RESP2 connection; the reply's first line, decoded (enough for
    ROLE's first element and PING)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        return s.recv(65536).decode(errors="replace")


class Cluster:
    def __init__(self, server):
        self.server = server
        self.dir = tempfile.mkdtemp(prefix="kv-clients-")
        ports = free_ports(6)
        self.raft, self.clients = ports[:3], ports[3:]
        self.procs = {}
        peers = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(self.raft))
        clients = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(self.clients))
        for i in range(3):
            log = open(os.path.join(self.dir, f"log{i + 1}"), "w")
            self.procs[i + 1] = subprocess.Popen(
                [server, "--id", str(i + 1), "--peers", peers, "--client-addrs", clients,
                 "--client-addr", f"127.0.0.1:{self.clients[i]}",
                 "--data-dir", os.path.join(self.dir, f"n{i + 1}"), "--tick-ms", "10"],
                stdout=log, stderr=subprocess.STDOUT)
        self.leader(timeout=20)

    def port(self, node):
        return self.clients[node - 1]

    def alive(self):
        return [n for n, p in self.procs.items() if p.poll() is None]

    def leader(self, timeout=20):
        """The node that answers ROLE as master, waiting for one."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for n in self.alive():
                try:
                    if "master" in call(self.port(n), "ROLE"):
                        return n
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("no leader")

    def kill(self, node):
        self.procs[node].send_signal(signal.SIGKILL)
        self.procs[node].wait()

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()

    def remove(self):
        """Deletes the data directory (after `stop`)."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self):
        out = []
        for n in self.procs:
            with open(os.path.join(self.dir, f"log{n}")) as f:
                out.append(f"== node {n}\n" + "".join(f.readlines()[-20:]))
        return "\n".join(out)
