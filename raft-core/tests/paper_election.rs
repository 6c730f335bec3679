//! Leader election as the Raft paper's section 5 describes it: terms (5.1), the election itself
//! (5.2) and the election restriction (5.4.1). Each test names one behaviour of the paper and
//! drives single nodes by hand, or the deterministic simulator where a whole cluster matters.
//!
//! Nodes run the paper's configuration (no pre-vote, no check-quorum) unless a test says
//! otherwise; see `support/harness.rs` for the helpers.

mod support;

use std::collections::BTreeSet;

use raft_core::{HardState, MessageBody, NodeId, Raft, Role, Term};
use support::harness::*;
use support::sim::Sim;

/// Node 1 of a three-node cluster in `role`: a follower at term 0, a pre-candidate (pre-vote on)
/// still at term 0, a candidate at term 1 whose own vote is durable, or the leader of term 1.
fn in_role(role: Role) -> Raft {
    let mut raft = match role {
        Role::Leader => return leader(1, &V3),
        Role::PreCandidate => node_with(1, &V3, |c| c.pre_vote = true),
        Role::Follower | Role::Candidate => node(1, &V3),
    };
    if role != Role::Follower {
        time_out(&mut raft);
        drain(&mut raft);
    }
    assert_eq!(raft.role(), role);
    raft
}

/// Node 1 as a candidate of `voters` after one round in which `granted` gave it their votes and
/// `refused` did not (the others have not answered).
fn after_one_round(voters: &[NodeId], granted: &[NodeId], refused: &[NodeId]) -> Raft {
    let mut raft = node(1, voters);
    time_out(&mut raft);
    drain(&mut raft);
    let term = raft.term();
    for (peers, grant) in [(granted, true), (refused, false)] {
        for p in peers {
            recv(&mut raft, *p, term, vote_response(grant));
        }
    }
    drain(&mut raft);
    raft
}

/// Sends `raft` a vote request from `candidate` in `term`, and returns whether the vote was
/// granted, as read off the answer `raft` sends back.
fn asks_for_vote(raft: &mut Raft, candidate: NodeId, term: Term, request: MessageBody) -> bool {
    recv(raft, candidate, term, request);
    let out = drain(raft);
    match out.to(candidate)[..] {
        [MessageBody::VoteResponse { granted, .. }] => *granted,
        ref other => panic!("expected one vote response, got {other:?}"),
    }
}

/// What a node shows of its election state: role, term, vote, known leader and log.
fn visible_state(raft: &Raft) -> (Role, Term, Option<NodeId>, Option<NodeId>, Vec<Term>) {
    (
        raft.role(),
        raft.term(),
        raft.vote(),
        raft.leader(),
        terms_of(raft),
    )
}

// ----- 5.1: terms -----

#[test]
fn nodes_start_as_followers() {
    // Leadership is never assumed: a brand-new node and a node restarting from durable state
    // both begin as followers that know no leader, and the restarted one keeps its term and vote.
    let fresh = node(1, &V3);
    let hs = HardState {
        term: 5,
        vote: Some(2),
        commit: 0,
    };
    let restarted = restored(1, &V3, hs, &[1, 3, 5]);
    for (label, raft, term, vote) in [
        ("fresh", &fresh, 0, None),
        ("restarted", &restarted, 5, Some(2)),
    ] {
        assert_eq!(raft.role(), Role::Follower, "{label}");
        assert_eq!(raft.leader(), None, "{label}");
        assert_eq!((raft.term(), raft.vote()), (term, vote), "{label}");
    }
}

#[test]
fn higher_term_message_makes_every_role_a_follower_of_that_term() {
    // Paper 5.1: a server that sees a larger term adopts it, and a candidate or leader that
    // learns its term is out of date reverts to follower at once. An append names the leader of
    // the new term; a vote request or a vote answer does not.
    let messages = [
        ("append", append(0, 0, vec![], 0), Some(2)),
        ("vote request", vote_request(9, 9), None),
        ("vote refusal", vote_response(false), None),
    ];
    for role in [
        Role::Follower,
        Role::PreCandidate,
        Role::Candidate,
        Role::Leader,
    ] {
        for (kind, body, leader) in &messages {
            let mut raft = in_role(role);
            let higher = raft.term() + 5;
            recv(&mut raft, 2, higher, body.clone());
            assert_eq!(
                (raft.role(), raft.term(), raft.leader()),
                (Role::Follower, higher, *leader),
                "a {role:?} receiving a higher-term {kind}"
            );
        }
    }
}

