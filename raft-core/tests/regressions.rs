//! Regression tests for bugs found by review, each of which failed before its fix:
//! F1 a hard state whose commit index covered entries not yet durable; F2/F3 lease reads made
//! stale by a follower restart or a late TimeoutNow; F4/F5 panics from malformed messages;
//! S2 reads on a cut-off leader that never resolved; S4 a follower confirming a future round.
mod support;

use raft_core::{
    Event, HardState, Message, MessageBody, Raft, ReadMode, RejectReason, Request, Restore, Role,
};
use support::harness::*;
use support::sim::Sim;

/// F1a: the hard state handed out with a persist carries a commit index covering entries of the
/// same persist. The contract allows writing the hard state first; a crash in between leaves a
/// durable state `Raft::restore` refuses (`StartError::Restore`): the node can never restart.
#[test]
fn f1a_a_hard_state_written_before_its_entries_still_restarts() {
    let mut f = node(2, &V3);
    recv(&mut f, 1, 1, append(0, 0, entries_from(1, &[1, 1, 1]), 3));
    let p = f.ready().persist.expect("persist");
    let hs = p.hard_state.expect("hard state");
    assert_eq!(
        hs.commit, 0,
        "the commit index waits for the entries it covers to be durable"
    );
    // Crash after the hard state, before the entries (allowed order).
    let r = Raft::restore(
        paper_config(2, &V3),
        Restore {
            snapshot: None,
            hard_state: hs,
            entries: vec![],
            applied: 0,
        },
    );
    assert!(r.is_ok(), "node cannot restart: {:?}", r.err());
}

/// F1b: same, with a conflicting suffix being replaced: after the crash the durable log still has
/// the OLD entries at the indexes the new commit covers, and the restarted node applies them.
#[test]
fn f1b_a_hard_state_written_before_its_entries_applies_nothing_uncommitted() {
    // Follower 2: log 1..5 all term 1, entries 3..5 were never committed (commit 2).
    let old = log_of(&[1, 1, 1, 1, 1]);
    let hs0 = HardState {
        term: 1,
        vote: None,
        commit: 2,
    };
    let mut f = Raft::restore(
        paper_config(2, &V3),
        Restore {
            snapshot: None,
            hard_state: hs0,
            entries: old.clone(),
            applied: 2,
        },
    )
    .unwrap();
    // Leader 3 of term 2 replaces 3..5 with its own entries and has committed them.
    recv(&mut f, 3, 2, append(2, 1, entries_from(3, &[2, 2, 2]), 5));
    let p = f.ready().persist.expect("persist");
    let hs = p.hard_state.expect("hard state");
    // Caller writes the hard state first and crashes before the entries.
    let mut r = Raft::restore(
        paper_config(2, &V3),
        Restore {
            snapshot: None,
            hard_state: hs,
            entries: old,
            applied: 2,
        },
    )
    .unwrap();
    let rd = r.ready();
    for e in &rd.committed {
        assert_eq!(
            e.term, 2,
            "applied ({}, {}) which was overwritten, never committed",
            e.index, e.term
        );
    }
}

/// F2: lease reads survive a follower restart. The follower's "no votes for min ticks" promise
/// is in memory only; after a restart it votes at once, a new leader commits, and the old
/// leader still serves a lease read at an old index. (Equal tick rates: no clock drift.)
#[test]
fn f2_a_restarted_follower_keeps_the_lease_promise() {
    let (mut sim, a) = Sim::elected(3, 1, |c| c.read_mode = ReadMode::Lease);
    let ids = sim.ids();
    let others: Vec<_> = ids.into_iter().filter(|i| *i != a).collect();
    let (b, c) = (others[0], others[1]);
    for _ in 0..4 {
        sim.tick();
        sim.deliver_all();
    }
    // C loses its link to A only; it keeps pre-campaigning, B ignores it (B is in A's lease).
    sim.cut(a, c);
    while sim.raft(c).role() == Role::Follower {
        sim.tick();
        sim.deliver_all();
    }
    let r = sim.raft(c).election_timeout_ticks();
    for _ in 0..r - 1 {
        sim.tick();
        sim.deliver_all();
    }
    assert!(sim.raft(a).is_leader());
    // A's network fails and B restarts at the same moment; next tick C campaigns again.
    sim.isolate(a);
    sim.crash(b);
    sim.restart(b);
    sim.tick();
    sim.deliver_all();
    assert_ne!(
        sim.raft(c).role(),
        Role::Leader,
        "the restarted B keeps A's lease"
    );
    assert!(sim.raft(a).is_leader());
    // Any lease read A serves now is checked against everything committed anywhere.
    sim.read(a);
    // Once A's lease has run out, C can win; A (check-quorum) has stepped down by then.
    for _ in 0..40 {
        sim.tick();
        sim.deliver_all();
    }
    assert_eq!(sim.raft(c).role(), Role::Leader);
    assert!(!sim.raft(a).is_leader());
}

