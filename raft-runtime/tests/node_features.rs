//! The node's features end to end: snapshots taken while running, backpressure, membership
//! changes, leadership transfer.

mod support;

use std::time::Duration;

use raft_runtime::Error;
use support::{Cluster, WAIT};

#[test]
fn snapshots_are_taken_while_running_and_restore_a_restarted_or_lagging_node() {
    let mut c = Cluster::start_on_disk(3, |cfg| {
        cfg.snapshot = raft_runtime::SnapshotPolicy::every_entries(20);
        cfg.raft.compaction_tail_entries = 5;
    });
    let leader = c.leader();
    let lagging = c.ids.iter().copied().find(|i| *i != leader).unwrap();
    c.stop(lagging);
    for i in 0..120 {
        c.write(&format!("s{i}={i}"));
    }
    // Snapshots are written on their own thread: the one covering the last writes lands soon
    // after them.
    support::wait_until(
        "a snapshot at 100 or later, and the log compacted behind it",
        || {
            let st = c.node(leader).status().unwrap();
            st.snapshot.as_ref().is_some_and(|s| s.index >= 100) && st.log_entries < 50
        },
    );
    let st = c.node(leader).status().unwrap();
    // The lagging node needs entries the leader no longer has: it gets the snapshot.
    c.restart(lagging);
    c.wait_applied(st.commit_index);
    assert!(c.node(lagging).status().unwrap().snapshot.is_some());
    assert_eq!(c.digest(lagging), c.digest(leader));
    // A restart comes back from the node's own snapshot plus the log after it.
    c.stop(lagging);
    c.restart(lagging);
    assert!(c.node(lagging).status().unwrap().first_index > 1);
    assert_eq!(c.read(lagging, "s119"), "119");
    assert_eq!(c.digest(lagging), c.digest(leader));
}

#[test]
fn a_flood_of_proposals_gets_busy_errors_and_loses_no_acknowledged_write() {
    let c = Cluster::start(3, |cfg| cfg.request_queue_max = 32);
    let leader = c.leader();
    let mut receivers = Vec::new();
    let mut busy = 0;
    for i in 0..5_000 {
        match c
            .node(leader)
            .propose_async(format!("f{i}={i}").into_bytes())
        {
            Ok(rx) => receivers.push((i, rx)),
            Err(Error::Busy) => busy += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(busy > 0, "a bounded queue pushes back");
    let mut acknowledged = Vec::new();
    for (i, rx) in receivers {
        if let Ok(Ok(_)) = rx.recv_timeout(WAIT) {
            acknowledged.push(i);
        }
    }
    assert!(!acknowledged.is_empty());
    for i in acknowledged.iter().step_by(97) {
        assert_eq!(c.read(leader, &format!("f{i}")), i.to_string());
    }
}

#[test]
fn a_learner_joins_is_promoted_and_a_voter_is_removed() {
    let mut c = Cluster::start(3, |_| {});
    for i in 0..10 {
        c.write(&format!("m{i}={i}"));
    }
    c.start_spare(4);
    let leader = c.leader();
    c.node(leader).add_learner(4, WAIT).unwrap();
    let st = c.node(leader).status().unwrap();
    assert!(st.membership.learners.contains(&4));
    c.wait_applied(st.commit_index);
    assert_eq!(c.node(4).read_stale(b"m9".to_vec(), WAIT).unwrap(), b"9");
    // Promoted once caught up (retry while it is still catching up).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match c.node(c.leader()).promote(4, WAIT) {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(support::retryable(&e), "{e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("promote: {e}"),
        }
    }
    let leader = c.leader();
    let gone = c.ids.iter().copied().find(|i| *i != leader).unwrap();
    // The promotion's joint phase is left automatically, after `promote` returns: until then
    // a new change is refused (`AlreadyJoint`), so the removal is retried.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match c.node(c.leader()).remove(gone, WAIT) {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(support::retryable(&e), "{e}");
                let m = c.node(c.leader()).status().unwrap().membership;
                if !m.is_member(gone) {
                    break; // an attempt whose answer was lost did it
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("remove: {e}"),
        }
    }
    // The removal's own joint phase is left automatically too.
    support::wait_until("the removal's joint phase is left", || {
        let m = c.node(c.leader()).status().unwrap().membership;
        !m.is_joint()
    });
    let m = c.node(c.leader()).status().unwrap().membership;
    assert!(
        m.voters.contains(&4) && !m.voters.contains(&gone) && !m.is_joint(),
        "{m:?}"
    );
    c.write("after=change");
    assert_eq!(c.read(4, "after"), "change");
}

