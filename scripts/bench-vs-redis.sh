#!/usr/bin/env bash
# redis-benchmark, same commands, same run, alternating: a durable 3-node kv_server cluster on
# loopback (fsync on every batch) and a single redis-server with appendfsync always. SET and GET
# at 1, 10, 50 and 200 clients, unpipelined and with -P 16; then 10,000 connections of which
# 9,950 stay idle. Prints the ratio table and writes, under docs/:
#   bench-vs-redis.csv   every measurement
#   bench-vs-redis.md    the ratio table, with the date and the machine
#   bench-vs-redis.svg   throughput and p99 latency against clients, for both
#
#   bash scripts/bench-vs-redis.sh        (installs redis-server with apt-get if missing)
# BENCH_SCALE=0.2 runs shorter measurements (noisier).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server > /dev/null || ! command -v redis-benchmark > /dev/null; then
  apt-get install -y -q redis-server redis-tools > /dev/null
fi
scale=${BENCH_SCALE:-1}
io_threads=${BENCH_IO_THREADS:-1}
cargo build -q --release --example kv_server --example bench_plot
bin=target/release/examples/kv_server
dir=$(mktemp -d -p "${BENCH_DIR:-/tmp}")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
read -r -a ports < <(python3 scripts/free-ports.py 7)
peers="1=127.0.0.1:${ports[0]},2=127.0.0.1:${ports[1]},3=127.0.0.1:${ports[2]}"
for i in 0 1 2; do
  # The three nodes share this machine's cores: one event-loop thread each, like Redis.
  "$bin" --id $((i + 1)) --peers "$peers" --client-addr "127.0.0.1:${ports[$((i + 3))]}" \
    --data-dir "$dir/n$((i + 1))" --io-threads "$io_threads" --max-clients 10100 \
    > /dev/null 2>&1 &
  pids+=($!)
done
mkdir -p "$dir/redis"
redis-server --port "${ports[6]}" --dir "$dir/redis" --appendonly yes --appendfsync always \
  --save "" --maxclients 10100 --daemonize no > /dev/null 2>&1 &
redis_pid=$!
pids+=($redis_pid)
leader=""
leader_pid=""
for _ in $(seq 100); do
  for i in 3 4 5; do
    if redis-cli -p "${ports[$i]}" INFO raft 2>/dev/null | grep -q "role:leader"; then
      leader=${ports[$i]}
      leader_pid=${pids[$((i - 3))]}
    fi
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || { echo "no leader"; exit 1; }
sleep 0.5

mkdir -p docs
csv=docs/bench-vs-redis.csv
echo "system,test,pipeline,clients,rps,p50_ms,p99_ms" > "$csv"
# One measurement: appends a CSV row and prints it.
measure() { # system port test pipeline clients
  local n
  n=$(python3 -c "print(max(2000, int(min(4000 * $5, 200000) * ($4 if $4 > 1 else 1) ** 0.5 * $scale)))")
  local row
  row=$(redis-benchmark -p "$2" -t "$3" -n "$n" -c "$5" -P "$4" --csv 2>/dev/null | tail -1 | tr -d '"')
  # test,rps,avg,min,p50,p95,p99,max
  IFS=, read -r _ rps _ _ p50 _ p99 _ <<< "$row"
  echo "$1,${3^^},$4,$5,$rps,$p50,$p99" | tee -a "$csv"
}
for pipeline in 1 16; do
  for test in set get; do
    for clients in 1 10 50 200; do
      measure kv_server "$leader" "$test" "$pipeline" "$clients"
      measure redis "${ports[6]}" "$test" "$pipeline" "$clients"
    done
  done
done

# 10,000 connections, 9,950 of them idle, and the 50-client SET beside them.
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
idle_check() { # system port pid
  local before after
  before=$(rss "$3")
  python3 - "$2" 9950 <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    socks.append(s)
s = socks[0]
s.sendall(b"PING\r\n"); s.recv(16)
open("/tmp/bench-idle-ready", "w").close()
time.sleep(3600)
PY
  local holder=$!
  while [ ! -e /tmp/bench-idle-ready ]; do sleep 0.2; done
  rm -f /tmp/bench-idle-ready
  after=$(rss "$3")
  local row
  row=$(redis-benchmark -p "$2" -t set -n "$(python3 -c "print(int(200000 * $scale))")" -c 50 --csv 2>/dev/null | tail -1 | tr -d '"')
  IFS=, read -r _ rps _ _ p50 _ p99 _ <<< "$row"
  kill "$holder"; wait "$holder" 2>/dev/null || true
  echo "$1 idle-9950,$rps,$p99,$(( (after - before) * 1024 / 9950 ))"
}
idle=$(idle_check kv_server "$leader" "$leader_pid"; idle_check redis "${ports[6]}" "$redis_pid")

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), one disk shared by every node; $(redis-server --version | sed -E 's/.*v=([0-9.]+).*/Redis \1/')"
when=$(date -u +%Y-%m-%d)
python3 - "$csv" "$when" "$machine" "$idle" > docs/bench-vs-redis.md <<'PY'
import csv, sys
path, when, machine, idle = sys.argv[1:5]
rows = list(csv.DictReader(open(path)))
get = lambda s, t, p, c: next(r for r in rows if (r["system"], r["test"], r["pipeline"], r["clients"]) == (s, t, p, c))
print(f"Measured {when} on {machine}. One run; the two systems alternate on each line.\n")
print("| test | clients | kv_server req/s | Redis req/s | ratio | kv_server p99 ms | Redis p99 ms |")
print("|---|---|---|---|---|---|---|")
for p in ["1", "16"]:
    for t in ["SET", "GET"]:
        for c in ["1", "10", "50", "200"]:
            k, r = get("kv_server", t, p, c), get("redis", t, p, c)
            name = t if p == "1" else f"{t} -P {p}"
            ratio = float(k["rps"]) / float(r["rps"])
            print(f"| {name} | {c} | {float(k['rps']):,.0f} | {float(r['rps']):,.0f} | {ratio:.2f} | {k['p99_ms']} | {r['p99_ms']} |")
print()
print("With 9,950 idle connections open beside the 50 busy ones (SET -c 50):\n")
print("| system | req/s | p99 ms | resident memory per idle connection |")
print("|---|---|---|---|")
for line in idle.splitlines():
    name, rps, p99, per = line.split(",")
    print(f"| {name.split()[0]} | {float(rps):,.0f} | {p99} | {int(per):,} bytes |")
PY
target/release/examples/bench_plot "$csv" docs/bench-vs-redis.svg --subtitle "$when, $machine"
cat docs/bench-vs-redis.md
