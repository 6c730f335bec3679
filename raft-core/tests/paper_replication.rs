//! Log replication as the Raft paper's section 5 describes it: the leader's appends and commit
//! rule (5.3), the consistency check that repairs divergent followers (5.3, Figure 7) and the
//! rule that only entries of the leader's own term commit by counting replicas (5.4.2, Figure 8).
//!
//! Nodes run the paper's configuration (no pre-vote, no check-quorum); see
//! `support/harness.rs` for the helpers.

mod support;

use raft_core::{Entry, EntryKind, Membership, MessageBody, NodeId, Payload, Raft, Role, Term};
use support::harness::*;
use support::sim::Sim;

/// The command entry a leader appends for a proposal of `data`.
fn command(index: u64, term: Term, data: &str) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Command,
        data: Payload::from(data),
    }
}

/// Proposes `data` on a leader, which always takes it here.
fn propose(leader: &mut Raft, data: &str) {
    leader
        .propose(Payload::from(data))
        .expect("a leader takes proposals");
}

/// The entry a new leader appends at once (its term's first). These hand-built logs hold no
/// membership entry yet, so it records the membership the nodes were configured with.
fn first_of_term(index: u64, term: Term) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Membership(Box::new(Membership::with_voters(V3))),
        data: Payload::empty(),
    }
}

// ----- 5.3: replication and commitment -----

#[test]
fn leader_replicates_a_proposal_to_every_follower_at_once() {
    // Paper 5.3: the leader appends the command to its log and issues appends to every follower.
    // It does not wait for its own disk: the appends leave in the same `Ready` as the request to
    // persist the entry (thesis 10.2.1).
    let mut raft = established_leader(1, &V3);
    propose(&mut raft, "x");
    let rd = raft.ready();
    let x = command(2, 1, "x");
    let expected = [2, 3].map(|to| msg(1, to, 1, append(1, 1, vec![x.clone()], 1)));
    assert_eq!(rd.messages, expected);
    assert_eq!(
        rd.persist.expect("the leader persists its copy").entries,
        [x]
    );
}

#[test]
fn leader_commits_an_entry_once_a_majority_stores_it() {
    // Paper 5.3: an entry is committed once the leader that created it has replicated it on a
    // majority. In a cluster of five that is the leader and two followers.
    let mut raft = established_leader(1, &V5);
    propose(&mut raft, "x");
    drain(&mut raft);

    recv(&mut raft, 2, 1, accepted(2));
    assert_eq!(
        raft.commit_index(),
        1,
        "two copies of five are not a majority"
    );
    recv(&mut raft, 3, 1, accepted(2));
    assert_eq!(raft.commit_index(), 2, "three copies of five are");
    assert_eq!(drain(&mut raft).committed, [command(2, 1, "x")]);
}

#[test]
fn leader_counts_its_own_copy_only_once_it_is_durable() {
    // Committed means durable on a majority, so the leader's own copy counts only after the
    // caller acknowledged writing it: with one follower's copy, the entry waits for that write.
    let mut raft = established_leader(1, &V3);
    propose(&mut raft, "x");
    let persist = raft.ready().persist.expect("the leader persists its copy");

    recv(&mut raft, 2, 1, accepted(2));
    assert_eq!(
        raft.commit_index(),
        1,
        "the leader's copy is not on disk yet"
    );
    raft.handle_persisted(persist.id);
    assert_eq!(raft.commit_index(), 2);
}

#[test]
fn committing_an_entry_commits_every_entry_before_it() {
    // Paper 5.3: committing an entry also commits all preceding entries in the leader's log.
    let mut raft = established_leader(1, &V3);
    for data in ["a", "b", "c"] {
        propose(&mut raft, data);
        drain(&mut raft);
    }
    assert_eq!(raft.commit_index(), 1);

    recv(&mut raft, 2, 1, accepted(4));
    assert_eq!(raft.commit_index(), 4);
    assert_eq!(drain(&mut raft).committed_indexes(), [2, 3, 4]);
}

#[test]
fn follower_learns_the_commit_index_from_the_leader_and_applies_in_order() {
    // Paper 5.3: the leader includes its commit index in appends and heartbeats; a follower
    // applies entries, in log order, once it learns they are committed.
    let mut raft = node(1, &V3);
    recv(
        &mut raft,
        2,
        1,
        append(0, 0, entries_from(1, &[1, 1, 1]), 0),
    );
    let out = drain(&mut raft);
    assert_eq!(out.to(2), [&accepted(3)]);
    assert_eq!(out.committed, [], "nothing is committed yet");

    recv(&mut raft, 2, 1, append(3, 1, vec![], 2));
    assert_eq!(drain(&mut raft).committed_indexes(), [1, 2]);
    recv(&mut raft, 2, 1, heartbeat(3));
    assert_eq!(drain(&mut raft).committed_indexes(), [3]);
    assert_eq!((raft.commit_index(), raft.applied_index()), (3, 3));
}

