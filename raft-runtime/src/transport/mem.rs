//! An in-process network with faults that tests drive: per-link drops, delays and cuts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use raft_core::{Message, NodeId};

use super::{inbound_channel, Inbound, Inbox, Transport};

/// Messages a node's inbox holds before new ones are dropped.
const INBOX_CAPACITY: usize = 65_536;
/// Messages waiting out a delay before new ones are dropped.
const DELAYED_MAX: usize = 65_536;

/// The network: who is reachable, and how badly.
#[derive(Clone, Default)]
pub struct MemNetwork {
    inner: Arc<Mutex<Net>>,
}

#[derive(Default)]
struct Net {
    inboxes: HashMap<NodeId, Inbound>,
    /// Directed links that deliver nothing.
    cut: HashSet<(NodeId, NodeId)>,
    /// Directed links that drop this many messages per thousand.
    drop_per_mille: HashMap<(NodeId, NodeId), u64>,
    /// Directed links that hold every message this long.
    delay: HashMap<(NodeId, NodeId), Duration>,
    delayer: Option<Sender<Delayed>>,
    rng: u64,
    dropped: u64,
}

struct Delayed {
    due: Instant,
    message: Message,
}

/// One node's end of a [`MemNetwork`].
pub struct MemTransport {
    id: NodeId,
    net: MemNetwork,
}

impl MemNetwork {
    /// A network with no nodes and no faults.
    pub fn new() -> MemNetwork {
        MemNetwork::default()
    }

    /// Connects node `id` (again, after a restart): its transport and its inbox.
    pub fn join(&self, id: NodeId) -> (MemTransport, Inbox) {
        let (inbound, inbox) = inbound_channel(INBOX_CAPACITY);
        self.inner.lock().inboxes.insert(id, inbound);
        (
            MemTransport {
                id,
                net: self.clone(),
            },
            inbox,
        )
    }

    /// Disconnects node `id`: messages to it are lost.
    pub fn leave(&self, id: NodeId) {
        self.inner.lock().inboxes.remove(&id);
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        let mut n = self.inner.lock();
        n.cut.insert((a, b));
        n.cut.insert((b, a));
    }

    /// Splits the nodes into `side` and everyone else.
    pub fn partition(&self, side: &[NodeId], everyone: &[NodeId]) {
        for a in side {
            for b in everyone.iter().filter(|b| !side.contains(b)) {
                self.cut(*a, *b);
            }
        }
    }

    /// Cuts every link of `id`.
    pub fn isolate(&self, id: NodeId, everyone: &[NodeId]) {
        self.partition(&[id], everyone);
    }

    /// Drops `per_mille` of the messages from `from` to `to`.
    pub fn set_drop(&self, from: NodeId, to: NodeId, per_mille: u64) {
        self.inner
            .lock()
            .drop_per_mille
            .insert((from, to), per_mille);
    }

    /// Holds every message from `from` to `to` for `delay`.
    pub fn set_delay(&self, from: NodeId, to: NodeId, delay: Duration) {
        self.inner.lock().delay.insert((from, to), delay);
    }

    /// Removes every cut, drop rate and delay.
    pub fn heal(&self) {
        let mut n = self.inner.lock();
        n.cut.clear();
        n.drop_per_mille.clear();
        n.delay.clear();
    }

    /// Messages lost to faults so far.
    pub fn dropped(&self) -> u64 {
        self.inner.lock().dropped
    }

    fn route(&self, m: Message) {
        let mut n = self.inner.lock();
        let link = (m.from, m.to);
        if n.cut.contains(&link) {
            n.dropped += 1;
            return;
        }
        if let Some(&per_mille) = n.drop_per_mille.get(&link) {
            n.rng = n
                .rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (n.rng >> 33) % 1000 < per_mille {
                n.dropped += 1;
                return;
            }
        }
        if let Some(&delay) = n.delay.get(&link) {
            let delayer = n
                .delayer
                .get_or_insert_with(|| spawn_delayer(Arc::downgrade(&self.inner)))
                .clone();
            let _ = delayer.try_send(Delayed {
                due: Instant::now() + delay,
                message: m,
            });
            return;
        }
        deliver(&mut n, m);
    }
}

fn deliver(n: &mut Net, m: Message) {
    let delivered = n.inboxes.get(&m.to).is_some_and(|i| i.deliver(m));
    if !delivered {
        n.dropped += 1;
    }
}

/// A thread that holds delayed messages until they are due. It ends with the network.
fn spawn_delayer(net: Weak<Mutex<Net>>) -> Sender<Delayed> {
    let (tx, rx): (Sender<Delayed>, Receiver<Delayed>) = crossbeam_channel::bounded(DELAYED_MAX);
    thread::Builder::new()
        .name("mem-net-delay".into())
        .spawn(move || {
            let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
            let mut held: HashMap<u64, Message> = HashMap::new();
            let mut seq = 0u64;
            loop {
                let timeout = heap
                    .peek()
                    .map_or(Duration::from_secs(3600), |Reverse((due, _))| {
                        due.saturating_duration_since(Instant::now())
                    });
                match rx.recv_timeout(timeout) {
                    Ok(d) => {
                        seq += 1;
                        heap.push(Reverse((d.due, seq)));
                        held.insert(seq, d.message);
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                }
                while heap
                    .peek()
                    .is_some_and(|Reverse((due, _))| *due <= Instant::now())
                {
                    let Reverse((_, k)) = heap.pop().expect("peeked");
                    let Some(net) = net.upgrade() else {
                        return;
                    };
                    if let Some(m) = held.remove(&k) {
                        deliver(&mut net.lock(), m);
                    }
                }
            }
        })
        .expect("spawn the delay thread");
    tx
}

impl Transport for MemTransport {
    fn send(&mut self, messages: Vec<Message>) {
        for m in messages {
            debug_assert_eq!(m.from, self.id);
            self.net.route(m);
        }
    }

    fn try_clone(&self) -> Option<Box<dyn Transport>> {
        Some(Box::new(MemTransport {
            id: self.id,
            net: self.net.clone(),
        }))
    }
}
