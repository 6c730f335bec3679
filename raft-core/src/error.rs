//! Typed reasons for everything the core refuses. Nothing is dropped without one of these
//! coming back to the caller.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::types::{NodeId, Term};

/// Why a proposal, read or leadership transfer was not (or is no longer) carried out.
#[derive(Clone, Debug, Error, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    /// This node is not the leader, and the request is not forwarded: it needs the leader itself,
    /// forwarding is off, or no leader is known. Also the answer of a node that is no longer the
    /// leader to a request forwarded to it.
    #[error("this node is not the leader; leader hint: {leader_hint:?}")]
    NotLeader {
        /// The leader, if this node knows it: where to send the request instead.
        leader_hint: Option<NodeId>,
    },
    /// The request was taken, then given up because leadership changed: the leader holding it
    /// stepped down, or the follower that forwarded it saw the leader change or heard nothing back
    /// within two maximum election timeouts.
    #[error("leadership changed (now term {term}) before the request completed")]
    LeadershipLost {
        /// The term of the node that gave the request up, when it did.
        term: Term,
    },
    /// A read waited on the leader for two maximum election timeouts without a quorum confirming
    /// the leader's leadership: the leader is probably cut off from the others.
    #[error("the leader could not confirm its leadership with a quorum in time; try another node")]
    LeadershipUnconfirmed,
    /// This node already holds as many reads as it may: queued on the leader, or forwarded by this
    /// follower and not yet answered.
    #[error("too many reads waiting (limit {limit})")]
    TooManyPendingReads {
        /// The limit, `Config::pending_reads_max`.
        limit: usize,
    },
    /// This follower has already forwarded as many proposals (membership changes included) as it
    /// may without hearing back from the leader.
    #[error("too many forwarded proposals waiting for the leader (limit {limit})")]
    TooManyPendingProposals {
        /// The limit, `Config::pending_proposals_max`.
        limit: usize,
    },
    /// The leader's entries appended and not yet committed would exceed their byte limit (each
    /// entry counted by [`Entry::size_bytes`](crate::Entry::size_bytes)). Transient: the proposal
    /// can succeed once commits catch up.
    #[error("the leader holds too many uncommitted bytes (limit {limit_bytes}); retry later")]
    UncommittedBytesFull {
        /// The limit in bytes, `Config::uncommitted_bytes_max`.
        limit_bytes: u64,
    },
    /// The proposal's payload is larger than a proposal may be. Permanent.
    #[error("proposal of {size_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    ProposalTooLarge {
        /// The payload's size in bytes.
        size_bytes: u64,
        /// The limit in bytes, `Config::proposal_bytes_max`.
        limit_bytes: u64,
    },
    /// The leader is handing leadership over: until that ends it takes no proposal, no membership
    /// change, and no transfer to another node.
    #[error("leadership is being transferred to node {target}")]
    TransferInProgress {
        /// The node leadership is being handed to.
        target: NodeId,
    },
    /// The transfer's target is not a voter of the membership in force. Permanent.
    #[error("node {target} is not a voter of this cluster and cannot lead it")]
    InvalidTransferTarget {
        /// The node named as target.
        target: NodeId,
    },
    /// The transfer's target did not take over within a minimum election timeout; the leader stays,
    /// and takes proposals again.
    #[error("node {target} did not take over leadership within an election timeout")]
    TransferTimedOut {
        /// The node that was to take over.
        target: NodeId,
    },
    /// The previous membership change has not committed yet: only one may be uncommitted at a time.
    #[error("a membership change is still pending; wait until it commits")]
    MembershipChangePending,
    /// The cluster is in a joint membership: the only change allowed is
    /// [`MembershipChange::LeaveJoint`](crate::MembershipChange::LeaveJoint).
    #[error("the cluster is in a joint membership; only leaving it is allowed now")]
    AlreadyJoint,
    /// `LeaveJoint` was asked for while the cluster is not in a joint membership. Permanent.
    #[error("the cluster is not in a joint membership")]
    NotJoint,
    /// A step does not fit the membership: it adds node 0, adds a learner that is already a member
    /// or a voter that is already a voter, or removes a node that is not a member. Permanent.
    #[error("the change cannot apply to node {node} in the current membership")]
    InvalidMembershipChange {
        /// The node the offending step names.
        node: NodeId,
    },
    /// The change would leave the cluster without voters. Permanent.
    #[error("the change would leave no voters")]
    NoVotersLeft,
    /// `Promote` names a node that is not a learner. Permanent.
    #[error("node {node} is not a learner; add it as a learner first, then promote it")]
    NotALearner {
        /// The node named.
        node: NodeId,
    },
    /// `Promote` names a learner that has not answered the leader within the last election timeout
    /// or so.
    #[error(
        "learner {node} has not answered the leader within an election timeout; a voter nobody \
         can reach would only raise the quorum"
    )]
    LearnerUnreachable {
        /// The learner.
        node: NodeId,
    },
    /// Refused by the strict reconfiguration check (`Config::strict_reconfiguration`): the new
    /// voters the leader heard from recently are not a majority of the new voters.
    #[error(
        "the new voters would not have a quorum among the members heard from recently ({active} \
         of {voters}); bring members back before changing the voters"
    )]
    QuorumAtRisk {
        /// How many of the new voters the leader heard from recently, itself included.
        active: usize,
        /// How many voters the new membership has.
        voters: usize,
    },
    /// A learner to be made a voter lags too far behind the leader's log, so that counting it would
    /// stall commits while it catches up.
    #[error(
        "learner {node} is not caught up with the leader yet (matched {matched}, need {needed})"
    )]
    LearnerNotCaughtUp {
        /// The learner.
        node: NodeId,
        /// The last index the leader knows the learner holds.
        matched: u64,
        /// The index it must hold first: the commit index for `AddVoter`, or the leader's last
        /// index less `Config::promote_lag_entries_max` for `Promote`.
        needed: u64,
    },
    /// `campaign` was called on the leader.
    #[error("this node is the leader already")]
    AlreadyLeader,
    /// `propose_batch` was given no proposal.
    #[error("a batch of proposals must hold at least one")]
    EmptyBatch,
    /// `campaign` was called on a node that may not campaign: it does not vote in its membership,
    /// or a member told it that it was removed. Permanent.
    #[error("node {node} is not a voter (or was removed) and cannot campaign")]
    NotAVoter {
        /// This node.
        node: NodeId,
    },
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
                | RejectReason::EmptyBatch
                | RejectReason::NoVotersLeft
                | RejectReason::NotJoint
        )
    }
}

