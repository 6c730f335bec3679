//! The [`Raft`] state machine: its state, its inputs, and the rules every role shares (term
//! handling). Role-specific handling lives in the sibling files.

mod batch;
mod drain;
mod election;
mod forward;
mod members;
mod reads;
pub(crate) mod ready;
mod replication;
mod snapshot;
mod transfer;

use std::collections::BTreeMap;

use crate::config::Config;
use crate::error::{ConfigError, RejectReason, RestoreError, StartError};
use crate::log::Log;
use crate::membership::Membership;
use crate::message::{Message, MessageBody, ProposalId, ReadId};
use crate::rng::Rng;
use crate::tracker::{ProgressState, Tracker};
use crate::types::{
    Entry, HardState, Index, NodeId, Payload, Role, Snapshot, SnapshotMeta, SnapshotRead, Term,
};

use reads::LeaderReads;
use ready::{Event, Outgoing, PersistQueue};
use snapshot::IncomingSnapshot;

pub use ready::{Persist, PersistId, Ready};

/// Durable state to restart a node from.
#[derive(Clone, Debug, Default)]
pub struct Restore {
    /// The term, vote and commit index last made durable.
    pub hard_state: HardState,
    /// The newest durable snapshot, if any (its data stays with the caller). The caller restores
    /// its state machine from it before starting the node.
    pub snapshot: Option<Snapshot>,
    /// The log after the snapshot (from index 1 without one), contiguous.
    pub entries: Vec<Entry>,
    /// The index the caller's state machine has already applied: at least the snapshot's index,
    /// and 0 for a state machine rebuilt from the log.
    pub applied: Index,
}

/// What the leader knows of one follower, for status reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressView {
    /// The highest index known to be replicated on the follower.
    pub match_index: Index,
    /// The index of the next entry to send it.
    pub next_index: Index,
    /// Probing for the point where its log matches, or streaming entries to it.
    pub state: ProgressState,
    /// Append messages sent to it and not yet answered.
    pub inflight_messages: usize,
}

/// An input the core cannot take.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum StepError {
    /// The message is addressed to another node.
    #[error("message addressed to node {to}, this is node {this}")]
    WrongRecipient {
        /// The node it is addressed to.
        to: NodeId,
        /// This node.
        this: NodeId,
    },
    /// The sender is this node itself, or id 0.
    #[error("message claims to come from node {from}, which is invalid here")]
    BadSender {
        /// The sender it names.
        from: NodeId,
    },
}

/// Leader-only state; it exists exactly while the node leads.
#[derive(Debug)]
struct LeaderState {
    reads: LeaderReads,
    transfer: Option<Transfer>,
    /// Bytes of entries appended in this term and not yet committed.
    uncommitted_bytes: u64,
    /// The commit index moved (or the node just became leader): tell every follower soon.
    commit_broadcast_wanted: bool,
}

#[derive(Debug, Clone, Copy)]
struct Transfer {
    target: NodeId,
    elapsed_ticks: u64,
}

#[derive(Debug)]
enum RoleState {
    Follower,
    PreCandidate,
    Candidate,
    Leader(Box<LeaderState>),
}

/// Requests a follower forwarded to the leader and has not heard back about, with the tick they
/// were sent at.
#[derive(Debug, Default)]
struct Forwarded {
    proposals: BTreeMap<ProposalId, u64>,
    proposal_buffer: Vec<(ProposalId, Payload)>,
    reads: BTreeMap<ReadId, u64>,
    read_buffer: Vec<ReadId>,
}

