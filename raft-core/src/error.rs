//! Typed reasons for everything the core refuses. Nothing is dropped without one of these
//! coming back to the caller.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::types::{NodeId, Term};

/// Why a proposal, read or leadership transfer was not (or is no longer) carried out.
#[derive(Clone, Debug, Error, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    #[error("this node is not the leader; leader hint: {leader_hint:?}")]
    NotLeader { leader_hint: Option<NodeId> },
    #[error("leadership changed (now term {term}) before the request completed")]
    LeadershipLost { term: Term },
    #[error("the leader could not confirm its leadership with a quorum in time; try another node")]
    LeadershipUnconfirmed,
    #[error("too many reads waiting (limit {limit})")]
    TooManyPendingReads { limit: usize },
    #[error("too many forwarded proposals waiting for the leader (limit {limit})")]
    TooManyPendingProposals { limit: usize },
    #[error("the leader holds too many uncommitted bytes (limit {limit_bytes}); retry later")]
    UncommittedBytesFull { limit_bytes: u64 },
    #[error("proposal of {size_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    ProposalTooLarge { size_bytes: u64, limit_bytes: u64 },
    #[error("leadership is being transferred to node {target}")]
    TransferInProgress { target: NodeId },
    #[error("node {target} is not a voter of this cluster and cannot lead it")]
    InvalidTransferTarget { target: NodeId },
    #[error("node {target} did not take over leadership within an election timeout")]
    TransferTimedOut { target: NodeId },
    #[error("a membership change is still pending; wait until it commits")]
    MembershipChangePending,
    #[error("the cluster is in a joint membership; only leaving it is allowed now")]
    AlreadyJoint,
    #[error("the cluster is not in a joint membership")]
    NotJoint,
    #[error("the change cannot apply to node {node} in the current membership")]
    InvalidMembershipChange { node: NodeId },
    #[error("the change would leave no voters")]
    NoVotersLeft,
    #[error("node {node} is not a learner; add it as a learner first, then promote it")]
    NotALearner { node: NodeId },
    #[error(
        "learner {node} has not answered the leader within an election timeout; a voter nobody \
         can reach would only raise the quorum"
    )]
    LearnerUnreachable { node: NodeId },
    #[error(
        "the new voters would not have a quorum among the members heard from recently ({active} \
         of {voters}); bring members back before changing the voters"
    )]
    QuorumAtRisk { active: usize, voters: usize },
    #[error(
        "learner {node} is not caught up with the leader yet (matched {matched}, need {needed})"
    )]
    LearnerNotCaughtUp {
        node: NodeId,
        matched: u64,
        needed: u64,
    },
    #[error("this node is the leader already")]
    AlreadyLeader,
    #[error("node {node} is not a voter (or was removed) and cannot campaign")]
    NotAVoter { node: NodeId },
}

impl RejectReason {
    /// Whether sending the same request again can never succeed (it is wrong in itself, not
    /// just early): callers should report these rather than retry.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            RejectReason::ProposalTooLarge { .. }
                | RejectReason::InvalidTransferTarget { .. }
                | RejectReason::InvalidMembershipChange { .. }
                | RejectReason::NotALearner { .. }
                | RejectReason::NotAVoter { .. }
                | RejectReason::NoVotersLeft
                | RejectReason::NotJoint
        )
    }
}

/// A configuration the core cannot run with.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("node id 0 is reserved; ids start at 1")]
    ZeroId,
    #[error("the voter list contains id 0 or a duplicate")]
    BadVoterList,
    #[error("heartbeat interval must be at least 1 tick")]
    ZeroHeartbeat,
    #[error(
        "election timeout range [{min}, {max}) must be non-empty and its minimum must exceed the \
         heartbeat interval ({heartbeat})"
    )]
    BadElectionTimeout { min: u64, max: u64, heartbeat: u64 },
    #[error("lease-based reads require check_quorum, otherwise a deposed leader keeps serving")]
    LeaseWithoutCheckQuorum,
    #[error(
        "lease drift margin ({margin} ticks) must be smaller than the minimum election timeout \
         ({min} ticks)"
    )]
    LeaseMarginTooLarge { margin: u64, min: u64 },
    #[error("limit `{name}` must be at least 1")]
    ZeroLimit { name: &'static str },
}

/// Durable state handed to [`Raft::restore`](crate::Raft::restore) that no node could have
/// written: the caller's storage is damaged or mixed up.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RestoreError {
    /// The entry at `position` in the restored list does not have the index that follows the
    /// snapshot (or index 0) one by one.
    #[error("entry {position} of the restored log has index {index}, not {expected}")]
    NotContiguous {
        /// Position in the list.
        position: usize,
        /// The index it has.
        index: u64,
        /// The index it should have.
        expected: u64,
    },
    /// Entry terms decrease at this index.
    #[error("the restored log's terms decrease at index {index}")]
    TermsDecrease {
        /// The first index whose term is lower than the one before.
        index: u64,
    },
}

/// Why a node could not start.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The restored state is inconsistent.
    #[error("inconsistent restored state: {0}")]
    Restore(#[from] RestoreError),
}

/// Why a snapshot handed to [`Raft::compact`](crate::Raft::compact) was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CompactError {
    #[error("snapshot index {index} is beyond the applied index {applied}")]
    NotApplied { index: u64, applied: u64 },
    #[error("snapshot index {index} is not newer than the current snapshot at {current}")]
    NotNewer { index: u64, current: u64 },
}
