#!/usr/bin/env bash
# redis-benchmark, same commands, same run: a durable 3-node kv_server cluster on loopback (fsync
# on every batch) and a single redis-server with appendfsync always.
#   bash scripts/bench-vs-redis.sh            (needs redis-server and redis-benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${BENCH_REQUESTS:-200000}
cargo build -q --release --example kv_server
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
  "$bin" --id $((i + 1)) --peers "$peers" --client-addr "127.0.0.1:${ports[$((i + 3))]}" \
    --data-dir "$dir/n$((i + 1))" > /dev/null 2>&1 &
  pids+=($!)
done
redis-server --port "${ports[6]}" --dir "$dir" --appendonly yes --appendfsync always --save "" \
  --daemonize no > /dev/null 2>&1 &
pids+=($!)
leader=""
for _ in $(seq 100); do
  for i in 3 4 5; do
    redis-cli -p "${ports[$i]}" INFO 2>/dev/null | grep -q "role:leader" && leader=${ports[$i]}
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || { echo "no leader"; exit 1; }
sleep 0.5
echo "requests: $n per test; kv_server leader on port $leader; redis-server on ${ports[6]}"
for pipeline in 1 16; do
  for target in "raft-kv:$leader" "redis:${ports[6]}"; do
    name=${target%%:*}; port=${target##*:}
    out=$(redis-benchmark -p "$port" -t set,get -n "$n" -c 50 -P "$pipeline" -q 2>/dev/null | tr '\r' '\n' | grep "requests per second")
    echo "$out" | sed "s/^/$name -c 50 -P $pipeline  /"
  done
done