/// One Raft node's protocol state. See the crate documentation for the full contract.
#[derive(Debug)]
pub struct Raft {
    id: NodeId,
    cfg: Config,
    term: Term,
    vote: Option<NodeId>,
    leader: Option<NodeId>,
    role: RoleState,
    tracker: Tracker,
    log: Log,
    rng: Rng,
    /// Logical clock: ticks since this incarnation started.
    now_ticks: u64,
    election_elapsed_ticks: u64,
    heartbeat_elapsed_ticks: u64,
    randomized_election_timeout_ticks: u64,
    persist: PersistQueue,
    outbox: Vec<Outgoing>,
    events: Vec<Event>,
    forwarded: Forwarded,
    /// A member told this node that a committed membership it has not seen leaves it out: it
    /// stops campaigning until it hears from a leader (which would mean it is back).
    told_removed: bool,
    /// Ids for proposals and reads accepted by this node.
    next_request_id: u64,
    /// The (role, term, leader) last reported in a `RoleChanged` event.
    reported: (Role, Term, Option<NodeId>),
    /// The log's membership epoch the tracker was last set from.
    membership_epoch: u64,
    /// The newest snapshot (its data is the caller's), to send to followers that need
    /// compacted entries.
    snapshot: Option<Snapshot>,
    /// Chunks of it for the caller to read, for followers.
    snapshot_reads: Vec<SnapshotRead>,
    /// A snapshot being received from the leader.
    incoming_snapshot: Option<IncomingSnapshot>,
}

impl Raft {
    /// A node of a brand-new cluster, with an empty log.
    pub fn new(cfg: Config) -> Result<Raft, ConfigError> {
        Raft::restore(cfg, Restore::default()).map_err(|e| match e {
            StartError::Config(e) => e,
            StartError::Restore(e) => unreachable!("an empty restore is consistent: {e}"),
        })
    }

    /// A node restarting from durable state.
    pub fn restore(cfg: Config, restore: Restore) -> Result<Raft, StartError> {
        cfg.validate()?;
        check_restore(&restore)?;
        let Restore {
            mut hard_state,
            snapshot,
            entries,
            applied,
        } = restore;
        let (prev_index, prev_term) = snapshot
            .as_ref()
            .map_or((0, 0), |s| (s.meta.index, s.meta.term));
        let last_term = entries.last().map_or(prev_term, |e| e.term);
        // A commit index beyond the durable log (a hard state written just before the entries
        // it covers) is clamped: those entries are gone, and the leader will tell again.
        hard_state.commit = hard_state.commit.min(prev_index + entries.len() as Index);
        // A hard state written before the entries of its term is tolerated by taking the larger.
        if last_term > hard_state.term {
            hard_state.term = last_term;
            hard_state.vote = None;
        }
        let base_membership = match &snapshot {
            Some(s) => s.meta.membership.clone(),
            None => Membership {
                addresses: cfg.addresses.clone(),
                ..Membership::with_voters(cfg.voters.iter().copied())
            },
        };
        let log = Log::restore(
            prev_index,
            prev_term,
            base_membership,
            entries,
            hard_state.commit,
            applied,
        );
        let tracker = Tracker::new(log.membership());
        let membership_epoch = log.membership_epoch();
        let mut raft = Raft {
            id: cfg.id,
            rng: Rng::new(cfg.seed),
            term: hard_state.term,
            vote: hard_state.vote,
            leader: None,
            role: RoleState::Follower,
            tracker,
            log,
            now_ticks: 0,
            election_elapsed_ticks: 0,
            heartbeat_elapsed_ticks: 0,
            randomized_election_timeout_ticks: 0,
            persist: PersistQueue::new(hard_state),
            outbox: Vec::new(),
            events: Vec::new(),
            forwarded: Forwarded::default(),
            told_removed: false,
            next_request_id: 1,
            reported: (Role::Follower, hard_state.term, None),
            membership_epoch,
            snapshot,
            snapshot_reads: Vec::new(),
            incoming_snapshot: None,
            cfg,
        };
        raft.reset_election_timer();
        // Answers to requests forwarded before a restart may still arrive; ids drawn from a
        // fresh seed keep them from matching the new incarnation's requests.
        raft.next_request_id = (raft.rng.next_u64() >> 16) + 1;
        Ok(raft)
    }

