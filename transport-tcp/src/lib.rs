//! `transport-tcp`: the runtime's [`Transport`] over TCP.
//!
//! Only this crate knows the wire framing (`frame.rs`): length-prefixed, checksummed frames of
//! postcard-encoded messages, each connection opened by a handshake carrying the cluster id, the
//! two node ids and the protocol version. A peer from another cluster, with an unexpected id or
//! speaking another version is refused and logged; a malformed frame closes its connection and
//! the node keeps running.
//!
//! Each peer has one writer thread with a bounded queue (when full, messages are dropped and
//! counted: Raft tolerates loss), reconnecting with exponential backoff and jitter, and writing
//! every queued message in one go.
#![warn(missing_docs)]

mod config;
mod frame;
mod listener;
mod peer;
mod ports;

pub use config::TcpConfig;
pub use ports::free_loopback_addrs;

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;
use raft_core::{Message, NodeId};
use raft_runtime::{inbound_channel, Inbox, Transport};

/// The peer address in a member's address as the membership carries it: `host:port`, optionally
/// followed by space-separated `key=value` attributes that other layers read and this transport
/// ignores (kv-store's `client=host:port`, where the member serves clients).
pub fn peer_address(text: &str) -> Result<SocketAddr, std::net::AddrParseError> {
    text.split(' ').next().unwrap_or_default().parse()
}

/// Messages a node's inbox holds before new ones are dropped.
const INBOX_CAPACITY: usize = 65_536;

/// The sending side, given to the node; it also owns the listener.
pub struct TcpTransport {
    config: TcpConfig,
    peers: Arc<Mutex<HashMap<NodeId, SocketAddr>>>,
    /// Each peer's writer queue, shared by every handle (see `Transport::try_clone`).
    writers: Arc<Mutex<HashMap<NodeId, Sender<Message>>>>,
    dropped: Arc<AtomicU64>,
    /// Stops the listener and its readers when the last handle is dropped.
    _running: Arc<Running>,
}

/// Dropped with the last handle on the transport: the listener and readers see the flag, and
/// the writer threads end as their queues close.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The peers' addresses a transport connects to (and accepts connections from).
#[derive(Clone)]
pub struct AddressBook(Arc<Mutex<HashMap<NodeId, SocketAddr>>>);

impl AddressBook {
    /// Learns (or updates) the address of node `id`, like [`TcpTransport::add_peer`].
    pub fn insert(&self, id: NodeId, addr: SocketAddr) {
        self.0.lock().insert(id, addr);
    }
}

/// Counters of what the transport lost or refused.
#[derive(Clone)]
pub struct TcpStats {
    dropped: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

impl TcpStats {
    /// Outgoing messages dropped (queue full, peer unreachable, write failed).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Incoming connections closed for a bad handshake or frame.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl TcpTransport {
    /// Binds the listen address and starts accepting peers. Returns the transport (for the node),
    /// the node's inbox, and the transport's counters.
    pub fn start(config: TcpConfig) -> std::io::Result<(TcpTransport, Inbox, TcpStats)> {
        let listener = TcpListener::bind(config.listen)?;
        let (inbound, inbox) = inbound_channel(INBOX_CAPACITY);
        let peers = Arc::new(Mutex::new(config.peers.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let l = listener::Listener {
            listener,
            config: config.clone(),
            known: peers.clone(),
            inbound,
            stop: stop.clone(),
            refused: refused.clone(),
        };
        thread::Builder::new()
            .name(format!("tcp-listen-{}", config.node_id))
            .spawn(move || l.run())?;
        let stats = TcpStats {
            dropped: dropped.clone(),
            refused: refused.clone(),
        };
        let t = TcpTransport {
            config,
            peers,
            writers: Arc::new(Mutex::new(HashMap::new())),
            dropped,
            _running: Arc::new(Running(stop)),
        };
        Ok((t, inbox, stats))
    }

    /// Learns (or updates) a peer's address, for nodes added to the cluster.
    pub fn add_peer(&self, id: NodeId, addr: SocketAddr) {
        self.peers.lock().insert(id, addr);
    }

    /// A handle to the transport's address book, usable after the transport has been handed to
    /// the node (to teach it the address of a node being added).
    pub fn address_book(&self) -> AddressBook {
        AddressBook(self.peers.clone())
    }

    /// `peer`'s writer queue, its thread started on first use.
    fn writer<'w>(
        &self,
        writers: &'w mut HashMap<NodeId, Sender<Message>>,
        peer: NodeId,
    ) -> Option<&'w Sender<Message>> {
        match writers.entry(peer) {
            std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(e) => {
                self.peers.lock().get(&peer)?;
                let (tx, rx) = crossbeam_channel::bounded(self.config.peer_queue_max);
                let w = peer::PeerWriter {
                    me: self.config.node_id,
                    peer,
                    peers: self.peers.clone(),
                    config: self.config.clone(),
                    queue: rx,
                    dropped: self.dropped.clone(),
                };
                thread::Builder::new()
                    .name(format!("tcp-out-{peer}"))
                    .spawn(move || w.run())
                    .ok()?;
                Some(e.insert(tx))
            }
        }
    }
}

impl Transport for TcpTransport {
    /// Learns every member's address from the membership (see [`peer_address`]); an address
    /// that does not parse is logged and skipped, never fatal.
    fn set_addresses(&mut self, addresses: &BTreeMap<NodeId, String>) {
        let mut peers = self.peers.lock();
        for (id, text) in addresses {
            if *id == self.config.node_id {
                continue;
            }
            match peer_address(text) {
                Ok(addr) => {
                    peers.insert(*id, addr);
                }
                Err(e) => {
                    tracing::warn!(peer = id, address = %text, error = %e, "unusable member address")
                }
            }
        }
    }

    fn send(&mut self, messages: Vec<Message>) {
        let mut writers = self.writers.lock();
        for m in messages {
            let to = m.to;
            let sent = match self.writer(&mut writers, to) {
                Some(w) => !matches!(
                    w.try_send(m),
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_))
                ),
                None => false,
            };
            if !sent {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn try_clone(&self) -> Option<Box<dyn Transport>> {
        Some(Box::new(TcpTransport {
            config: self.config.clone(),
            peers: self.peers.clone(),
            writers: self.writers.clone(),
            dropped: self.dropped.clone(),
            _running: self._running.clone(),
        }))
    }
}

#[cfg(test)]
mod tests;
