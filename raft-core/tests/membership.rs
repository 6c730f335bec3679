//! Membership changes by joint consensus, with learners, as scenarios on the simulator.

mod support;

use std::collections::BTreeSet;

use raft_core::{
    ChangeStep, Membership, MembershipChange, MessageBody, NodeId, RejectReason, Role,
};
use support::sim::Sim;

fn run(sim: &mut Sim, ticks: u64) {
    for _ in 0..ticks {
        sim.tick();
        sim.deliver_all();
    }
}

fn change(steps: &[ChangeStep]) -> MembershipChange {
    MembershipChange::Steps {
        steps: steps.to_vec(),
        auto_leave: true,
    }
}

fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
    ids.iter().copied().collect()
}

/// Proposes `c` at the leader and runs until every live member has the resulting membership
/// committed and in force.
fn reconfigure(sim: &mut Sim, c: MembershipChange) -> NodeId {
    let leader = sim.leader().expect("a leader");
    sim.raft_mut(leader)
        .propose_membership(c)
        .expect("change accepted");
    sim.process(leader);
    run(sim, 30);
    sim.leader().expect("a leader after the change")
}

fn membership_everywhere(sim: &Sim, ids: &[NodeId]) -> Membership {
    let m = sim.raft(ids[0]).membership().clone();
    for id in ids {
        assert_eq!(sim.raft(*id).membership(), &m, "node {id}");
        assert!(sim.raft(*id).membership_committed(), "node {id}");
    }
    m
}

#[test]
fn a_new_node_joins_as_a_learner_catches_up_by_snapshot_and_is_promoted() {
    let mut sim = Sim::with_spares(3, 1, 1, |c| c.compaction_tail_entries = 5);
    sim.snapshot_every = Some(20);
    let leader = sim.elect(200).unwrap();
    for i in 0..60 {
        sim.propose(leader, &format!("w{i}"));
        sim.deliver_all();
    }
    assert!(sim.raft(leader).first_index() > 1, "the log was compacted");
    let leader = reconfigure(&mut sim, change(&[ChangeStep::AddLearner(4)]));
    let m = membership_everywhere(&sim, &[1, 2, 3, 4]);
    assert_eq!((m.voters, m.learners), (set(&[1, 2, 3]), set(&[4])));
    assert!(
        sim.stats.snapshots_installed >= 1,
        "the learner got a snapshot"
    );
    assert_eq!(sim.node(4).sm, sim.node(leader).sm);
    // A learner neither votes nor campaigns: cut off, it stays a follower.
    sim.isolate(4);
    run(&mut sim, 60);
    assert_eq!(sim.raft(4).role(), Role::Follower);
    sim.heal();
    run(&mut sim, 10);
    reconfigure(&mut sim, change(&[ChangeStep::AddVoter(4)]));
    let m = membership_everywhere(&sim, &[1, 2, 3, 4]);
    assert_eq!(
        (m.voters, m.learners, m.outgoing),
        (set(&[1, 2, 3, 4]), set(&[]), set(&[]))
    );
}

#[test]
fn a_learner_is_promoted_only_once_caught_up() {
    let mut sim = Sim::with_spares(3, 1, 2, |_| {});
    let leader = sim.elect(200).unwrap();
    reconfigure(&mut sim, change(&[ChangeStep::AddLearner(4)]));
    sim.isolate(4);
    for i in 0..5 {
        sim.propose(leader, &format!("w{i}"));
    }
    run(&mut sim, 2);
    let r = sim
        .raft_mut(leader)
        .propose_membership(change(&[ChangeStep::AddVoter(4)]));
    assert!(
        matches!(r, Err(RejectReason::LearnerNotCaughtUp { node: 4, .. })),
        "{r:?}"
    );
}

#[test]
fn the_cluster_grows_from_three_to_five_and_shrinks_back() {
    let mut sim = Sim::with_spares(3, 2, 3, |_| {});
    sim.elect(200).unwrap();
    reconfigure(
        &mut sim,
        change(&[ChangeStep::AddVoter(4), ChangeStep::AddVoter(5)]),
    );
    assert_eq!(
        membership_everywhere(&sim, &[1, 2, 3, 4, 5]).voters,
        set(&[1, 2, 3, 4, 5])
    );
    let leader = sim.leader().unwrap();
    let keep: Vec<NodeId> = [1, 2, 3, 4, 5]
        .into_iter()
        .filter(|&n| n != leader)
        .take(2)
        .collect();
    let remove: Vec<ChangeStep> = [1, 2, 3, 4, 5]
        .into_iter()
        .filter(|n| *n != leader && !keep.contains(n))
        .map(ChangeStep::Remove)
        .collect();
    reconfigure(&mut sim, change(&remove));
    let mut members = keep.clone();
    members.push(leader);
    members.sort();
    assert_eq!(membership_everywhere(&sim, &members).voters, set(&members));
    // The smaller cluster still commits.
    let leader = sim.leader().unwrap();
    sim.propose(leader, "after-shrink");
    run(&mut sim, 3);
    for id in &members {
        assert!(sim
            .node(*id)
            .applied
            .iter()
            .any(|e| &*e.data == b"after-shrink"));
    }
}

