#!/usr/bin/env python3
"""The scale benchmark: fills a durable 3-node kv_server cluster and a redis-server
(appendonly yes, appendfsync always) with the same keys (100-byte values, 50 connections
pipelining 16 SETs each), in legs up to each size given, and at the end of each leg measures:
  - throughput in every second of the fill, the longest window (100 ms grain) with no request
    completed, and p50/p99/p99.9 latency (examples/fill.rs);
  - RSS (now and peak) and disk of every node and of Redis;
  - the time for a restarted node (SIGKILL, then start) to serve its first linearizable GET,
    beside Redis's time to load its files and answer a GET;
  - the time for a new node to join the cluster and catch up (by snapshot) with the leader's
    commit index at the moment it was added.
Writes, under docs/ (or --out):
  scale-bench.csv  throughput per second: system,keys_done,rps
  scale-bench.md   the table of every figure, with the date and the machine
  scale-bench.svg  throughput against keys filled, both systems (examples/scale_plot.rs)

  python3 scripts/scale-bench.py                 # 1M and 10M keys
  python3 scripts/scale-bench.py 200000 1000000  # other sizes
Needs redis-server and redis-cli (apt-get install redis-server redis-tools)."""
import argparse
import datetime
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "examples")
VALUE = "v" * 100
FIRST_KEY = "key:000000000000"


def free_ports(n):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "free-ports.py"), str(n)],
                         check=True, capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cli(port, *args, timeout=10):
    """A redis-cli command's output, or None if it failed or answered an error."""
    try:
        r = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    out = r.stdout.strip()
    if r.returncode != 0 or out.startswith(("ERR", "LOADING", "TRYAGAIN", "CLUSTERDOWN",
                                            "Could not connect", "MOVED", "NOAUTH", "(error)")):
        return None
    return out


def info_field(port, section, name):
    out = cli(port, "INFO", section) or ""
    for line in out.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def wait_for(what, done, limit=600):
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > limit:
            sys.exit(f"timed out after {limit} s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - start


def proc_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def disk_bytes(path):
    total = 0
    for d, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(d, name)).st_blocks * 512
            except OSError:
                pass
    return total


def mib(n):
    return f"{n / (1 << 20):.0f}"


class Cluster:
    def __init__(self, base, binary, extra):
        self.base = base
        self.binary = binary
        self.extra = extra
        ports = free_ports(8)
        self.raft = {i: ports[i - 1] for i in (1, 2, 3, 4)}
        self.client = {i: ports[i + 3] for i in (1, 2, 3, 4)}
        self.procs = {}

    def args(self, i, join=False):
        members = (1, 2, 3, 4) if join else (1, 2, 3)
        peers = ",".join(f"{m}=127.0.0.1:{self.raft[m]}" for m in members)
        clients = ",".join(f"{m}=127.0.0.1:{self.client[m]}" for m in members)
        a = [self.binary, "--id", str(i), "--peers", peers,
             "--client-addr", f"127.0.0.1:{self.client[i]}", "--client-addrs", clients,
             "--data-dir", os.path.join(self.base, f"n{i}"), "--io-threads", "1"]
        return a + self.extra + (["--join"] if join else [])

    def start(self, i, join=False):
        log = open(os.path.join(self.base, f"n{i}.log"), "a")
        self.procs[i] = subprocess.Popen(self.args(i, join), stdout=log, stderr=log)

    def kill(self, i):
        p = self.procs.pop(i)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def leader(self):
        found = []

        def look():
            found[:] = [i for i in self.procs
                        if info_field(self.client[i], "raft", "role") == "leader"]
            return len(found) == 1
        wait_for("a leader", look, 60)
        return found[0]

    def stop_all(self):
        for i in list(self.procs):
            self.kill(i)


