//! The transport's settings and limits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use raft_core::NodeId;

#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Peers from another cluster are refused.
    pub cluster_id: u64,
    pub node_id: NodeId,
    pub listen: SocketAddr,
    /// Every other node's address.
    pub peers: HashMap<NodeId, SocketAddr>,
    /// Messages queued for one peer; beyond it new ones are dropped (and counted).
    pub peer_queue_max: usize,
    /// Largest frame accepted from a peer.
    pub frame_bytes_max: u32,
    pub connect_timeout: Duration,
    pub write_timeout: Duration,
    /// A connection silent this long is closed (heartbeats keep live ones busy).
    pub read_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Incoming connections open at once; more are closed at once (and counted as refused).
    pub inbound_connections_max: usize,
}

impl TcpConfig {
    pub fn new(
        cluster_id: u64,
        node_id: NodeId,
        listen: SocketAddr,
        peers: HashMap<NodeId, SocketAddr>,
    ) -> TcpConfig {
        TcpConfig {
            cluster_id,
            node_id,
            listen,
            peers,
            peer_queue_max: 65_536,
            frame_bytes_max: 64 << 20,
            connect_timeout: Duration::from_millis(500),
            write_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(1),
            inbound_connections_max: 256,
        }
    }
}