#[test]
fn a_leader_that_removes_itself_steps_down_once_the_change_commits() {
    let mut sim = Sim::with_spares(3, 0, 4, |_| {});
    let old = sim.elect(200).unwrap();
    sim.raft_mut(old)
        .propose_membership(change(&[ChangeStep::Remove(old)]))
        .unwrap();
    sim.process(old);
    run(&mut sim, 40);
    let new = sim.leader().expect("the remaining voters elected a leader");
    assert_ne!(new, old);
    assert!(
        sim.decommissioned.contains(&old),
        "the removed node was shut down"
    );
    let rest: Vec<NodeId> = [1, 2, 3].into_iter().filter(|n| *n != old).collect();
    assert_eq!(membership_everywhere(&sim, &rest).voters, set(&rest));
}

#[test]
fn a_joint_change_survives_a_leader_crash_in_the_middle() {
    let mut sim = Sim::with_spares(3, 1, 5, |_| {});
    let leader = sim.elect(200).unwrap();
    // Replace a follower with node 4; crash the leader as soon as its followers hold the joint
    // entry, before it commits and before the entry that leaves the joint phase exists.
    let replaced = if leader == 1 { 2 } else { 1 };
    sim.raft_mut(leader)
        .propose_membership(change(&[
            ChangeStep::AddVoter(4),
            ChangeStep::Remove(replaced),
        ]))
        .unwrap();
    sim.process(leader);
    assert!(sim.raft(leader).membership().is_joint());
    for peer in [1, 2, 3, 4] {
        if peer != leader {
            while sim.deliver_one(leader, peer, false) {}
        }
    }
    assert!(sim.raft(replaced).membership().is_joint());
    sim.crash(leader);
    run(&mut sim, 60);
    sim.restart(leader);
    run(&mut sim, 30);
    // The new leader finished the change: the joint phase was left, node 4 votes, the replaced
    // node is gone.
    let survivors: Vec<NodeId> = [1, 2, 3, 4]
        .into_iter()
        .filter(|n| *n != replaced)
        .collect();
    let m = membership_everywhere(&sim, &survivors);
    assert!(!m.is_joint());
    let mut expected = set(&[1, 2, 3, 4]);
    expected.remove(&replaced);
    assert_eq!(m.voters, expected);
}

#[test]
fn a_partitioned_old_member_cannot_disrupt_the_new_configuration() {
    // Node 3 is removed while cut off, so it never learns; it keeps its old membership and
    // times out again and again. With pre-vote (the default) its elections never raise a term
    // the others see, and the leader keeps leading.
    let mut sim = Sim::with_spares(3, 0, 6, |_| {});
    let leader = sim.elect(200).unwrap();
    let outcast = if leader == 3 { 2 } else { 3 };
    sim.isolate(outcast);
    reconfigure(&mut sim, change(&[ChangeStep::Remove(outcast)]));
    // The simulator's operator would shut it down; bring it back to make it misbehave.
    sim.decommissioned.remove(&outcast);
    sim.restart(outcast);
    sim.isolate(outcast);
    run(&mut sim, 100);
    let term = sim.raft(leader).term();
    sim.heal();
    run(&mut sim, 100);
    assert_eq!(sim.leader(), Some(leader));
    assert_eq!(sim.raft(leader).term(), term);
    sim.propose(leader, "still-fine");
    run(&mut sim, 3);
    let rest: Vec<NodeId> = [1, 2, 3].into_iter().filter(|n| *n != outcast).collect();
    for id in rest {
        assert!(sim
            .node(id)
            .applied
            .iter()
            .any(|e| &*e.data == b"still-fine"));
    }
}

#[test]
fn the_membership_survives_a_full_restart() {
    let mut sim = Sim::with_spares(3, 1, 7, |c| c.compaction_tail_entries = 2);
    sim.snapshot_every = Some(10);
    sim.elect(200).unwrap();
    reconfigure(&mut sim, change(&[ChangeStep::AddLearner(4)]));
    let leader = sim.leader().unwrap();
    for i in 0..30 {
        sim.propose(leader, &format!("w{i}"));
    }
    run(&mut sim, 3);
    let before = sim.raft(leader).membership().clone();
    for id in sim.ids() {
        sim.crash(id);
    }
    for id in sim.ids() {
        sim.restart(id);
    }
    for id in sim.ids() {
        assert_eq!(
            sim.raft(id).membership(),
            &before,
            "node {id} after restart"
        );
    }
    sim.elect(200)
        .expect("the restarted cluster elects a leader");
}

