//! Assembling a node of the key-value store over TCP: disk storage, the TCP transport, the
//! runtime, and the RESP server in front. Shared by the example programs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kv_store::{KvStore, Server, ServerConfig};
use raft_core::NodeId;
use raft_runtime::{DiskOptions, DiskStorage, Node, NodeConfig};
use transport_tcp::{TcpConfig, TcpTransport};

/// Where a node listens.
#[derive(Clone, Debug)]
pub struct Addresses {
    /// Raft traffic, for every node of the cluster.
    pub raft: HashMap<NodeId, SocketAddr>,
    /// Clients (RESP), for this node.
    pub client: SocketAddr,
}

/// A running node and its client server.
pub struct RunningNode {
    pub node: Arc<Node>,
    pub server: Server,
}

impl RunningNode {
    /// Stops the node and its server, releasing its ports and files.
    pub fn stop(self) {
        drop(self.server);
        self.node.close();
    }
}

/// Tuning shared by the examples.
#[derive(Clone, Debug)]
pub struct Tuning {
    pub cluster_id: u64,
    pub tick: Duration,
    pub snapshot_every_entries: u64,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            cluster_id: 1,
            tick: Duration::from_millis(10),
            snapshot_every_entries: 10_000,
        }
    }
}

/// Starts node `id` with its data in `data_dir`.
pub fn start_node(
    id: NodeId,
    addrs: &Addresses,
    data_dir: &Path,
    tuning: &Tuning,
) -> Result<RunningNode, String> {
    let voters: Vec<NodeId> = {
        let mut v: Vec<NodeId> = addrs.raft.keys().copied().collect();
        v.sort_unstable();
        v
    };
    let listen = *addrs
        .raft
        .get(&id)
        .ok_or_else(|| format!("no raft address for node {id}"))?;
    let peers = addrs
        .raft
        .iter()
        .filter(|(p, _)| **p != id)
        .map(|(p, a)| (*p, *a))
        .collect();
    let (transport, inbox, _stats) =
        TcpTransport::start(TcpConfig::new(tuning.cluster_id, id, listen, peers))
            .map_err(|e| format!("node {id}: cannot listen for peers on {listen}: {e}"))?;
    let storage = DiskStorage::open(data_dir, DiskOptions::default())
        .map_err(|e| format!("node {id}: {e}"))?;
    let mut cfg = NodeConfig::new(id, voters);
    cfg.tick_interval = tuning.tick;
    cfg.snapshot_every_entries = tuning.snapshot_every_entries;
    cfg.raft.seed = seed(id);
    let node = Arc::new(
        Node::start(cfg, KvStore::new(), storage, transport, inbox)
            .map_err(|e| format!("node {id}: {e}"))?,
    );
    let server = Server::start(node.clone(), ServerConfig::new(addrs.client)).map_err(|e| {
        format!(
            "node {id}: cannot listen for clients on {}: {e}",
            addrs.client
        )
    })?;
    Ok(RunningNode { node, server })
}

/// A different seed each start (the core's request ids and timeouts come from it).
fn seed(id: NodeId) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ id.rotate_left(48)
}

/// `n` free loopback addresses.
pub fn free_loopback_addrs(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    let ls: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    ls.iter().map(|l| l.local_addr()).collect()
}

/// The README's examples, compiled and run as tests (this crate depends on every other).
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
