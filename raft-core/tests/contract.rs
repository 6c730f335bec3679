//! The sans-IO contract: what may leave before what is durable, typed configuration errors, and
//! hostile input that must be refused without a panic.

mod support;

use raft_core::{
    AppendOutcome, Config, ConfigError, Entry, EntryKind, HardState, Message, MessageBody, Payload,
    Raft, Restore, RestoreError, Role, StartError, StepError,
};

fn config(id: u64, voters: &[u64]) -> Config {
    let mut c = Config::new(id, voters.to_vec(), id);
    // The paper's protocol: with check-quorum a node refuses votes in its first election
    // timeout, which these single-step tests do not wait out.
    c.pre_vote = false;
    c.check_quorum = false;
    c
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Command,
        data: Payload::from(format!("e{index}").as_str()),
    }
}

fn msg(from: u64, to: u64, term: u64, body: MessageBody) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

#[test]
fn a_follower_acknowledges_entries_only_after_they_are_persisted() {
    let mut f = Raft::new(config(2, &[1, 2, 3])).unwrap();
    let append = MessageBody::Append {
        prev_index: 0,
        prev_term: 0,
        entries: vec![entry(1, 1)],
        commit: 0,
    };
    f.step(msg(1, 2, 1, append)).unwrap();
    let rd = f.ready();
    let persist = rd
        .persist
        .expect("the entry and the new term must be persisted");
    assert_eq!(persist.entries, vec![entry(1, 1)]);
    assert!(
        rd.messages.is_empty(),
        "the acknowledgement must wait for the persist"
    );
    // It comes out of the same `Ready`, to be sent once `persist` is durable, and never again.
    f.handle_persisted(persist.id);
    assert!(f.ready().messages.is_empty(), "handed out once only");
    assert_eq!(
        rd.persisted_messages,
        vec![msg(
            1,
            2,
            1,
            MessageBody::AppendResponse(AppendOutcome::Accepted { match_index: 1 })
        )]
        .into_iter()
        .map(|m| Message {
            from: 2,
            to: 1,
            ..m
        })
        .collect::<Vec<_>>()
    );
}

#[test]
fn a_vote_is_granted_only_after_it_is_persisted() {
    let mut f = Raft::new(config(2, &[1, 2, 3])).unwrap();
    let vote = MessageBody::Vote {
        last_index: 0,
        last_term: 0,
        pre_vote: false,
        transfer: false,
    };
    f.step(msg(1, 2, 1, vote)).unwrap();
    let rd = f.ready();
    let persist = rd.persist.expect("term and vote must be persisted");
    assert_eq!(
        persist.hard_state,
        Some(HardState {
            term: 1,
            vote: Some(1),
            commit: 0
        })
    );
    assert!(rd.messages.is_empty());
    assert!(matches!(
        rd.persisted_messages[..],
        [Message {
            body: MessageBody::VoteResponse { granted: true, .. },
            ..
        }]
    ));
    f.handle_persisted(persist.id);
    assert!(f.ready().messages.is_empty(), "handed out once only");
}

#[test]
fn a_leader_sends_appends_before_its_own_persist_and_counts_itself_only_after() {
    // Node 1 leads a 3-node cluster; its followers answer, its own disk is slow.
    let mut sim = support::sim::Sim::new(3, 5, |c| c.pre_vote = false);
    let leader = sim.elect(100).unwrap();
    sim.instant_persist = false;
    let before = sim.raft(leader).commit_index();
    sim.raft_mut(leader).propose(Payload::from("x")).unwrap();
    let rd = sim.raft_mut(leader).ready();
    assert!(rd.persist.is_some());
    assert_eq!(
        rd.messages
            .iter()
            .filter(|m| matches!(m.body, MessageBody::Append { .. }))
            .count(),
        2,
        "appends leave while the leader's own write is still pending"
    );
    // One follower acknowledges: with the leader's own copy not yet durable, that is not a quorum.
    let follower = if leader == 1 { 2 } else { 1 };
    let index = sim.raft(leader).last_index();
    let ack = msg(
        follower,
        leader,
        sim.raft(leader).term(),
        MessageBody::AppendResponse(AppendOutcome::Accepted { match_index: index }),
    );
    sim.raft_mut(leader).step(ack).unwrap();
    assert_eq!(sim.raft(leader).commit_index(), before);
    sim.raft_mut(leader)
        .handle_persisted(rd.persist.unwrap().id);
    assert_eq!(sim.raft(leader).commit_index(), index);
}

