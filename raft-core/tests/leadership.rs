//! Leadership beyond the paper: pre-vote, check-quorum, and leadership transfer.

mod support;

use raft_core::{Event, MessageBody, RejectReason, Request, Role};
use support::sim::Sim;

fn run(sim: &mut Sim, ticks: u64) {
    for _ in 0..ticks {
        sim.tick();
        sim.deliver_all();
    }
}

#[test]
fn with_pre_vote_a_partitioned_node_does_not_inflate_its_term_or_disrupt_the_leader() {
    let (mut sim, leader) = Sim::elected(3, 1, |c| c.pre_vote = true);
    let term = sim.raft(leader).term();
    let loner = if leader == 3 { 2 } else { 3 };
    sim.isolate(loner);
    run(&mut sim, 100);
    assert_eq!(
        sim.raft(loner).term(),
        term,
        "pre-votes that fail never raise the term"
    );
    sim.heal();
    run(&mut sim, 20);
    assert_eq!(sim.leader(), Some(leader));
    assert_eq!(sim.raft(leader).term(), term);
}

#[test]
fn without_pre_vote_a_rejoining_node_forces_a_new_term() {
    let (mut sim, leader) = Sim::elected(3, 2, |c| {
        c.pre_vote = false;
        c.check_quorum = false;
    });
    let term = sim.raft(leader).term();
    let loner = if leader == 3 { 2 } else { 3 };
    sim.isolate(loner);
    run(&mut sim, 100);
    assert!(sim.raft(loner).term() > term + 1);
    sim.heal();
    run(&mut sim, 60);
    assert!(
        sim.raft(sim.leader().unwrap()).term() > term,
        "the contrast with pre-vote"
    );
}

#[test]
fn with_check_quorum_an_isolated_leader_steps_down() {
    let (mut sim, leader) = Sim::elected(3, 3, |c| c.check_quorum = true);
    sim.isolate(leader);
    run(&mut sim, 25);
    assert_eq!(sim.raft(leader).role(), Role::Follower);
    assert_eq!(sim.raft(leader).leader(), None);
}

#[test]
fn with_check_quorum_followers_ignore_votes_while_their_leader_is_alive() {
    let (mut sim, leader) = Sim::elected(3, 4, |c| {
        c.check_quorum = true;
        c.pre_vote = false;
    });
    let term = sim.raft(leader).term();
    let other = if leader == 1 { 2 } else { 1 };
    let candidate = 6 - leader - other;
    // A vote request from a higher term arrives while `other` has just heard from its leader.
    let vote = raft_core::Message {
        from: candidate,
        to: other,
        term: term + 5,
        body: MessageBody::Vote {
            last_index: 100,
            last_term: term + 4,
            pre_vote: false,
            transfer: false,
        },
    };
    sim.raft_mut(other).step(vote).unwrap();
    sim.process(other);
    assert_eq!(
        sim.raft(other).term(),
        term,
        "the request is ignored, term unchanged"
    );
    assert!(
        sim.in_flight(other, candidate).is_empty(),
        "and gets no answer"
    );
    assert_eq!(sim.raft(other).leader(), Some(leader));
}

#[test]
fn leadership_transfer_catches_the_target_up_then_hands_over() {
    let (mut sim, leader) = Sim::elected(3, 5, |_| {});
    let target = if leader == 3 { 2 } else { 3 };
    // The target misses some entries, then the transfer must catch it up first.
    sim.isolate(target);
    for i in 0..5 {
        sim.propose(leader, &format!("v{i}"));
    }
    sim.deliver_all();
    sim.heal();
    sim.raft_mut(leader).transfer_leadership(target).unwrap();
    sim.process(leader);
    assert_eq!(
        sim.raft_mut(leader).propose("late".into()),
        Err(RejectReason::TransferInProgress { target }),
        "proposals wait while leadership moves"
    );
    run(&mut sim, 5);
    assert_eq!(sim.leader(), Some(target));
    assert_eq!(sim.raft(target).last_index(), sim.raft(leader).last_index());
    assert!(sim
        .node(leader)
        .events
        .contains(&Event::TransferHandedOff { target }));
}

