//! Fault injection with a linearizability check, in one process: five nodes over the in-memory
//! network with disk storage in temporary directories (and two spares outside the cluster),
//! driven by the shared harness (`kv_store::testing::nemesis`): ten clients doing reads, writes
//! and compare-and-sets on a handful of keys, and a nemesis that partitions the network,
//! isolates the leader, kills and restarts nodes (one, or a majority), pauses nodes, and changes
//! the membership. After each run: the history is linearizable, every acknowledged write is
//! readable after healing, and every node reaches the same state.
//!
//! CI runs a short seeded set. A soak: `FAULT_SECONDS=1800 FAULT_SEED=7 cargo test --release -p
//! kv-store --test fault_injection -- --nocapture` (each of the runs gets the duration). A failure
//! prints its seed and writes the failing history to `fault-history-<seed>.txt`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kv_store::machine::{Expiry, SetCondition, StringWrite, TxOp, Watched};
use kv_store::testing::nemesis::{
    run_all, Change, Client, Cluster, Fault, Nemesis, Outcome, Settings, View,
};
use kv_store::testing::TestRng;
use kv_store::{read_linearizable, wall_clock_ms, Command, KvStore, Query, Read, Reply, Write};
use parking_lot::Mutex;
use raft_core::{ChangeStep, MembershipChange, NodeId, Role};
use raft_runtime::{DiskOptions, DiskStorage, Error, MemNetwork, Node, NodeConfig};
use rand::Rng as _;

const NODES: u64 = 5;
/// Nodes that start outside the cluster, for membership changes to add.
const SPARES: u64 = 2;

struct InProcess {
    net: MemNetwork,
    dir: tempfile::TempDir,
    nodes: Mutex<HashMap<NodeId, Arc<Node<KvStore>>>>,
    paused: Mutex<BTreeSet<NodeId>>,
}

