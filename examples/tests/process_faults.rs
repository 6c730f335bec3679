//! Fault injection at the process level: five `kv_server` processes over TCP on loopback, ten
//! clients speaking RESP, and a nemesis that kills nodes with SIGKILL (one, or a majority) and
//! pauses them with SIGSTOP/SIGCONT. After the run: the history is linearizable (checked per key),
//! every acknowledged write is readable, and every node reaches the same state.
//!
//! `FAULT_SECONDS` sets each run's length (default 3) and `FAULT_SEED` the seed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::kv_server;
use examples::free_node_addrs;
use kv_store::linearizability::{check_or_record, Op, Operation};
use kv_store::resp::{encode, parse_reply, Limits, Value};
use parking_lot::Mutex;

const NODES: usize = 5;
/// Processes started outside the cluster, for membership changes to add.
const SPARES: usize = 2;
const ALL: usize = NODES + SPARES;
const CLIENTS: u64 = 10;
const KEYS: u64 = 5;

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

struct Procs {
    raft: Vec<SocketAddr>,
    clients: Vec<SocketAddr>,
    dir: tempfile::TempDir,
    children: Mutex<Vec<Option<Child>>>,
}

impl Procs {
    fn start() -> Arc<Procs> {
        let (raft, clients) = free_node_addrs(ALL).unwrap();
        let p = Arc::new(Procs {
            raft,
            clients,
            dir: tempfile::tempdir().unwrap(),
            children: Mutex::new((0..ALL).map(|_| None).collect()),
        });
        for i in 0..ALL {
            p.spawn(i);
        }
        // The cluster's nodes learn the spares' addresses, so they can be added later.
        for i in 0..NODES {
            for spare in NODES..ALL {
                let (id, addr) = ((spare + 1).to_string(), p.raft[spare].to_string());
                let deadline = Instant::now() + Duration::from_secs(10);
                while call(
                    p.clients[i],
                    &[b"RAFT.PEER", id.as_bytes(), addr.as_bytes()],
                ) != Some(Value::Simple("OK".into()))
                {
                    assert!(
                        Instant::now() < deadline,
                        "node {} did not learn the spares",
                        i + 1
                    );
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
        p
    }

    fn spawn(&self, i: usize) {
        // The cluster's nodes know each other; a spare knows everyone and joins when added.
        let known = if i < NODES { NODES } else { ALL };
        let peers: Vec<String> = self
            .raft
            .iter()
            .take(known)
            .enumerate()
            .map(|(j, a)| format!("{}={a}", j + 1))
            .collect();
        let join: &[&str] = if i < NODES { &[] } else { &["--join"] };
        let child = Command::new(kv_server())
            .args(join)
            .args(["--id", &(i + 1).to_string(), "--peers", &peers.join(",")])
            .args(["--client-addr", &self.clients[i].to_string()])
            .args([
                "--data-dir",
                self.dir.path().join(format!("n{i}")).to_str().unwrap(),
            ])
            .args(["--tick-ms", "5", "--snapshot-every", "300"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.lock()[i] = Some(child);
    }

    fn kill(&self, i: usize) {
        if let Some(mut c) = self.children.lock()[i].take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn signal(&self, i: usize, sig: &str) {
        if let Some(c) = &self.children.lock()[i] {
            let _ = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status();
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for i in 0..ALL {
            self.signal(i, "-CONT");
            self.kill(i);
        }
    }
}

/// One RESP request on a fresh connection; `None` when the outcome is unknown (no answer).
fn call(addr: SocketAddr, args: &[&[u8]]) -> Option<Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(800))).ok()?;
    let mut out = Vec::new();
    encode(
        &Value::Array(Some(
            args.iter().map(|a| Value::Bulk(Some(a.to_vec()))).collect(),
        )),
        &mut out,
    );
    s.write_all(&out).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some((v, _))) = parse_reply(&buf, &Limits::default()) {
            return Some(v);
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn client(
    p: Arc<Procs>,
    id: u64,
    seed: u64,
    start: Instant,
    stop: Arc<AtomicBool>,
    history: Arc<Mutex<Vec<Operation>>>,
) {
    let mut rng = Rng((seed ^ (id + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
    let now = || start.elapsed().as_nanos() as u64;
    let mut seq = 0u64;
    let Some(session) = register(&p, &mut rng, &stop) else {
        return;
    };
    while !stop.load(Ordering::Relaxed) {
        let addr = p.clients[rng.below(ALL as u64) as usize];
        let k = format!("key{}", rng.below(KEYS)).into_bytes();
        seq += 1;
        let value = format!("c{id}-{seq}").into_bytes();
        let invoked = now();
        match rng.below(3) {
            0 => {
                // Only an answer counts; a read that failed changed nothing.
                let seen = match call(addr, &[b"GET", &k]) {
                    Some(Value::Bulk(v)) => v,
                    _ => continue,
                };
                history.lock().push(Operation {
                    client: id,
                    key: k,
                    op: Op::Read(seen),
                    invoked,
                    completed: Some(now()),
                });
            }
            1 => {
                let reply = exactly_once(&p, &mut rng, session, seq, &[b"SET", &k, &value]);
                let completed = matches!(reply, Some(Value::Simple(_))).then(now);
                history.lock().push(Operation {
                    client: id,
                    key: k,
                    op: Op::Write(value),
                    invoked,
                    completed,
                });
            }
            _ => {
                let expected = format!(
                    "c{}-{}",
                    rng.below(CLIENTS),
                    seq.saturating_sub(rng.below(3))
                )
                .into_bytes();
                let reply =
                    exactly_once(&p, &mut rng, session, seq, &[b"CAS", &k, &expected, &value]);
                let (swapped, completed) = match reply {
                    Some(Value::Integer(n)) => (Some(n == 1), Some(now())),
                    _ => (None, None),
                };
                history.lock().push(Operation {
                    client: id,
                    key: k,
                    op: Op::Cas {
                        expected: Some(expected),
                        new: value,
                        swapped,
                    },
                    invoked,
                    completed,
                });
            }
        }
    }
}

/// Opens an exactly-once session through the log, retrying on any node until one answers (or
/// the run stops).
fn register(p: &Procs, rng: &mut Rng, stop: &AtomicBool) -> Option<u64> {
    while !stop.load(Ordering::Relaxed) {
        let addr = p.clients[rng.below(NODES as u64) as usize];
        if let Some(Value::Integer(id)) = call(addr, &[b"XREGISTER"]) {
            return Some(id as u64);
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Sends a write with this client's exactly-once session, retrying on any node until a definite
/// answer comes back (it is applied once, whatever the retries), or five seconds pass (then its
/// outcome stays unknown).
fn exactly_once(p: &Procs, rng: &mut Rng, session: u64, seq: u64, args: &[&[u8]]) -> Option<Value> {
    let (session, seq) = (
        session.to_string().into_bytes(),
        seq.to_string().into_bytes(),
    );
    let mut tagged: Vec<&[u8]> = vec![b"XSESSION", &session, &seq];
    tagged.extend_from_slice(args);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let addr = p.clients[rng.below(NODES as u64) as usize];
        match call(addr, &tagged) {
            Some(Value::Error(e))
                if e.starts_with("TRYAGAIN") || e.starts_with("ERR outcome unknown") => {}
            Some(v @ (Value::Simple(_) | Value::Integer(_))) => return Some(v),
            Some(other) => panic!("unexpected reply {other:?}"),
            None => {}
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

#[derive(Clone, Copy, Debug)]
enum Nemesis {
    KillOne,
    KillMajority,
    Pause,
    Membership,
}

/// A node's INFO fields.
fn info(addr: SocketAddr) -> Option<std::collections::HashMap<String, String>> {
    let Some(Value::Bulk(Some(text))) = call(addr, &[b"INFO"]) else {
        return None;
    };
    Some(
        String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect(),
    )
}

fn ids(field: Option<&String>) -> Vec<usize> {
    field.map_or_else(Vec::new, |v| {
        v.split(',').filter_map(|x| x.parse().ok()).collect()
    })
}

/// The leader's index and its view of the membership (voters, learners).
fn leader_view(p: &Procs) -> Option<(usize, Vec<usize>, Vec<usize>)> {
    (0..ALL).find_map(|i| {
        let f = info(p.clients[i])?;
        (f.get("role").map(String::as_str) == Some("leader"))
            .then(|| (i, ids(f.get("voters")), ids(f.get("learners"))))
    })
}

/// One membership change under load, through the leader.
fn membership_change(p: &Procs, rng: &mut Rng) {
    let Some((leader, voters, learners)) = leader_view(p) else {
        return;
    };
    let members: Vec<usize> = voters.iter().chain(&learners).copied().collect();
    let outsiders: Vec<usize> = (1..=ALL).filter(|id| !members.contains(id)).collect();
    let others: Vec<usize> = voters
        .iter()
        .copied()
        .filter(|v| *v != leader + 1)
        .collect();
    let pick = |rng: &mut Rng, v: &[usize]| v[rng.below(v.len() as u64) as usize];
    let request: Vec<Vec<u8>> = match rng.below(4) {
        0 if !outsiders.is_empty() => {
            let id = pick(rng, &outsiders);
            vec![
                b"RAFT.ADDLEARNER".to_vec(),
                id.to_string().into_bytes(),
                p.raft[id - 1].to_string().into_bytes(),
            ]
        }
        1 if !learners.is_empty() => vec![
            b"RAFT.PROMOTE".to_vec(),
            pick(rng, &learners).to_string().into_bytes(),
        ],
        2 if others.len() >= 3 => vec![
            b"RAFT.REMOVE".to_vec(),
            pick(rng, &others).to_string().into_bytes(),
        ],
        3 if !others.is_empty() => vec![
            b"RAFT.TRANSFER".to_vec(),
            pick(rng, &others).to_string().into_bytes(),
        ],
        _ => return,
    };
    let args: Vec<&[u8]> = request.iter().map(Vec::as_slice).collect();
    let _ = call(p.clients[leader], &args);
}

fn run(seed: u64, nemesis: Nemesis, seconds: f64) -> (usize, u64) {
    let p = Procs::start();
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let history = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (p, stop, history) = (p.clone(), stop.clone(), history.clone());
            thread::spawn(move || client(p, id, seed, start, stop, history))
        })
        .collect();
    let mut rng = Rng(seed | 1);
    let mut faults = 0;
    while start.elapsed().as_secs_f64() < seconds {
        thread::sleep(Duration::from_millis(200 + rng.below(300)));
        faults += 1;
        if let Nemesis::Membership = nemesis {
            membership_change(&p, &mut rng);
            continue;
        }
        let mut victims = vec![rng.below(NODES as u64) as usize];
        if let Nemesis::KillMajority = nemesis {
            while victims.len() < NODES / 2 + 1 {
                let v = rng.below(NODES as u64) as usize;
                if !victims.contains(&v) {
                    victims.push(v);
                }
            }
        }
        for v in &victims {
            match nemesis {
                Nemesis::Pause => p.signal(*v, "-STOP"),
                _ => p.kill(*v),
            }
        }
        thread::sleep(Duration::from_millis(200 + rng.below(400)));
        for v in victims {
            match nemesis {
                Nemesis::Pause => p.signal(v, "-CONT"),
                _ => p.spawn(v),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().unwrap();
    }
    // Final reads (retried until the cluster answers) join the history.
    let mut h = history.lock().clone();
    for k in 0..KEYS {
        let key = format!("key{k}").into_bytes();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let invoked = start.elapsed().as_nanos() as u64;
            let node = leader_view(&p).map_or(k as usize % NODES, |(l, _, _)| l);
            if let Some(Value::Bulk(seen)) = call(p.clients[node], &[b"GET", &key]) {
                h.push(Operation {
                    client: 999,
                    key,
                    op: Op::Read(seen),
                    invoked,
                    completed: Some(start.elapsed().as_nanos() as u64),
                });
                break;
            }
            assert!(
                Instant::now() < deadline,
                "seed {seed}: no answer after healing"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
    let file = std::path::PathBuf::from(format!("fault-history-{seed}.txt"));
    if let Err(why) = check_or_record(&h, &file) {
        panic!("seed {seed} ({nemesis:?}): {why}");
    }
    // Every node converges on one state.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let _ = call(p.clients[0], &[b"SET", b"sync", b"point"]);
        thread::sleep(Duration::from_millis(200));
        // Every member of the final membership.
        let Some((_, voters, learners)) = leader_view(&p) else {
            continue;
        };
        let digests: Vec<Option<Value>> = voters
            .iter()
            .chain(&learners)
            .map(|id| call(p.clients[id - 1], &[b"RAFT.DIGEST"]))
            .collect();
        if digests.iter().all(|d| matches!(d, Some(Value::Integer(_))))
            && digests.windows(2).all(|w| w[0] == w[1])
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: replicas differ: {digests:?}"
        );
    }
    if let (Nemesis::Membership, Some((_, voters, learners))) = (nemesis, leader_view(&p)) {
        println!("  final membership: voters {voters:?}, learners {learners:?}");
    }
    (h.len(), faults)
}

#[test]
fn kv_server_processes_stay_linearizable_under_kill_9_and_sigstop() {
    let seconds: f64 = std::env::var("FAULT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let (mut ops, mut faults) = (0, 0);
    let nemeses = [
        Nemesis::KillOne,
        Nemesis::KillMajority,
        Nemesis::Pause,
        Nemesis::Membership,
    ];
    for (i, nemesis) in nemeses.into_iter().enumerate() {
        let s = seed.wrapping_add(i as u64 * 1000);
        let (o, f) = run(s, nemesis, seconds);
        println!("seed {s} {nemesis:?}: {o} operations checked, {f} faults injected");
        assert!(o > 50, "seed {s}: too few operations ({o})");
        ops += o;
        faults += f;
    }
    println!(
        "process fault injection: {ops} operations checked, {faults} faults injected, 0 violations"
    );
}