#[test]
fn a_transfer_to_an_unreachable_target_times_out_with_a_rejection() {
    let (mut sim, leader) = Sim::elected(3, 6, |c| c.check_quorum = false);
    let target = if leader == 3 { 2 } else { 3 };
    sim.isolate(target);
    sim.raft_mut(leader).transfer_leadership(target).unwrap();
    run(&mut sim, 15);
    assert_eq!(sim.raft(leader).role(), Role::Leader);
    assert!(sim.node(leader).events.contains(&Event::Rejected {
        request: Request::Transfer(target),
        reason: RejectReason::TransferTimedOut { target },
    }));
    // Leadership stays, and proposals are accepted again.
    assert!(sim.raft_mut(leader).propose("after".into()).is_ok());
}

#[test]
fn transfer_requests_that_cannot_work_are_refused() {
    let (mut sim, leader) = Sim::elected(3, 7, |_| {});
    let follower = if leader == 1 { 2 } else { 1 };
    assert_eq!(
        sim.raft_mut(leader).transfer_leadership(9),
        Err(RejectReason::InvalidTransferTarget { target: 9 })
    );
    assert_eq!(
        sim.raft_mut(follower).transfer_leadership(leader),
        Err(RejectReason::NotLeader {
            leader_hint: Some(leader)
        })
    );
    let other = 6 - leader - follower;
    sim.raft_mut(leader).transfer_leadership(follower).unwrap();
    assert_eq!(
        sim.raft_mut(leader).transfer_leadership(other),
        Err(RejectReason::TransferInProgress { target: follower })
    );
}

#[test]
fn a_split_vote_resolves_in_a_later_term() {
    // Five nodes, two of which time out together: repeated elections settle on one leader.
    let mut sim = Sim::new(5, 8, |c| c.pre_vote = false);
    let leader = sim.elect(400).expect("some election succeeds");
    let term = sim.raft(leader).term();
    let leaders = sim
        .ids()
        .into_iter()
        .filter(|&i| sim.raft(i).role() == Role::Leader && sim.raft(i).term() == term)
        .count();
    assert_eq!(leaders, 1);
}

/// `campaign` starts an election at once, as a timeout would (with its pre-vote when
/// configured); the leader and nodes that are not voters refuse it.
#[test]
fn campaign_starts_an_election_on_demand() {
    use support::harness::{drain, node, node_with, V3};

    // Without pre-vote: a candidate at the next term, asking both peers for their vote.
    let mut n = node_with(1, &V3, |c| c.pre_vote = false);
    assert_eq!(n.campaign(), Ok(()));
    assert_eq!(n.role(), Role::Candidate);
    assert_eq!(n.term(), 1);
    let out = drain(&mut n);
    for peer in [2, 3] {
        assert!(
            matches!(
                out.to(peer)[..],
                [MessageBody::Vote {
                    pre_vote: false,
                    ..
                }]
            ),
            "{:?}",
            out.to(peer)
        );
    }

    // With pre-vote: a pre-candidate, term unchanged until the pre-vote is won.
    let mut n = node_with(2, &V3, |c| c.pre_vote = true);
    assert_eq!(n.campaign(), Ok(()));
    assert_eq!(n.role(), Role::PreCandidate);
    assert_eq!(n.term(), 0);

    // A leader has nothing to campaign for; a node outside the voters cannot.
    let (mut sim, leader) = Sim::elected(3, 1, |_| {});
    assert_eq!(
        sim.raft_mut(leader).campaign(),
        Err(RejectReason::AlreadyLeader)
    );
    let mut outsider = node(4, &V3);
    assert_eq!(
        outsider.campaign(),
        Err(RejectReason::NotAVoter { node: 4 })
    );
    assert_eq!(outsider.role(), Role::Follower);
}