#[test]
fn leadership_moves_where_asked() {
    let c = Cluster::start(3, |_| {});
    c.write("t=1");
    let leader = c.leader();
    let target = c.ids.iter().copied().find(|i| *i != leader).unwrap();
    c.node(leader).transfer_leadership(target, WAIT).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while c.leader() != target {
        assert!(
            std::time::Instant::now() < deadline,
            "leadership did not move"
        );
    }
    assert_eq!(c.write("t=2"), b"1");
}

#[test]
fn clients_waiting_when_a_node_shuts_down_are_answered() {
    let mut c = Cluster::start(3, |_| {});
    c.write("x=1");
    let leader = c.leader();
    c.net.isolate(leader, &c.ids.clone());
    // Appended, but it cannot commit while the leader is cut off.
    let rx = c.node(leader).propose_async(b"x=2".to_vec()).unwrap();
    let node = c.nodes.remove(&leader).unwrap();
    node.shutdown();
    // The entry is in the leader's log: its outcome is unknown, never a hang, a closed channel
    // or an invitation to retry.
    assert_eq!(rx.recv_timeout(WAIT), Ok(Err(Error::OutcomeUnknown)));
    c.net.heal();
    c.restart(leader);
    // Its outcome was unknown, and it stays so: the entry is durable on the old leader and may
    // still commit if that node is elected again, or be replaced by a new leader's entries.
    let x = c.read(leader, "x");
    assert!(x == "1" || x == "2", "{x}");
}

#[test]
fn the_cluster_commits_through_lossy_and_slow_links() {
    let c = Cluster::start(3, |_| {});
    c.write("warm=up");
    // Every link drops a fifth of its messages; the links into node 3 are also slow.
    for a in c.ids.clone() {
        for b in c.ids.clone() {
            if a != b {
                c.net.set_drop(a, b, 200);
            }
        }
        if a != 3 {
            c.net.set_delay(a, 3, Duration::from_millis(3));
        }
    }
    for i in 0..30 {
        c.write(&format!("lossy{i}={i}"));
    }
    assert!(c.net.dropped() > 0);
    c.net.heal();
    let leader = c.leader();
    c.wait_applied(c.node(leader).status().unwrap().commit_index);
    assert_eq!(c.read(3, "lossy29"), "29");
}

#[test]
fn snapshots_can_be_triggered_by_bytes_applied() {
    let c = Cluster::start(3, |cfg| {
        cfg.snapshot = raft_runtime::SnapshotPolicy {
            log_bytes_min: 2_000,
            ..raft_runtime::SnapshotPolicy::never()
        };
    });
    for i in 0..40 {
        c.write(&format!("b{i}={}", "x".repeat(100)));
    }
    support::wait_until("a snapshot", || {
        let st = c.node(c.leader()).status().unwrap();
        st.snapshot.is_some() && st.snapshot_bytes > 0
    });
}

/// A state machine whose query of `block`, or command `block`, waits until the gate sends; so
/// does the writing of each snapshot image.
struct Gated {
    kv: support::Kv,
    gate: crossbeam_channel::Receiver<()>,
}

/// A snapshot image that is written only once the gate sends.
struct GatedImage {
    data: Vec<u8>,
    gate: crossbeam_channel::Receiver<()>,
}

impl raft_runtime::SnapshotImage for GatedImage {
    fn write_to(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let _ = self.gate.recv();
        out.write_all(&self.data)
    }
}

impl raft_runtime::StateMachine for Gated {
    type Query = Vec<u8>;
    type Response = Vec<u8>;
    type Snapshot = GatedImage;

    fn apply(&mut self, index: raft_core::Index, command: &[u8]) -> Vec<u8> {
        if command == b"block" {
            let _ = self.gate.recv();
        }
        self.kv.apply(index, command)
    }
    fn query(&self, query: &Vec<u8>) -> Vec<u8> {
        if query == b"block" {
            let _ = self.gate.recv();
        }
        self.kv.query(query)
    }
    fn snapshot(&self) -> GatedImage {
        GatedImage {
            data: self.kv.snapshot(),
            gate: self.gate.clone(),
        }
    }
    fn restore(&mut self, data: &mut dyn std::io::Read) -> Result<(), String> {
        self.kv.restore(data)
    }
}