#[test]
fn committed_entries_are_handed_out_once_in_order() {
    let mut sim = support::sim::Sim::new(3, 9, |_| {});
    let leader = sim.elect(100).unwrap();
    for i in 0..10 {
        sim.propose(leader, &format!("p{i}"));
    }
    sim.deliver_all();
    sim.tick();
    sim.deliver_all();
    for id in sim.ids() {
        let applied: Vec<u64> = sim.node(id).applied.iter().map(|e| e.index).collect();
        let expected: Vec<u64> = (1..=applied.len() as u64).collect();
        assert_eq!(applied, expected, "node {id}");
        assert!(applied.len() >= 11, "node {id} applied {applied:?}");
    }
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let base = Config::new(1, vec![1, 2, 3], 1);
    type Tune = Box<dyn Fn(&mut Config)>;
    let cases: Vec<(Tune, ConfigError)> = vec![
        (Box::new(|c| c.id = 0), ConfigError::ZeroId),
        (
            Box::new(|c| c.voters = vec![1, 1, 2]),
            ConfigError::BadVoterList,
        ),
        (
            Box::new(|c| c.heartbeat_interval_ticks = 0),
            ConfigError::ZeroHeartbeat,
        ),
        (
            Box::new(|c| c.election_timeout_ticks_max = c.election_timeout_ticks_min),
            ConfigError::BadElectionTimeout {
                min: 10,
                max: 10,
                heartbeat: 2,
            },
        ),
        (
            Box::new(|c| {
                c.read_mode = raft_core::ReadMode::Lease;
                c.check_quorum = false
            }),
            ConfigError::LeaseWithoutCheckQuorum,
        ),
        (
            Box::new(|c| c.inflight_messages_max = 0),
            ConfigError::ZeroLimit {
                name: "inflight_messages_max",
            },
        ),
    ];
    for (tune, expected) in cases {
        let mut c = base.clone();
        tune(&mut c);
        assert_eq!(Raft::new(c).err(), Some(expected.clone()), "{expected}");
    }
}

#[test]
fn inconsistent_restored_state_is_refused() {
    let bad_logs = [
        (
            vec![entry(2, 1)],
            RestoreError::NotContiguous {
                position: 0,
                index: 2,
                expected: 1,
            },
        ),
        (
            vec![entry(1, 2), entry(2, 1)],
            RestoreError::TermsDecrease { index: 2 },
        ),
    ];
    for (entries, why) in bad_logs {
        let r = Raft::restore(
            config(1, &[1, 2, 3]),
            Restore {
                entries,
                ..Restore::default()
            },
        );
        assert_eq!(r.err(), Some(StartError::Restore(why)));
    }
}

#[test]
fn a_restored_commit_index_beyond_the_log_is_clamped() {
    // A hard state written just before the entries it covers, then a crash: the entries are
    // gone, and the node restarts with what it has.
    let r = Raft::restore(
        config(1, &[1, 2, 3]),
        Restore {
            snapshot: None,
            hard_state: HardState {
                term: 1,
                vote: None,
                commit: 5,
            },
            entries: vec![entry(1, 1)],
            applied: 0,
        },
    );
    assert_eq!(r.map(|r| r.commit_index()).ok(), Some(1));
}

