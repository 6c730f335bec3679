//! Messages between nodes. Only this file knows their shape; the runtime and the transport treat
//! them as values to encode and deliver.

use serde::{Deserialize, Serialize};

use crate::error::RejectReason;
use crate::membership::MembershipChange;
use crate::types::{Entry, Index, NodeId, Payload, SnapshotMeta, Term};

/// A message from one node to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    /// The sender's term. Ignored for the forwarding messages (see [`MessageBody::is_term_free`]).
    pub term: Term,
    pub body: MessageBody,
}

/// Caller-visible id of a proposal, assigned by the node that accepted it.
pub type ProposalId = u64;
/// Caller-visible id of a read request, assigned by the node that accepted it.
pub type ReadId = u64;
/// The leader's answer to one forwarded proposal: its position in the log, or why not.
pub type ProposeOutcome = Result<(Index, Term), RejectReason>;
/// The leader's answer to one forwarded read: the index to wait for, or why not.
pub type ReadOutcome = Result<Index, RejectReason>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    /// Replicate `entries` after the entry at `prev_index` (whose term is `prev_term`).
    Append {
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: Index,
    },
    AppendResponse(AppendOutcome),
    /// Keeps followers quiet, carries the commit index (never beyond what the follower is known
    /// to hold) and confirms leadership for the read round `read_seq`.
    Heartbeat {
        commit: Index,
        read_seq: u64,
    },
    HeartbeatResponse {
        read_seq: u64,
    },
    /// A vote request; with `pre_vote` the term is the one the sender would campaign in, and
    /// nobody changes state. `transfer` marks an election started by leadership transfer, which
    /// voters honour even while they believe a leader is alive.
    Vote {
        last_index: Index,
        last_term: Term,
        pre_vote: bool,
        transfer: bool,
    },
    VoteResponse {
        granted: bool,
        pre_vote: bool,
    },
    /// Leadership transfer: start an election now.
    TimeoutNow,
    /// Bytes `offset..offset + data.len()` of the leader's snapshot, `total_bytes` long.
    InstallSnapshot {
        /// Boxed: every message is as large as the largest variant, and this one is rare.
        meta: Box<SnapshotMeta>,
        offset: u64,
        total_bytes: u64,
        data: Payload,
    },
    /// The follower holds the snapshot at `index` up to byte `next_offset` and wants the rest.
    /// (Once it holds all of it and has made it durable, it answers with an accepting
    /// `AppendResponse` instead.)
    SnapshotResponse {
        index: Index,
        next_offset: u64,
    },
    /// A follower forwards reads to the leader.
    ReadRequest {
        ids: Vec<ReadId>,
    },
    /// The leader's answers: each read may be served once the follower has applied its index.
    ReadResponse {
        outcomes: Vec<(ReadId, ReadOutcome)>,
    },
    /// A follower forwards proposals to the leader.
    Propose {
        proposals: Vec<(ProposalId, Payload)>,
    },
    /// The leader's answer: where each proposal was appended, or why not.
    ProposeResponse {
        outcomes: Vec<(ProposalId, ProposeOutcome)>,
    },
    /// Answers a vote request from a node that the committed membership at `membership_index`
    /// leaves out: it has been removed, and stops campaigning.
    Removed {
        membership_index: Index,
    },
    /// A follower forwards a membership change to the leader; answered by `ProposeResponse`.
    ProposeMembership {
        id: ProposalId,
        change: MembershipChange,
    },
}

impl MessageBody {
    /// Forwarding messages are requests between a node and its caller's proxy, not protocol
    /// steps: their term is informational and never changes the receiver's term.
    pub fn is_term_free(&self) -> bool {
        matches!(
            self,
            MessageBody::ReadRequest { .. }
                | MessageBody::ReadResponse { .. }
                | MessageBody::Propose { .. }
                | MessageBody::ProposeResponse { .. }
                | MessageBody::ProposeMembership { .. }
                | MessageBody::Removed { .. }
        )
    }
}

/// A follower's answer to an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendOutcome {
    /// The follower's log matches the leader's up to `match_index`, durably.
    Accepted { match_index: Index },
    /// The follower has no entry matching (`rejected_index`, its term). The hint names the last
    /// entry the follower has with an index at most `hint_index`'s and a term at most the
    /// leader's `prev_term`, so the leader can skip a whole term of mismatches in one round trip.
    Rejected {
        rejected_index: Index,
        hint_index: Index,
        hint_term: Term,
    },
}

#[cfg(test)]
mod tests {
    /// Messages are moved around by value in every batch: keep them small.
    #[test]
    fn a_message_stays_small() {
        assert!(
            std::mem::size_of::<super::Message>() <= 80,
            "{}",
            std::mem::size_of::<super::Message>()
        );
    }
}
