//! A small in-process cluster for the runtime's tests: nodes over a `MemNetwork`, each with its
//! own `MemStorage` (which survives a node being stopped, like a disk), running `Kv`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use raft_core::{Index, NodeId, Role};
use raft_runtime::{
    DiskOptions, DiskStorage, Error, MemNetwork, MemStorage, Node, NodeConfig, StateMachine,
    Storage,
};

/// A key-value map. Commands are `key=value` (returns the old value) or `key+=n` (adds to a
/// counter, returns the new count); queries are a key, or `#` for a digest of everything.
#[derive(Default)]
pub struct Kv {
    map: BTreeMap<String, String>,
}

impl StateMachine for Kv {
    type Query = Vec<u8>;
    type Response = Vec<u8>;
    type Snapshot = Vec<u8>;

    fn apply(&mut self, _index: Index, command: &[u8]) -> Vec<u8> {
        let c = String::from_utf8_lossy(command);
        if let Some((k, n)) = c.split_once("+=") {
            let sum = self
                .map
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
                + n.parse::<i64>().unwrap_or(0);
            self.map.insert(k.to_string(), sum.to_string());
            return sum.to_string().into_bytes();
        }
        let (k, v) = c.split_once('=').unwrap_or((&c, ""));
        self.map
            .insert(k.to_string(), v.to_string())
            .unwrap_or_default()
            .into_bytes()
    }

    fn query(&self, query: &Vec<u8>) -> Vec<u8> {
        if query == b"#" {
            return format!("{:?}", self.map).into_bytes();
        }
        let k = String::from_utf8_lossy(query);
        self.map.get(&*k).cloned().unwrap_or_default().into_bytes()
    }

    fn snapshot(&self) -> Vec<u8> {
        self.map
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>()
            .into_bytes()
    }

    fn restore(&mut self, data: &mut dyn std::io::Read) -> Result<(), String> {
        let mut text = String::new();
        data.read_to_string(&mut text).map_err(|e| e.to_string())?;
        self.map = text
            .lines()
            .map(|l| {
                let (k, v) = l.split_once('=').ok_or("bad snapshot line")?;
                Ok((k.to_string(), v.to_string()))
            })
            .collect::<Result<_, &str>>()?;
        Ok(())
    }
}

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Cluster {
    pub net: MemNetwork,
    pub ids: Vec<NodeId>,
    pub nodes: HashMap<NodeId, Node<Kv>>,
    pub storage: HashMap<NodeId, MemStorage>,
    /// With disk storage: one directory per node under here.
    pub disk: Option<tempfile::TempDir>,
    tune: fn(&mut NodeConfig),
}

impl Cluster {
    pub fn start(n: u64, tune: fn(&mut NodeConfig)) -> Cluster {
        Cluster::with_storage(n, tune, false)
    }

    /// A cluster whose nodes keep their state on disk, in a temporary directory.
    pub fn start_on_disk(n: u64, tune: fn(&mut NodeConfig)) -> Cluster {
        Cluster::with_storage(n, tune, true)
    }

    fn with_storage(n: u64, tune: fn(&mut NodeConfig), disk: bool) -> Cluster {
        let ids: Vec<NodeId> = (1..=n).collect();
        let mut c = Cluster {
            net: MemNetwork::new(),
            ids: ids.clone(),
            nodes: HashMap::new(),
            storage: HashMap::new(),
            disk: disk.then(|| tempfile::tempdir().expect("a temporary directory")),
            tune,
        };
        for id in ids {
            c.storage.insert(id, MemStorage::new());
            c.boot(id);
        }
        c
    }

    fn config(&self, id: NodeId) -> NodeConfig {
        let voters = if self.ids.contains(&id) {
            self.ids.clone()
        } else {
            Vec::new()
        };
        let mut cfg = NodeConfig::new(id, voters);
        cfg.tick_interval = Duration::from_millis(5);
        (self.tune)(&mut cfg);
        cfg
    }

    fn boot(&mut self, id: NodeId) {
        let (transport, inbox) = self.net.join(id);
        let storage: Box<dyn Storage> = match &self.disk {
            Some(dir) => Box::new(
                DiskStorage::open(
                    dir.path().join(format!("node-{id}")),
                    DiskOptions::default(),
                )
                .expect("storage opens"),
            ),
            None => Box::new(self.storage.entry(id).or_default().clone()),
        };
        let node = Node::start(self.config(id), Kv::default(), storage, transport, inbox)
            .expect("node starts");
        self.nodes.insert(id, node);
    }

    /// Starts a node that is not a member yet (it waits to be added).
    pub fn start_spare(&mut self, id: NodeId) {
        self.storage.insert(id, MemStorage::new());
        self.boot(id);
    }

    /// Stops node `id` abruptly; its storage keeps what it had made durable.
    pub fn stop(&mut self, id: NodeId) {
        self.net.leave(id);
        if let Some(node) = self.nodes.remove(&id) {
            node.shutdown();
        }
    }

    pub fn restart(&mut self, id: NodeId) {
        self.boot(id);
    }

    pub fn node(&self, id: NodeId) -> &Node<Kv> {
        &self.nodes[&id]
    }

    /// Waits until a running node leads and the running majority agrees.
    pub fn leader(&self) -> NodeId {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            for (id, node) in &self.nodes {
                if let Ok(s) = node.status() {
                    if s.role == Role::Leader {
                        let agree = self
                            .nodes
                            .values()
                            .filter_map(|n| n.status().ok())
                            .filter(|t| t.leader == Some(*id) && t.term == s.term)
                            .count();
                        if agree * 2 > self.ids.len() {
                            return *id;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("no leader within {WAIT:?}");
    }

    /// Writes through whichever node leads, retrying on leadership changes.
    pub fn write(&self, command: &str) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        loop {
            let leader = self.leader();
            match self
                .node(leader)
                .propose(command.as_bytes().to_vec(), Duration::from_secs(2))
            {
                Ok(out) => return out,
                Err(e) if Instant::now() < deadline => {
                    assert!(retryable(&e), "write {command}: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("write {command} failed: {e}"),
            }
        }
    }

    /// A linearizable read at `id`, retried on leadership changes.
    pub fn read(&self, id: NodeId, key: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self
                .node(id)
                .read(key.as_bytes().to_vec(), Duration::from_secs(2))
            {
                Ok(v) => return String::from_utf8(v).expect("utf-8"),
                Err(e) if Instant::now() < deadline => {
                    assert!(retryable(&e), "read {key} at {id}: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("read {key} at {id} failed: {e}"),
            }
        }
    }

    /// Waits until every running node has applied `index`.
    pub fn wait_applied(&self, index: Index) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self
                .nodes
                .values()
                .all(|n| n.status().is_ok_and(|s| s.applied_index >= index))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("not every node applied {index} within {WAIT:?}");
    }

    /// The digest of node `id`'s state, read locally.
    pub fn digest(&self, id: NodeId) -> String {
        let v = self
            .node(id)
            .read_stale(b"#".to_vec(), WAIT)
            .expect("local read");
        String::from_utf8(v).expect("utf-8")
    }
}

/// Polls `done` until it holds, failing the test after `WAIT`.
pub fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn retryable(e: &Error) -> bool {
    matches!(
        e,
        Error::NotLeader { .. }
            | Error::Timeout
            | Error::OutcomeUnknown
            | Error::NotCommitted
            | Error::Rejected(_)
    )
}
