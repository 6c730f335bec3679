//! The runtime's errors: what a client of a [`Node`](crate::Node) can get back.
//!
//! The rule every write path keeps: once the core may have taken a write, giving up on it is
//! always [`Error::OutcomeUnknown`]. Only a request refused before the core took it gets an
//! error that invites a plain retry ([`Error::NotLeader`], [`Error::Busy`], [`Error::Shutdown`],
//! [`Error::Rejected`]), and [`Error::NotCommitted`] is given only when the entry is known to be
//! replaced.

use std::sync::Arc;

use raft_core::{NodeId, RejectReason, StartError};
use thiserror::Error;

use crate::storage::StorageError;

/// What a request to a [`Node`](crate::Node), or starting one, can fail with.
#[derive(Debug, Error, Clone)]
pub enum Error {
    /// Refused before the core took it: safe to send again, to the leader.
    #[error("not the leader; try {leader_hint:?}")]
    NotLeader {
        /// The leader, if this node knows it.
        leader_hint: Option<NodeId>,
    },
    /// A read that was not answered in time (writes that time out are `OutcomeUnknown`).
    #[error("timed out waiting for the outcome")]
    Timeout,
    /// The request queue is full; the request was never taken.
    #[error("too many requests queued; retry later")]
    Busy,
    /// The node is shut down and took nothing of this request.
    #[error("the node is shut down")]
    Shutdown,
    /// The node's storage failed; the node refuses everything from then on.
    #[error("storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The node gave up on a write it may already have handed to Raft (leadership changed, the
    /// node shut down or failed, or the wait timed out): it may or may not be applied.
    #[error("the outcome is unknown: the command may have been appended to the log, and it may or may not be applied")]
    OutcomeUnknown,
    /// Another entry took the write's place in the log: it will never apply.
    #[error("the command was not committed (another entry took its place); it is safe to retry")]
    NotCommitted,
    /// The core refused the request, for this reason.
    #[error("refused: {0}")]
    Rejected(RejectReason),
    /// The state machine failed: it refused a snapshot, or broke its contract (a wrong number
    /// of responses from `apply_batch`). The node refuses everything from then on.
    #[error("the state machine failed: {0}")]
    StateMachine(String),
    /// The durable state cannot be started from: the configuration is invalid, or the stored
    /// state is inconsistent.
    #[error("cannot start from the stored state: {0}")]
    Start(#[source] StartError),
    /// A thread of the node could not be started.
    #[error("cannot start thread {name}: {source}")]
    Spawn {
        /// The thread's name.
        name: String,
        /// Why.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The apply thread ended without reporting why: the state machine panicked.
    #[error("the apply thread stopped (the state machine panicked)")]
    ApplyThreadStopped,
}

/// Equal when the same variant carries equal data; operating-system errors compare by kind.
impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        use Error::*;
        match (self, other) {
            (NotLeader { leader_hint: a }, NotLeader { leader_hint: b }) => a == b,
            (Storage(a), Storage(b)) => a == b,
            (Rejected(a), Rejected(b)) => a == b,
            (StateMachine(a), StateMachine(b)) => a == b,
            (Start(a), Start(b)) => a == b,
            (Spawn { name: a, source: x }, Spawn { name: b, source: y }) => {
                a == b && x.kind() == y.kind()
            }
            (Timeout, Timeout)
            | (Busy, Busy)
            | (Shutdown, Shutdown)
            | (OutcomeUnknown, OutcomeUnknown)
            | (NotCommitted, NotCommitted)
            | (ApplyThreadStopped, ApplyThreadStopped) => true,
            _ => false,
        }
    }
}

impl Eq for Error {}

impl From<RejectReason> for Error {
    fn from(r: RejectReason) -> Error {
        match r {
            RejectReason::NotLeader { leader_hint } => Error::NotLeader { leader_hint },
            other => Error::Rejected(other),
        }
    }
}
