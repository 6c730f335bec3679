//! Regression tests for node bugs found by review, each of which failed before its fix: a
//! deposed leader's clients left waiting, failures that left clients waiting or made shutdown
//! hang, and a restarted follower taking an old answer for a new request.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_core::{Persist, Restore, Role, Snapshot};
use raft_runtime::{Error, MemNetwork, MemStorage, Node, NodeConfig, Storage, StorageError};
use support::{Cluster, Kv, WAIT};

/// Clients of entries appended by a leader that then steps down should hear OutcomeUnknown
/// (ApplyJob::FailWaitersAbove); the driver never sends it.
#[test]
fn clients_of_a_deposed_leader_are_told_outcome_unknown() {
    let c = Cluster::start(3, |_| {});
    c.write("x=1");
    let leader = c.leader();
    c.net.isolate(leader, &c.ids.clone());
    let rxs: Vec<_> = (0..3)
        .map(|i| {
            c.node(leader)
                .propose_async(format!("y{i}=1").into_bytes())
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + WAIT;
    while c.node(leader).status().unwrap().role == Role::Leader {
        assert!(Instant::now() < deadline, "check-quorum never deposed it");
        std::thread::sleep(Duration::from_millis(5));
    }
    for rx in rxs {
        let r = rx.recv_timeout(Duration::from_secs(3));
        assert!(matches!(r, Ok(Err(Error::OutcomeUnknown))), "{r:?}");
    }
}

/// Storage that fails (or panics) on demand.
#[derive(Clone)]
struct Flaky {
    inner: MemStorage,
    fail: Arc<AtomicBool>,
    panic: bool,
}
impl Storage for Flaky {
    fn load(&mut self) -> Result<Restore, StorageError> {
        self.inner.load()
    }
    fn persist(&mut self, b: &[Persist]) -> Result<(), StorageError> {
        if self.fail.load(Ordering::SeqCst) {
            if self.panic {
                panic!("storage bug");
            }
            return Err(StorageError::Io {
                path: "x".into(),
                source: Arc::new(std::io::Error::other("disk full")),
            });
        }
        self.inner.persist(b)
    }
    fn snapshots(&self) -> Arc<dyn raft_runtime::storage::SnapshotStore> {
        self.inner.snapshots()
    }
    fn save_snapshot(&mut self, s: &Snapshot) -> Result<(), StorageError> {
        self.inner.save_snapshot(s)
    }
}

fn one_node(panic: bool) -> (Node<Kv>, Arc<AtomicBool>) {
    let net = MemNetwork::new();
    let (t, inbox) = net.join(1);
    let fail = Arc::new(AtomicBool::new(false));
    let storage = Flaky {
        inner: MemStorage::new(),
        fail: fail.clone(),
        panic,
    };
    let mut cfg = NodeConfig::new(1, vec![1]);
    cfg.tick_interval = Duration::from_millis(5);
    let node = Node::start(cfg, Kv::default(), storage, t, inbox).unwrap();
    let deadline = Instant::now() + WAIT;
    while node
        .propose(b"warm=1".to_vec(), Duration::from_secs(1))
        .is_err()
    {
        assert!(Instant::now() < deadline);
    }
    (node, fail)
}

/// A storage failure answers the client whose entry failed to persist (its waiter sits on the
/// apply thread) instead of leaving it to time out: with `OutcomeUnknown`, since a leader's
/// entry is sent to followers before it is durable and may commit there. Later clients are
/// refused with the storage error.
#[test]
fn a_storage_failure_answers_the_client() {
    let (node, fail) = one_node(false);
    fail.store(true, Ordering::SeqCst);
    let r = node
        .propose_async(b"a=1".to_vec())
        .unwrap()
        .recv_timeout(WAIT);
    assert_eq!(r, Ok(Err(Error::OutcomeUnknown)));
    let later = node.propose(b"b=1".to_vec(), Duration::from_secs(5));
    assert!(
        matches!(later, Err(Error::Storage(_))),
        "later client got {later:?}"
    );
}

/// The embedding application learns that its node failed (a kv_server process then exits),
/// and the failed node refuses reads as well as writes.
#[test]
fn the_application_learns_of_a_storage_failure() {
    let (node, fail) = one_node(false);
    assert_eq!(node.failure(), None);
    assert_eq!(node.wait_for_failure(Duration::from_millis(20)), None);
    fail.store(true, Ordering::SeqCst);
    let _ = node.propose_async(b"a=1".to_vec()).unwrap();
    let failure = node.wait_for_failure(WAIT);
    assert!(matches!(failure, Some(Error::Storage(_))), "{failure:?}");
    assert_eq!(node.failure(), failure);
    let read = node.read(b"warm".to_vec(), WAIT);
    assert!(matches!(read, Err(Error::Storage(_))), "{read:?}");
}

/// After a storage failure, Request::Shutdown is refused like any other request
/// (driver.rs request() checks `failed` first; fail_everything drains it too), so
/// Node::shutdown / Drop never return.
#[test]
fn shutdown_returns_after_a_storage_failure() {
    let (node, fail) = one_node(false);
    fail.store(true, Ordering::SeqCst);
    let _ = node.propose(b"a=1".to_vec(), Duration::from_millis(300));
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        node.shutdown();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(5)).is_ok(),
        "Node::shutdown hung"
    );
}

/// A storage thread that dies (panic) leaves inflight_persists > 0 forever: shutdown hangs.
#[test]
fn shutdown_returns_after_the_storage_thread_dies() {
    let (node, fail) = one_node(true);
    fail.store(true, Ordering::SeqCst);
    let _rx = node.propose_async(b"a=1".to_vec()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        node.shutdown();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(5)).is_ok(),
        "Node::shutdown hung"
    );
}

/// With a fixed seed in its configuration (raft-core's old default was the node id), a restarted
/// follower would draw the same request ids as its previous incarnation: a late answer to the old incarnation's forwarded proposal is taken as
/// the answer to the new one, and the new client gets the old command's result. The runtime
/// mixes a fresh draw into the seed at every start.
#[test]
fn a_restarted_follower_does_not_take_an_old_answer_for_a_new_request() {
    let mut c = Cluster::start(3, |cfg| cfg.raft.seed = cfg.raft.id);
    c.write("warm=1");
    let leader = c.leader();
    let f = c.ids.iter().copied().find(|i| *i != leader).unwrap();
    c.net.set_delay(leader, f, Duration::from_millis(150));
    std::thread::sleep(Duration::from_millis(300));
    let _old = c.node(f).propose_async(b"n+=1".to_vec()).unwrap(); // forwarded; answer delayed
    std::thread::sleep(Duration::from_millis(30));
    c.stop(f);
    c.restart(f);
    let deadline = Instant::now() + WAIT;
    while c.node(f).status().unwrap().leader != Some(leader) {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    let rx = c.node(f).propose_async(b"n+=100".to_vec()).unwrap();
    let r = rx.recv_timeout(WAIT);
    c.net.heal();
    assert_eq!(r, Ok(Ok(b"101".to_vec())), "n+=100 must see n+=1 before it");
}