#[test]
fn stale_term_messages_are_rejected_without_effect() {
    // Paper 5.1: a request with a stale term is rejected. Whatever the role, a message from term
    // 3 reaching a node of term 5 changes neither its term, role, vote, leader nor log, and a
    // stale vote grant does not count towards an election. A stale append or heartbeat is
    // answered with the current term (so its sender steps down); nothing else is answered.
    let stale = [
        (
            "append with entries",
            append(0, 0, entries_from(1, &[3]), 1),
        ),
        ("heartbeat", heartbeat(1)),
        ("vote request", vote_request(10, 3)),
        ("vote grant", vote_response(true)),
    ];
    for role in [Role::Follower, Role::Candidate, Role::Leader] {
        for (kind, body) in &stale {
            // Every node ends up in term 5 with one entry: a follower restarts there, while
            // candidates and leaders restart in term 4 and get to term 5 by running.
            let start = if role == Role::Follower { 5 } else { 4 };
            let mut raft = restored(1, &V3, at_term(start), &[1]);
            match role {
                Role::Candidate => time_out(&mut raft),
                Role::Leader => {
                    win_election(&mut raft);
                }
                _ => {}
            }
            drain(&mut raft);
            assert_eq!(raft.term(), 5);
            let before = visible_state(&raft);

            recv(&mut raft, 2, 3, body.clone());
            let out = drain(&mut raft);
            let after = visible_state(&raft);
            assert_eq!(after, before, "a {role:?} receiving a stale {kind}");
            let expected = match kind {
                &"append with entries" | &"heartbeat" => {
                    vec![msg(1, 2, 5, MessageBody::HeartbeatResponse { read_seq: 0 })]
                }
                _ => vec![],
            };
            assert_eq!(
                out.messages, expected,
                "a {role:?} answering a stale {kind}"
            );
        }
    }
}

#[test]
fn stale_leader_is_told_the_newer_term() {
    // A deposed leader may never be outvoted (pre-vote and check-quorum stop it from raising
    // the term), so a follower answers its stale append with a message of the current term...
    let mut follower = restored_with(1, &V3, at_term(5), &[], |c| c.check_quorum = true);
    recv(&mut follower, 2, 3, append(0, 0, vec![], 0));
    let reply = drain(&mut follower).messages;
    assert_eq!(
        reply,
        [msg(1, 2, 5, MessageBody::HeartbeatResponse { read_seq: 0 })]
    );

    // ...and the stale leader steps down when that answer arrives.
    let mut stale_leader = leader(2, &V3);
    recv(
        &mut stale_leader,
        1,
        5,
        MessageBody::HeartbeatResponse { read_seq: 0 },
    );
    assert_eq!(
        (stale_leader.role(), stale_leader.term()),
        (Role::Follower, 5)
    );
}

// ----- 5.2: leader election -----

#[test]
fn leader_sends_heartbeats_every_heartbeat_interval() {
    // Paper 5.2: leaders send periodic heartbeats to all followers to keep their authority.
    let mut raft = leader_with(1, &V3, |c| c.heartbeat_interval_ticks = 3);
    let mut beats = Vec::new();
    for tick in 1..=12 {
        raft.tick();
        for m in drain(&mut raft).messages {
            if let MessageBody::Heartbeat { .. } = m.body {
                beats.push((tick, m.to, m.term));
            }
        }
    }
    let expected: Vec<_> = [3, 6, 9, 12]
        .into_iter()
        .flat_map(|t| [(t, 2, 1), (t, 3, 1)])
        .collect();
    assert_eq!(beats, expected);
}