fn gated_node(
    tune: impl FnOnce(&mut raft_runtime::NodeConfig),
) -> (raft_runtime::Node<Gated>, crossbeam_channel::Sender<()>) {
    let (open, gate) = crossbeam_channel::unbounded();
    let net = raft_runtime::MemNetwork::new();
    let (t, inbox) = net.join(1);
    let mut cfg = raft_runtime::NodeConfig::new(1, vec![1]);
    cfg.tick_interval = Duration::from_millis(5);
    tune(&mut cfg);
    let sm = Gated {
        kv: support::Kv::default(),
        gate,
    };
    let node =
        raft_runtime::Node::start(cfg, sm, raft_runtime::MemStorage::new(), t, inbox).unwrap();
    (node, open)
}

/// While the apply thread lags the commit index by more than `apply_lag_entries_max`, new
/// proposals and reads are refused with `Busy` instead of piling up on it.
#[test]
fn requests_are_refused_busy_while_apply_lags_too_far() {
    let (node, open) = gated_node(|c| c.apply_lag_entries_max = 2);
    let deadline = std::time::Instant::now() + WAIT;
    while node.propose(b"warm=1".to_vec(), WAIT).is_err() {
        assert!(std::time::Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(5));
    }
    let blocked = node.propose_async(b"block".to_vec()).unwrap();
    // Two, not more: each arrives while at most "block" and the one before it wait, a lag of
    // at most 2, so each is taken; with both committed the lag is 3, over the bound.
    let queued: Vec<_> = (0..2)
        .map(|i| node.propose_async(format!("k{i}=v").into_bytes()).unwrap())
        .collect();
    support::wait_until("apply lags by more than 2", || {
        node.status()
            .is_ok_and(|s| s.commit_index.saturating_sub(s.applied_index) > 2)
    });
    assert_eq!(node.propose(b"late=1".to_vec(), WAIT), Err(Error::Busy));
    assert_eq!(node.read(b"warm".to_vec(), WAIT), Err(Error::Busy));
    open.send(()).unwrap();
    assert!(blocked.recv_timeout(WAIT).unwrap().is_ok());
    for rx in queued {
        assert!(rx.recv_timeout(WAIT).unwrap().is_ok());
    }
    assert!(node.propose(b"late=1".to_vec(), WAIT).is_ok());
}

/// Stale reads are the one kind of work the core does not bound on its way to the apply
/// thread: beyond `stale_reads_max` waiting, they are refused with `Busy`.
#[test]
fn stale_reads_beyond_their_bound_are_refused_busy() {
    let (node, open) = gated_node(|c| c.stale_reads_max = 1);
    let first = node.read_stale_async(b"block".to_vec()).unwrap();
    let second = node.read_stale_async(b"x".to_vec()).unwrap();
    assert_eq!(second.recv_timeout(WAIT), Ok(Err(Error::Busy)));
    open.send(()).unwrap();
    assert_eq!(first.recv_timeout(WAIT), Ok(Ok(Vec::new())));
    assert_eq!(node.read_stale(b"x".to_vec(), WAIT), Ok(Vec::new()));
}

/// A snapshot is written on its own thread from an image of the state: while one is being
/// written (held open here), entries go on committing and applying, and reads see them.
#[test]
fn applies_go_on_while_a_snapshot_is_being_written() {
    let (node, open) = gated_node(|c| c.snapshot = raft_runtime::SnapshotPolicy::every_entries(3));
    let deadline = std::time::Instant::now() + WAIT;
    while node.propose(b"warm=1".to_vec(), WAIT).is_err() {
        assert!(std::time::Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(5));
    }
    for i in 0..3 {
        node.propose(format!("before{i}=v").into_bytes(), WAIT)
            .unwrap();
    }
    // A snapshot is due by now, and its image waits at the gate.
    for i in 0..100 {
        let old = node.propose(format!("during={i}").into_bytes(), WAIT);
        assert!(old.is_ok(), "write {i} while the snapshot is held: {old:?}");
    }
    assert_eq!(node.read(b"during".to_vec(), WAIT), Ok(b"99".to_vec()));
    let st = node.status().unwrap();
    assert_eq!(st.applied_index, st.commit_index);
    assert!(st.applied_index >= 104, "{st:?}");
    assert_eq!(
        st.snapshot, None,
        "the only snapshot is still being written"
    );
    open.send(()).unwrap();
    support::wait_until("the held snapshot lands", || {
        node.status().unwrap().snapshot.is_some()
    });
}
