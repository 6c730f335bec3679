#!/usr/bin/env bash
# Real Redis client libraries, pinned and with their default settings, against 3-node kv_server
# clusters: redis-py (scripts/clients/requirements.txt) and ioredis (scripts/clients/package.json,
# package-lock.json). Each covers TTLs, pipelines, transactions with WATCH conflicts, hashes and
# SCAN, then keeps writing through a Redis Cluster client while the leader is SIGKILLed, and
# reads every acknowledged write back. Needs PyPI and the npm registry on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/debug/examples/kv_server
cargo build -q --example kv_server
venv=target/client-checks/venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/clients/requirements.txt
(cd scripts/clients && npm ci --no-audit --no-fund --silent)

echo "== redis-py"
"$venv/bin/python" scripts/clients/redis_py_check.py "$bin"
echo "== ioredis"
python3 scripts/clients/run_ioredis.py "$bin"
