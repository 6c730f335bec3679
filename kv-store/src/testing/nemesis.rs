//! One fault-injection harness for any cluster of kv-store nodes.
//!
//! A run starts [`CLIENTS`] client threads doing reads, writes and compare-and-sets on [`KEYS`]
//! keys against random nodes, while a nemesis breaks the cluster again and again (partitions,
//! an isolated leader, killed or paused nodes, membership changes) and heals it. Afterwards it
//! checks that the history the clients saw is linearizable (final reads of every key join it,
//! so every acknowledged write must still be there) and that every member reaches the same
//! state.
//!
//! The same clients also run transactions and keys with deadlines, checked as they go and at
//! the end ([`Checks`]): transfers between two accounts in one transaction are never seen
//! half-applied (a transaction reading both always finds them summing to zero); increments
//! guarded by WATCH never lose one (the counter ends between the acknowledged increments and
//! those plus the ones whose outcome is unknown: a WATCH conflict that committed would lose
//! an update); and a key set with a deadline is there before it and gone after it.
//!
//! What differs between clusters (how a node is killed, how a client talks to a node) is the
//! [`Cluster`] and [`Client`] a suite provides; everything else is here, once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use raft_core::NodeId;
use rand::Rng as _;

use super::invariants::{deadlines, final_checks, increment, transactions, Checks, Expiring};
use super::linearizability::{check_or_record, Op, Operation};
use super::{seeded, TestRng};

/// Client threads in a run.
pub const CLIENTS: u64 = 10;
/// Keys the clients share: few, so that operations contend.
pub const KEYS: u64 = 5;
/// How long the final reads and the convergence check may take after healing.
pub(super) const SETTLE: Duration = Duration::from_secs(20);

/// A kind of fault, injected again and again through a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nemesis {
    /// The network split in two random sides.
    Partition,
    /// The leader cut off from everyone.
    IsolateLeader,
    /// One voter killed, then restarted from its disk.
    KillOne,
    /// A majority of the voters killed at once, then restarted.
    KillMajority,
    /// One voter paused (no clock, no messages), then resumed.
    Pause,
    /// A membership change through the leader: add a learner, promote one, remove a voter
    /// (keeping at least three), replace the leader, or hand leadership over.
    Membership,
}

impl Nemesis {
    /// Every kind of fault.
    pub const ALL: [Nemesis; 6] = [
        Nemesis::Partition,
        Nemesis::IsolateLeader,
        Nemesis::KillOne,
        Nemesis::KillMajority,
        Nemesis::Pause,
        Nemesis::Membership,
    ];
    /// The faults that need no control of the network: what separate processes on one host
    /// can be put through.
    pub const PROCESS: [Nemesis; 4] = [
        Nemesis::KillOne,
        Nemesis::KillMajority,
        Nemesis::Pause,
        Nemesis::Membership,
    ];
}

/// One fault, as the harness asks a cluster to inject it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Split the network: these nodes on one side, the others on the other.
    Partition(Vec<NodeId>),
    /// Cut this node's links to everyone.
    Isolate(NodeId),
    /// Kill these nodes (their disks survive).
    Kill(Vec<NodeId>),
    /// Pause this node.
    Pause(NodeId),
    /// Change the membership, through the leader of `View`.
    Change(View, Change),
}

/// A membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Add this node as a learner.
    AddLearner(NodeId),
    /// Promote this learner to voter.
    Promote(NodeId),
    /// Remove this voter (never the leader).
    Remove(NodeId),
    /// Promote this learner and remove the leader itself.
    ReplaceLeader(NodeId),
    /// Hand leadership to this voter.
    Transfer(NodeId),
}

/// The leader and its membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The leader.
    pub leader: NodeId,
    /// Voters, the leader among them.
    pub voters: Vec<NodeId>,
    /// Learners.
    pub learners: Vec<NodeId>,
    /// Whether the membership is joint (a change in progress).
    pub joint: bool,
}

/// What became of a client's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// It took effect (or, for a read, saw this).
    Done(T),
    /// Refused before it could take effect: it is left out of the history.
    NotApplied,
    /// It may or may not have taken effect.
    Unknown,
}

