//! Proposals: where they go, and every way they can be refused.

mod support;

use raft_core::{Event, MessageBody, Payload, RejectReason, Request};
use support::sim::Sim;

fn follower_of(leader: u64) -> u64 {
    if leader == 1 {
        2
    } else {
        1
    }
}

#[test]
fn a_leader_reports_where_it_appended_a_proposal() {
    let (mut sim, leader) = Sim::elected(3, 1, |_| {});
    let id = sim.propose(leader, "x").unwrap();
    let index = sim.raft(leader).last_index();
    let term = sim.raft(leader).term();
    assert!(sim
        .node(leader)
        .events
        .contains(&Event::ProposalAppended { id, index, term }));
}

#[test]
fn without_forwarding_a_follower_refuses_with_a_leader_hint() {
    let (mut sim, leader) = Sim::elected(3, 2, |c| c.forward_proposals = false);
    let f = follower_of(leader);
    assert_eq!(
        sim.raft_mut(f).propose("x".into()),
        Err(RejectReason::NotLeader {
            leader_hint: Some(leader)
        })
    );
}

#[test]
fn a_forwarded_proposal_is_appended_by_the_leader_and_reported_back() {
    let (mut sim, leader) = Sim::elected(3, 3, |c| c.forward_proposals = true);
    let f = follower_of(leader);
    let id = sim.propose(f, "from-follower").unwrap();
    sim.deliver_all();
    let appended = sim.node(f).events.iter().find_map(|e| match e {
        Event::ProposalAppended { id: i, index, term } if *i == id => Some((*index, *term)),
        _ => None,
    });
    let (index, term) = appended.expect("the follower learns the position");
    assert_eq!(sim.raft(leader).entry_term(index), Some(term));
    sim.tick();
    sim.deliver_all();
    assert!(sim
        .node(f)
        .applied
        .iter()
        .any(|e| e.index == index && &*e.data == b"from-follower"));
}

#[test]
fn a_forwarded_proposal_whose_leader_changes_is_reported_as_unknown() {
    let (mut sim, leader) = Sim::elected(3, 4, |_| {});
    let f = follower_of(leader);
    let id = sim.propose(f, "x").unwrap();
    sim.clear_in_flight();
    sim.isolate(leader);
    for _ in 0..60 {
        sim.tick();
        sim.deliver_all();
    }
    assert!(sim
        .node(f)
        .events
        .contains(&Event::ProposalOutcomeUnknown { id }));
}

#[test]
fn proposals_over_the_size_limit_are_refused() {
    let (mut sim, leader) = Sim::elected(3, 5, |c| c.proposal_bytes_max = 8);
    assert_eq!(
        sim.raft_mut(leader)
            .propose(Payload::copy_from_slice(&[0u8; 9])),
        Err(RejectReason::ProposalTooLarge {
            size_bytes: 9,
            limit_bytes: 8
        })
    );
    assert!(sim
        .raft_mut(leader)
        .propose(Payload::copy_from_slice(&[0u8; 8]))
        .is_ok());
}

#[test]
fn uncommitted_bytes_are_bounded_at_the_leader() {
    let (mut sim, leader) = Sim::elected(3, 6, |c| c.uncommitted_bytes_max = 200);
    // Followers are unreachable, so nothing commits and the leader's backlog grows to the limit.
    for id in sim.ids() {
        if id != leader {
            sim.cut(leader, id);
        }
    }
    let mut accepted = 0;
    let refusal = loop {
        match sim
            .raft_mut(leader)
            .propose(Payload::copy_from_slice(&[1u8; 40]))
        {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100);
    };
    assert_eq!(
        refusal,
        RejectReason::UncommittedBytesFull { limit_bytes: 200 }
    );
    assert!(accepted >= 1);
    // Once the followers are back and the backlog commits, proposals are taken again.
    sim.heal();
    sim.process(leader);
    for _ in 0..5 {
        sim.tick();
        sim.deliver_all();
    }
    assert!(sim
        .raft_mut(leader)
        .propose(Payload::copy_from_slice(&[1u8; 40]))
        .is_ok());
}

#[test]
fn forwarded_proposals_are_bounded_at_the_follower() {
    let (mut sim, leader) = Sim::elected(3, 7, |c| c.pending_proposals_max = 2);
    let f = follower_of(leader);
    sim.raft_mut(f).propose("a".into()).unwrap();
    sim.raft_mut(f).propose("b".into()).unwrap();
    assert_eq!(
        sim.raft_mut(f).propose("c".into()),
        Err(RejectReason::TooManyPendingProposals { limit: 2 })
    );
}

#[test]
fn forwarded_proposals_travel_in_messages_no_larger_than_an_append() {
    let (mut sim, leader) = Sim::elected(3, 9, |c| {
        c.forward_proposals = true;
        c.append_bytes_max = 100;
    });
    let f = follower_of(leader);
    let ids: Vec<u64> = (0..10)
        .map(|_| {
            sim.raft_mut(f)
                .propose(Payload::copy_from_slice(&[b'x'; 40]))
                .unwrap()
        })
        .collect();
    // One proposal larger than the cap still travels, alone.
    let big = sim
        .raft_mut(f)
        .propose(Payload::copy_from_slice(&[b'y'; 300]))
        .unwrap();
    sim.process(f);
    let batches: Vec<Vec<u64>> = sim
        .in_flight(f, leader)
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::Propose { proposals } => {
                Some(proposals.iter().map(|(id, _)| *id).collect())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        batches,
        vec![
            ids[0..2].to_vec(),
            ids[2..4].to_vec(),
            ids[4..6].to_vec(),
            ids[6..8].to_vec(),
            ids[8..10].to_vec(),
            vec![big],
        ],
        "two 40-byte proposals fit in 100 bytes, a third does not"
    );
    sim.deliver_all();
    // Proposals the leader answered together come back as one event per run.
    let appended: usize = sim
        .node(f)
        .events
        .iter()
        .map(|e| match e {
            Event::ProposalAppended { .. } => 1,
            Event::ProposalsAppended { count, .. } => *count,
            _ => 0,
        })
        .sum();
    assert_eq!(appended, 11, "every batch reached the leader");
}

