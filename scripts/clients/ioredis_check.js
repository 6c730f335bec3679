// ioredis (pinned in package.json), default settings, against a 3-node kv_server cluster: TTLs,
// pipelines, MULTI/EXEC with WATCH conflicts, hashes, SCAN, and a Cluster client that keeps
// writing while the leader is SIGKILLed, with every acknowledged write read back afterwards.
//
// Usage: node ioredis_check.js '{"ports": {"1": P1, ...}, "pids": {"1": PID1, ...}}'
// (run by run_ioredis.py, which starts the cluster and reaps the killed node).
"use strict";
const Redis = require("ioredis");

const nodes = JSON.parse(process.argv[2]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function check(cond, what) {
  if (!cond) throw new Error(`FAIL: ${what}`);
}

async function leader(alive) {
  for (let tries = 0; tries < 400; tries++) {
    for (const id of alive) {
      const r = new Redis({ port: nodes.ports[id], lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await r.connect();
        const role = await r.role();
        if (role[0] === "master") return id;
      } catch (e) {
        // a node down or busy: try the next
      } finally {
        r.disconnect();
      }
    }
    await sleep(50);
  }
  throw new Error("no leader");
}

async function ttls(r) {
  check((await r.set("t:ex", "v", "EX", 100)) === "OK", "SET EX");
  const ttl = await r.ttl("t:ex");
  check(ttl > 0 && ttl <= 100, `TTL ${ttl}`);
  await r.set("t:px", "v", "PX", 150);
  await sleep(400);
  check((await r.get("t:px")) === null, "a key past its deadline is gone");
  check((await r.expire("t:ex", 50, "LT")) === 1, "EXPIRE LT");
  check((await r.persist("t:ex")) === 1 && (await r.ttl("t:ex")) === -1, "PERSIST");
  check((await r.set("t:nx", "1", "NX")) === "OK", "SET NX");
  check((await r.set("t:nx", "2", "NX")) === null, "SET NX again");
}

async function pipelines(r) {
  const p = r.pipeline();
  for (let i = 0; i < 500; i++) p.set(`p:${i}`, i);
  const sets = await p.exec();
  check(sets.every(([e, v]) => !e && v === "OK"), "a pipeline of 500 SETs");
  const g = r.pipeline();
  for (let i = 0; i < 500; i++) g.get(`p:${i}`);
  const gets = await g.exec();
  check(gets.every(([e, v], i) => !e && v === String(i)), "a pipeline of 500 GETs");
  const tx = await r.multi().incr("p:c").incr("p:c").get("p:c").exec();
  check(JSON.stringify(tx) === JSON.stringify([[null, 1], [null, 2], [null, "2"]]), `MULTI/EXEC: ${JSON.stringify(tx)}`);
}

async function watchConflicts(r, other) {
  await r.set("w:k", "0");
  await r.watch("w:k");
  await r.get("w:k");
  await other.set("w:k", "changed");
  const out = await r.multi().set("w:k", "mine").exec();
  check(out === null, `EXEC after a WATCHed key changed: ${JSON.stringify(out)}`);
  check((await r.get("w:k")) === "changed", "the conflicting transaction changed nothing");
  // Two clients incrementing through WATCH: no increment lost.
  await r.set("w:counter", 0);
  let conflicts = 0;
  const add = async (c, n) => {
    for (let i = 0; i < n; i++) {
      for (;;) {
        await c.watch("w:counter");
        const v = Number(await c.get("w:counter"));
        const res = await c.multi().set("w:counter", v + 1).exec();
        if (res !== null) break;
        conflicts++;
      }
    }
  };
  await Promise.all([add(r, 50), add(other, 50)]);
  check((await r.get("w:counter")) === "100", "WATCHed increments");
  console.log(`  WATCH: 100 increments from 2 clients, ${conflicts} retried after a conflict`);
}

async function hashes(r) {
  const fields = {};
  for (let i = 0; i < 300; i++) fields[`f${i}`] = String(i);
  check((await r.hset("h", fields)) === 300, "HSET of 300 fields");
  check((await r.hincrby("h", "f1", 10)) === 11, "HINCRBY");
  check((await r.hincrbyfloat("h", "f2", "0.5")) === "2.5", "HINCRBYFLOAT");
  check((await r.hdel("h", "f0")) === 1, "HDEL");
  const seen = new Map();
  await new Promise((resolve, reject) => {
    r.hscanStream("h", { count: 50 })
      .on("data", (pairs) => { for (let i = 0; i < pairs.length; i += 2) seen.set(pairs[i], pairs[i + 1]); })
      .on("end", resolve)
      .on("error", reject);
  });
  check(seen.size === 299 && seen.get("f299") === "299", `HSCAN saw ${seen.size} fields`);
  check(Object.keys(await r.hgetall("h")).length === 299, "HGETALL");
  let wrongType = "";
  try { await r.get("h"); } catch (e) { wrongType = e.message; }
  check(wrongType.startsWith("WRONGTYPE"), `WRONGTYPE: ${wrongType}`);
}

async function scan(r) {
  const p = r.pipeline();
  for (let i = 0; i < 1000; i++) p.set(`s:${i}`, "x");
  await p.exec();
  const found = new Set();
  await new Promise((resolve, reject) => {
    r.scanStream({ match: "s:*", count: 100 })
      .on("data", (keys) => keys.forEach((k) => found.add(k)))
      .on("end", resolve)
      .on("error", reject);
  });
  check(found.size === 1000, `SCAN MATCH found ${found.size} of 1000`);
  const info = await r.info("keyspace");
  check(/db0:keys=\d+,expires=\d+,avg_ttl=\d+/.test(info), "INFO keyspace");
}

async function failover() {
  const alive = Object.keys(nodes.ports);
  const old = await leader(alive);
  const seed = alive.find((id) => id !== old);
  const cluster = new Redis.Cluster([{ host: "127.0.0.1", port: nodes.ports[seed] }]);
  const acked = new Map();
  let errors = 0, stop = false, last = Date.now(), gap = 0;
  const writer = (async () => {
    let i = 0;
    while (!stop) {
      const key = `fo:${i}`;
      try {
        // A failed write is sent again with the same value: applying it twice is harmless.
        await cluster.set(key, String(i));
      } catch (e) {
        errors++;
        await sleep(50);
        continue;
      }
      const now = Date.now();
      gap = Math.max(gap, now - last);
      last = now;
      acked.set(key, String(i));
      i++;
    }
  })();
  const deadline = Date.now() + 60000;
  while (acked.size < 200 && Date.now() < deadline) await sleep(10);
  const before = acked.size;
  process.kill(nodes.pids[old], "SIGKILL");
  while (acked.size < before + 200 && Date.now() < deadline) await sleep(10);
  stop = true;
  await writer;
  cluster.disconnect();
  check(acked.size >= before + 200, `writes stopped after the kill: ${acked.size - before}`);
  const survivors = alive.filter((id) => id !== old);
  const now = await leader(survivors);
  const plain = new Redis({ port: nodes.ports[now] });
  const keys = [...acked.keys()];
  const lost = [];
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const values = await plain.mget(chunk);
    chunk.forEach((k, j) => { if (values[j] !== acked.get(k)) lost.push(k); });
  }
  plain.disconnect();
  check(lost.length === 0, `acknowledged writes lost: ${lost.slice(0, 10)}`);
  console.log(`  failover: ${acked.size} writes acknowledged (${before} before the kill), ` +
    `${errors} errors while the leader was gone, longest gap between acknowledgements ` +
    `${gap} ms, none lost`);
}

async function main() {
  console.log(`ioredis ${require("ioredis/package.json").version}`);
  const id = await leader(Object.keys(nodes.ports));
  const r = new Redis({ port: nodes.ports[id] });
  const other = new Redis({ port: nodes.ports[id] });
  for (const [name, f] of [["TTLs", () => ttls(r)], ["pipelines", () => pipelines(r)],
    ["WATCH", () => watchConflicts(r, other)], ["hashes", () => hashes(r)],
    ["SCAN", () => scan(r)]]) {
    await f();
    console.log(`  ok: ${name}`);
  }
  r.disconnect();
  other.disconnect();
  await failover();
  console.log("  ok: failover");
  console.log("ioredis: every check passed");
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