/// F3: a TimeoutNow delayed past the transfer's timeout re-enables the old leader's lease, but
/// the target's election (transfer=true) bypasses every voter's lease: stale read.
#[test]
fn f3_a_late_timeout_now_cannot_make_a_lease_read_stale() {
    let (mut sim, a) = Sim::elected(3, 1, |c| c.read_mode = ReadMode::Lease);
    let others: Vec<_> = sim.ids().into_iter().filter(|i| *i != a).collect();
    let (b, c) = (others[0], others[1]);
    let _ = b;
    for _ in 0..4 {
        sim.tick();
        sim.deliver_all();
    }
    let term = sim.raft(a).term();
    sim.raft_mut(a).transfer_leadership(c).unwrap();
    sim.process(a);
    assert!(sim
        .in_flight(a, c)
        .iter()
        .any(|m| m.body == MessageBody::TimeoutNow));
    sim.clear_in_flight(); // the network holds the TimeoutNow back
    for _ in 0..12 {
        sim.tick();
        sim.deliver_all();
    }
    assert!(sim.node(a).events.iter().any(|e| matches!(
        e,
        Event::Rejected {
            request: Request::Transfer(_),
            reason: RejectReason::TransferTimedOut { .. }
        }
    )));
    assert!(sim.raft(a).is_leader());
    sim.isolate(a);
    // The delayed TimeoutNow finally arrives.
    sim.raft_mut(c)
        .step(Message {
            from: a,
            to: c,
            term,
            body: MessageBody::TimeoutNow,
        })
        .unwrap();
    sim.process(c);
    sim.deliver_all();
    assert_eq!(sim.raft(c).role(), Role::Leader);
    assert!(sim.raft(a).is_leader());
    sim.read(a);
    let evs = &sim.node(a).events;
    assert!(
        !evs.iter().any(|e| matches!(e, Event::ReadReady { .. })),
        "stale lease read served"
    );
}

/// F4: an append whose entries carry a term above the message's term is accepted; the node later
/// panics in become_leader ("log terms must not decrease") when it appends its blank entry.
#[test]
fn f4_entries_from_the_leaders_future_are_refused() {
    let mut f = node(2, &V3);
    recv(&mut f, 1, 1, append(0, 0, vec![entry(1, 9)], 0));
    drain(&mut f);
    assert_eq!(
        f.last_index(),
        0,
        "an entry from the leader's future is refused"
    );
    win_election(&mut f);
    assert_eq!(f.role(), Role::Leader);
}

/// F5a: overflow in entries_are_contiguous (debug / overflow-checks builds).
#[test]
fn f5a_an_append_at_the_end_of_the_index_space_is_refused() {
    let mut f = node(2, &V3);
    f.step(msg(1, 2, 1, append(u64::MAX, 0, vec![entry(0, 1)], 0)))
        .unwrap();
    drain(&mut f);
    assert_eq!(f.last_index(), 0);
}

/// F5b: overflow in Progress::rejected (`match_hint + 1`) with hint_term = 0.
#[test]
fn f5b_a_rejection_hint_beyond_the_log_is_clamped() {
    let mut l = leader(1, &V3);
    let t = l.term();
    l.step(msg(2, 1, t, rejected(0, u64::MAX, 0))).unwrap();
    drain(&mut l);
    assert!(l
        .progress(2)
        .is_some_and(|p| p.next_index <= l.last_index() + 1));
}

/// S2: reads on a leader cut off from everyone, with check-quorum off (so it never steps
/// down), are refused after a while instead of waiting forever.
#[test]
fn s2_reads_on_a_cut_off_leader_are_eventually_refused() {
    let (mut sim, a) = Sim::elected(3, 2, |c| c.check_quorum = false);
    sim.isolate(a);
    let read = sim.read(a).unwrap();
    for _ in 0..50 {
        sim.tick();
    }
    assert!(sim.raft(a).is_leader());
    assert!(sim.node(a).events.contains(&Event::Rejected {
        request: Request::Read(read),
        reason: RejectReason::LeadershipUnconfirmed,
    }));
}

/// S4: a follower answering a heartbeat with a round number from the future confirms nothing
/// beyond the rounds that were actually sent.
#[test]
fn s4_a_future_read_round_confirms_nothing() {
    let mut l = leader(1, &V3);
    let t = l.term();
    let read = l.read_index().unwrap();
    // Follower 2 claims a far-future round before any round went out for this read.
    l.step(msg(
        2,
        1,
        t,
        MessageBody::HeartbeatResponse { read_seq: u64::MAX },
    ))
    .unwrap();
    let out = drain(&mut l);
    assert!(!out
        .events
        .iter()
        .any(|e| matches!(e, Event::ReadReady { id, .. } if *id == read)));
}

/// Review finding: a voter whose view of the membership lags must not shut out a candidate it
/// has not heard of yet. Only a non-member whose log is behind is told it was removed (and
/// ignored); one with a log at least as complete gets an answer as usual.
#[test]
fn only_a_non_member_with_an_older_log_is_told_it_was_removed() {
    let hs = HardState {
        term: 2,
        vote: None,
        commit: 3,
    };
    let mut n = restored(3, &V3, hs, &[1, 2, 2]);
    recv(&mut n, 4, 3, vote_request(2, 2));
    let out = drain(&mut n);
    assert!(
        matches!(out.to(4)[..], [MessageBody::Removed { .. }]),
        "{:?}",
        out.to(4)
    );
    recv(&mut n, 4, 3, vote_request(3, 2));
    let out = drain(&mut n);
    assert!(
        matches!(
            out.to(4)[..],
            [MessageBody::VoteResponse { granted: true, .. }]
        ),
        "{:?}",
        out.to(4)
    );
}