#[test]
fn a_restarted_node_comes_back_with_its_durable_state() {
    let restore = Restore {
        snapshot: None,
        hard_state: HardState {
            term: 3,
            vote: Some(2),
            commit: 2,
        },
        entries: vec![entry(1, 1), entry(2, 2), entry(3, 3)],
        applied: 1,
    };
    let mut r = Raft::restore(config(1, &[1, 2, 3]), restore).unwrap();
    assert_eq!(
        (
            r.role(),
            r.term(),
            r.vote(),
            r.commit_index(),
            r.last_index()
        ),
        (Role::Follower, 3, Some(2), 2, 3)
    );
    // Entry 1 was applied before the restart; only entry 2 is handed out again.
    let rd = r.ready();
    assert_eq!(
        rd.committed.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn messages_for_another_node_or_from_itself_are_refused() {
    let mut r = Raft::new(config(1, &[1, 2, 3])).unwrap();
    let hb = MessageBody::Heartbeat {
        commit: 0,
        read_seq: 0,
    };
    assert_eq!(
        r.step(msg(2, 3, 1, hb.clone())),
        Err(StepError::WrongRecipient { to: 3, this: 1 })
    );
    assert_eq!(
        r.step(msg(1, 1, 1, hb.clone())),
        Err(StepError::BadSender { from: 1 })
    );
    assert_eq!(
        r.step(msg(0, 1, 1, hb)),
        Err(StepError::BadSender { from: 0 })
    );
}

#[test]
fn malformed_appends_are_ignored_without_changing_the_log() {
    let mut f = Raft::new(config(2, &[1, 2, 3])).unwrap();
    let malformed = [
        // Indexes skip.
        vec![entry(1, 1), entry(3, 1)],
        // Terms go backwards.
        vec![entry(1, 2), entry(2, 1)],
        // Does not follow prev_index.
        vec![entry(5, 1)],
    ];
    for entries in malformed {
        let append = MessageBody::Append {
            prev_index: 0,
            prev_term: 0,
            entries,
            commit: 0,
        };
        f.step(msg(1, 2, 1, append)).unwrap();
        let rd = f.ready();
        assert_eq!(f.last_index(), 0);
        assert!(rd.persist.is_none_or(|p| p.entries.is_empty()));
    }
}

#[test]
fn a_follower_never_takes_a_commit_index_beyond_its_log() {
    let mut f = Raft::new(config(2, &[1, 2, 3])).unwrap();
    let append = MessageBody::Append {
        prev_index: 0,
        prev_term: 0,
        entries: vec![entry(1, 1)],
        commit: 100,
    };
    f.step(msg(1, 2, 1, append)).unwrap();
    assert_eq!(f.commit_index(), 1);
    f.step(msg(
        1,
        2,
        1,
        MessageBody::Heartbeat {
            commit: 50,
            read_seq: 1,
        },
    ))
    .unwrap();
    assert_eq!(f.commit_index(), 1);
}

#[test]
fn committed_entries_wait_while_too_many_are_unapplied() {
    // A one-node cluster commits at once; the caller applies slowly.
    let mut c = Config::new(1, vec![1], 1);
    c.unapplied_entries_max = 2;
    let mut r = Raft::new(c).unwrap();
    let mut handed_out = Vec::new();
    let step = |r: &mut Raft, handed_out: &mut Vec<u64>| {
        let rd = r.ready();
        handed_out.extend(rd.committed.iter().map(|e| e.index));
        if let Some(p) = rd.persist {
            r.handle_persisted(p.id);
        }
    };
    while r.role() != Role::Leader {
        r.tick();
        step(&mut r, &mut handed_out);
    }
    for i in 0..5 {
        r.propose(Payload::from(format!("p{i}").as_str())).unwrap();
    }
    for _ in 0..3 {
        step(&mut r, &mut handed_out);
    }
    // Six entries are committed (the leader's first and five proposals); two are handed out.
    assert_eq!(r.commit_index(), 6);
    assert_eq!(handed_out, vec![1, 2]);
    r.handle_applied(2);
    for _ in 0..3 {
        step(&mut r, &mut handed_out);
    }
    assert_eq!(handed_out, vec![1, 2, 3, 4]);
}
