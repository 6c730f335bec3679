"""redis-py, with its default settings (RESP3 through HELLO 3), against a 3-node kv_server
cluster: TTLs, pipelines, transactions with WATCH conflicts, hashes, SCAN, the introspection
commands, and a RedisCluster client that keeps writing while the leader is SIGKILLed, with every
acknowledged write read back afterwards.

Usage: python3 redis_py_check.py PATH/TO/kv_server   (redis-py from requirements.txt)"""
import sys
import warnings
import threading
import time

import redis
from redis.cluster import RedisCluster

from cluster import Cluster


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def ttls(r):
    check(r.set("t:ex", "v", ex=100) is True, "SET EX")
    check(0 < r.ttl("t:ex") <= 100, "TTL after SET EX")
    r.set("t:px60", "v", px=60_000)
    check(0 < r.pttl("t:px60") <= 60_000, "PTTL after SET PX")
    r.set("t:px", "v", px=150)
    time.sleep(0.4)
    check(r.get("t:px") is None and r.exists("t:px") == 0, "a key past its deadline is gone")
    check(r.expire("t:ex", 50, gt=True) is False, "EXPIRE GT with a smaller TTL does nothing")
    check(r.expire("t:ex", 50, lt=True) is True, "EXPIRE LT")
    check(0 < r.ttl("t:ex") <= 50, "TTL after EXPIRE LT")
    check(r.expiretime("t:ex") > time.time(), "EXPIRETIME")
    check(r.persist("t:ex") is True and r.ttl("t:ex") == -1, "PERSIST")
    r.setex("t:setex", 30, "v")
    r.psetex("t:psetex", 30_000, "v")
    check(0 < r.ttl("t:setex") <= 30 and 0 < r.ttl("t:psetex") <= 30, "SETEX, PSETEX")
    check(r.getex("t:setex", persist=True) == b"v" and r.ttl("t:setex") == -1, "GETEX PERSIST")
    check(r.set("t:nx", "1", nx=True) is True, "SET NX on a new key")
    check(r.set("t:nx", "2", nx=True) is None, "SET NX on an existing key")
    check(r.set("t:nx", "3", get=True) == b"1", "SET GET")
    check(r.ttl("t:missing") == -2, "TTL of a missing key")


def pipelines(r):
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.set(f"p:{i}", i)
    check(p.execute() == [True] * 500, "a pipeline of 500 SETs")
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.get(f"p:{i}")
    check(p.execute() == [str(i).encode() for i in range(500)], "a pipeline of 500 GETs")
    # pipeline() is a transaction (MULTI/EXEC) by default.
    p = r.pipeline()
    p.incr("p:c").incr("p:c").get("p:c")
    check(p.execute() == [1, 2, b"2"], "a transaction")
    # A command failing inside a transaction fails alone.
    p = r.pipeline()
    p.set("p:s", "x").incr("p:s").get("p:s")
    out = p.execute(raise_on_error=False)
    check(out[0] is True and isinstance(out[1], redis.ResponseError) and out[2] == b"x",
          f"a runtime error inside a transaction: {out}")