/// One client of the cluster. Each runs on its own thread, with its own generator to pick
/// nodes.
pub trait Client: Send + 'static {
    /// Reads `key` (`None`: absent).
    fn read(&mut self, rng: &mut TestRng, key: &[u8]) -> Outcome<Option<Vec<u8>>>;
    /// Sets `key` to `value`.
    fn set(&mut self, rng: &mut TestRng, key: &[u8], value: &[u8]) -> Outcome<()>;
    /// Sets `key` to `new` if it holds `expected`; `Done(true)` when it did.
    fn cas(&mut self, rng: &mut TestRng, key: &[u8], expected: &[u8], new: &[u8]) -> Outcome<bool>;
    /// Sets `key` to `value`, expiring `ms` milliseconds later (SET key value PX ms).
    fn set_px(&mut self, rng: &mut TestRng, key: &[u8], value: &[u8], ms: u64) -> Outcome<()>;
    /// Moves `amount` from `from` to `to` in one transaction (MULTI, DECRBY, INCRBY, EXEC).
    fn transfer(&mut self, rng: &mut TestRng, from: &[u8], to: &[u8], amount: i64) -> Outcome<()>;
    /// Reads two integer keys (absent: 0) in one transaction (MULTI, GET, GET, EXEC).
    fn read_both(&mut self, rng: &mut TestRng, a: &[u8], b: &[u8]) -> Outcome<(i64, i64)>;
    /// WATCHes `key`, reads it (absent: 0), and in a transaction sets it one higher:
    /// `Done(true)` if the transaction ran, `Done(false)` if the watch stopped it.
    fn watched_increment(&mut self, rng: &mut TestRng, key: &[u8]) -> Outcome<bool>;
}

/// A cluster under test. Nodes `1..=voters()` start as its voters; the `spares()` after them
/// start outside it, for membership changes to add.
pub trait Cluster: Send + Sync + 'static {
    /// The client type.
    type Client: Client;
    /// Voters at the start.
    fn voters(&self) -> u64;
    /// Nodes running outside the cluster at the start.
    fn spares(&self) -> u64;
    /// A new client, number `id`.
    fn client(cluster: &Arc<Self>, id: u64) -> Self::Client
    where
        Self: Sized;
    /// Injects `fault`; false if this cluster cannot (a suite asked for the wrong nemesis).
    fn inject(&self, fault: Fault) -> bool;
    /// Undoes every fault: links healed, paused nodes resumed, killed nodes restarted.
    fn heal(&self);
    /// The current leader's view, if a leader answers.
    fn view(&self) -> Option<View>;
    /// A digest of node `id`'s state, if it answers.
    fn digest(&self, id: NodeId) -> Option<i64>;
}

/// Timing of a run.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// How long faults are injected.
    pub duration: Duration,
    /// Healthy time before each fault: this, plus up to `jitter`.
    pub healthy: Duration,
    /// How long each fault lasts: this, plus up to `jitter`.
    pub broken: Duration,
    /// The random part of each pause.
    pub jitter: Duration,
}