#[test]
fn follower_stays_follower_while_it_hears_from_a_leader() {
    // Paper 5.2: a server remains a follower as long as it receives valid messages from a leader;
    // each one restarts its election timer. Silence for a whole timeout ends that.
    let mut raft = node(1, &V3);
    for tick in 1..=100 {
        raft.tick();
        if tick % 5 == 0 {
            recv(&mut raft, 2, 1, heartbeat(0));
        }
    }
    assert_eq!((raft.role(), raft.leader()), (Role::Follower, Some(2)));
    time_out(&mut raft);
    assert_eq!((raft.role(), raft.term()), (Role::Candidate, 2));
}

#[test]
fn follower_times_out_into_a_candidate_of_the_next_term() {
    // Paper 5.2: a follower that hears nothing for its election timeout increments its term,
    // votes for itself and asks every other server for its vote.
    let mut raft = node(1, &V3);
    for _ in 1..raft.election_timeout_ticks() {
        raft.tick();
    }
    assert_eq!(raft.role(), Role::Follower, "one tick before the timeout");
    raft.tick();
    assert_eq!(
        (raft.role(), raft.term(), raft.vote()),
        (Role::Candidate, 1, Some(1))
    );
    let sent = drain(&mut raft).messages;
    assert_eq!(sent, [2, 3].map(|to| msg(1, to, 1, vote_request(0, 0))));
}

#[test]
fn candidate_asks_for_votes_only_once_its_own_vote_is_durable() {
    // A candidate that crashed before its term and self-vote reached the disk could vote again
    // in the same term, so the core holds its vote requests back until that persist is done.
    let mut raft = node(1, &V3);
    time_out(&mut raft);
    let rd = raft.ready();
    let persist = rd.persist.expect("the new term and vote must be persisted");
    let durable = HardState {
        term: 1,
        vote: Some(1),
        commit: 0,
    };
    assert_eq!(persist.hard_state, Some(durable));
    assert_eq!(rd.messages, []);
    assert_eq!(
        rd.persisted_messages.len(),
        2,
        "one vote request per peer, to send once the persist is durable"
    );

    raft.handle_persisted(persist.id);
    assert_eq!(raft.ready().messages, [], "handed out once only");
}

#[test]
fn candidate_counts_its_own_vote_only_once_it_is_durable() {
    // For the same reason the candidate's own vote counts only once it is on disk. A cluster of
    // one shows it: its own vote is a majority, yet it leads only after the persist completes.
    let mut raft = node(1, &[1]);
    time_out(&mut raft);
    assert_eq!(raft.role(), Role::Candidate);
    let persist = raft
        .ready()
        .persist
        .expect("the new term and vote must be persisted");
    assert_eq!(raft.role(), Role::Candidate, "the vote is not durable yet");
    raft.handle_persisted(persist.id);
    assert_eq!((raft.role(), raft.term()), (Role::Leader, 1));
}

#[test]
fn follower_with_pre_vote_first_becomes_a_pre_candidate_at_the_same_term() {
    // With pre-vote (thesis 9.6) the timed-out follower only asks whether it could win in the
    // next term, without raising its own term; a majority of yeses starts the real election.
    let mut raft = node_with(1, &V3, |c| c.pre_vote = true);
    time_out(&mut raft);
    assert_eq!(
        (raft.role(), raft.term(), raft.vote()),
        (Role::PreCandidate, 0, None)
    );
    let sent = drain(&mut raft).messages;
    assert_eq!(sent, [2, 3].map(|to| msg(1, to, 1, pre_vote_request(0, 0))));

    recv(&mut raft, 2, 1, pre_vote_response(true));
    assert_eq!(
        (raft.role(), raft.term(), raft.vote()),
        (Role::Candidate, 1, Some(1))
    );
    let sent = drain(&mut raft).messages;
    assert_eq!(sent, [2, 3].map(|to| msg(1, to, 1, vote_request(0, 0))));
}

