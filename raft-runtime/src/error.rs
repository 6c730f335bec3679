//! The runtime's errors: what a client of a [`Node`](crate::Node) can get back.
//!
//! The rule every write path keeps: once the core may have taken a write, giving up on it is
//! always [`Error::OutcomeUnknown`]. Only a request refused before the core took it gets an
//! error that invites a plain retry ([`Error::NotLeader`], [`Error::Busy`], [`Error::Shutdown`],
//! [`Error::Rejected`]), and [`Error::NotCommitted`] is given only when the entry is known to be
//! replaced.

use raft_core::{NodeId, RejectReason};
use thiserror::Error;

use crate::storage::StorageError;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Refused before the core took it: safe to send again, to the leader.
    #[error("not the leader; try {leader_hint:?}")]
    NotLeader { leader_hint: Option<NodeId> },
    /// A read that was not answered in time (writes that time out are `OutcomeUnknown`).
    #[error("timed out waiting for the outcome")]
    Timeout,
    /// The request queue is full; the request was never taken.
    #[error("too many requests queued; retry later")]
    Busy,
    /// The node is shut down and took nothing of this request.
    #[error("the node is shut down")]
    Shutdown,
    #[error("storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The node gave up on a write it may already have handed to Raft (leadership changed, the
    /// node shut down or failed, or the wait timed out): it may or may not be applied.
    #[error("the outcome is unknown: the command may have been appended to the log, and it may or may not be applied")]
    OutcomeUnknown,
    #[error("the command was not committed (another entry took its place); it is safe to retry")]
    NotCommitted,
    #[error("refused: {0}")]
    Rejected(RejectReason),
    #[error("the state machine refused the snapshot: {0}")]
    StateMachine(String),
}

impl From<RejectReason> for Error {
    fn from(r: RejectReason) -> Error {
        match r {
            RejectReason::NotLeader { leader_hint } => Error::NotLeader { leader_hint },
            other => Error::Rejected(other),
        }
    }
}
