//! Fault injection with a linearizability check, in one process: five nodes over the in-memory
//! network with disk storage in temporary directories, ten clients doing reads, writes and
//! compare-and-sets on a handful of keys, and a nemesis that partitions the network, isolates
//! the leader, kills and restarts nodes (one, or a majority), and pauses nodes. After each run:
//! the history is linearizable, every acknowledged write is readable after healing, and every
//! node reaches the same state.
//!
//! CI runs a short seeded set. A soak: `FAULT_SECONDS=1800 FAULT_SEED=7 cargo test --release -p
//! kv-store --test fault_injection -- --nocapture` (each of the runs gets the duration). A failure
//! prints its seed and writes the failing history to `fault-history-<seed>.txt`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kv_store::linearizability::{check_or_record, Op, Operation};
use kv_store::{Command, KvStore, Query, Reply, SetCondition, Write};
use parking_lot::Mutex;
use raft_core::{NodeId, Role};
use raft_runtime::{DiskOptions, DiskStorage, Error, MemNetwork, Node, NodeConfig};

const NODES: u64 = 5;
/// Nodes that start outside the cluster, for membership changes to add.
const SPARES: u64 = 2;
const CLIENTS: u64 = 10;
const KEYS: u64 = 5;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug)]
enum Nemesis {
    Partition,
    IsolateLeader,
    KillOne,
    KillMajority,
    Pause,
    Membership,
}

struct Cluster {
    net: MemNetwork,
    dir: tempfile::TempDir,
    nodes: Mutex<HashMap<NodeId, Arc<Node<KvStore>>>>,
}

impl Cluster {
    fn start() -> Arc<Cluster> {
        let c = Arc::new(Cluster {
            net: MemNetwork::new(),
            dir: tempfile::tempdir().unwrap(),
            nodes: Mutex::new(HashMap::new()),
        });
        for id in 1..=NODES + SPARES {
            c.boot(id);
        }
        c
    }

    fn boot(&self, id: NodeId) {
        let (t, inbox) = self.net.join(id);
        let voters = if id <= NODES {
            (1..=NODES).collect()
        } else {
            Vec::new()
        };
        let mut cfg = NodeConfig::new(id, voters);
        cfg.tick_interval = Duration::from_millis(5);
        cfg.snapshot_every_entries = 200;
        cfg.raft.compaction_tail_entries = 20;
        let storage =
            DiskStorage::open(self.dir.path().join(id.to_string()), DiskOptions::default())
                .unwrap();
        let node = Node::start(cfg, KvStore::new(), storage, t, inbox)
            .expect("node restarts from its disk");
        self.nodes.lock().insert(id, Arc::new(node));
    }

    fn kill(&self, id: NodeId) {
        self.net.leave(id);
        if let Some(n) = self.nodes.lock().remove(&id) {
            n.close();
        }
    }

    fn node(&self, id: NodeId) -> Option<Arc<Node<KvStore>>> {
        self.nodes.lock().get(&id).cloned()
    }

    fn leader(&self) -> Option<NodeId> {
        let nodes: Vec<Arc<Node<KvStore>>> = self.nodes.lock().values().cloned().collect();
        nodes
            .iter()
            .filter_map(|n| n.status().ok())
            .filter(|s| s.role == Role::Leader)
            .max_by_key(|s| s.term)
            .map(|s| s.id)
    }
}

fn key(k: u64) -> Vec<u8> {
    format!("key{k}").into_bytes()
}