#[test]
fn follower_commits_no_further_than_the_entries_the_append_vouches_for() {
    // Paper 5.3 (Figure 2): a follower sets its commit index to min(leaderCommit, index of the
    // last new entry). Entries past the append may be left over from an older leader and differ
    // from the committed ones, so the follower with [1, 1, 2, 2] must not commit 3 and 4 on the
    // word of a leader of term 3 that has only confirmed index 1.
    let mut raft = restored(1, &V3, at_term(2), &[1, 1, 2, 2]);
    recv(&mut raft, 2, 3, append(1, 1, vec![], 4));
    assert_eq!(raft.commit_index(), 1);

    // Once the leader has replaced index 3, the follower commits up to there.
    recv(&mut raft, 2, 3, append(2, 1, entries_from(3, &[3]), 4));
    assert_eq!((terms_of(&raft), raft.commit_index()), (vec![1, 1, 3], 3));
}

#[test]
fn follower_applies_a_committed_entry_only_once_it_is_durable() {
    // An append may bring an entry together with a commit index covering it. The follower hands
    // it out for applying only after its own copy is on disk, so a crash cannot lose an entry
    // that the state machine already applied.
    let mut raft = node(1, &V3);
    recv(&mut raft, 2, 1, append(0, 0, entries_from(1, &[1]), 1));
    let rd = raft.ready();
    assert_eq!(rd.committed, []);
    raft.handle_persisted(rd.persist.expect("the entry is persisted").id);
    assert_eq!(raft.ready().committed, [entry(1, 1)]);
}

#[test]
fn every_node_applies_the_same_entries_in_log_order() {
    // End to end on a simulated cluster: the leader's blank entry and three commands reach every
    // state machine, in the same order.
    let mut sim = Sim::new(3, 11, |c| {
        c.pre_vote = false;
        c.check_quorum = false;
    });
    let leader = sim.elect(200).expect("a leader is elected");
    for data in ["a", "b", "c"] {
        sim.propose(leader, data)
            .expect("the leader takes proposals");
    }
    for _ in 0..3 {
        sim.deliver_all();
        sim.tick();
    }
    for id in sim.ids() {
        let applied: Vec<(u64, &[u8])> = sim
            .node(id)
            .applied
            .iter()
            .map(|e| (e.index, &*e.data))
            .collect();
        assert_eq!(
            applied,
            [(1, &b""[..]), (2, b"a"), (3, b"b"), (4, b"c")],
            "node {id}"
        );
    }
}

// ----- 5.3: the consistency check -----

#[test]
fn follower_rejects_append_whose_previous_entry_does_not_match() {
    // Paper 5.3: a follower refuses new entries unless it holds an entry at `prev_index` with
    // `prev_term`. Its refusal carries a hint: its last entry at or below `prev_index` whose
    // term is at most `prev_term`, so the leader can skip a whole term at once. The follower's
    // log is [1, 1, 2]; the leader is node 2 in term 3.
    let rows: [(u64, Term, MessageBody); 7] = [
        // (prev_index, prev_term, the follower's answer)
        (0, 0, accepted(0)),
        (2, 1, accepted(2)),
        (3, 2, accepted(3)),
        (3, 3, rejected(3, 3, 2)), // wrong term at the end of the log
        (2, 2, rejected(2, 2, 1)), // wrong term in the middle
        (4, 2, rejected(4, 3, 2)), // one past the end
        (5, 3, rejected(5, 3, 2)), // well past the end
    ];
    for (prev_index, prev_term, answer) in rows {
        let mut raft = restored(1, &V3, at_term(2), &[1, 1, 2]);
        recv(&mut raft, 2, 3, append(prev_index, prev_term, vec![], 0));
        let out = drain(&mut raft);
        assert_eq!(
            out.to(2),
            [&answer],
            "append after ({prev_index}, {prev_term})"
        );
        assert_eq!(terms_of(&raft), [1, 1, 2], "the log is untouched");
    }
}

/// One append to a follower: (prev_index, prev_term, entries' terms, the follower's log
/// afterwards, the first index it asks to write).
type AppendCase = (u64, Term, &'static [Term], &'static [Term], Option<u64>);

