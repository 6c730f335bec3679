//! Log compaction and snapshot transfer, as scenarios on the simulator. Every scenario also runs
//! the simulator's invariant checks, including that a node's state at an index is the same
//! whether it replayed the log or restored a snapshot.

mod support;

use raft_core::{CompactError, MessageBody, Payload, ProgressState, Role};
use support::sim::Sim;

fn run(sim: &mut Sim, ticks: u64) {
    for _ in 0..ticks {
        sim.tick();
        sim.deliver_all();
    }
}

fn write(sim: &mut Sim, leader: u64, n: usize) {
    for i in 0..n {
        sim.propose(leader, &format!("w{i}"));
        sim.deliver_all();
    }
}

#[test]
fn under_endless_writes_with_periodic_snapshots_the_log_stays_bounded() {
    const EVERY: u64 = 50;
    let (mut sim, leader) = Sim::elected(3, 1, |c| c.compaction_tail_entries = 10);
    sim.snapshot_every = Some(EVERY);
    let mut longest = 0;
    for round in 0..40 {
        write(&mut sim, leader, 50);
        run(&mut sim, 1);
        for id in sim.ids() {
            longest = longest.max(sim.raft(id).log_len());
        }
        assert!(sim.raft(leader).last_index() > round * 50);
    }
    // 2000 entries written; each node holds at most a snapshot interval, the tail, and what
    // one round of writes adds before the next snapshot.
    assert!(sim.raft(leader).last_index() >= 2000);
    assert!(
        longest as u64 <= EVERY + 10 + 50,
        "a log grew to {longest} entries"
    );
    assert!(sim.stats.snapshots_taken >= 3 * 2000 / EVERY - 3);
}

#[test]
fn a_follower_that_missed_compacted_entries_catches_up_by_snapshot() {
    let (mut sim, leader) = Sim::elected(3, 2, |c| c.compaction_tail_entries = 5);
    sim.snapshot_every = Some(20);
    let lagging = if leader == 3 { 2 } else { 3 };
    sim.isolate(lagging);
    write(&mut sim, leader, 100);
    assert!(sim.raft(leader).first_index() > sim.raft(lagging).last_index() + 1);
    sim.heal();
    // The snapshot (2.5 KB) travels in 1 KB chunks.
    run(&mut sim, 20);
    let chunks = sim.stats.snapshot_chunks_delivered;
    assert!(chunks >= 3, "the snapshot went in chunks ({chunks})");
    assert_eq!(
        sim.raft(lagging).last_index(),
        sim.raft(leader).last_index()
    );
    assert_eq!(sim.node(lagging).sm, sim.node(leader).sm);
    assert!(sim.stats.snapshots_installed >= 1);
    assert_eq!(
        sim.raft(leader).progress(lagging).unwrap().state,
        ProgressState::Replicate
    );
}

#[test]
fn a_lost_snapshot_chunk_is_sent_again() {
    let (mut sim, leader) = Sim::elected(3, 3, |c| c.compaction_tail_entries = 5);
    sim.snapshot_every = Some(20);
    let lagging = if leader == 3 { 2 } else { 3 };
    sim.isolate(lagging);
    write(&mut sim, leader, 60);
    sim.heal();
    // The second chunk is lost on the way.
    sim.drop_next(
        leader,
        lagging,
        1,
        |b| matches!(b, MessageBody::InstallSnapshot { offset, .. } if *offset > 0),
    );
    run(&mut sim, 30);
    assert!(sim.stats.dropped >= 1);
    assert_eq!(
        sim.node(lagging).sm,
        sim.node(leader).sm,
        "the transfer was retried to the end"
    );
}

#[test]
fn a_snapshot_older_than_what_the_follower_has_is_ignored() {
    let (mut sim, leader) = Sim::elected(3, 4, |_| {});
    let follower = if leader == 1 { 2 } else { 1 };
    write(&mut sim, leader, 10);
    run(&mut sim, 2);
    let commit = sim.raft(follower).commit_index();
    let last = sim.raft(follower).last_index();
    let term = sim.raft(leader).term();
    let old = raft_core::SnapshotMeta {
        index: 3,
        term: sim.raft(follower).entry_term(3).unwrap(),
        membership: sim.raft(follower).membership().clone(),
    };
    let m = raft_core::Message {
        from: leader,
        to: follower,
        term,
        body: MessageBody::InstallSnapshot {
            meta: Box::new(old),
            offset: 0,
            total_bytes: 4,
            data: Payload::from("abcd"),
        },
    };
    sim.raft_mut(follower).step(m).unwrap();
    sim.process(follower);
    assert_eq!(
        (
            sim.raft(follower).commit_index(),
            sim.raft(follower).last_index()
        ),
        (commit, last)
    );
    assert!(sim.in_flight(follower, leader).iter().any(|m| matches!(
        m.body,
        MessageBody::AppendResponse(raft_core::AppendOutcome::Accepted { match_index }) if match_index >= commit
    )));
}

#[test]
fn a_node_restarting_from_a_snapshot_and_a_tail_matches_one_that_replayed_everything() {
    let (mut sim, leader) = Sim::elected(3, 5, |c| c.compaction_tail_entries = 3);
    sim.snapshot_every = Some(15);
    write(&mut sim, leader, 40);
    run(&mut sim, 2);
    let follower = if leader == 1 { 2 } else { 1 };
    assert!(sim.node(follower).durable.snapshot.is_some());
    let before = sim.node(follower).sm;
    sim.crash(follower);
    sim.restart(follower);
    run(&mut sim, 2);
    // Restored from its snapshot, then the tail applied on top: same state as before the
    // crash, and as the leader (the checker compares states at every index too).
    assert_eq!(sim.node(follower).sm, before);
    assert_eq!(sim.node(follower).sm, sim.node(leader).sm);
    assert!(sim.raft(follower).first_index() > 1);
}

#[test]
fn compaction_requests_that_cannot_be_honoured_are_refused() {
    let (mut sim, leader) = Sim::elected(3, 6, |_| {});
    write(&mut sim, leader, 5);
    run(&mut sim, 1);
    let applied = sim.raft(leader).applied_index();
    let r = sim.raft_mut(leader).compact(applied + 1, 0);
    assert_eq!(
        r,
        Err(CompactError::NotApplied {
            index: applied + 1,
            applied
        })
    );
    sim.raft_mut(leader).compact(applied, 0).unwrap();
    assert_eq!(
        sim.raft_mut(leader).compact(applied, 0),
        Err(CompactError::NotNewer {
            index: applied,
            current: applied
        })
    );
    assert_eq!(sim.raft(leader).role(), Role::Leader);
}