def fill(port, first, keys, csv):
    r = subprocess.run([os.path.join(BIN, "fill"), "--addr", f"127.0.0.1:{port}",
                        "--first", str(first), "--keys", str(keys), "--csv", csv],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"the fill of port {port} failed: {r.stderr.strip()}")
    out = r.stdout
    if r.stderr.strip():
        print(r.stderr.strip(), flush=True)
    figures = dict(kv.split("=") for kv in out.split())
    per_second = []
    with open(csv) as f:
        next(f)
        windows = [int(line.split(",")[1]) for line in f]
    for s in range(0, len(windows), 10):
        per_second.append(sum(windows[s:s + 10]) * 10 / len(windows[s:s + 10]))
    return figures, per_second


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[1_000_000, 10_000_000])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--kv-server", default=os.path.join(BIN, "kv_server"),
                    help="the kv_server binary to measure (another build, to compare)")
    ap.add_argument("--kv-args", default="", help="more kv_server flags, space-separated")
    a = ap.parse_args()
    sizes = sorted(a.sizes)
    if not a.no_build:
        subprocess.run(["cargo", "build", "-q", "--release", "--example", "kv_server",
                        "--example", "fill", "--example", "scale_plot"], check=True, cwd=ROOT)
    base = tempfile.mkdtemp(prefix="scale-bench-", dir=os.environ.get("BENCH_DIR"))
    cluster = Cluster(base, a.kv_server, a.kv_args.split())
    redis_port = free_ports(1)[0]
    redis_dir = os.path.join(base, "redis")
    os.makedirs(redis_dir)
    redis_args = ["redis-server", "--port", str(redis_port), "--dir", redis_dir, "--appendonly",
                  "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"]
    redis = None
    series = []  # (system, keys_done, rps)
    rows = []
    try:
        for i in (1, 2, 3):
            cluster.start(i)
        leader = cluster.leader()
        redis = subprocess.Popen(redis_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("redis", lambda: cli(redis_port, "PING") == "PONG", 30)
        done = 0
        for size in sizes:
            row = {"keys": size}
            for system, port in (("kv_server", cluster.client[leader]), ("redis", redis_port)):
                figures, per_second = fill(port, done, size - done, os.path.join(base, "w.csv"))
                row[system] = figures
                k = done
                for rps in per_second:
                    series.append((system, k, rps))
                    k += rps
                print(f"{system} filled to {size}: {figures}", flush=True)
            done = size
            row["rss"] = {i: (proc_kb(p.pid, "VmRSS"), proc_kb(p.pid, "VmHWM"))
                          for i, p in cluster.procs.items()}
            row["redis_rss"] = (proc_kb(redis.pid, "VmRSS"), proc_kb(redis.pid, "VmHWM"))
            row["disk"] = {i: disk_bytes(os.path.join(base, f"n{i}")) for i in (1, 2, 3)}
            row["redis_disk"] = disk_bytes(redis_dir)
            # A follower restarts and serves a linearizable read.
            follower = next(i for i in (1, 2, 3) if i != leader)
            cluster.kill(follower)
            cluster.start(follower)
            row["restart_s"] = wait_for("the restarted node's first read",
                                        lambda: cli(cluster.client[follower], "GET",
                                                    FIRST_KEY) == VALUE)
            redis.send_signal(signal.SIGKILL)
            redis.wait()
            redis = subprocess.Popen(redis_args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            row["redis_restart_s"] = wait_for("Redis's first read after a restart",
                                              lambda: cli(redis_port, "GET", FIRST_KEY) == VALUE)
            # A new node joins and catches up.
            leader = cluster.leader()
            cluster.start(4, join=True)
            target = int(info_field(cluster.client[leader], "raft", "commit_index"))
            started = time.monotonic()
            added = cli(cluster.client[leader], "RAFT.ADDLEARNER", "4",
                        f"127.0.0.1:{cluster.raft[4]}", f"127.0.0.1:{cluster.client[4]}")
            if added != "OK":
                sys.exit(f"RAFT.ADDLEARNER answered {added!r}")
            wait_for("the new node to catch up", lambda: int(
                info_field(cluster.client[4], "raft", "applied_index") or 0) >= target)
            row["join_s"] = time.monotonic() - started
            if cli(cluster.client[leader], "RAFT.REMOVE", "4") != "OK":
                sys.exit("RAFT.REMOVE 4 failed")
            cluster.kill(4)
            shutil.rmtree(os.path.join(base, "n4"), ignore_errors=True)
            rows.append(row)
            print(row, flush=True)
    finally:
        cluster.stop_all()
        if redis:
            redis.kill()
            redis.wait()
        shutil.rmtree(base, ignore_errors=True)
    write_results(a.out, sizes, series, rows)


def write_results(out, sizes, series, rows):
    os.makedirs(out, exist_ok=True)
    csv = os.path.join(out, "scale-bench.csv")
    with open(csv, "w") as f:
        f.write("system,keys_done,rps\n")
        for system, k, rps in series:
            f.write(f"{system},{int(k)},{rps:.0f}\n")
    cores = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True).stdout.split()[2]
    machine = (f"{cores} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}, one "
               f"disk shared by every node; Redis {redis_version.removeprefix('v=')}")
    when = datetime.date.today().isoformat()
    kv_rps = [r for s, _, r in series if s == "kv_server"]
    lines = [f"Measured {when} on {machine}. One run: 3 kv_server nodes (fsync on every "
             "batch) and one redis-server (appendfsync always), the same keys, 100-byte values, "
             "50 connections pipelining 16 SETs each.", ""]
    lines.append("| keys | system | SET/s | p50 ms | p99 ms | p99.9 ms | longest stall ms | "
                 "errors | RSS MiB (peak) | disk MiB | restart to first read s | join s |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        k, red = r["kv_server"], r["redis"]
        rss = " / ".join(f"{mib(now * 1024)} ({mib(peak * 1024)})" for now, peak in r["rss"].values())
        disk = " / ".join(mib(d) for d in r["disk"].values())
        lines.append(f"| {r['keys']:,} | kv_server | {float(k['rps']):,.0f} | {k['p50_ms']} | "
                     f"{k['p99_ms']} | {k['p999_ms']} | {k['longest_zero_ms']} | {k['errors']} | {rss} | {disk} | "
                     f"{r['restart_s']:.2f} | {r['join_s']:.2f} |")
        now, peak = r["redis_rss"]
        lines.append(f"| {r['keys']:,} | Redis | {float(red['rps']):,.0f} | {red['p50_ms']} | "
                     f"{red['p99_ms']} | {red['p999_ms']} | {red['longest_zero_ms']} | {red['errors']} | "
                     f"{mib(now * 1024)} ({mib(peak * 1024)}) | {mib(r['redis_disk'])} | "
                     f"{r['redis_restart_s']:.2f} | |")
    if kv_rps:
        head = kv_rps[:10]
        tail = kv_rps[-10:]
        lines += ["", f"kv_server: {sum(head) / len(head):,.0f} SET/s over the first 10 s, "
                      f"{sum(tail) / len(tail):,.0f} over the last 10 s; slowest second "
                      f"{min(kv_rps[:-1] or kv_rps):,.0f}."]
    with open(os.path.join(out, "scale-bench.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    subprocess.run([os.path.join(BIN, "scale_plot"), csv, os.path.join(out, "scale-bench.svg"),
                    "--subtitle", f"{when}, {machine}"], check=True)


if __name__ == "__main__":
    main()