#[test]
fn follower_truncates_conflicting_entries_and_appends_the_leaders() {
    // Paper 5.3: when an existing entry conflicts with a new one (same index, other term) the
    // follower deletes it and everything after it, then appends the leader's entries. Entries it
    // already holds are kept: a delayed append must not cut off newer ones. The follower's log is
    // [1, 1, 2, 2]; the persist it asks for starts where its log changed.
    let rows: [AppendCase; 6] = [
        // (prev_index, prev_term, entries' terms, log afterwards, first index written)
        (2, 1, &[3], &[1, 1, 3], Some(3)),
        (1, 1, &[3, 3], &[1, 3, 3], Some(2)),
        (0, 0, &[1, 3], &[1, 3], Some(2)),
        (4, 2, &[3], &[1, 1, 2, 2, 3], Some(5)),
        (2, 1, &[2], &[1, 1, 2, 2], None),
        (2, 1, &[2, 2, 3], &[1, 1, 2, 2, 3], Some(5)),
    ];
    for (prev_index, prev_term, terms, log, written) in rows {
        let mut raft = restored(1, &V3, at_term(2), &[1, 1, 2, 2]);
        let entries = entries_from(prev_index + 1, terms);
        recv(&mut raft, 2, 3, append(prev_index, prev_term, entries, 0));
        let out = drain(&mut raft);
        let label = format!("{terms:?} after ({prev_index}, {prev_term})");
        assert_eq!(terms_of(&raft), log, "{label}");
        let first_written = out
            .persists
            .iter()
            .find_map(|p| p.entries.first())
            .map(|e| e.index);
        assert_eq!(first_written, written, "{label}");
        let matched = prev_index + terms.len() as u64;
        assert_eq!(out.to(2), [&accepted(matched)], "{label}");
    }
}

/// The leader's log of the paper's Figure 7, and the followers (a)-(f) that may face a new
/// leader of term 8: missing entries (a, b), extra uncommitted entries (c, d), or both (e, f).
const FIGURE_7_LEADER: &[Term] = &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const FIGURE_7_FOLLOWERS: [(&str, &[Term]); 6] = [
    ("a", &[1, 1, 1, 4, 4, 5, 5, 6, 6]),
    ("b", &[1, 1, 1, 4]),
    ("c", &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]),
    ("d", &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]),
    ("e", &[1, 1, 1, 4, 4, 4, 4]),
    ("f", &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]),
];

#[test]
fn leader_brings_every_follower_of_figure_7_into_line() {
    // Paper 5.3, Figure 7: the whole seven-server cluster. Node 1 holds the leader's log and is
    // elected in term 8 (followers a, b, e and f vote for it; c and d, whose logs are more up to
    // date, refuse). The consistency check then finds, for each follower, the last entry where
    // the logs agree; the follower drops everything after it and takes the leader's entries.
    let mut logs = vec![FIGURE_7_LEADER];
    logs.extend(FIGURE_7_FOLLOWERS.iter().map(|(_, log)| *log));
    let mut sim = sim_from_logs(7, &logs);
    campaign(&mut sim, 1);
    assert_eq!((sim.raft(1).role(), sim.raft(1).term()), (Role::Leader, 8));

    // Followers whose repair ended after the commit advanced learn it from the next heartbeat
    // (5.3: the commit index rides on future appends, heartbeats included).
    for _ in 0..sim.raft(1).config().heartbeat_interval_ticks {
        sim.tick_node(1);
    }
    sim.deliver_all();

    // The new leader appended its blank entry of term 8 and committed it with the others' help.
    let leader_log = [FIGURE_7_LEADER, &[8]].concat();
    assert_eq!(terms_of(sim.raft(1)), leader_log);
    for (i, (case, _)) in FIGURE_7_FOLLOWERS.iter().enumerate() {
        let id = i as NodeId + 2;
        assert_eq!(terms_of(sim.raft(id)), leader_log, "follower ({case})");
        assert_eq!(
            sim.node(id).durable.entries,
            sim.node(1).durable.entries,
            "follower ({case}) on disk"
        );
        assert_eq!(
            sim.raft(id).commit_index(),
            11,
            "follower ({case}) learned the commit"
        );
    }
}

