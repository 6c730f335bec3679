//! A leader whose driver thread stalls (here: a transport whose `send` blocks it, as a stopped
//! process, a VM pause or CPU starvation would) must come back knowing how much time passed:
//! its lease has run out, so a lease read is not answered from its stale state.

mod support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use raft_core::{Message, NodeId, ReadMode, Role};
use raft_runtime::{MemNetwork, MemStorage, MemTransport, Node, NodeConfig, Transport};
use support::{wait_until, Kv, WAIT};

/// A gate a transport's `send` waits at while it is closed.
#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
    /// A send is waiting at the closed gate.
    waiting: Mutex<bool>,
}

impl Gate {
    fn close(&self) {
        *self.closed.lock() = true;
    }
    fn open(&self) {
        *self.closed.lock() = false;
        self.opened.notify_all();
    }
    fn pass(&self) {
        let mut closed = self.closed.lock();
        while *closed {
            *self.waiting.lock() = true;
            self.opened.wait(&mut closed);
        }
    }
    fn has_caught_a_send(&self) -> bool {
        *self.waiting.lock()
    }
}

struct Gated {
    inner: MemTransport,
    gate: Arc<Gate>,
}

impl Transport for Gated {
    fn send(&mut self, messages: Vec<Message>) {
        self.gate.pass();
        self.inner.send(messages);
    }
}

#[test]
fn a_leader_stalled_past_its_lease_does_not_serve_a_stale_lease_read() {
    let net = MemNetwork::new();
    let ids: Vec<NodeId> = vec![1, 2, 3];
    let gates: Vec<Arc<Gate>> = ids.iter().map(|_| Arc::default()).collect();
    let nodes: Vec<Node<Kv>> = ids
        .iter()
        .map(|&id| {
            let mut cfg = NodeConfig::new(id, ids.clone());
            cfg.tick_interval = Duration::from_millis(5);
            cfg.raft.read_mode = ReadMode::Lease;
            let (inner, inbox) = net.join(id);
            let gate = gates[id as usize - 1].clone();
            let t = Gated { inner, gate };
            Node::start(cfg, Kv::default(), MemStorage::new(), t, inbox).unwrap()
        })
        .collect();
    let leader_of = |nodes: &[Node<Kv>]| {
        nodes
            .iter()
            .position(|n| n.status().is_ok_and(|s| s.role == Role::Leader))
    };
    wait_until("a leader is elected", || leader_of(&nodes).is_some());
    let old = leader_of(&nodes).unwrap();
    nodes[old].propose(b"x=1".to_vec(), WAIT).unwrap();
    // The old leader serves lease reads.
    assert_eq!(nodes[old].read(b"x".to_vec(), WAIT).unwrap(), b"1");

    // Its driver blocks in its next send; meanwhile it hears nothing more from the others.
    gates[old].close();
    wait_until("the old leader's driver is stuck in a send", || {
        gates[old].has_caught_a_send()
    });
    let old_id = ids[old];
    for &id in &ids {
        if id != old_id {
            net.set_drop(id, old_id, 1000);
        }
    }
    // The others elect a new leader and overwrite x.
    wait_until("a new leader is elected", || {
        nodes
            .iter()
            .enumerate()
            .any(|(i, n)| i != old && n.status().is_ok_and(|s| s.role == Role::Leader))
    });
    let new = (0..3)
        .find(|&i| i != old && nodes[i].status().unwrap().role == Role::Leader)
        .unwrap();
    nodes[new].propose(b"x=2".to_vec(), WAIT).unwrap();

    // A read waits in the old leader's queue; then the driver comes back.
    let rx = nodes[old].read_async(b"x".to_vec()).unwrap();
    gates[old].open();
    let answer = rx.recv_timeout(WAIT).expect("an answer");
    assert!(
        answer.is_err(),
        "the stalled leader answered a linearizable read from its old state: {answer:?}"
    );
}