#[test]
fn split_vote_leads_to_a_new_election_in_a_higher_term() {
    // Paper 5.2: when votes split and nobody wins, each candidate times out and starts a new
    // election with an incremented term. Here node 1 got one grant and one refusal out of four.
    let mut raft = after_one_round(&V5, &[2], &[3]);
    assert_eq!((raft.role(), raft.term()), (Role::Candidate, 1));

    time_out(&mut raft);
    assert_eq!(
        (raft.role(), raft.term(), raft.vote()),
        (Role::Candidate, 2, Some(1))
    );
    let sent = drain(&mut raft).messages;
    assert_eq!(
        sent,
        [2, 3, 4, 5].map(|to| msg(1, to, 2, vote_request(0, 0)))
    );
}

#[test]
fn candidate_with_a_majority_of_votes_becomes_leader() {
    // Paper 5.2: a candidate wins once it has votes from a majority, its own included; refusals
    // from a minority do not matter.
    for (voters, granted, refused) in [
        (&V3[..], &[2][..], &[][..]),
        (&V3, &[2, 3], &[]),
        (&V5, &[2, 3], &[]),
        (&V5, &[2, 3], &[4, 5]),
    ] {
        let raft = after_one_round(voters, granted, refused);
        assert_eq!(
            raft.role(),
            Role::Leader,
            "{voters:?} granted by {granted:?}"
        );
        assert_eq!(raft.leader(), Some(1));
    }
}

#[test]
fn candidate_refused_by_a_majority_returns_to_follower() {
    // Once a majority has refused, the candidate can no longer win this term and steps back.
    for (voters, granted, refused) in [
        (&V3[..], &[][..], &[2, 3][..]),
        (&V5, &[], &[2, 3, 4]),
        (&V5, &[2], &[3, 4, 5]),
    ] {
        let raft = after_one_round(voters, granted, refused);
        assert_eq!(
            (raft.role(), raft.term()),
            (Role::Follower, 1),
            "{voters:?} refused by {refused:?}"
        );
    }
}

#[test]
fn candidate_without_a_majority_either_way_stays_candidate() {
    // Paper 5.2: with neither a majority of grants nor of refusals the outcome is undecided, and
    // the candidate waits (until its timer runs out).
    for (voters, granted, refused) in [
        (&V3[..], &[][..], &[][..]),
        (&V3, &[], &[2]),
        (&V5, &[2], &[]),
        (&V5, &[2], &[3]),
        (&V5, &[], &[2, 3]),
    ] {
        let raft = after_one_round(voters, granted, refused);
        assert_eq!(
            (raft.role(), raft.term()),
            (Role::Candidate, 1),
            "{voters:?}: +{granted:?} -{refused:?}"
        );
    }
}

#[test]
fn follower_votes_for_at_most_one_candidate_per_term() {
    // Paper 5.2: each server votes for at most one candidate in a given term, first come first
    // served. Asking again is harmless (the request may have been duplicated or retried).
    let mut raft = node(1, &V3);
    assert!(
        asks_for_vote(&mut raft, 2, 1, vote_request(0, 0)),
        "first candidate"
    );
    assert!(
        !asks_for_vote(&mut raft, 3, 1, vote_request(0, 0)),
        "second candidate, same term"
    );
    assert!(
        asks_for_vote(&mut raft, 2, 1, vote_request(0, 0)),
        "first candidate asking again"
    );
    assert_eq!(raft.vote(), Some(2));

    // The vote is part of the durable state, so a restart does not free it either.
    let mut restarted = restored(1, &V3, raft.hard_state(), &[]);
    assert!(
        !asks_for_vote(&mut restarted, 3, 1, vote_request(0, 0)),
        "after a restart"
    );
    // A new term brings a new vote.
    assert!(
        asks_for_vote(&mut restarted, 3, 2, vote_request(0, 0)),
        "in the next term"
    );
}

#[test]
fn candidate_becomes_follower_on_append_from_a_leader_of_its_term() {
    // Paper 5.2: a candidate that hears from a leader whose term is at least its own recognizes
    // that leader and returns to follower; the append is then handled like any follower's.
    // A pre-candidate (whose term is still the old one) does the same for that term's leader.
    for role in [Role::Candidate, Role::PreCandidate] {
        let mut raft = in_role(role);
        let term = raft.term();
        recv(&mut raft, 2, term, append(0, 0, vec![], 0));
        assert_eq!(
            (raft.role(), raft.term(), raft.leader()),
            (Role::Follower, term, Some(2)),
            "{role:?}"
        );
        assert_eq!(
            drain(&mut raft).to(2),
            [&accepted(0)],
            "{role:?} acknowledges the append"
        );
    }
}