    // ----- Getters -----

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// Whom this node voted for in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }

    /// The leader of the current term, if this node knows it.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Whether this node has been removed from the cluster: its log's membership leaves it
    /// out, or a member told it that a committed one does. It does not campaign.
    pub fn is_removed(&self) -> bool {
        let m = self.log.membership();
        self.told_removed || (!m.voters.is_empty() && !m.is_member(self.id))
    }

    /// Follower, pre-candidate, candidate or leader.
    pub fn role(&self) -> Role {
        match self.role {
            RoleState::Follower => Role::Follower,
            RoleState::PreCandidate => Role::PreCandidate,
            RoleState::Candidate => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }

    /// Whether this node leads.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, RoleState::Leader(_))
    }

    /// The highest index known to be committed.
    pub fn commit_index(&self) -> Index {
        self.log.commit()
    }

    /// The index of the last entry in the log (durable or not).
    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }

    /// The term of the last entry in the log.
    pub fn last_term(&self) -> Term {
        self.log.last_term()
    }

    /// The last index acknowledged durable.
    pub fn stable_index(&self) -> Index {
        self.log.stable()
    }

    /// The last index the caller reported applied (`handle_applied`).
    pub fn applied_index(&self) -> Index {
        self.log.applied()
    }

    /// The term of the entry at `index`, while the log holds it.
    pub fn entry_term(&self, index: Index) -> Option<Term> {
        self.log.term(index)
    }

    /// The hard state as it is now (it may not be durable yet).
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.commit(),
        }
    }

    /// The hard state to hand out for persisting. Its commit index never covers entries that are
    /// not durable yet: written before those entries (as the contract allows), it would let a
    /// restarted node apply entries it never had, or ones a new leader had replaced.
    fn persistable_hard_state(&self) -> HardState {
        HardState {
            commit: self.log.commit().min(self.log.stable()),
            ..self.hard_state()
        }
    }

    /// The configuration this node runs with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The membership in force: the newest in the log, committed or not.
    pub fn membership(&self) -> &Membership {
        self.log.membership()
    }

    /// Whether the membership in force has committed.
    pub fn membership_committed(&self) -> bool {
        !self.log.has_pending_membership()
    }

    /// Where the newest snapshot stands, if the node has one.
    pub fn snapshot_meta(&self) -> Option<&SnapshotMeta> {
        self.snapshot.as_ref().map(|s| &s.meta)
    }

    /// The size of the newest snapshot's data (0 without one).
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.bytes)
    }

    /// How many entries the node holds in memory.
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// The first index still held in memory.
    pub fn first_index(&self) -> Index {
        self.log.prev_index() + 1
    }

    /// The leader's view of `peer` (`None` on a non-leader or for an unknown peer).
    pub fn progress(&self, peer: NodeId) -> Option<ProgressView> {
        if !self.is_leader() {
            return None;
        }
        self.tracker.progress(peer).map(|pr| ProgressView {
            match_index: pr.match_index(),
            next_index: pr.next_index(),
            state: pr.state(),
            inflight_messages: pr.inflight_count(),
        })
    }

    /// The randomized election timeout now in force, in ticks.
    pub fn election_timeout_ticks(&self) -> u64 {
        self.randomized_election_timeout_ticks
    }

    // ----- Inputs -----

    /// One unit of logical time passes.
    pub fn tick(&mut self) {
        self.now_ticks += 1;
        if self.is_leader() {
            self.tick_leader();
        } else {
            self.tick_non_leader();
        }
    }

    /// A message from a peer.
    pub fn step(&mut self, m: Message) -> Result<(), StepError> {
        if m.to != self.id {
            return Err(StepError::WrongRecipient {
                to: m.to,
                this: self.id,
            });
        }
        if m.from == self.id || m.from == 0 {
            return Err(StepError::BadSender { from: m.from });
        }
        if m.body.is_term_free() {
            self.step_forwarded(m);
            return Ok(());
        }
        if let MessageBody::Vote {
            last_index,
            last_term,
            ..
        } = m.body
        {
            if self.tell_if_removed(m.from, last_index, last_term) {
                return Ok(());
            }
        }
        if m.term > self.term && !self.accept_higher_term(&m) {
            return Ok(());
        }
        if m.term < self.term {
            self.answer_stale(&m);
            return Ok(());
        }
        match &m.body {
            MessageBody::Vote { .. } => self.handle_vote_request(&m),
            _ => match self.role {
                RoleState::Leader(_) => self.step_leader(m),
                RoleState::Candidate | RoleState::PreCandidate => self.step_candidate(m),
                RoleState::Follower => self.step_follower(m),
            },
        }
        Ok(())
    }

    /// Proposes `data` for the log. On a leader the entry is appended at once; on a follower it
    /// is forwarded to the leader when `forward_proposals` is set. Either way the outcome comes
    /// back as an [`Event`] naming the returned id: `ProposalAppended`, or, for forwarded
    /// proposals the leader answered together, one `ProposalsAppended` covering it. Many
    /// proposals at once are cheaper with [`Raft::propose_batch`].
    pub fn propose(&mut self, data: Payload) -> Result<ProposalId, RejectReason> {
        let size_bytes = data.len() as u64;
        if size_bytes > self.cfg.proposal_bytes_max {
            return Err(RejectReason::ProposalTooLarge {
                size_bytes,
                limit_bytes: self.cfg.proposal_bytes_max,
            });
        }
        if self.is_leader() {
            let (index, term) = self.append_proposal(data)?;
            let id = self.take_request_id();
            self.events
                .push(Event::ProposalAppended { id, index, term });
            Ok(id)
        } else {
            self.forward_proposals(vec![data])
        }
    }

    /// Asks for a linearizable read. The answer is an [`Event::ReadReady`] naming an index: the
    /// read may be served once the state machine has applied it.
    pub fn read_index(&mut self) -> Result<ReadId, RejectReason> {
        if self.is_leader() {
            let id = self.take_request_id();
            self.leader_read(self.id, id)?;
            Ok(id)
        } else {
            self.forward_read()
        }
    }

    /// Asks the leader to hand leadership to `target`.
    pub fn transfer_leadership(&mut self, target: NodeId) -> Result<(), RejectReason> {
        self.start_transfer(target)
    }

    /// The caller made the persist request `id` (and every earlier one) durable.
    pub fn handle_persisted(&mut self, id: PersistId) {
        let mut newest = None;
        while let Some(p) = self.persist.inflight.front() {
            if p.id > id {
                break;
            }
            if let Some(hs) = p.hard_state {
                self.persist.durable_hard_state = hs;
            }
            newest = self.persist.inflight.pop_front();
        }
        let Some(p) = newest else {
            return;
        };
        self.persist.acked = p.id;
        self.log.persisted(p.last_index, p.last_term);
        while let Some((gate, _)) = self.persist.gated.front() {
            if *gate > p.id {
                break;
            }
            let (_, message) = self.persist.gated.pop_front().expect("front exists");
            self.outbox.push(Outgoing {
                message,
                needs_durability: false,
            });
        }
        match self.role {
            RoleState::Leader(_) => self.maybe_commit(),
            RoleState::Candidate => self.count_own_vote_if_durable(),
            _ => {}
        }
    }

    /// The caller's state machine applied every entry up to `index`.
    pub fn handle_applied(&mut self, index: Index) {
        self.log.applied_to(index);
    }

    // ----- Shared rules -----

    /// A message with a higher term arrived. Returns whether to go on processing it.
    fn accept_higher_term(&mut self, m: &Message) -> bool {
        match &m.body {
            MessageBody::Vote {
                pre_vote, transfer, ..
            } => {
                if !transfer && self.in_leader_lease() {
                    // A leader is alive as far as this node knows: a disruptive candidate (for
                    // example one that was partitioned away) gets no answer at all.
                    return false;
                }
                if !pre_vote {
                    self.become_follower(m.term, None, Some(m.from));
                }
                true
            }
            // A granted pre-vote carries the term the candidate would run in, not the voter's.
            MessageBody::VoteResponse {
                granted: true,
                pre_vote: true,
            } => true,
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::TimeoutNow => {
                self.become_follower(m.term, Some(m.from), Some(m.from));
                true
            }
            _ => {
                self.become_follower(m.term, None, Some(m.from));
                true
            }
        }
    }

    /// A message from an older term: tell a stale leader or pre-candidate the news, drop the rest.
    fn answer_stale(&mut self, m: &Message) {
        match m.body {
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. } => {
                // Paper 5.1: the stale leader learns the newer term and steps down. Without this
                // a leader would never reach a node that moved to a higher term but cannot
                // campaign (a new voter still holding an old membership, say), nor learn it was
                // deposed while pre-vote and check-quorum stop it from raising the term itself.
                self.send(m.from, MessageBody::HeartbeatResponse { read_seq: 0 });
            }
            MessageBody::Vote { pre_vote: true, .. } => {
                self.send(
                    m.from,
                    MessageBody::VoteResponse {
                        granted: false,
                        pre_vote: true,
                    },
                );
            }
            _ => {}
        }
    }

    /// Check-quorum's lease on the follower side: it heard from a live leader recently. A node
    /// that has just started may have promised a leader its support before it went down, and
    /// has forgotten which, so it keeps the promise for the first election timeout too.
    fn in_leader_lease(&self) -> bool {
        let min = self.cfg.election_timeout_ticks_min;
        self.cfg.check_quorum
            && ((self.leader.is_some() && self.election_elapsed_ticks < min)
                || self.now_ticks < min)
    }

    /// Becomes (or stays) a follower in `term`. `cause` is the node whose message caused it.
    fn become_follower(&mut self, term: Term, leader: Option<NodeId>, cause: Option<NodeId>) {
        assert!(term >= self.term, "term must never decrease");
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        if let RoleState::Leader(ls) = std::mem::replace(&mut self.role, RoleState::Follower) {
            self.leader_stepped_down(*ls, cause);
        }
        self.set_leader(leader);
        self.reset_election_timer();
    }

    /// Records the known leader; requests forwarded to a previous one will get no answer.
    fn set_leader(&mut self, leader: Option<NodeId>) {
        if self.leader.is_some() && self.leader != leader {
            self.abandon_forwarded();
        }
        self.leader = leader;
    }

    fn reset_election_timer(&mut self) {
        self.election_elapsed_ticks = 0;
        self.randomized_election_timeout_ticks = self.rng.range(
            self.cfg.election_timeout_ticks_min,
            self.cfg.election_timeout_ticks_max,
        );
    }

    fn is_voter(&self) -> bool {
        self.log.membership().is_voter(self.id)
    }

    /// Whether this node may start an election: it votes in the newest membership in its log,
    /// or, while that one is uncommitted, in the committed one before it. (A node whose log holds
    /// an uncommitted change removing it may have the most complete log of all; it may lead until
    /// the change commits, then steps down, as the Raft thesis allows in 4.2.2.)
    fn can_campaign(&self) -> bool {
        self.is_voter()
            || (self.log.has_pending_membership()
                && self.log.membership_at(self.log.commit()).is_voter(self.id))
    }

    /// Advances a follower's commit index.
    fn commit_to(&mut self, index: Index) -> bool {
        self.log.commit_to(index)
    }

    fn take_request_id(&mut self) -> u64 {
        self.take_request_ids(1)
    }

    /// `count` consecutive request ids; returns the first.
    fn take_request_ids(&mut self, count: usize) -> u64 {
        let first = self.next_request_id;
        self.next_request_id += count as u64;
        first
    }

    /// Queues a message. A non-leader's messages wait for outstanding persistence.
    fn send(&mut self, to: NodeId, body: MessageBody) {
        let needs_durability = !self.is_leader();
        self.outbox.push(Outgoing {
            message: Message {
                from: self.id,
                to,
                term: self.term,
                body,
            },
            needs_durability,
        });
    }

    fn tick_non_leader(&mut self) {
        self.election_elapsed_ticks += 1;
        self.expire_forwarded();
        if self.election_elapsed_ticks >= self.randomized_election_timeout_ticks
            && self.can_campaign()
            && !self.told_removed
        {
            self.start_election(false);
        }
    }

    fn step_follower(&mut self, m: Message) {
        match m.body {
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.heard_from_leader(m.from);
                self.handle_append(m.from, m.term, prev_index, prev_term, entries, commit);
            }
            MessageBody::Heartbeat { commit, read_seq } => {
                self.heard_from_leader(m.from);
                self.commit_to(commit);
                self.send(m.from, MessageBody::HeartbeatResponse { read_seq });
            }
            MessageBody::TimeoutNow if self.can_campaign() => self.start_election(true),
            MessageBody::InstallSnapshot {
                meta,
                offset,
                total_bytes,
                data,
            } => {
                self.heard_from_leader(m.from);
                self.handle_snapshot_chunk(m.from, *meta, offset, total_bytes, data);
            }
            // Answers to requests of an earlier role; nothing to do with them now.
            _ => {}
        }
    }

    /// A vote request from a node that neither the committed membership nor the newest one
    /// holds, and whose log is behind this node's: it was removed (or never added) and is
    /// campaigning in vain, having missed the change. It is told so, and its request is
    /// ignored, so its higher terms do not disturb the cluster (Raft thesis 4.2.3). A candidate
    /// whose log is at least as complete as this one may be a member this node has not heard of
    /// yet (this node lags); its request is handled as usual, so no election is blocked.
    fn tell_if_removed(&mut self, from: NodeId, last_index: Index, last_term: Term) -> bool {
        let commit = self.log.commit();
        let committed = self.log.membership_at(commit);
        if committed.voters.is_empty()
            || committed.is_member(from)
            || self.log.membership().is_member(from)
            || self.log.is_up_to_date(last_index, last_term)
        {
            return false;
        }
        let membership_index = self.log.membership_index_at(commit);
        self.send(from, MessageBody::Removed { membership_index });
        true
    }

    /// A member says a committed membership at `membership_index` leaves this node out. Taken
    /// only if that membership is newer than any in this node's log: a member that is behind
    /// cannot talk it out of an election it belongs in.
    fn heard_removed(&mut self, membership_index: Index) {
        if membership_index > self.log.membership_index() && !self.is_leader() {
            self.told_removed = true;
            if self.role() != Role::Follower {
                self.become_follower(self.term, None, None);
            }
        }
    }

    fn heard_from_leader(&mut self, leader: NodeId) {
        self.told_removed = false;
        self.election_elapsed_ticks = 0;
        self.set_leader(Some(leader));
    }
}

fn check_restore(r: &Restore) -> Result<(), RestoreError> {
    let (prev_index, mut prev_term) = r
        .snapshot
        .as_ref()
        .map_or((0, 0), |s| (s.meta.index, s.meta.term));
    for (i, e) in r.entries.iter().enumerate() {
        let expected = prev_index + i as Index + 1;
        if e.index != expected {
            return Err(RestoreError::NotContiguous {
                position: i,
                index: e.index,
                expected,
            });
        }
        if e.term < prev_term {
            return Err(RestoreError::TermsDecrease { index: e.index });
        }
        prev_term = e.term;
    }
    Ok(())
}
