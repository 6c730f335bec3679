//! What the node's threads send each other. Every channel is bounded, directly or by the core:
//! the storage queue by `inflight_persists_max`, the apply queue by `unapplied_entries_max`.

use crossbeam_channel::Sender;
use raft_core::{
    Entry, Index, MembershipChange, NodeId, Payload, PersistId, ProgressView, Role, Snapshot,
    SnapshotMeta, SnapshotRead, Term,
};
use raft_core::{Membership, Message, Persist};

use crate::error::Error;
use crate::state_machine::StateMachine;
use crate::storage::StorageError;

pub(crate) use super::reply::Reply;

/// The state machine's response type.
pub(crate) type Response<S> = <S as StateMachine>::Response;

/// A read's query and the client waiting for its answer.
pub(crate) type PendingQuery<S> = (<S as StateMachine>::Query, Reply<Response<S>>);

/// A client waiting for its proposal's entry to be applied.
pub(crate) enum Waiter<R> {
    /// A command: answered with the state machine's response.
    Command(Reply<R>),
    /// A membership change: answered once it is applied.
    Membership(Reply<()>),
}

impl<R: 'static> Waiter<R> {
    /// Answers with an error.
    pub(crate) fn fail(self, e: Error) {
        match self {
            Waiter::Command(reply) => reply.send(Err(e)),
            Waiter::Membership(reply) => reply.send(Err(e)),
        }
    }
}

/// A client's request to the driver.
pub(crate) enum Request<S: StateMachine> {
    /// Commands to propose, in order, as one batch.
    Propose(Vec<(Vec<u8>, Reply<Response<S>>)>),
    /// Linearizable reads that share one ReadIndex round.
    Read(Vec<PendingQuery<S>>),
    /// Reads of the node's state as it is.
    ReadStale(Vec<PendingQuery<S>>),
    Membership {
        change: MembershipChange,
        reply: Reply<()>,
    },
    Transfer {
        target: NodeId,
        reply: Reply<()>,
    },
    Status {
        reply: Sender<Status>,
    },
    /// Stop (true) or resume (false) the node's clock, for fault injection.
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    Pause(bool),
    Shutdown,
}

/// Work for the storage thread.
pub(crate) enum StorageJob {
    /// Make this durable, then send these messages (which claim it is).
    Persist(Persist, Vec<Message>),
    /// The snapshot whose data the snapshot thread wrote is the node's now.
    SaveSnapshot(Snapshot),
    /// Data the snapshot thread wrote that the core did not take (a newer snapshot came).
    DiscardSnapshot(Index),
}

/// The storage thread's answers.
pub(crate) enum StorageDone {
    /// Everything up to this persist is durable; the messages that waited on it, for the
    /// driver to send when the storage thread has no transport of its own.
    Persisted(PersistId, Vec<Message>),
    Failed(StorageError),
}

/// Work for the apply thread, in log order.
pub(crate) enum ApplyJob<S: StateMachine> {
    /// Replace the state with a snapshot received from the leader (from the snapshot store).
    Restore(Snapshot),
    Entries(Vec<Entry>),
    /// Answer each waiter when the entry at its index is applied: with its result if the
    /// entry has `term` (the waiters of one append, which share a term).
    Waiters {
        term: Term,
        waiters: Vec<(Index, Waiter<Response<S>>)>,
    },
    /// Answer `queries` once everything up to `index` is applied.
    ReadAt {
        index: Index,
        queries: Vec<PendingQuery<S>>,
    },
    /// Answer `queries` now.
    Query(Vec<PendingQuery<S>>),
    /// Leadership was lost: waiters above `index` may or may not ever apply.
    FailWaitersAbove {
        index: Index,
    },
    /// The node failed: every waiting client gets this error.
    FailAll(Error),
}

/// The apply thread's answers.
pub(crate) enum ApplyDone {
    Applied(Index),
    /// The snapshot thread wrote the data of a snapshot at `index`, `bytes` long, durably.
    SnapshotTaken {
        index: Index,
        bytes: u64,
    },
    /// A chunk of the snapshot the core asked to read, for a follower.
    SnapshotChunk(SnapshotRead, Payload),
    Failed(String),
    /// Writing or reading snapshot data failed.
    StorageFailed(StorageError),
    /// The apply thread is gone without a word (its channel closed).
    Stopped,
}

/// A node's state, for operators and clients.
#[derive(Clone, Debug)]
pub struct Status {
    /// The node's id.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: Term,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// The highest index it knows committed.
    pub commit_index: Index,
    /// The highest index its state machine applied.
    pub applied_index: Index,
    /// The first index its log holds (after the snapshot).
    pub first_index: Index,
    /// The last index its log holds.
    pub last_index: Index,
    /// Entries held in memory.
    pub log_entries: usize,
    /// The newest snapshot's index, term and membership.
    pub snapshot: Option<SnapshotMeta>,
    /// Size of the newest snapshot's data.
    pub snapshot_bytes: u64,
    /// When this node last took or installed a snapshot (its start time, before the first):
    /// Redis's LASTSAVE.
    pub snapshot_at: std::time::SystemTime,
    /// The membership in force (the newest in its log).
    pub membership: Membership,
    /// The node was removed from the cluster and no longer campaigns.
    pub removed: bool,
    /// On the leader: each member's replication progress.
    pub peers: Vec<(NodeId, ProgressView)>,
}
