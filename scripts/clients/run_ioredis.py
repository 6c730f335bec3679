"""Starts a 3-node kv_server cluster and runs ioredis_check.js against it (which SIGKILLs the
leader itself); on failure, prints the nodes' last log lines.

Usage: python3 run_ioredis.py PATH/TO/kv_server   (after `npm ci` in this directory)"""
import json
import os
import subprocess
import sys

from cluster import Cluster

HERE = os.path.dirname(os.path.abspath(__file__))

cluster = Cluster(sys.argv[1])
try:
    nodes = {"ports": {str(n): cluster.port(n) for n in cluster.procs},
             "pids": {str(n): p.pid for n, p in cluster.procs.items()}}
    status = subprocess.call(["node", os.path.join(HERE, "ioredis_check.js"), json.dumps(nodes)])
    if status != 0:
        print(cluster.logs())
finally:
    cluster.stop()
    cluster.remove()
sys.exit(status)