/// One client: random operations against random live nodes until `stop`.
fn client(
    c: Arc<Cluster>,
    id: u64,
    seed: u64,
    start: Instant,
    stop: Arc<AtomicBool>,
    history: Arc<Mutex<Vec<Operation>>>,
) {
    let mut rng = Rng(seed ^ (id + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let now = || start.elapsed().as_nanos() as u64;
    let mut seq: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let node_id = 1 + rng.below(NODES + SPARES);
        let Some(node) = c.node(node_id) else {
            thread::sleep(Duration::from_millis(2));
            continue;
        };
        let k = rng.below(KEYS);
        seq += 1;
        let value = format!("c{id}-{seq}").into_bytes();
        let timeout = Duration::from_millis(300);
        let invoked = now();
        match rng.below(3) {
            0 => {
                let r = node.read(Query::Get { key: key(k) }, timeout);
                if let Ok(reply) = r {
                    let seen = match reply {
                        Reply::Bulk(v) => Some(v),
                        Reply::Nil => None,
                        other => panic!("a read answered {other:?}"),
                    };
                    history.lock().push(Operation {
                        client: id,
                        key: key(k),
                        op: Op::Read(seen),
                        invoked,
                        completed: Some(now()),
                    });
                }
                // A failed read changed nothing: it is left out.
            }
            kind => {
                let (command, op) = if kind == 1 {
                    (
                        Command::Set {
                            key: key(k),
                            value: value.clone(),
                            condition: SetCondition::Always,
                        },
                        Op::Write(value.clone()),
                    )
                } else {
                    let expected = format!(
                        "c{}-{}",
                        rng.below(CLIENTS),
                        seq.saturating_sub(rng.below(3))
                    );
                    (
                        Command::Cas {
                            key: key(k),
                            expected: Some(expected.clone().into_bytes()),
                            new: value.clone(),
                        },
                        Op::Cas {
                            expected: Some(expected.into_bytes()),
                            new: value.clone(),
                            swapped: None,
                        },
                    )
                };
                let r = node.propose(
                    Write {
                        session: None,
                        command,
                    }
                    .encode(),
                    timeout,
                );
                let (op, completed) = match r {
                    Ok(reply) => {
                        let op = match (op, reply) {
                            (Op::Cas { expected, new, .. }, Reply::Int(n)) => Op::Cas {
                                expected,
                                new,
                                swapped: Some(n == 1),
                            },
                            (op, _) => op,
                        };
                        (op, Some(now()))
                    }
                    // Refused before it was appended, or replaced by another entry: no effect.
                    Err(
                        Error::NotLeader { .. }
                        | Error::NotCommitted
                        | Error::Busy
                        | Error::Rejected(_),
                    ) => continue,
                    // May or may not have taken effect.
                    Err(_) => (op, None),
                };
                history.lock().push(Operation {
                    client: id,
                    key: key(k),
                    op,
                    invoked,
                    completed,
                });
            }
        }
    }
}

/// One membership change under load, through the leader: add a learner, promote one, remove a
/// voter (keeping at least three), or replace the leader itself.
fn membership_change(c: &Cluster, rng: &mut Rng) {
    use raft_core::{ChangeStep, MembershipChange};
    let Some(leader) = c.leader() else { return };
    let Some(node) = c.node(leader) else { return };
    let Ok(status) = node.status() else { return };
    let m = status.membership;
    if m.is_joint() {
        return;
    }
    let outsiders: Vec<NodeId> = (1..=NODES + SPARES)
        .filter(|id| !m.is_member(*id))
        .collect();
    let learners: Vec<NodeId> = m.learners.iter().copied().collect();
    let voters: Vec<NodeId> = m.voters.iter().copied().filter(|v| *v != leader).collect();
    let pick = |rng: &mut Rng, v: &[NodeId]| v[rng.below(v.len() as u64) as usize];
    let steps = match rng.below(4) {
        0 if !outsiders.is_empty() => vec![ChangeStep::AddLearner(pick(rng, &outsiders))],
        1 if !learners.is_empty() => vec![ChangeStep::AddVoter(pick(rng, &learners))],
        2 if voters.len() >= 3 => vec![ChangeStep::Remove(pick(rng, &voters))],
        3 if !learners.is_empty() => vec![
            ChangeStep::AddVoter(pick(rng, &learners)),
            ChangeStep::Remove(leader),
        ],
        _ => return,
    };
    // Refusals (not caught up, a change pending) and timeouts are part of the game.
    let _ = node.change_membership(
        MembershipChange::Steps {
            steps,
            auto_leave: true,
        },
        Duration::from_secs(1),
    );
}

fn run(seed: u64, nemesis: Nemesis, seconds: f64) -> (usize, u64) {
    let c = Cluster::start();
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let history = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (c, stop, history) = (c.clone(), stop.clone(), history.clone());
            thread::spawn(move || client(c, id, seed, start, stop, history))
        })
        .collect();
    let faults = AtomicU64::new(0);
    let mut rng = Rng(seed | 1);
    let ids: Vec<NodeId> = (1..=NODES + SPARES).collect();
    let mut paused: Vec<NodeId> = Vec::new();
    while start.elapsed().as_secs_f64() < seconds {
        thread::sleep(Duration::from_millis(100 + rng.below(200)));
        faults.fetch_add(1, Ordering::Relaxed);
        match nemesis {
            Nemesis::Partition => {
                let side: Vec<NodeId> = ids.iter().copied().filter(|_| rng.below(2) == 0).collect();
                c.net.partition(&side, &ids);
            }
            Nemesis::IsolateLeader => {
                if let Some(l) = c.leader() {
                    c.net.isolate(l, &ids);
                }
            }
            Nemesis::Pause => {
                // Links cut and clock stopped: a paused process.
                let victim = 1 + rng.below(NODES);
                c.net.isolate(victim, &ids);
                if let Some(n) = c.node(victim) {
                    let _ = n.pause(true);
                    paused.push(victim);
                }
            }
            Nemesis::Membership => membership_change(&c, &mut rng),
            Nemesis::KillOne => c.kill(1 + rng.below(NODES)),
            Nemesis::KillMajority => {
                let mut victims = ids.clone();
                while victims.len() > NODES as usize / 2 + 1 {
                    victims.remove(rng.below(victims.len() as u64) as usize);
                }
                for v in victims {
                    c.kill(v);
                }
            }
        }
        thread::sleep(Duration::from_millis(100 + rng.below(300)));
        c.net.heal();
        for id in paused.drain(..) {
            if let Some(n) = c.node(id) {
                let _ = n.pause(false);
            }
        }
        for id in &ids {
            if c.node(*id).is_none() {
                c.boot(*id);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().unwrap();
    }
    // Healed and all up: final reads of every key join the history.
    c.net.heal();
    let deadline = Instant::now() + Duration::from_secs(20);
    let leader = loop {
        if let Some(l) = c.leader() {
            if c.node(l)
                .unwrap()
                .propose(
                    Write {
                        session: None,
                        command: Command::Del {
                            keys: vec![b"none".to_vec()],
                        },
                    }
                    .encode(),
                    Duration::from_secs(2),
                )
                .is_ok()
            {
                break l;
            }
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: no leader after healing"
        );
        thread::sleep(Duration::from_millis(20));
    };
    let mut h = history.lock().clone();
    for k in 0..KEYS {
        let invoked = start.elapsed().as_nanos() as u64;
        let bytes = c
            .node(leader)
            .unwrap()
            .read(Query::Get { key: key(k) }, Duration::from_secs(5))
            .unwrap();
        let seen = match bytes {
            Reply::Bulk(v) => Some(v),
            _ => None,
        };
        h.push(Operation {
            client: 999,
            key: key(k),
            op: Op::Read(seen),
            invoked,
            completed: Some(start.elapsed().as_nanos() as u64),
        });
    }
    let file = std::path::PathBuf::from(format!("fault-history-{seed}.txt"));
    if let Err(why) = check_or_record(&h, &file) {
        panic!("seed {seed} ({nemesis:?}): {why}");
    }
    // Every member reaches the same state at the same applied index.
    let status = c.node(leader).unwrap().status().unwrap();
    let target = status.commit_index;
    let deadline = Instant::now() + Duration::from_secs(20);
    let members = status.membership.members();
    if let Nemesis::Membership = nemesis {
        println!(
            "  final membership: voters {:?}, learners {:?}",
            status.membership.voters, status.membership.learners
        );
    }
    let nodes: Vec<Arc<Node<KvStore>>> = members.iter().filter_map(|id| c.node(*id)).collect();
    for n in &nodes {
        while n.status().unwrap().applied_index < target {
            assert!(
                Instant::now() < deadline,
                "seed {seed}: a node did not catch up"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
    let digests: Vec<Reply> = nodes
        .iter()
        .map(|n| n.read_stale(Query::Digest, Duration::from_secs(5)).unwrap())
        .collect();
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "seed {seed}: replicas differ: {digests:?}"
    );
    let all: Vec<Arc<Node<KvStore>>> = c.nodes.lock().values().cloned().collect();
    for n in all {
        n.close();
    }
    (h.len(), faults.load(Ordering::Relaxed))
}

#[test]
fn histories_stay_linearizable_under_every_nemesis() {
    let seconds: f64 = std::env::var("FAULT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let nemeses = [
        Nemesis::Partition,
        Nemesis::IsolateLeader,
        Nemesis::KillOne,
        Nemesis::KillMajority,
        Nemesis::Pause,
        Nemesis::Membership,
    ];
    let mut total_ops = 0;
    let mut total_faults = 0;
    for (i, nemesis) in nemeses.into_iter().enumerate() {
        let s = seed.wrapping_add(i as u64 * 1000);
        let (ops, faults) = run(s, nemesis, seconds);
        println!("seed {s} {nemesis:?}: {ops} operations checked, {faults} faults injected");
        assert!(
            ops > 50,
            "seed {s}: too few operations to mean anything ({ops})"
        );
        total_ops += ops;
        total_faults += faults;
    }
    println!("fault injection: {total_ops} operations checked, {total_faults} faults injected, 0 violations");
}