#[test]
fn changes_that_cannot_apply_are_refused_with_a_reason() {
    let mut sim = Sim::with_spares(3, 1, 8, |_| {});
    let leader = sim.elect(200).unwrap();
    let follower = if leader == 1 { 2 } else { 1 };
    let cases = [
        (
            change(&[ChangeStep::AddVoter(leader)]),
            RejectReason::InvalidMembershipChange { node: leader },
        ),
        (
            change(&[ChangeStep::Remove(9)]),
            RejectReason::InvalidMembershipChange { node: 9 },
        ),
        (
            change(&[ChangeStep::AddLearner(follower)]),
            RejectReason::InvalidMembershipChange { node: follower },
        ),
        (MembershipChange::LeaveJoint, RejectReason::NotJoint),
        (
            change(&[
                ChangeStep::Remove(1),
                ChangeStep::Remove(2),
                ChangeStep::Remove(3),
            ]),
            RejectReason::NoVotersLeft,
        ),
    ];
    for (c, reason) in cases {
        assert_eq!(
            sim.raft_mut(leader).propose_membership(c.clone()),
            Err(reason),
            "{c:?}"
        );
    }
    // A follower forwards the change to the leader (see below) rather than refuse it.
    assert!(sim
        .raft_mut(follower)
        .propose_membership(change(&[ChangeStep::AddLearner(4)]))
        .is_ok());
    // One change at a time.
    sim.raft_mut(leader)
        .propose_membership(change(&[ChangeStep::AddLearner(4)]))
        .unwrap();
    assert_eq!(
        sim.raft_mut(leader)
            .propose_membership(change(&[ChangeStep::Remove(4)])),
        Err(RejectReason::MembershipChangePending)
    );
    // A joint membership kept open on purpose accepts only leaving it.
    sim.process(leader);
    run(&mut sim, 5);
    let manual = MembershipChange::Steps {
        steps: vec![ChangeStep::AddVoter(4)],
        auto_leave: false,
    };
    sim.raft_mut(leader).propose_membership(manual).unwrap();
    sim.process(leader);
    run(&mut sim, 5);
    assert!(sim.raft(leader).membership().is_joint());
    assert_eq!(
        sim.raft_mut(leader)
            .propose_membership(change(&[ChangeStep::Remove(4)])),
        Err(RejectReason::AlreadyJoint)
    );
    sim.raft_mut(leader)
        .propose_membership(MembershipChange::LeaveJoint)
        .unwrap();
    sim.process(leader);
    run(&mut sim, 5);
    assert!(!sim.raft(leader).membership().is_joint());
}

/// `RAFT.PROMOTE 9` for a node nobody added made it a voter, raising the quorum with a member
/// that does not exist. Promote takes learners only, once caught up.
#[test]
fn only_a_learner_that_has_caught_up_can_be_promoted() {
    let mut sim = Sim::with_spares(3, 1, 7, |c| c.promote_lag_entries_max = 0);
    let leader = sim.elect(200).unwrap();
    let r = sim
        .raft_mut(leader)
        .propose_membership(change(&[ChangeStep::Promote(9)]));
    assert_eq!(r, Err(RejectReason::NotALearner { node: 9 }));
    let r = sim
        .raft_mut(leader)
        .propose_membership(change(&[ChangeStep::Promote(2)]));
    assert_eq!(r, Err(RejectReason::NotALearner { node: 2 }), "a voter");
    // A learner cut off from the start holds nothing: too far behind to promote.
    sim.isolate(4);
    let leader = reconfigure(&mut sim, change(&[ChangeStep::AddLearner(4)]));
    for i in 0..3 {
        sim.propose(leader, &format!("w{i}"));
    }
    run(&mut sim, 5);
    let r = sim
        .raft_mut(leader)
        .propose_membership(change(&[ChangeStep::Promote(4)]));
    assert_eq!(r, Err(RejectReason::LearnerUnreachable { node: 4 }));
    // Reachable and caught up, it is promoted.
    sim.heal();
    run(&mut sim, 60);
    let leader = reconfigure(&mut sim, change(&[ChangeStep::Promote(4)]));
    let m = membership_everywhere(&sim, &[1, 2, 3, 4]);
    assert_eq!(m.voters, set(&[1, 2, 3, 4]));
    assert!(sim.raft(leader).is_leader());
}

