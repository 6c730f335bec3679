//! Messages between nodes. Only this file knows their shape; the runtime and the transport treat
//! them as values to encode and deliver.

use serde::{Deserialize, Serialize};

use crate::error::RejectReason;
use crate::membership::MembershipChange;
use crate::types::{Entry, Index, NodeId, Payload, SnapshotMeta, Term};

/// A message from one node to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender.
    pub from: NodeId,
    /// The recipient.
    pub to: NodeId,
    /// The sender's term. Ignored for the forwarding messages (see [`MessageBody::is_term_free`]).
    pub term: Term,
    /// What the message says.
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

/// What a message says: a protocol step, or a request forwarded between a follower and the leader
/// (and its answer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    /// Replicate `entries` after the entry at `prev_index` (whose term is `prev_term`).
    Append {
        /// The index of the entry just before `entries` (0 at the start of the log).
        prev_index: Index,
        /// The term of the entry at `prev_index` in the leader's log (0 at index 0).
        prev_term: Term,
        /// The entries that follow, in order; empty when the append only probes or carries the
        /// commit index.
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: Index,
    },
    /// A follower's answer to an `Append`, and to an `InstallSnapshot` once the follower holds the
    /// whole snapshot durably (or already holds its entries).
    AppendResponse(AppendOutcome),
    /// Keeps followers quiet, carries the commit index (never beyond what the follower is known
    /// to hold) and confirms leadership for the read round `read_seq`.
    Heartbeat {
        /// The leader's commit index, capped at what the follower is known to hold.
        commit: Index,
        /// The read round this heartbeat belongs to.
        read_seq: u64,
    },
    /// A follower's answer to a `Heartbeat`. Also the answer to an `Append` or `Heartbeat` from a
    /// leader of an older term, which learns the newer term from it.
    HeartbeatResponse {
        /// The read round confirmed: the heartbeat's `read_seq` (0 in an answer to an older term).
        read_seq: u64,
    },
    /// A vote request; with `pre_vote` the term is the one the sender would campaign in, and
    /// nobody changes state. `transfer` marks an election started by leadership transfer, which
    /// voters honour even while they believe a leader is alive.
    Vote {
        /// The index of the candidate's last entry.
        last_index: Index,
        /// The term of the candidate's last entry.
        last_term: Term,
        /// A pre-vote, not a vote.
        pre_vote: bool,
        /// Started by a leadership transfer (`TimeoutNow`).
        transfer: bool,
    },
    /// The answer to a `Vote`. A granted pre-vote carries the term asked about; every other answer
    /// carries the voter's term.
    VoteResponse {
        /// Whether the vote (or pre-vote) is granted.
        granted: bool,
        /// Whether it answers a pre-vote.
        pre_vote: bool,
    },
    /// Leadership transfer: start an election now.
    TimeoutNow,
    /// Bytes `offset..offset + data.len()` of the leader's snapshot, `total_bytes` long.
    InstallSnapshot {
        /// Boxed: every message is as large as the largest variant, and this one is rare.
        meta: Box<SnapshotMeta>,
        /// Where `data` starts in the snapshot, in bytes.
        offset: u64,
        /// The whole snapshot's size in bytes.
        total_bytes: u64,
        /// The chunk: at most the leader's `snapshot_chunk_bytes`.
        data: Payload,
    },
    /// The follower holds the snapshot at `index` up to byte `next_offset` and wants the rest.
    /// (Once it holds all of it and has made it durable, it answers with an accepting
    /// `AppendResponse` instead.)
    SnapshotResponse {
        /// The index of the snapshot being received.
        index: Index,
        /// How many of its bytes the follower holds: the offset of the next chunk it wants.
        next_offset: u64,
    },
    /// A follower forwards reads to the leader.
    ReadRequest {
        /// The ids the follower gave the reads.
        ids: Vec<ReadId>,
    },
    /// The leader's answers: each read may be served once the follower has applied its index.
    ReadResponse {
        /// Each read's id, with the index to wait for or why it was refused.
        outcomes: Vec<(ReadId, ReadOutcome)>,
    },
    /// A follower forwards proposals to the leader.
    Propose {
        /// Each proposal's id, given by the follower, with its payload.
        proposals: Vec<(ProposalId, Payload)>,
    },
    /// The leader's answer: where each proposal was appended, or why not.
    ProposeResponse {
        /// Each proposal's id, with its index and term in the leader's log or why it was refused.
        outcomes: Vec<(ProposalId, ProposeOutcome)>,
    },
    /// Answers a vote request from a node that the committed membership at `membership_index`
    /// leaves out: it has been removed, and stops campaigning.
    Removed {
        /// The index of the committed membership entry that leaves the recipient out.
        membership_index: Index,
    },
    /// A follower forwards a membership change to the leader; answered by `ProposeResponse`.
    ProposeMembership {
        /// The id the follower gave the change.
        id: ProposalId,
        /// The change asked for.
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
    Accepted {
        /// The last index at which the follower's log matches the leader's.
        match_index: Index,
    },
    /// The follower has no entry matching (`rejected_index`, its term). The hint names the last
    /// entry the follower has with an index at most `hint_index`'s and a term at most the
    /// leader's `prev_term`, so the leader can skip a whole term of mismatches in one round trip.
    Rejected {
        /// The `prev_index` of the append refused.
        rejected_index: Index,
        /// The index of the follower's hint entry (its compaction point when its log no longer
        /// holds such an entry).
        hint_index: Index,
        /// The term of that entry.
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
