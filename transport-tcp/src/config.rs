//! The transport's settings and limits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use raft_core::NodeId;

/// The settings of one node's transport.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Peers from another cluster are refused.
    pub cluster_id: u64,
    /// This node's id, sent in the handshake of every connection it opens; a peer's connection must
    /// be addressed to it.
    pub node_id: NodeId,
    /// The address to accept peers' connections on.
    pub listen: SocketAddr,
    /// Every other node's address.
    pub peers: HashMap<NodeId, SocketAddr>,
    /// Messages queued for one peer; beyond it new ones are dropped (and counted).
    pub peer_queue_max: usize,
    /// Largest frame accepted from a peer.
    pub frame_bytes_max: u32,
    /// How long connecting to a peer may take, and how long a peer connecting to this node has to
    /// send its whole handshake.
    pub connect_timeout: Duration,
    /// How long one write to a peer may block; on timeout the connection is closed and the
    /// messages of that write are counted as dropped.
    pub write_timeout: Duration,
    /// A connection silent this long is closed (heartbeats keep live ones busy).
    pub read_timeout: Duration,
    /// The first wait before trying a peer again after a failed connection or write. Each failure
    /// doubles it (plus jitter), up to `backoff_max`; a connection that stays healthy resets it.
    pub backoff_min: Duration,
    /// The longest wait between attempts to reach a peer.
    pub backoff_max: Duration,
    /// Incoming connections open at once; more are closed at once (and counted as refused).
    pub inbound_connections_max: usize,
}

impl TcpConfig {
    /// The defaults, for node `node_id` of cluster `cluster_id`, listening on `listen`, with
    /// `peers` the other nodes' addresses.
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
