//! The output side of the contract: what one `Raft::ready` call hands the caller, and the
//! bookkeeping that lets persistence run asynchronously.

use std::collections::VecDeque;

use crate::error::RejectReason;
use crate::message::{Message, ProposalId, ReadId};
use crate::types::{
    Entry, HardState, Index, NodeId, Role, Snapshot, SnapshotChunk, SnapshotRead, Term,
};

/// Identifies one [`Persist`] request. Ids grow by one per request; acknowledging an id
/// acknowledges every earlier one too.
pub type PersistId = u64;

/// Everything the core wants done, drained in one go. See the crate documentation for the order
/// in which the caller must carry it out.
#[derive(Debug, Default)]
pub struct Ready {
    /// Messages that may be sent now, in any order.
    pub messages: Vec<Message>,
    /// State to make durable, then acknowledge with `Raft::handle_persisted(persist.id)`.
    pub persist: Option<Persist>,
    /// Messages to send once `persist` is durable, in any order: a follower's acknowledgement
    /// of the entries in it, a vote it records. (Messages waiting on an earlier persist still in
    /// flight come out of a later `Ready` once that one is acknowledged.)
    pub persisted_messages: Vec<Message>,
    /// Chunks of this node's snapshot to read and hand back with `Raft::snapshot_chunk`, for
    /// the leader to send to followers behind its log. Not urgent, never blocking: read them
    /// off the caller's loop; one never answered is asked again.
    pub snapshot_reads: Vec<SnapshotRead>,
    /// A snapshot received from the leader, durable now: replace the state machine's state with
    /// the one stored for it before applying `committed`. (Boxed: it is rare, and `Ready` is
    /// moved on every call.)
    pub snapshot: Option<Box<Snapshot>>,
    /// Committed entries to apply, in order. All of them are durable on this node.
    pub committed: Vec<Entry>,
    /// Outcomes of earlier requests and changes of role.
    pub events: Vec<Event>,
}

impl Ready {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.persist.is_none()
            && self.persisted_messages.is_empty()
            && self.snapshot_reads.is_empty()
            && self.snapshot.is_none()
            && self.committed.is_empty()
            && self.events.is_empty()
    }
}

/// A request to make state durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persist {
    /// Acknowledge with this id once durable.
    pub id: PersistId,
    /// The new hard state, when it changed.
    pub hard_state: Option<HardState>,
    /// Chunks of a snapshot from the leader, to write in order, before anything else in this
    /// request. One at offset 0 starts a snapshot anew (what was written of another is
    /// dropped); the others continue where the previous one ended. They need not be synced:
    /// a node that restarts asks the leader for the snapshot from its first byte again.
    pub snapshot_chunks: Vec<SnapshotChunk>,
    /// A snapshot from the leader that replaces the whole log, its chunks all written (in this
    /// request or earlier ones): make it durable as the node's snapshot, and drop every stored
    /// entry (the log is empty after `snapshot.meta.index` until `entries`).
    pub snapshot: Option<Box<Snapshot>>,
    /// Entries to write. When the first one's index is at or below the last index already
    /// written, the caller first discards every stored entry from that index on (a follower's
    /// conflicting suffix being replaced).
    pub entries: Vec<Entry>,
}

/// What a request the caller made earlier came to, or a change the caller should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Role, term or known leader changed.
    RoleChanged {
        /// The role now.
        role: Role,
        /// The term now.
        term: Term,
        /// The leader now, if known.
        leader: Option<NodeId>,
    },
    /// The proposal is in the log at (`index`, `term`). It is committed if and only if the entry
    /// applied at `index` has term `term`; any other term there means it was lost.
    ProposalAppended {
        /// The proposal.
        id: ProposalId,
        /// Where it is in the log.
        index: Index,
        /// The term of its entry.
        term: Term,
    },
    /// A run of proposals is in the log: proposal `first + i` at index `index + i`, for `i` in
    /// `0..count`, all with `term`; each is committed if and only if the entry applied at its
    /// index has that term. [`Raft::propose_batch`](crate::Raft::propose_batch) gives one for
    /// a whole batch; on a follower, forwarded proposals the leader answered together (placed
    /// one after another) also come back as one.
    ProposalsAppended {
        /// The first proposal of the run.
        first: ProposalId,
        /// How many proposals, at least 1.
        count: usize,
        /// Where the first is in the log.
        index: Index,
        /// The term of their entries.
        term: Term,
    },
    /// The read is linearizable once the state machine has applied `index`.
    ReadReady {
        /// The read.
        id: ReadId,
        /// The index the state machine must have applied before serving it.
        index: Index,
    },
    /// The request was refused or abandoned; it had no effect.
    Rejected {
        /// Which request.
        request: Request,
        /// Why.
        reason: RejectReason,
    },
    /// A proposal forwarded to a leader got no answer before that leader changed or went silent:
    /// it may or may not commit. (Proposals accepted locally never get this: their position in the
    /// log says what became of them.)
    ProposalOutcomeUnknown {
        /// The proposal.
        id: ProposalId,
    },
    /// This leader stepped down because the transfer target started its election.
    TransferHandedOff {
        /// The node leadership went to.
        target: NodeId,
    },
}

/// The request a rejection refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A proposal ([`Raft::propose`](crate::Raft::propose) or a membership change).
    Proposal(ProposalId),
    /// A read ([`Raft::read_index`](crate::Raft::read_index)).
    Read(ReadId),
    /// A leadership transfer to this node.
    Transfer(NodeId),
}

/// A message produced by the core and not yet handed out. Messages of a non-leader claim
/// durable state (a vote, a match index), so they wait for every outstanding persist that
/// changes the log, the term or the vote.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) message: Message,
    pub(crate) needs_durability: bool,
}

/// A persist handed out and not yet acknowledged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InflightPersist {
    pub(crate) id: PersistId,
    pub(crate) last_index: Index,
    pub(crate) last_term: Term,
    pub(crate) hard_state: Option<HardState>,
}

/// The bookkeeping of asynchronous persistence.
#[derive(Debug, Default)]
pub(crate) struct PersistQueue {
    pub(crate) next_id: PersistId,
    pub(crate) inflight: VecDeque<InflightPersist>,
    /// The newest persist that changes term, vote or log; messages wait for it.
    pub(crate) last_critical: PersistId,
    pub(crate) acked: PersistId,
    /// Messages held until the persist they name is acknowledged.
    pub(crate) gated: VecDeque<(PersistId, Message)>,
    /// The hard state last handed out, and the last acknowledged durable.
    pub(crate) emitted_hard_state: HardState,
    pub(crate) durable_hard_state: HardState,
}

impl PersistQueue {
    pub(crate) fn new(restored: HardState) -> PersistQueue {
        PersistQueue {
            next_id: 1,
            emitted_hard_state: restored,
            durable_hard_state: restored,
            ..PersistQueue::default()
        }
    }

    /// Whether a message needing durability must wait, and for which persist.
    pub(crate) fn gate(&self) -> Option<PersistId> {
        (self.last_critical > self.acked).then_some(self.last_critical)
    }
}
