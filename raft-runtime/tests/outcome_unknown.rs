//! A write the node gave up on after the core took it is `OutcomeUnknown`, never an error that
//! invites a plain retry: these writes do commit on the rest of the cluster, so a retry would
//! apply them twice.

mod support;

use std::time::Duration;

use raft_core::NodeId;
use raft_runtime::Error;
use support::{wait_until, Cluster, WAIT};

/// Ticks long enough that no election or check-quorum happens while a test sets up a cut-off
/// write: the only thing that ends the wait is the shutdown.
fn slow_ticks(c: &mut raft_runtime::NodeConfig) {
    c.tick_interval = Duration::from_millis(50);
}

/// Waits until every node in `ids` holds an entry at `index` or beyond.
fn wait_logged(c: &Cluster, ids: &[NodeId], index: u64) {
    wait_until("the entry reached the followers", || {
        ids.iter()
            .all(|id| c.node(*id).status().is_ok_and(|s| s.last_index >= index))
    });
}

/// Shuts `id` down while its client waits, then checks the answer and that the write commits
/// on the two nodes left.
fn shut_down_and_check(
    mut c: Cluster,
    id: NodeId,
    rx: crossbeam_channel::Receiver<Result<Vec<u8>, Error>>,
) {
    c.stop(id);
    let answer = rx.recv_timeout(WAIT);
    assert_eq!(answer, Ok(Err(Error::OutcomeUnknown)));
    c.net.heal();
    let others: Vec<NodeId> = c.ids.iter().copied().filter(|i| *i != id).collect();
    let leader = c.leader();
    assert!(others.contains(&leader));
    assert_eq!(
        c.read(leader, "counter"),
        "1",
        "the cut-off write committed"
    );
}

#[test]
fn a_leader_shut_down_before_counting_acks_says_outcome_unknown() {
    let c = Cluster::start(3, slow_ticks);
    c.write("warm=1");
    let leader = c.leader();
    let followers: Vec<NodeId> = c.ids.iter().copied().filter(|i| *i != leader).collect();
    // Appends reach the followers; their acknowledgements never come back.
    for f in &followers {
        c.net.set_drop(*f, leader, 1000);
    }
    let next = c.node(leader).status().unwrap().last_index + 1;
    let rx = c
        .node(leader)
        .propose_async(b"counter+=1".to_vec())
        .unwrap();
    wait_logged(&c, &followers, next);
    shut_down_and_check(c, leader, rx);
}

#[test]
fn a_follower_shut_down_while_its_forwarded_write_is_out_says_outcome_unknown() {
    let c = Cluster::start(3, slow_ticks);
    c.write("warm=1");
    let leader = c.leader();
    let f = c.ids.iter().copied().find(|i| *i != leader).unwrap();
    let other = c
        .ids
        .iter()
        .copied()
        .find(|i| *i != leader && *i != f)
        .unwrap();
    // The leader's answer (and its appends) never reach the follower that forwarded the write.
    c.net.set_drop(leader, f, 1000);
    let next = c.node(leader).status().unwrap().last_index + 1;
    let rx = c.node(f).propose_async(b"counter+=1".to_vec()).unwrap();
    wait_logged(&c, &[leader, other], next);
    shut_down_and_check(c, f, rx);
}

#[test]
fn a_blocking_propose_gives_up_with_outcome_unknown() {
    let c = Cluster::start(3, slow_ticks);
    c.write("warm=1");
    let leader = c.leader();
    c.net.isolate(leader, &c.ids.clone());
    let r = c
        .node(leader)
        .propose(b"counter+=1".to_vec(), Duration::from_millis(10));
    assert_eq!(r, Err(Error::OutcomeUnknown));
}