/// Promoting an unreachable learner, or removing a voter while another is down, would leave
/// the new voters without a quorum among the members that answer: refused.
#[test]
fn a_change_of_voters_that_reachable_members_cannot_carry_is_refused() {
    let mut sim = Sim::new(3, 11, |_| {});
    let leader = sim.elect(200).unwrap();
    let others: Vec<NodeId> = sim.ids().into_iter().filter(|i| *i != leader).collect();
    // One voter goes silent for two check-quorum rounds.
    sim.isolate(others[0]);
    run(&mut sim, 25);
    assert_eq!(sim.leader(), Some(leader));
    let r = sim
        .raft_mut(leader)
        .propose_membership(change(&[ChangeStep::Remove(others[1])]));
    assert_eq!(
        r,
        Err(RejectReason::QuorumAtRisk {
            active: 1,
            voters: 2
        })
    );
    // Removing the silent one leaves the two that answer: allowed.
    let leader = reconfigure(&mut sim, change(&[ChangeStep::Remove(others[0])]));
    assert_eq!(sim.raft(leader).membership().voters.len(), 2);
}

/// A membership change asked of a follower is forwarded to the leader and ends like a
/// proposal.
#[test]
fn a_follower_forwards_a_membership_change_to_the_leader() {
    let mut sim = Sim::with_spares(3, 1, 5, |_| {});
    let leader = sim.elect(200).unwrap();
    let follower = sim.ids().into_iter().find(|i| *i != leader).unwrap();
    sim.raft_mut(follower)
        .propose_membership(change(&[ChangeStep::AddLearner(4)]))
        .expect("forwarded");
    sim.process(follower);
    run(&mut sim, 30);
    let m = membership_everywhere(&sim, &[1, 2, 3]);
    assert_eq!(m.learners, set(&[4]));
}

/// A voter removed while it was cut off never sees the entry that removes it, and used to
/// campaign forever. A member now tells it, and it stops.
#[test]
fn a_node_removed_while_cut_off_is_told_and_stops_campaigning() {
    let mut sim = Sim::new(3, 13, |_| {});
    sim.decommission_removed = false;
    let leader = sim.elect(200).unwrap();
    let gone = sim.ids().into_iter().find(|i| *i != leader).unwrap();
    sim.isolate(gone);
    run(&mut sim, 25);
    let leader = reconfigure(&mut sim, change(&[ChangeStep::Remove(gone)]));
    assert!(!sim.raft(leader).membership().is_member(gone));
    assert!(!sim.raft(gone).is_removed(), "it has not heard yet");
    sim.heal();
    run(&mut sim, 100);
    assert!(sim.raft(gone).is_removed());
    let term = sim.raft(gone).term();
    run(&mut sim, 200);
    assert_eq!(sim.raft(gone).term(), term, "it stopped campaigning");
    assert_eq!(
        sim.raft(gone).role(),
        Role::Follower,
        "not a (pre-)candidate"
    );
    // However long it waits, it asks nobody for a vote.
    for _ in 0..100 {
        sim.tick_node(gone);
    }
    let asked = sim
        .ids()
        .into_iter()
        .flat_map(|to| sim.in_flight(gone, to))
        .filter(|m| matches!(m.body, MessageBody::Vote { .. }))
        .count();
    assert_eq!(asked, 0);
    assert_eq!(sim.leader(), Some(leader), "and never disturbed the leader");
}

/// A member's address travels with it in the membership: every node learns it from the log,
/// keeps it through snapshots and restarts, and drops it when the member is removed.
#[test]
fn member_addresses_travel_in_the_log_and_in_snapshots() {
    let mut sim = Sim::with_spares(3, 1, 17, |c| c.compaction_tail_entries = 5);
    sim.snapshot_every = Some(20);
    sim.elect(200).unwrap();
    let add = change(&[ChangeStep::AddLearnerAt(4, "10.0.0.4:7104".into())]);
    let leader = reconfigure(&mut sim, add);
    for i in 0..60 {
        sim.propose(leader, &format!("w{i}"));
        sim.deliver_all();
    }
    let follower = sim
        .ids()
        .into_iter()
        .find(|i| *i != leader && *i != 4)
        .unwrap();
    assert!(
        sim.raft(follower).first_index() > 10,
        "compacted past the change"
    );
    sim.crash(follower);
    sim.restart(follower);
    run(&mut sim, 30);
    for id in [1, 2, 3, 4] {
        let m = sim.raft(id).membership();
        assert_eq!(
            m.addresses.get(&4).map(String::as_str),
            Some("10.0.0.4:7104"),
            "node {id}"
        );
    }
    let leader = sim.leader().unwrap();
    reconfigure(&mut sim, change(&[ChangeStep::Remove(4)]));
    assert!(!sim.raft(leader).membership().addresses.contains_key(&4));
}
