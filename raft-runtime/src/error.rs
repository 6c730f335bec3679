//! The runtime's errors: what a client of a [`Node`](crate::Node) can get back.

use raft_core::{NodeId, RejectReason};
use thiserror::Error;

use crate::storage::StorageError;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("not the leader; try {leader_hint:?}")]
    NotLeader { leader_hint: Option<NodeId> },
    #[error("timed out waiting for the outcome")]
    Timeout,
    #[error("too many requests queued; retry later")]
    Busy,
    #[error("the node is shut down")]
    Shutdown,
    #[error("storage failed: {0}")]
    Storage(#[from] StorageError),
    #[error("the outcome is unknown: leadership changed after the command was appended; it may or may not apply")]
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
