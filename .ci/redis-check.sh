#!/usr/bin/env bash
# redis-cli and redis-benchmark, unmodified, against a 3-node kv_server cluster: writes and reads
# through every node, a kill -9 of the leader, every acknowledged write read back.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/debug/examples/kv_server
[ -x "$bin" ] || cargo build -q --example kv_server
dir=$(mktemp -d)
pids=()
cleanup() {
  status=$?
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    for f in "$dir"/log*; do echo "== $f (last lines)"; tail -20 "$f"; done
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

read -r -a ports < <(python3 scripts/free-ports.py 6)
raft=("${ports[@]:0:3}"); client=("${ports[@]:3:3}")
peers="1=127.0.0.1:${raft[0]},2=127.0.0.1:${raft[1]},3=127.0.0.1:${raft[2]}"
for i in 0 1 2; do
  "$bin" --id $((i + 1)) --peers "$peers" --client-addr "127.0.0.1:${client[$i]}" \
    --data-dir "$dir/n$((i + 1))" --tick-ms 5 > "$dir/log$((i + 1))" 2>&1 &
  pids+=($!)
done

leader=""
for _ in $(seq 100); do
  for i in 0 1 2; do
    if redis-cli -p "${client[$i]}" INFO 2>/dev/null | grep -q "role:leader"; then leader=$i; fi
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || { echo "FAIL: no leader"; exit 1; }
echo "leader: node $((leader + 1))"

expect() { # expect <port> <expected output> <command...>
  local port=$1 want=$2; shift 2
  local got
  for _ in $(seq 50); do
    got=$(redis-cli -p "$port" "$@" 2>&1) || true
    case "$got" in TRYAGAIN*) sleep 0.1; continue ;; esac
    break
  done
  if [ "$got" != "$want" ]; then echo "FAIL: redis-cli -p $port $* gave '$got', expected '$want'"; exit 1; fi
}

for i in 0 1 2; do
  p=${client[$i]}
  expect "$p" "PONG" PING
  expect "$p" "OK" SET "key$i" "value$i"
  expect "$p" "value$i" GET "key$i"
  expect "$p" "$((i + 1))" INCR counter
done
expect "${client[0]}" "OK" MSET a 1 b 2
expect "${client[1]}" $'1\n2' MGET a b
expect "${client[2]}" "1" CAS a 1 one
expect "${client[2]}" "ERR unknown command 'NOSUCH', with args beginning with: 'x' " NOSUCH x
expect "${client[2]}" "ERR DB index is out of range" SELECT 1
expect "${client[2]}" "" INFO nosuchsection
echo "redis-cli: every command answered on every node"

for i in 0 1 2; do
  redis-benchmark -p "${client[$i]}" -t set,get -n 2000 -c 10 -q > "$dir/bench$i" 2>&1 \
    || { echo "FAIL: redis-benchmark against node $((i + 1))"; cat "$dir/bench$i"; exit 1; }
  grep -q "requests per second" "$dir/bench$i" || { echo "FAIL: redis-benchmark output"; cat "$dir/bench$i"; exit 1; }
done
echo "redis-benchmark: ran against every node"

kill -9 "${pids[$leader]}"
wait "${pids[$leader]}" 2>/dev/null || true
echo "killed the leader (node $((leader + 1))) with SIGKILL"
survivor=$(( (leader + 1) % 3 ))
sp=${client[$survivor]}
for i in 0 1 2; do expect "$sp" "value$i" GET "key$i"; done
expect "$sp" "3" GET counter
expect "$sp" "one" GET a
expect "$sp" "OK" SET after kill
echo "every acknowledged write is readable through node $((survivor + 1)); the cluster still takes writes"
echo "redis-check: 1 passed, 0 failed"