/// A configuration the core cannot run with.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `id` is 0.
    #[error("node id 0 is reserved; ids start at 1")]
    ZeroId,
    /// `voters` holds id 0, or one id twice.
    #[error("the voter list contains id 0 or a duplicate")]
    BadVoterList,
    /// `heartbeat_interval_ticks` is 0.
    #[error("heartbeat interval must be at least 1 tick")]
    ZeroHeartbeat,
    /// `election_timeout_ticks_max` is not above `election_timeout_ticks_min`, or the minimum is
    /// not above `heartbeat_interval_ticks`.
    #[error(
        "election timeout range [{min}, {max}) must be non-empty and its minimum must exceed the \
         heartbeat interval ({heartbeat})"
    )]
    BadElectionTimeout {
        /// `election_timeout_ticks_min`.
        min: u64,
        /// `election_timeout_ticks_max`.
        max: u64,
        /// `heartbeat_interval_ticks`.
        heartbeat: u64,
    },
    /// `read_mode` is [`ReadMode::Lease`](crate::ReadMode::Lease) with `check_quorum` off: the
    /// lease rests on check-quorum's promises.
    #[error("lease-based reads require check_quorum, otherwise a deposed leader keeps serving")]
    LeaseWithoutCheckQuorum,
    /// With [`ReadMode::Lease`](crate::ReadMode::Lease), `lease_drift_margin_ticks` is not smaller
    /// than `election_timeout_ticks_min`, which would leave no lease.
    #[error(
        "lease drift margin ({margin} ticks) must be smaller than the minimum election timeout \
         ({min} ticks)"
    )]
    LeaseMarginTooLarge {
        /// `lease_drift_margin_ticks`.
        margin: u64,
        /// `election_timeout_ticks_min`.
        min: u64,
    },
    /// One of the count and byte limits is 0 (each but `promote_lag_entries_max` must be at
    /// least 1).
    #[error("limit `{name}` must be at least 1")]
    ZeroLimit {
        /// The field's name.
        name: &'static str,
    },
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
    /// The snapshot's index is beyond what the state machine has applied, as acknowledged with
    /// [`Raft::handle_applied`](crate::Raft::handle_applied).
    #[error("snapshot index {index} is beyond the applied index {applied}")]
    NotApplied {
        /// The snapshot's index.
        index: u64,
        /// The last index the caller acknowledged applied.
        applied: u64,
    },
    /// The snapshot is not past the newest one the node already holds.
    #[error("snapshot index {index} is not newer than the current snapshot at {current}")]
    NotNewer {
        /// The snapshot's index.
        index: u64,
        /// The index of the newest snapshot the node holds (0 without one).
        current: u64,
    },
}
