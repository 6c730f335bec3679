//! Moving messages between nodes. A transport sends without blocking the node's driver; inbound
//! messages reach the node through the [`Inbound`] handle it is given.

mod mem;

pub use mem::{MemNetwork, MemTransport};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::collections::BTreeMap;

use raft_core::{Message, NodeId};

/// Sends messages to peers. It must never block the caller: a message it cannot send now may be
/// dropped (Raft retries what matters). A send that blocks anyway stalls the driver, which then
/// catches its clock up before it steps anything else, so leases stay safe, but heartbeats wait.
pub trait Transport: Send + 'static {
    /// Sends each message to the node it is addressed to (`to`), without blocking.
    fn send(&mut self, messages: Vec<Message>);

    /// The members' addresses, as the membership in force carries them: called at start and
    /// whenever they change (a member added, removed, or a snapshot installed). A transport that
    /// needs no addresses keeps the default, which ignores them.
    fn set_addresses(&mut self, addresses: &BTreeMap<NodeId, String>) {
        let _ = addresses;
    }

    /// A second handle on the same transport (the same peers, queues and addresses), for the
    /// node's storage thread: it sends what waits on a persist (a follower's acknowledgement,
    /// a vote) the moment the persist is durable, one thread hand-off sooner than through the
    /// driver. The default, `None`, leaves those messages to the driver.
    fn try_clone(&self) -> Option<Box<dyn Transport>> {
        None
    }
}

/// The node's inbox, handed to a transport to deliver messages into. Bounded: when the node
/// falls behind, new messages are dropped and counted, like on a congested network.
#[derive(Clone, Debug)]
pub struct Inbound {
    tx: Sender<Message>,
}

/// The receiving end of an [`Inbound`], given to the node.
#[derive(Debug)]
pub struct Inbox {
    pub(crate) rx: Receiver<Message>,
}

/// An inbound channel holding at most `capacity` messages.
pub fn inbound_channel(capacity: usize) -> (Inbound, Inbox) {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    (Inbound { tx }, Inbox { rx })
}

impl Inbox {
    /// Takes the next message, waiting at most `timeout` (for transports' own tests and tools).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Message> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Takes the next message if one is waiting.
    pub fn try_recv(&self) -> Option<Message> {
        self.rx.try_recv().ok()
    }
}

impl Inbound {
    /// Delivers a message; returns false when it was dropped (inbox full or node gone).
    pub fn deliver(&self, m: Message) -> bool {
        match self.tx.try_send(m) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }
}
