//! Assembling a node of the key-value store over TCP: disk storage, the TCP transport, the
//! runtime, and the RESP server in front. Shared by the example programs.
#![warn(missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kv_store::{KvStore, MemberAddress, Server, ServerConfig};
use raft_core::NodeId;
use raft_runtime::{DiskOptions, DiskStorage, Node, NodeConfig, SnapshotPolicy};
use transport_tcp::{TcpConfig, TcpTransport};

/// Where a node listens.
#[derive(Clone, Debug)]
pub struct Addresses {
    /// Raft traffic, for every node of the cluster.
    pub raft: HashMap<NodeId, SocketAddr>,
    /// Clients (RESP), for this node.
    pub client: SocketAddr,
    /// Every node's client address, where known: a new cluster's first membership carries them
    /// next to the Raft addresses, so any node can tell cluster-aware clients where the leader
    /// serves (`CLUSTER SLOTS`). Give every node the same map.
    pub clients: HashMap<NodeId, SocketAddr>,
}

/// How a node takes part.
#[derive(Clone, Debug, Default)]
pub struct Joining {
    /// The node starts outside the cluster and waits to be added (`RAFT.ADDLEARNER`), instead of
    /// forming a new cluster of every node in `Addresses::raft`.
    pub join: bool,
    /// Most client connections at once (`None`: the server's default).
    pub clients_max: Option<usize>,
    /// Most bytes of one client request, and of one argument in it (`None`: the server's
    /// defaults).
    pub request_bytes_max: Option<usize>,
    /// Event-loop threads serving clients (`None`: one per core).
    pub io_threads: Option<usize>,
}

/// A running node and its client server.
pub struct RunningNode {
    /// The Raft node, running the store.
    pub node: Arc<Node<KvStore>>,
    /// The RESP server in front of it.
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
    /// Sent in every TCP handshake: a node of another cluster is refused.
    pub cluster_id: u64,
    /// Wall-clock length of one tick.
    pub tick: Duration,
    /// When to snapshot.
    pub snapshot: SnapshotPolicy,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            cluster_id: 1,
            tick: Duration::from_millis(10),
            snapshot: SnapshotPolicy::default(),
        }
    }
}

/// Starts node `id` with its data in `data_dir`, forming a cluster of every node in `addrs`.
pub fn start_node(
    id: NodeId,
    addrs: &Addresses,
    data_dir: &Path,
    tuning: &Tuning,
) -> Result<RunningNode, String> {
    start_node_with(id, addrs, data_dir, tuning, &Joining::default())
}

/// Starts node `id`, joining an existing cluster or with limits, as `how` says.
pub fn start_node_with(
    id: NodeId,
    addrs: &Addresses,
    data_dir: &Path,
    tuning: &Tuning,
    how: &Joining,
) -> Result<RunningNode, String> {
    let voters: Vec<NodeId> = if how.join {
        Vec::new()
    } else {
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
    let book = transport.address_book();
    let storage = DiskStorage::open(data_dir, DiskOptions::default())
        .map_err(|e| format!("node {id}: {e}"))?;
    let mut cfg = NodeConfig::new(id, voters);
    cfg.tick_interval = tuning.tick;
    cfg.snapshot = tuning.snapshot.clone();
    // A new cluster's first membership entry carries every voter's address; from then on the
    // log does (members added later included), and these flags only seed the transport.
    if !how.join {
        cfg.raft.addresses = addrs
            .raft
            .iter()
            .map(|(p, a)| {
                let member = MemberAddress::new(*a, addrs.clients.get(p).copied());
                (*p, member.to_string())
            })
            .collect();
    }
    let node = Arc::new(
        Node::start(cfg, KvStore::new(), storage, transport, inbox)
            .map_err(|e| format!("node {id}: {e}"))?,
    );
    let mut server_config = ServerConfig::new(addrs.client);
    // DiskOptions::default() syncs every write before it is acknowledged.
    server_config.durable = true;
    server_config.add_peer = Some(Arc::new(move |peer, addr| book.insert(peer, addr)));
    if let Some(n) = how.clients_max {
        server_config.clients_max = n;
    }
    if let Some(n) = how.io_threads {
        server_config.io_threads = n;
    }
    if let Some(n) = how.request_bytes_max {
        server_config.request_bytes_max = n;
        server_config.limits.bulk_bytes_max = n;
    }
    let server = Server::start(node.clone(), server_config).map_err(|e| {
        format!(
            "node {id}: cannot listen for clients on {}: {e}",
            addrs.client
        )
    })?;
    Ok(RunningNode { node, server })
}

/// Free loopback addresses, for local clusters.
pub use transport_tcp::free_loopback_addrs;

/// Raft and client addresses for `n` nodes, all distinct and free now.
pub fn free_node_addrs(n: usize) -> std::io::Result<(Vec<SocketAddr>, Vec<SocketAddr>)> {
    let mut raft = free_loopback_addrs(2 * n)?;
    let clients = raft.split_off(n);
    Ok((raft, clients))
}

/// The README's examples, compiled and run as tests (this crate depends on every other).
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