impl Settings {
    /// Runs of `FAULT_SECONDS` seconds (3 by default; set it higher for a soak), with each
    /// healthy and each broken stretch lasting `pace` plus up to twice that.
    pub fn from_env(pace: Duration) -> Settings {
        let seconds: f64 = std::env::var("FAULT_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3.0);
        Settings {
            duration: Duration::from_secs_f64(seconds),
            healthy: pace,
            broken: pace,
            jitter: 2 * pace,
        }
    }
}

/// The base seed: `FAULT_SEED`, or 1.
pub fn seed_from_env() -> u64 {
    std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// What a run did.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    /// Operations in the checked history.
    pub operations: usize,
    /// Transactions and deadline operations checked.
    pub transactions: u64,
    /// Faults injected.
    pub faults: u64,
}

/// Runs `nemesis` against `cluster` with `seed`, then checks the history and the replicas.
/// Panics, naming the seed, on any violation; a non-linearizable history is also written to
/// `fault-history-<seed>.txt`.
pub fn run<C: Cluster>(cluster: Arc<C>, seed: u64, nemesis: Nemesis, settings: Settings) -> Report {
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let history = Arc::new(Mutex::new(Vec::new()));
    let checks = Arc::new(Mutex::new(Checks::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let client = C::client(&cluster, id);
            let (stop, history, checks) = (stop.clone(), history.clone(), checks.clone());
            let rng = seeded(seed ^ (id + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            thread::spawn(move || work(client, id, rng, start, &stop, &history, &checks))
        })
        .collect();
    let mut rng = seeded(seed);
    let mut faults = 0;
    while start.elapsed() < settings.duration {
        thread::sleep(settings.healthy + jitter(&mut rng, settings.jitter));
        if let Some(fault) = choose(&*cluster, nemesis, &mut rng) {
            assert!(
                cluster.inject(fault.clone()),
                "this cluster cannot inject {fault:?}"
            );
            faults += 1;
        }
        thread::sleep(settings.broken + jitter(&mut rng, settings.jitter));
        cluster.heal();
    }
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().expect("a client thread panicked");
    }
    let mut h = history.lock().expect("no client panicked").clone();
    final_reads(&cluster, seed, start, &mut h);
    let file = std::path::PathBuf::from(format!("fault-history-{seed}.txt"));
    if let Err(why) = check_or_record(&h, &file) {
        panic!("seed {seed} ({nemesis:?}): {why}");
    }
    let mut checks = std::mem::take(&mut *checks.lock().expect("no client panicked"));
    final_checks(&cluster, seed, &mut checks);
    if let Some(why) = checks.verdict() {
        panic!("seed {seed} ({nemesis:?}): {why}");
    }
    let view = converge(&cluster, seed);
    if nemesis == Nemesis::Membership {
        println!(
            "  final membership: voters {:?}, learners {:?}",
            view.voters, view.learners
        );
    }
    Report {
        operations: h.len(),
        transactions: checks.operations(),
        faults,
    }
}

fn jitter(rng: &mut TestRng, up_to: Duration) -> Duration {
    Duration::from_millis(rng.gen_range(0..=up_to.as_millis() as u64))
}

fn key(k: u64) -> Vec<u8> {
    format!("key{k}").into_bytes()
}

/// One client thread: random operations until `stop`, each recorded with what came of it.
fn work<C: Client>(
    mut client: C,
    id: u64,
    mut rng: TestRng,
    start: Instant,
    stop: &AtomicBool,
    history: &Mutex<Vec<Operation>>,
    checks: &Mutex<Checks>,
) {
    let now = || start.elapsed().as_nanos() as u64;
    let mut seq: u64 = 0;
    let mut expiring: Option<Expiring> = None;
    while !stop.load(Ordering::Relaxed) {
        let k = key(rng.gen_range(0..KEYS));
        seq += 1;
        let value = format!("c{id}-{seq}").into_bytes();
        let invoked = now();
        let kind = rng.gen_range(0..7);
        if kind >= 3 {
            checks.lock().expect("no client panicked").count();
            let seen = match kind {
                3 => transactions(&mut client, &mut rng),
                4 => increment(&mut client, &mut rng, checks),
                _ => deadlines(&mut client, &mut rng, id, &value, &mut expiring, &now),
            };
            if let Err(why) = seen {
                checks.lock().expect("no client panicked").violated(why);
            }
            continue;
        }
        let (op, completed) = match kind {
            0 => match client.read(&mut rng, &k) {
                Outcome::Done(seen) => (Op::Read(seen), Some(now())),
                // A read that failed changed nothing.
                Outcome::NotApplied | Outcome::Unknown => continue,
            },
            1 => match client.set(&mut rng, &k, &value) {
                Outcome::Done(()) => (Op::Write(value), Some(now())),
                Outcome::NotApplied => continue,
                Outcome::Unknown => (Op::Write(value), None),
            },
            _ => {
                let other = rng.gen_range(0..CLIENTS);
                let expected =
                    format!("c{other}-{}", seq.saturating_sub(rng.gen_range(0..3))).into_bytes();
                let (swapped, completed) = match client.cas(&mut rng, &k, &expected, &value) {
                    Outcome::Done(swapped) => (Some(swapped), Some(now())),
                    Outcome::NotApplied => continue,
                    Outcome::Unknown => (None, None),
                };
                let op = Op::Cas {
                    expected: Some(expected),
                    new: value,
                    swapped,
                };
                (op, completed)
            }
        };
        history.lock().expect("no client panicked").push(Operation {
            client: id,
            key: k,
            op,
            invoked,
            completed,
        });
    }
}

/// The next fault of kind `nemesis`, if there is one to inject now.
fn choose<C: Cluster>(c: &C, nemesis: Nemesis, rng: &mut TestRng) -> Option<Fault> {
    let voters = c.voters();
    let all: Vec<NodeId> = (1..=voters + c.spares()).collect();
    Some(match nemesis {
        Nemesis::Partition => {
            Fault::Partition(all.into_iter().filter(|_| rng.gen_bool(0.5)).collect())
        }
        Nemesis::IsolateLeader => Fault::Isolate(c.view()?.leader),
        Nemesis::KillOne => Fault::Kill(vec![rng.gen_range(1..=voters)]),
        Nemesis::KillMajority => {
            let mut victims: Vec<NodeId> = (1..=voters).collect();
            while victims.len() > voters as usize / 2 + 1 {
                victims.remove(rng.gen_range(0..victims.len()));
            }
            Fault::Kill(victims)
        }
        Nemesis::Pause => Fault::Pause(rng.gen_range(1..=voters)),
        Nemesis::Membership => {
            let view = c.view()?;
            if view.joint {
                return None;
            }
            let change = membership_change(&view, &all, rng)?;
            Fault::Change(view, change)
        }
    })
}

fn membership_change(view: &View, all: &[NodeId], rng: &mut TestRng) -> Option<Change> {
    let member = |id: &NodeId| view.voters.contains(id) || view.learners.contains(id);
    let outsiders: Vec<NodeId> = all.iter().copied().filter(|id| !member(id)).collect();
    let others: Vec<NodeId> = view
        .voters
        .iter()
        .copied()
        .filter(|v| *v != view.leader)
        .collect();
    let learners = &view.learners;
    let choice = rng.gen_range(0..5);
    let mut pick = |v: &[NodeId]| v[rng.gen_range(0..v.len())];
    Some(match choice {
        0 if !outsiders.is_empty() => Change::AddLearner(pick(&outsiders)),
        1 if !learners.is_empty() => Change::Promote(pick(learners)),
        2 if others.len() >= 3 => Change::Remove(pick(&others)),
        3 if !learners.is_empty() => Change::ReplaceLeader(pick(learners)),
        4 if !others.is_empty() => Change::Transfer(pick(&others)),
        _ => return None,
    })
}

/// Healed and all up: a read of every key (retried until one answers) joins the history.
fn final_reads<C: Cluster>(c: &Arc<C>, seed: u64, start: Instant, h: &mut Vec<Operation>) {
    let mut client = C::client(c, CLIENTS);
    let mut rng = seeded(seed.wrapping_add(1));
    for k in 0..KEYS {
        let deadline = Instant::now() + SETTLE;
        loop {
            let invoked = start.elapsed().as_nanos() as u64;
            if let Outcome::Done(seen) = client.read(&mut rng, &key(k)) {
                h.push(Operation {
                    client: CLIENTS,
                    key: key(k),
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
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Waits until every member of the final membership has the same state; returns that view.
fn converge<C: Cluster>(c: &Arc<C>, seed: u64) -> View {
    let mut client = C::client(c, CLIENTS + 1);
    let mut rng = seeded(seed.wrapping_add(2));
    let deadline = Instant::now() + SETTLE;
    loop {
        // A write for the members to catch up to.
        let _ = client.set(&mut rng, b"sync", b"point");
        if let Some(view) = c.view() {
            let digests: Vec<Option<i64>> = view
                .voters
                .iter()
                .chain(&view.learners)
                .map(|id| c.digest(*id))
                .collect();
            if digests.iter().all(Option::is_some) && digests.windows(2).all(|w| w[0] == w[1]) {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "seed {seed}: replicas differ: {digests:?}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: no leader after healing"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs every nemesis in `nemeses` (seeds `FAULT_SEED`, `FAULT_SEED + 1000`, ...), each on a
/// fresh cluster from `start`, printing what each did.
pub fn run_all<C: Cluster>(
    name: &str,
    nemeses: &[Nemesis],
    settings: Settings,
    start: impl Fn() -> Arc<C>,
) {
    let seed = seed_from_env();
    let (mut operations, mut faults) = (0, 0);
    for (i, nemesis) in nemeses.iter().enumerate() {
        let s = seed.wrapping_add(i as u64 * 1000);
        let r = run(start(), s, *nemesis, settings);
        println!(
            "seed {s} {nemesis:?}: {} operations checked, {} transactions and deadlines, {} \
             faults injected",
            r.operations, r.transactions, r.faults
        );
        assert!(
            r.operations > 50,
            "seed {s}: too few operations to mean anything ({})",
            r.operations
        );
        operations += r.operations;
        faults += r.faults;
    }
    println!("{name}: {operations} operations checked, {faults} faults injected, 0 violations");
}
