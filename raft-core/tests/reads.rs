//! Linearizable reads: ReadIndex on the leader and through followers, reads that wait for a new
//! leader's first commit, the opt-in lease, and rejections when leadership changes or queues fill.

mod support;

use raft_core::{Event, MessageBody, ReadMode, RejectReason, Request, Role};
use support::sim::Sim;

fn events(sim: &Sim, id: u64) -> &[Event] {
    &sim.node(id).events
}

fn read_ready(sim: &Sim, node: u64, read: u64) -> Option<u64> {
    events(sim, node).iter().find_map(|e| match e {
        Event::ReadReady { id, index } if *id == read => Some(*index),
        _ => None,
    })
}

fn rejected(sim: &Sim, node: u64, request: Request) -> Option<RejectReason> {
    events(sim, node).iter().find_map(|e| match e {
        Event::Rejected { request: r, reason } if *r == request => Some(reason.clone()),
        _ => None,
    })
}

#[test]
fn a_leader_read_waits_for_a_quorum_round_then_reports_the_commit_index() {
    let (mut sim, leader) = Sim::elected(3, 1, |_| {});
    sim.propose(leader, "x");
    sim.deliver_all();
    let commit = sim.raft(leader).commit_index();
    let read = sim.read(leader).unwrap();
    assert_eq!(
        read_ready(&sim, leader, read),
        None,
        "no answer before the quorum round"
    );
    // The round went out as heartbeats carrying a fresh read sequence.
    let followers: Vec<u64> = sim.ids().into_iter().filter(|&i| i != leader).collect();
    for f in &followers {
        assert!(sim
            .in_flight(leader, *f)
            .iter()
            .any(|m| matches!(m.body, MessageBody::Heartbeat { .. })));
    }
    sim.deliver_all();
    assert_eq!(read_ready(&sim, leader, read), Some(commit));
}

#[test]
fn reads_arriving_together_share_one_round() {
    let (mut sim, leader) = Sim::elected(3, 2, |_| {});
    let follower = if leader == 1 { 2 } else { 1 };
    let reads: Vec<u64> = (0..5)
        .map(|_| sim.raft_mut(leader).read_index().unwrap())
        .collect();
    sim.process(leader);
    let heartbeats = sim
        .in_flight(leader, follower)
        .iter()
        .filter(|m| matches!(m.body, MessageBody::Heartbeat { .. }))
        .count();
    assert_eq!(heartbeats, 1);
    for r in &reads {
        sim.checker.read_requested(leader, *r);
    }
    sim.deliver_all();
    for r in reads {
        assert!(read_ready(&sim, leader, r).is_some());
    }
}

#[test]
fn a_read_on_a_new_leader_waits_for_its_first_commit_instead_of_being_dropped() {
    let mut sim = Sim::new(3, 3, |c| {
        c.pre_vote = false;
        c.check_quorum = false;
    });
    // Elect a leader but keep its first (blank) entry from committing: its followers' answers
    // are lost.
    let leader = 1;
    for _ in 0..100 {
        sim.tick_node(leader);
        if sim.raft(leader).role() == raft_core::Role::Candidate {
            break;
        }
    }
    // Vote requests out, grants back: node 1 leads, and its blank entry is in flight.
    assert!(sim.deliver_one(1, 2, false) && sim.deliver_one(1, 3, false));
    assert!(sim.deliver_one(2, 1, false) && sim.deliver_one(3, 1, false));
    assert_eq!(sim.raft(leader).role(), Role::Leader);
    sim.clear_in_flight();
    sim.cut(1, 2);
    sim.cut(1, 3);
    let read = sim.read(leader).unwrap();
    sim.deliver_all();
    assert!(sim.raft(leader).commit_index() < sim.raft(leader).last_index());
    assert_eq!(read_ready(&sim, leader, read), None);
    assert_eq!(
        rejected(&sim, leader, Request::Read(read)),
        None,
        "waiting, not dropped"
    );
    sim.heal();
    sim.tick();
    sim.deliver_all();
    sim.tick();
    sim.deliver_all();
    let index =
        read_ready(&sim, leader, read).expect("served once the leader committed in its term");
    assert_eq!(index, sim.raft(leader).commit_index());
}

#[test]
fn a_follower_read_is_forwarded_and_served_at_the_leaders_index() {
    let (mut sim, leader) = Sim::elected(3, 4, |_| {});
    let follower = if leader == 1 { 2 } else { 1 };
    sim.propose(leader, "x");
    sim.deliver_all();
    let read = sim.read(follower).unwrap();
    assert!(sim
        .in_flight(follower, leader)
        .iter()
        .any(|m| matches!(m.body, MessageBody::ReadRequest { .. })));
    sim.deliver_all();
    assert_eq!(
        read_ready(&sim, follower, read),
        Some(sim.raft(leader).commit_index())
    );
}

#[test]
fn a_follower_without_a_leader_refuses_reads() {
    let mut sim = Sim::new(3, 5, |_| {});
    assert_eq!(
        sim.raft_mut(1).read_index(),
        Err(RejectReason::NotLeader { leader_hint: None })
    );
}

#[test]
fn pending_reads_are_rejected_when_the_leader_steps_down() {
    let (mut sim, leader) = Sim::elected(3, 6, |c| c.check_quorum = true);
    sim.isolate(leader);
    let read = sim.read(leader).unwrap();
    for _ in 0..30 {
        sim.tick();
        sim.deliver_all();
    }
    assert_ne!(
        sim.raft(leader).role(),
        Role::Leader,
        "check-quorum deposed the isolated leader"
    );
    assert!(matches!(
        rejected(&sim, leader, Request::Read(read)),
        Some(RejectReason::LeadershipLost { .. })
    ));
}

#[test]
fn forwarded_reads_are_rejected_when_the_leader_changes() {
    let (mut sim, leader) = Sim::elected(3, 7, |_| {});
    let follower = if leader == 1 { 2 } else { 1 };
    let read = sim.read(follower).unwrap();
    sim.clear_in_flight();
    sim.isolate(leader);
    for _ in 0..60 {
        sim.tick();
        sim.deliver_all();
        if sim.raft(follower).leader().is_some_and(|l| l != leader) {
            break;
        }
    }
    assert!(rejected(&sim, follower, Request::Read(read)).is_some());
}

#[test]
fn the_read_queue_is_bounded() {
    let (mut sim, leader) = Sim::elected(3, 8, |c| c.pending_reads_max = 3);
    for _ in 0..3 {
        sim.raft_mut(leader).read_index().unwrap();
    }
    assert_eq!(
        sim.raft_mut(leader).read_index(),
        Err(RejectReason::TooManyPendingReads { limit: 3 })
    );
}

#[test]
fn a_lease_read_is_served_without_a_round_while_the_lease_holds() {
    let (mut sim, leader) = Sim::elected(3, 9, |c| {
        c.read_mode = ReadMode::Lease;
        c.check_quorum = true;
    });
    // A heartbeat round answered just now gives the lease.
    sim.tick();
    sim.tick();
    sim.deliver_all();
    let read = sim.read(leader).unwrap();
    assert!(
        read_ready(&sim, leader, read).is_some(),
        "served at once from the lease"
    );
    // Cut off from everyone, the lease runs out and reads fall back to a round that cannot
    // complete.
    sim.isolate(leader);
    for _ in 0..9 {
        sim.tick();
    }
    let late = sim.read(leader).unwrap();
    assert_eq!(read_ready(&sim, leader, late), None);
}