#[test]
fn election_timeouts_are_drawn_from_the_configured_range() {
    // Paper 5.2: randomized timeouts in a fixed interval. Over many seeds every value of
    // [min, max) shows up and nothing outside it; a node redraws at each new election.
    let mut seen = BTreeSet::new();
    for seed in 0..500 {
        let mut raft = node_with(1, &V3, |c| c.seed = seed);
        for _ in 0..3 {
            seen.insert(raft.election_timeout_ticks());
            time_out(&mut raft);
            assert_eq!(raft.role(), Role::Candidate);
        }
    }
    assert_eq!(seen, (10..20).collect::<BTreeSet<u64>>());
}

#[test]
fn two_nodes_rarely_draw_the_same_election_timeout() {
    // Randomization is what makes split votes rare: two nodes with different seeds should time
    // out at the same tick about once in (max - min) draws. With the paper's 150-300 range
    // that is about 7 in 1000; the bound leaves room for chance but not for a broken generator.
    let (min, max) = (150, 300);
    let draws = 1000;
    let equal = (0..draws)
        .filter(|seed| {
            let timeout = |id| {
                node_with(id, &V3, |c| {
                    (c.election_timeout_ticks_min, c.election_timeout_ticks_max) = (min, max);
                    c.seed = seed * 31 + id;
                })
                .election_timeout_ticks()
            };
            timeout(1) == timeout(2)
        })
        .count();
    assert!(
        equal <= 20,
        "{equal} of {draws} pairs drew the same timeout"
    );
}

#[test]
fn first_election_usually_succeeds_without_a_split_vote() {
    // The point of random timeouts: in most clusters one node times out first and wins the
    // first election outright, so the first leader usually leads term 1.
    let clusters = 200;
    let first_term_wins = (0..clusters)
        .filter(|seed| {
            let mut sim = Sim::new(5, *seed, |c| {
                c.pre_vote = false;
                c.check_quorum = false;
            });
            let leader = sim.elect(500).expect("a leader is elected");
            sim.raft(leader).term() == 1
        })
        .count();
    assert!(
        first_term_wins >= 180,
        "only {first_term_wins} of {clusters} won in term 1"
    );
}

// ----- 5.4.1: the election restriction -----

#[test]
fn vote_goes_only_to_candidates_at_least_as_up_to_date() {
    // Paper 5.4.1: the later last term wins; with equal last terms, the longer log wins (an equal
    // log is up to date). The voter's log is [1, 1, 2]: last index 3, last term 2. Pre-votes
    // apply the same test.
    let rows: [(u64, Term, bool); 8] = [
        // (candidate's last index, last term, granted)
        (3, 2, true),  // the same log
        (4, 2, true),  // longer, same last term
        (2, 2, false), // shorter, same last term
        (1, 3, true),  // shorter but a later last term
        (9, 1, false), // longer but an older last term
        (3, 1, false), // same length, older last term
        (0, 0, false), // empty
        (3, 3, true),  // same length, later last term
    ];
    for (last_index, last_term, granted) in rows {
        let mut voter = restored(1, &V3, at_term(2), &[1, 1, 2]);
        let request = vote_request(last_index, last_term);
        let got = asks_for_vote(&mut voter, 2, 3, request);
        assert_eq!(
            got, granted,
            "vote for a log ending at ({last_index}, {last_term})"
        );

        let mut voter = restored_with(1, &V3, at_term(2), &[1, 1, 2], |c| c.pre_vote = true);
        let request = pre_vote_request(last_index, last_term);
        let got = asks_for_vote(&mut voter, 2, 3, request);
        assert_eq!(
            got, granted,
            "pre-vote for a log ending at ({last_index}, {last_term})"
        );
        assert_eq!(voter.term(), 2, "a pre-vote changes no term");
    }
}