impl InProcess {
    fn start() -> Arc<InProcess> {
        let c = Arc::new(InProcess {
            net: MemNetwork::new(),
            dir: tempfile::tempdir().unwrap(),
            nodes: Mutex::new(HashMap::new()),
            paused: Mutex::new(BTreeSet::new()),
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
        cfg.snapshot = raft_runtime::SnapshotPolicy::every_entries(200);
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

    fn ids(&self) -> Vec<NodeId> {
        (1..=NODES + SPARES).collect()
    }
}

impl Cluster for InProcess {
    type Client = InProcessClient;

    fn voters(&self) -> u64 {
        NODES
    }

    fn spares(&self) -> u64 {
        SPARES
    }

    fn client(cluster: &Arc<InProcess>, _id: u64) -> InProcessClient {
        InProcessClient(cluster.clone())
    }

    fn inject(&self, fault: Fault) -> bool {
        let ids = self.ids();
        match fault {
            Fault::Partition(side) => self.net.partition(&side, &ids),
            Fault::Isolate(id) => self.net.isolate(id, &ids),
            Fault::Kill(victims) => victims.into_iter().for_each(|v| self.kill(v)),
            Fault::Pause(id) => {
                // Links cut and clock stopped: a paused process.
                self.net.isolate(id, &ids);
                if let Some(n) = self.node(id) {
                    let _ = n.pause(true);
                    self.paused.lock().insert(id);
                }
            }
            Fault::Change(view, change) => self.change(&view, change),
        }
        true
    }

    fn heal(&self) {
        self.net.heal();
        let paused = std::mem::take(&mut *self.paused.lock());
        for id in paused {
            if let Some(n) = self.node(id) {
                let _ = n.pause(false);
            }
        }
        for id in self.ids() {
            if self.node(id).is_none() {
                self.boot(id);
            }
        }
    }

    fn view(&self) -> Option<View> {
        let nodes: Vec<Arc<Node<KvStore>>> = self.nodes.lock().values().cloned().collect();
        let s = nodes
            .iter()
            .filter_map(|n| n.status().ok())
            .filter(|s| s.role == Role::Leader)
            .max_by_key(|s| s.term)?;
        Some(View {
            leader: s.id,
            voters: s.membership.voters.iter().copied().collect(),
            learners: s.membership.learners.iter().copied().collect(),
            joint: s.membership.is_joint(),
        })
    }

    fn digest(&self, id: NodeId) -> Option<i64> {
        match self
            .node(id)?
            .read_stale(Read::local_now(Query::Digest), Duration::from_secs(5))
        {
            Ok(Reply::Int(d)) => Some(d),
            _ => None,
        }
    }
}

impl InProcess {
    /// One membership change under load, through the leader. Refusals (not caught up, a change
    /// pending) and timeouts are part of the game.
    fn change(&self, view: &View, change: Change) {
        let Some(node) = self.node(view.leader) else {
            return;
        };
        let t = Duration::from_secs(1);
        let _ = match change {
            Change::AddLearner(id) => node.add_learner(id, t),
            Change::Promote(id) => node.promote(id, t),
            Change::Remove(id) => node.remove(id, t),
            Change::ReplaceLeader(id) => node.change_membership(
                MembershipChange::Steps {
                    steps: vec![ChangeStep::AddVoter(id), ChangeStep::Remove(view.leader)],
                    auto_leave: true,
                },
                t,
            ),
            Change::Transfer(id) => node.transfer_leadership(id, t),
        };
    }
}

/// A client calling random live nodes directly, with no session: a write's outcome is what the
/// node said, or unknown.
struct InProcessClient(Arc<InProcess>);

/// How long a client waits for one request.
const TIMEOUT: Duration = Duration::from_millis(300);

impl InProcessClient {
    fn node(&self, rng: &mut TestRng) -> Option<Arc<Node<KvStore>>> {
        let node = self.0.node(rng.gen_range(1..=NODES + SPARES));
        if node.is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        node
    }

    fn write(&self, rng: &mut TestRng, command: Command) -> Outcome<Reply> {
        let Some(node) = self.node(rng) else {
            return Outcome::NotApplied;
        };
        let write = Write {
            session: None,
            time_ms: wall_clock_ms(),
            command,
        };
        match node.propose(write.encode(), TIMEOUT) {
            Ok(reply) => Outcome::Done(reply),
            // Refused before it was appended, or replaced by another entry: no effect.
            Err(
                Error::NotLeader { .. } | Error::NotCommitted | Error::Busy | Error::Rejected(_),
            ) => Outcome::NotApplied,
            // May or may not have taken effect.
            Err(_) => Outcome::Unknown,
        }
    }
}

impl Client for InProcessClient {
    fn read(&mut self, rng: &mut TestRng, key: &[u8]) -> Outcome<Option<Vec<u8>>> {
        let Some(node) = self.node(rng) else {
            return Outcome::NotApplied;
        };
        match read_linearizable(&node, Query::get(key), TIMEOUT) {
            Ok(Reply::Bulk(v)) => Outcome::Done(Some(v)),
            Ok(Reply::Nil) => Outcome::Done(None),
            Ok(other) => panic!("a read answered {other:?}"),
            Err(_) => Outcome::NotApplied,
        }
    }

    fn set(&mut self, rng: &mut TestRng, key: &[u8], value: &[u8]) -> Outcome<()> {
        let set = Command::set(key, value);
        match self.write(rng, set) {
            Outcome::Done(Reply::Ok) => Outcome::Done(()),
            Outcome::Done(other) => panic!("a SET answered {other:?}"),
            Outcome::NotApplied => Outcome::NotApplied,
            Outcome::Unknown => Outcome::Unknown,
        }
    }

    fn cas(&mut self, rng: &mut TestRng, key: &[u8], expected: &[u8], new: &[u8]) -> Outcome<bool> {
        let cas = Command::Cas {
            key: key.to_vec(),
            expected: Some(expected.to_vec()),
            new: new.to_vec(),
        };
        match self.write(rng, cas) {
            Outcome::Done(Reply::Int(n)) => Outcome::Done(n == 1),
            Outcome::Done(other) => panic!("a CAS answered {other:?}"),
            Outcome::NotApplied => Outcome::NotApplied,
            Outcome::Unknown => Outcome::Unknown,
        }
    }

    fn set_px(&mut self, rng: &mut TestRng, key: &[u8], value: &[u8], ms: u64) -> Outcome<()> {
        let set = Command::String(StringWrite::Set {
            key: key.to_vec(),
            value: value.to_vec(),
            condition: SetCondition::Always,
            expiry: Expiry::In(ms),
            get: false,
        });
        match self.write(rng, set) {
            Outcome::Done(Reply::Ok) => Outcome::Done(()),
            Outcome::Done(other) => panic!("a SET answered {other:?}"),
            Outcome::NotApplied => Outcome::NotApplied,
            Outcome::Unknown => Outcome::Unknown,
        }
    }

    fn transfer(&mut self, rng: &mut TestRng, from: &[u8], to: &[u8], amount: i64) -> Outcome<()> {
        let ops = vec![
            TxOp::Write(Command::incr_by(from, -amount)),
            TxOp::Write(Command::incr_by(to, amount)),
        ];
        let exec = Command::Exec {
            watched: Vec::new(),
            ops,
        };
        match self.write(rng, exec) {
            Outcome::Done(Reply::Array(_)) => Outcome::Done(()),
            Outcome::Done(other) => panic!("a transfer answered {other:?}"),
            Outcome::NotApplied => Outcome::NotApplied,
            Outcome::Unknown => Outcome::Unknown,
        }
    }

    fn read_both(&mut self, rng: &mut TestRng, a: &[u8], b: &[u8]) -> Outcome<(i64, i64)> {
        let exec = Command::Exec {
            watched: Vec::new(),
            ops: vec![TxOp::Read(Query::get(a)), TxOp::Read(Query::get(b))],
        };
        match self.write(rng, exec) {
            Outcome::Done(Reply::Array(r)) => Outcome::Done((number(&r[0]), number(&r[1]))),
            Outcome::Done(other) => panic!("a read of both answered {other:?}"),
            Outcome::NotApplied | Outcome::Unknown => Outcome::NotApplied,
        }
    }

    fn watched_increment(&mut self, rng: &mut TestRng, key: &[u8]) -> Outcome<bool> {
        let Some(node) = self.node(rng) else {
            return Outcome::NotApplied;
        };
        let watch = Query::Watch {
            keys: vec![key.to_vec()],
        };
        let Ok(Reply::Array(w)) = read_linearizable(&node, watch, TIMEOUT) else {
            return Outcome::NotApplied;
        };
        let Ok(current) = read_linearizable(&node, Query::get(key), TIMEOUT) else {
            return Outcome::NotApplied;
        };
        let watched = vec![Watched {
            key: key.to_vec(),
            since: number(&w[0]) as u64,
            present: number(&w[1]) == 1,
        }];
        let next = (number(&current) + 1).to_string();
        let exec = Command::Exec {
            watched,
            ops: vec![TxOp::Write(Command::set(key, next))],
        };
        match self.write(rng, exec) {
            Outcome::Done(Reply::Array(_)) => Outcome::Done(true),
            Outcome::Done(Reply::NilArray) => Outcome::Done(false),
            Outcome::Done(other) => panic!("a watched increment answered {other:?}"),
            Outcome::NotApplied => Outcome::NotApplied,
            Outcome::Unknown => Outcome::Unknown,
        }
    }
}

#[test]
fn histories_stay_linearizable_under_every_nemesis() {
    let settings = Settings::from_env(Duration::from_millis(100));
    run_all("fault injection", &Nemesis::ALL, settings, InProcess::start);
}

/// An integer reply, or a bulk string holding one; 0 for nil.
fn number(r: &Reply) -> i64 {
    match r {
        Reply::Int(n) => *n,
        Reply::Bulk(b) => String::from_utf8_lossy(b).parse().expect("an integer"),
        Reply::Nil => 0,
        other => panic!("not a number: {other:?}"),
    }
}