def watch_conflicts(r, other):
    r.set("w:k", "0")
    with r.pipeline() as p:
        p.watch("w:k")
        p.get("w:k")
        other.set("w:k", "changed")
        p.multi()
        p.set("w:k", "mine")
        try:
            p.execute()
            raise AssertionError("EXEC ran though a WATCHed key changed")
        except redis.WatchError:
            pass
    check(r.get("w:k") == b"changed", "the conflicting transaction changed nothing")

    # Concurrent read-modify-write through WATCH: no increment is lost.
    r.set("w:counter", 0)
    conflicts = []

    def add(n):
        c = redis.Redis(host=r.connection_pool.connection_kwargs["host"],
                        port=r.connection_pool.connection_kwargs["port"])
        for _ in range(n):
            def step(pipe):
                v = int(pipe.get("w:counter"))
                pipe.multi()
                pipe.set("w:counter", v + 1)
            while True:
                try:
                    c.transaction(step, "w:counter")
                    break
                except redis.WatchError:
                    conflicts.append(1)
    threads = [threading.Thread(target=add, args=(25,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(int(r.get("w:counter")) == 100, f"WATCHed increments: {r.get('w:counter')}")
    print(f"  WATCH: 100 increments from 4 clients, {len(conflicts)} retried after a conflict")


def hashes(r):
    fields = {f"f{i}": i for i in range(300)}
    check(r.hset("h", mapping=fields) == 300, "HSET of 300 fields")
    check(r.hlen("h") == 300 and r.hget("h", "f7") == b"7", "HLEN, HGET")
    check(r.hincrby("h", "f1", 10) == 11, "HINCRBY")
    check(abs(r.hincrbyfloat("h", "f2", 0.5) - 2.5) < 1e-9, "HINCRBYFLOAT")
    check(r.hmget("h", ["f3", "nope"]) == [b"3", None], "HMGET")
    check(not r.hsetnx("h", "f3", "x") and r.hget("h", "f3") == b"3", "HSETNX")
    check(r.hexists("h", "f4") and r.hstrlen("h", "f10") == 2, "HEXISTS, HSTRLEN")
    check(r.hdel("h", "f0", "nope") == 1, "HDEL")
    got = dict(r.hscan_iter("h", count=50))
    check(len(got) == 299 and got[b"f299"] == b"299", f"HSCAN saw {len(got)} fields")
    check(len(r.hgetall("h")) == 299 and len(r.hkeys("h")) == 299, "HGETALL, HKEYS")
    check(r.hrandfield("h") is not None, "HRANDFIELD")
    try:
        r.get("h")
        raise AssertionError("GET on a hash")
    except redis.ResponseError as e:
        check(str(e).startswith("WRONGTYPE"), f"WRONGTYPE: {e}")


def scan(r):
    keys = {f"s:{i}" for i in range(1000)}
    p = r.pipeline(transaction=False)
    for k in keys:
        p.set(k, "x")
    p.execute()
    found = {k.decode() for k in r.scan_iter(match="s:*", count=100)}
    check(found == keys, f"SCAN MATCH found {len(found)} of {len(keys)}")
    check(b"h" in set(r.scan_iter(_type="hash")), "SCAN TYPE hash")
    check(r.dbsize() >= 1000, "DBSIZE")


def introspection(r):
    info = r.info()
    check(info["redis_version"] == "7.0.15", "INFO server")
    check(r.info("keyspace")["db0"]["keys"] >= 1000, "INFO keyspace")
    check(r.client_setname("checker") is True and r.client_getname() == "checker", "SETNAME")
    check(any(c["name"] == "checker" for c in r.client_list()), "CLIENT LIST")
    check(r.client_info()["lib-name"] == "redis-py", "CLIENT SETINFO from the client itself")
    check(r.config_get("maxclients") == {"maxclients": "10000"}, "CONFIG GET")
    check(r.command_count() > 80, "COMMAND COUNT")
    check(r.time()[0] > 1_600_000_000 and r.lastsave() is not None, "TIME, LASTSAVE")
    check(r.role()[0] in (b"master", b"slave", "master", "slave"), "ROLE")
    check(r.info("commandstats")["cmdstat_set"]["calls"] > 0, "INFO commandstats")


def failover(cluster):
    """A RedisCluster client pointed at a follower writes while the leader is SIGKILLed."""
    leader = cluster.leader()
    seed = next(n for n in cluster.alive() if n != leader)
    rc = RedisCluster(host="127.0.0.1", port=cluster.port(seed))
    check(rc.get_primaries()[0].port in cluster.clients, "the client knows a primary")
    acked, errors, gaps = {}, [], []
    state = {"stop": False, "last": time.time()}

    def writer():
        i = 0
        while not state["stop"]:
            key = f"fo:{i}"
            try:
                # A failed write is sent again with the same value: applying it twice is harmless.
                rc.set(key, i)
            except Exception as e:  # what a failover may raise, whatever its class
                errors.append(type(e).__name__)
                time.sleep(0.05)
                continue
            now = time.time()
            gaps.append(now - state["last"])
            state["last"] = now
            acked[key] = i
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    deadline = time.time() + 60
    while len(acked) < 200 and time.time() < deadline:
        time.sleep(0.01)
    before = len(acked)
    cluster.kill(leader)
    killed_at = len(acked)
    while len(acked) < killed_at + 200 and time.time() < deadline:
        time.sleep(0.01)
    state["stop"] = True
    t.join()
    check(len(acked) >= killed_at + 200,
          f"writes stopped after the leader was killed: {len(acked) - killed_at} acknowledged")
    new_leader = cluster.leader()
    check(new_leader != leader, "a new leader")
    # The client's map names the new leader (asked again once, should a later election have
    # moved it meanwhile).
    if rc.get_primaries()[0].port != cluster.port(new_leader):
        time.sleep(1)
        rc.set("fo:probe", "1")
        new_leader = cluster.leader()
    check(rc.get_primaries()[0].port == cluster.port(new_leader),
          f"the client routes to the new leader ({rc.get_primaries()[0].port})")
    plain = redis.Redis(port=cluster.port(new_leader))
    keys = list(acked)
    lost = []
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        for k, v in zip(chunk, plain.mget(chunk)):
            if v != str(acked[k]).encode():
                lost.append(k)
    check(not lost, f"acknowledged writes lost: {lost[:10]}")
    print(f"  failover: {len(acked)} writes acknowledged ({before} before the kill), "
          f"{len(errors)} errors while the leader was gone, longest gap between "
          f"acknowledgements {max(gaps) * 1000:.0f} ms, none lost")


def main():
    # SETEX and PSETEX are tested as commands, though redis-py marks its helpers deprecated.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    server = sys.argv[1]
    print(f"redis-py {redis.__version__}")
    cluster = Cluster(server)
    try:
        port = cluster.port(cluster.leader())
        # Default settings: redis-py 8 speaks RESP3 (HELLO 3) unless told otherwise.
        r, other = redis.Redis(port=port), redis.Redis(port=port)
        for name, f in [("TTLs", lambda: ttls(r)), ("pipelines", lambda: pipelines(r)),
                        ("WATCH", lambda: watch_conflicts(r, other)),
                        ("hashes", lambda: hashes(r)), ("SCAN", lambda: scan(r)),
                        ("introspection", lambda: introspection(r)),
                        ("failover", lambda: failover(cluster))]:
            f()
            print(f"  ok: {name}")
    except Exception:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
        cluster.remove()
    print("redis-py: every check passed")


if __name__ == "__main__":
    main()