#[test]
fn appends_respect_the_entry_cap_and_the_inflight_window() {
    let (mut sim, leader) = Sim::elected(3, 8, |c| {
        c.append_entries_max = 3;
        c.inflight_messages_max = 2;
    });
    let f = follower_of(leader);
    // Bring the follower to the replicate state, then stop delivering to it.
    sim.propose(leader, "warm-up");
    sim.deliver_all();
    for i in 0..20 {
        sim.raft_mut(leader)
            .propose(Payload::from(format!("p{i}").as_str()))
            .unwrap();
    }
    sim.process(leader);
    let appends: Vec<usize> = sim
        .in_flight(leader, f)
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::Append { entries, .. } if !entries.is_empty() => Some(entries.len()),
            _ => None,
        })
        .collect();
    assert_eq!(
        appends,
        vec![3, 3],
        "two messages in flight, three entries each"
    );
    // As acknowledgements come back the window slides, and everything arrives.
    sim.deliver_all();
    for _ in 0..3 {
        sim.tick();
        sim.deliver_all();
    }
    assert_eq!(sim.raft(f).last_index(), sim.raft(leader).last_index());
}

#[test]
fn proposals_rejected_at_the_leader_come_back_to_the_forwarding_follower() {
    let (mut sim, leader) = Sim::elected(3, 9, |c| c.uncommitted_bytes_max = 100);
    let f = follower_of(leader);
    let other = 6 - leader - f;
    // Nothing can commit: the leader reaches only the forwarding follower's requests.
    sim.cut(leader, other);
    sim.cut(f, other);
    let ids: Vec<u64> = (0..6)
        .map(|i| {
            sim.raft_mut(f)
                .propose(Payload::copy_from_slice(&[i as u8; 40]))
                .unwrap()
        })
        .collect();
    sim.process(f);
    sim.cut(leader, f);
    let f_to_leader = sim.in_flight(f, leader).len();
    assert!(f_to_leader >= 1);
    // Let only the forward and its answer through.
    sim.heal();
    sim.cut(leader, other);
    sim.cut(f, other);
    sim.deliver_one(f, leader, false);
    sim.deliver_one(leader, f, false);
    for _ in 0..4 {
        sim.deliver_one(leader, f, false);
    }
    let rejected = sim.node(f).events.iter().filter(|e| matches!(
        e,
        Event::Rejected { request: Request::Proposal(id), reason: RejectReason::UncommittedBytesFull { .. } } if ids.contains(id)
    )).count();
    assert!(rejected >= 1, "{:?}", sim.node(f).events);
}

fn payloads(words: &[&str]) -> Vec<Payload> {
    words.iter().map(|w| Payload::from(*w)).collect()
}

/// A batch is one call and one event: consecutive entries, consecutive ids, and all of them
/// committed and applied in order.
#[test]
fn a_batch_on_the_leader_is_appended_whole_and_reported_by_one_event() {
    let (mut sim, leader) = Sim::elected(3, 4, |_| {});
    let before = sim.raft(leader).last_index();
    let first = sim
        .raft_mut(leader)
        .propose_batch(payloads(&["a", "b", "c"]))
        .unwrap();
    sim.process(leader);
    let term = sim.raft(leader).term();
    let batch_events: Vec<&Event> = sim
        .node(leader)
        .events
        .iter()
        .filter(|e| matches!(e, Event::ProposalsAppended { .. }))
        .collect();
    assert_eq!(
        batch_events,
        [&Event::ProposalsAppended {
            first,
            count: 3,
            index: before + 1,
            term
        }]
    );
    sim.tick();
    sim.deliver_all();
    let applied: Vec<&[u8]> = sim
        .node(leader)
        .applied
        .iter()
        .filter(|e| e.index > before)
        .map(|e| &*e.data)
        .collect();
    assert_eq!(applied, [&b"a"[..], b"b", b"c"]);
}

/// All or nothing: a batch with one proposal too large, or an empty one, is refused whole and
/// changes nothing.
#[test]
fn a_batch_that_cannot_be_taken_whole_is_refused_whole() {
    let (mut sim, leader) = Sim::elected(3, 5, |c| c.proposal_bytes_max = 4);
    let before = sim.raft(leader).last_index();
    assert_eq!(
        sim.raft_mut(leader)
            .propose_batch(payloads(&["ok", "too long"])),
        Err(RejectReason::ProposalTooLarge {
            size_bytes: 8,
            limit_bytes: 4
        })
    );
    assert_eq!(
        sim.raft_mut(leader).propose_batch(Vec::new()),
        Err(RejectReason::EmptyBatch)
    );
    assert_eq!(sim.raft(leader).last_index(), before);
}

/// A follower forwards a batch; the leader places it in one run, and the follower hears of it
/// in one event.
#[test]
fn a_forwarded_batch_comes_back_as_one_event() {
    let (mut sim, leader) = Sim::elected(3, 6, |c| c.forward_proposals = true);
    let f = follower_of(leader);
    let first = sim
        .raft_mut(f)
        .propose_batch(payloads(&["x", "y"]))
        .unwrap();
    sim.process(f);
    sim.deliver_all();
    let runs: Vec<(u64, usize)> = sim
        .node(f)
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ProposalsAppended { first, count, .. } => Some((*first, *count)),
            _ => None,
        })
        .collect();
    assert_eq!(runs, [(first, 2)]);
}