#[test]
fn leader_skips_a_whole_conflicting_term_with_the_rejection_hint() {
    // The paper notes (5.3) that a follower can name the conflicting term so that the leader
    // needs one round trip per term instead of one per entry. Follower (f) of Figure 7 refuses
    // the new leader's first append and points at its last entry of term 3 or below; the leader
    // then goes straight back to index 3, the last index where its log can agree (term 1).
    let mut leader = restored(1, &V3, at_term(7), FIGURE_7_LEADER);
    let mut follower = restored(2, &V3, at_term(7), FIGURE_7_FOLLOWERS[5].1);
    let sent = win_election(&mut leader).messages;

    // The new leader first guesses that (f) holds its whole log and sends only its first entry.
    let first = sent
        .into_iter()
        .find(|m| m.to == 2)
        .expect("an append to (f)");
    assert_eq!(first.body, append(10, 6, vec![first_of_term(11, 8)], 0));
    follower.step(first).expect("addressed to (f)");
    let answer = drain(&mut follower).messages.pop().expect("(f) answers");
    assert_eq!(answer.body, rejected(10, 10, 3));

    // One rejection later it resends everything after index 3 in a single append.
    leader.step(answer).expect("addressed to the leader");
    let retry = drain(&mut leader).messages;
    let mut resent = entries_from(4, &[4, 4, 5, 5, 6, 6, 6]);
    resent.push(first_of_term(11, 8));
    assert_eq!(retry, [msg(1, 2, 8, append(3, 1, resent, 0))]);
}

// ----- 5.4.2: committing entries from previous terms (Figure 8) -----

#[test]
fn older_term_entry_on_a_majority_is_not_committed_by_counting_replicas() {
    // Paper 5.4.2, Figure 8 (c): S1 leads term 4 and has its entry (2, 2) from term 2 on S1, S2
    // and S3, a majority of five. Counting replicas must not commit it, because S5 could still
    // be elected and overwrite it. Only when an entry of term 4 (here the blank the new leader
    // appended at index 3) is on a majority does the leader commit, and then index 2 with it.
    let mut raft = restored(1, &V5, at_term(3), &[1, 2]);
    win_election(&mut raft);
    assert_eq!((raft.term(), terms_of(&raft)), (4, vec![1, 2, 4]));

    recv(&mut raft, 2, 4, accepted(2));
    recv(&mut raft, 3, 4, accepted(2));
    assert_eq!(
        raft.commit_index(),
        0,
        "(2, 2) is on a majority but not of this term"
    );
    recv(&mut raft, 2, 4, accepted(3));
    assert_eq!(raft.commit_index(), 0, "(3, 4) is on two servers of five");
    recv(&mut raft, 3, 4, accepted(3));
    assert_eq!(raft.commit_index(), 3, "(3, 4) is on a majority");
    assert_eq!(drain(&mut raft).committed_indexes(), [1, 2, 3]);
}

#[test]
fn figure_8_uncommitted_older_term_entry_can_be_overwritten() {
    // Figure 8 (d): S1 crashes while (2, 2) sits on S1, S2 and S3 uncommitted. S5, whose last
    // entry is of term 3, wins the votes of S2, S3 and S4 and replaces (2, 2) everywhere. This
    // is safe only because no leader had committed (2, 2), as the test above shows; the
    // simulator's checker would flag the loss of a committed entry.
    let mut sim = sim_from_logs(4, &[&[1, 2, 4], &[1, 2], &[1, 2], &[1], &[1, 3]]);
    sim.crash(1);
    campaign(&mut sim, 5);
    assert_eq!((sim.raft(5).role(), sim.raft(5).term()), (Role::Leader, 5));
    for id in 2..=5 {
        assert_eq!(terms_of(sim.raft(id)), [1, 3, 5], "S{id}");
    }
}

#[test]
fn figure_8_current_term_entry_on_a_majority_protects_earlier_entries() {
    // Figure 8 (e): had S1 placed an entry of its own term 4 on a majority before crashing,
    // (2, 2) would be committed, and S5 could no longer win: S2 and S3 hold a later last term
    // and refuse it. The next leader comes from the majority holding term 4 and keeps (2, 2).
    let mut sim = sim_from_logs(4, &[&[1, 2, 4], &[1, 2, 4], &[1, 2, 4], &[1], &[1, 3]]);
    sim.crash(1);
    campaign(&mut sim, 5);
    assert_eq!(sim.raft(5).role(), Role::Candidate, "S5 got only S4's vote");

    campaign(&mut sim, 2);
    assert_eq!(sim.raft(2).role(), Role::Leader);
    let term = sim.raft(2).term();
    for id in 2..=5 {
        assert_eq!(terms_of(sim.raft(id)), [1, 2, 4, term], "S{id}");
        assert_eq!(sim.raft(id).commit_index(), 4, "S{id}");
    }
}
