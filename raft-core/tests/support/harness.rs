//! Helpers for the tests of the Raft paper's section 5: single `Raft` nodes built in a chosen
//! state, messages written as data, a caller loop that drains every `Ready` and acknowledges its
//! persists, and simulated clusters restored from hand-written logs (the paper's figures).
//!
//! Nodes use the paper's configuration (`paper_config`): no pre-vote and no check-quorum, which
//! are later extensions (Raft thesis, chapter 9). A test that wants them turns them on.

use raft_core::{
    AppendOutcome, Config, Entry, EntryKind, Event, HardState, Index, Message, MessageBody, NodeId,
    Payload, Persist, Raft, Restore, Role, Term,
};

use super::sim::{Durable, Sim};

pub const V3: [NodeId; 3] = [1, 2, 3];
pub const V5: [NodeId; 5] = [1, 2, 3, 4, 5];

// ----- Building nodes -----

/// The crate's defaults with the extensions beyond the paper's section 5 turned off.
pub fn paper_config(id: NodeId, voters: &[NodeId]) -> Config {
    let mut cfg = Config::new(id, voters.to_vec(), id);
    cfg.pre_vote = false;
    cfg.check_quorum = false;
    cfg
}

/// A brand-new node with an empty log.
pub fn node(id: NodeId, voters: &[NodeId]) -> Raft {
    node_with(id, voters, |_| {})
}

/// A brand-new node whose paper configuration `tune` adjusts.
pub fn node_with(id: NodeId, voters: &[NodeId], tune: impl FnOnce(&mut Config)) -> Raft {
    let mut cfg = paper_config(id, voters);
    tune(&mut cfg);
    Raft::new(cfg).expect("valid configuration")
}

/// A node restarting from `hard_state` and a log whose entry `i + 1` has term `log_terms[i]`.
pub fn restored(id: NodeId, voters: &[NodeId], hard_state: HardState, log_terms: &[Term]) -> Raft {
    restored_with(id, voters, hard_state, log_terms, |_| {})
}

/// A restarting node whose paper configuration `tune` adjusts.
pub fn restored_with(
    id: NodeId,
    voters: &[NodeId],
    hard_state: HardState,
    log_terms: &[Term],
    tune: impl FnOnce(&mut Config),
) -> Raft {
    let mut cfg = paper_config(id, voters);
    tune(&mut cfg);
    let restore = Restore {
        snapshot: None,
        hard_state,
        entries: log_of(log_terms),
        applied: 0,
    };
    Raft::restore(cfg, restore).expect("valid restore")
}

/// A hard state in `term` with no vote and nothing committed.
pub fn at_term(term: Term) -> HardState {
    HardState {
        term,
        vote: None,
        commit: 0,
    }
}

// ----- Logs -----

/// The entry at (`index`, `term`). Its payload is derived from both, so two logs holding the same
/// index and term hold the same entry, as the Log Matching property demands.
pub fn entry(index: Index, term: Term) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Command,
        data: Payload::from(format!("{index}@{term}").as_str()),
    }
}

/// A log from index 1 whose entry `i + 1` has term `terms[i]`.
pub fn log_of(terms: &[Term]) -> Vec<Entry> {
    entries_from(1, terms)
}

/// Entries starting at `first_index`, with the given terms.
pub fn entries_from(first_index: Index, terms: &[Term]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| entry(first_index + i as Index, *t))
        .collect()
}

/// The terms of a node's log, index 1 first.
pub fn terms_of(raft: &Raft) -> Vec<Term> {
    (1..=raft.last_index())
        .map(|i| raft.entry_term(i).expect("the log holds every index"))
        .collect()
}

// ----- Messages -----

pub fn msg(from: NodeId, to: NodeId, term: Term, body: MessageBody) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

/// Delivers a message from `from`, sent in `term`, to `raft`.
pub fn recv(raft: &mut Raft, from: NodeId, term: Term, body: MessageBody) {
    let m = msg(from, raft.id(), term, body);
    raft.step(m).expect("a well-addressed message is taken");
}

pub fn vote_request(last_index: Index, last_term: Term) -> MessageBody {
    MessageBody::Vote {
        last_index,
        last_term,
        pre_vote: false,
        transfer: false,
    }
}

pub fn pre_vote_request(last_index: Index, last_term: Term) -> MessageBody {
    MessageBody::Vote {
        last_index,
        last_term,
        pre_vote: true,
        transfer: false,
    }
}

pub fn vote_response(granted: bool) -> MessageBody {
    MessageBody::VoteResponse {
        granted,
        pre_vote: false,
    }
}

pub fn pre_vote_response(granted: bool) -> MessageBody {
    MessageBody::VoteResponse {
        granted,
        pre_vote: true,
    }
}

pub fn append(
    prev_index: Index,
    prev_term: Term,
    entries: Vec<Entry>,
    commit: Index,
) -> MessageBody {
    MessageBody::Append {
        prev_index,
        prev_term,
        entries,
        commit,
    }
}

pub fn heartbeat(commit: Index) -> MessageBody {
    MessageBody::Heartbeat {
        commit,
        read_seq: 0,
    }
}

pub fn accepted(match_index: Index) -> MessageBody {
    MessageBody::AppendResponse(AppendOutcome::Accepted { match_index })
}

pub fn rejected(rejected_index: Index, hint_index: Index, hint_term: Term) -> MessageBody {
    MessageBody::AppendResponse(AppendOutcome::Rejected {
        rejected_index,
        hint_index,
        hint_term,
    })
}

// ----- The caller's loop -----

/// Everything a node produced while being drained.
#[derive(Debug, Default)]
pub struct Drained {
    pub messages: Vec<Message>,
    pub persists: Vec<Persist>,
    pub committed: Vec<Entry>,
    pub events: Vec<Event>,
}

impl Drained {
    /// The bodies of the messages sent to `peer`, in order.
    pub fn to(&self, peer: NodeId) -> Vec<&MessageBody> {
        self.messages
            .iter()
            .filter(|m| m.to == peer)
            .map(|m| &m.body)
            .collect()
    }

    /// The indexes of the committed entries, in the order they were handed out for applying.
    pub fn committed_indexes(&self) -> Vec<Index> {
        self.committed.iter().map(|e| e.index).collect()
    }
}

/// Calls `ready` until nothing is left, the way a caller with instant storage would: every persist
/// is acknowledged at once (which releases the messages held back for it) and every committed
/// entry is reported applied.
pub fn drain(raft: &mut Raft) -> Drained {
    let mut out = Drained::default();
    for _ in 0..100 {
        if !raft.has_ready() {
            return out;
        }
        let rd = raft.ready();
        out.messages.extend(rd.messages);
        if let Some(last) = rd.committed.last() {
            raft.handle_applied(last.index);
        }
        out.committed.extend(rd.committed);
        out.events.extend(rd.events);
        if let Some(p) = rd.persist {
            out.messages.extend(rd.persisted_messages);
            raft.handle_persisted(p.id);
            out.persists.push(p);
        }
    }
    panic!("node {} never ran out of work", raft.id());
}

// ----- Driving elections by hand -----

/// Ticks through the election timeout now in force, counted from a freshly reset timer.
pub fn time_out(raft: &mut Raft) {
    for _ in 0..raft.election_timeout_ticks() {
        raft.tick();
    }
}

/// Times `raft` out and lets every other voter grant its pre-vote (if it runs one) and its vote,
/// so that it becomes leader; then drains it and returns what the new leader sent and wrote.
pub fn win_election(raft: &mut Raft) -> Drained {
    time_out(raft);
    drain(raft);
    let peers: Vec<NodeId> = raft
        .membership()
        .voters
        .iter()
        .copied()
        .filter(|p| *p != raft.id())
        .collect();
    if raft.role() == Role::PreCandidate {
        let asked = raft.term() + 1;
        for p in &peers {
            recv(raft, *p, asked, pre_vote_response(true));
        }
        drain(raft);
    }
    for p in &peers {
        let term = raft.term();
        recv(raft, *p, term, vote_response(true));
    }
    let out = drain(raft);
    assert_eq!(raft.role(), Role::Leader, "node {} won", raft.id());
    out
}

/// A leader of a brand-new cluster, in term 1, whose first appends are still unanswered.
pub fn leader(id: NodeId, voters: &[NodeId]) -> Raft {
    leader_with(id, voters, |_| {})
}

pub fn leader_with(id: NodeId, voters: &[NodeId], tune: impl FnOnce(&mut Config)) -> Raft {
    let mut raft = node_with(id, voters, tune);
    win_election(&mut raft);
    raft
}

/// A leader every follower has caught up with: each acknowledged the whole log, so the leader's
/// blank entry is committed and every follower is in the streaming (replicate) state.
pub fn established_leader(id: NodeId, voters: &[NodeId]) -> Raft {
    let mut raft = leader(id, voters);
    let (term, last) = (raft.term(), raft.last_index());
    for p in voters.iter().filter(|p| **p != id) {
        recv(&mut raft, *p, term, accepted(last));
    }
    drain(&mut raft);
    assert_eq!(raft.commit_index(), last);
    raft
}

// ----- Simulated clusters from hand-written logs -----

/// A simulated cluster (paper configuration, instant storage) whose node `i + 1` restarts from
/// the log `logs[i]` at hard-state term `term`. The checker learns every restored entry, so it
/// can follow them into commits.
pub fn sim_from_logs(term: Term, logs: &[&[Term]]) -> Sim {
    let mut sim = Sim::new(logs.len() as u64, 1, |c| {
        c.pre_vote = false;
        c.check_quorum = false;
    });
    for (i, terms) in logs.iter().enumerate() {
        let id = i as NodeId + 1;
        let hard_state = at_term(term);
        let entries = log_of(terms);
        let node = sim.nodes.get_mut(&id).expect("node exists");
        let restore = Restore {
            snapshot: None,
            hard_state,
            entries: entries.clone(),
            applied: 0,
        };
        let raft = Raft::restore(node.config.clone(), restore).expect("valid restore");
        sim.checker
            .wrote(&raft, &entries)
            .expect("the logs agree wherever they hold the same index and term");
        node.raft = Some(raft);
        node.durable = Durable {
            hard_state,
            entries,
            ..Durable::default()
        };
    }
    sim
}

/// Ticks only node `id` until it starts an election, then delivers every message until the
/// cluster is quiet. The other nodes' clocks stand still, so nobody competes with it.
pub fn campaign(sim: &mut Sim, id: NodeId) {
    while sim.raft(id).role() == Role::Follower {
        sim.tick_node(id);
    }
    sim.deliver_all();
}
