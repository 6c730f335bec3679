//! Proposing many commands in one call: one check, consecutive entries, and one event for the
//! whole batch, so that a caller who gathers its clients' writes pays per batch, not per write.

use super::ready::Event;
use super::{Raft, RoleState};
use crate::error::RejectReason;
use crate::message::ProposalId;
use crate::types::{Entry, EntryKind, Payload};

impl Raft {
    /// Proposes every payload of `batch`, in order, as consecutive log entries; returns the id
    /// of the first: the others follow it one by one (`first + i` for `batch[i]`). All or
    /// nothing: the whole batch is refused, with the reason, if any of it would be.
    ///
    /// On the leader the answer is one [`Event::ProposalsAppended`] for the whole batch. A
    /// follower forwards the batch to the leader; its answer comes back as
    /// `ProposalsAppended` for each run of consecutive proposals the leader placed together
    /// (usually the whole batch), or `Rejected` per proposal.
    pub fn propose_batch(&mut self, batch: Vec<Payload>) -> Result<ProposalId, RejectReason> {
        if batch.is_empty() {
            return Err(RejectReason::EmptyBatch);
        }
        let limit_bytes = self.cfg.proposal_bytes_max;
        if let Some(p) = batch.iter().find(|p| p.len() as u64 > limit_bytes) {
            return Err(RejectReason::ProposalTooLarge {
                size_bytes: p.len() as u64,
                limit_bytes,
            });
        }
        if !self.is_leader() {
            return self.forward_batch(batch);
        }
        self.check_batch_room(&batch)?;
        let (index, term, count) = (self.log.last_index() + 1, self.term, batch.len());
        for (i, data) in batch.into_iter().enumerate() {
            self.append_to_own_log(Entry {
                term,
                index: index + i as u64,
                kind: EntryKind::Command,
                data,
            });
        }
        let first = self.take_request_ids(count);
        self.events.push(Event::ProposalsAppended {
            first,
            count,
            index,
            term,
        });
        Ok(first)
    }

    /// Whether the leader may append `batch` now: no transfer under way, and room under
    /// `uncommitted_bytes_max` (an empty pipeline lets a single entry through whatever its
    /// size, so that it is not starved, but not a batch larger than the limit).
    fn check_batch_room(&self, batch: &[Payload]) -> Result<(), RejectReason> {
        let RoleState::Leader(ls) = &self.role else {
            unreachable!("checked by the caller");
        };
        if let Some(t) = ls.transfer {
            return Err(RejectReason::TransferInProgress { target: t.target });
        }
        let limit_bytes = self.cfg.uncommitted_bytes_max;
        let bytes: u64 = batch
            .iter()
            .map(|p| p.len() as u64 + crate::types::ENTRY_OVERHEAD_BYTES)
            .sum();
        let alone = ls.uncommitted_bytes == 0 && batch.len() == 1;
        if !alone && ls.uncommitted_bytes + bytes > limit_bytes {
            return Err(RejectReason::UncommittedBytesFull { limit_bytes });
        }
        Ok(())
    }

    /// A follower's batch goes to the leader in the next `ready`, like single proposals.
    fn forward_batch(&mut self, batch: Vec<Payload>) -> Result<ProposalId, RejectReason> {
        if !self.cfg.forward_proposals || self.leader.is_none() {
            return Err(RejectReason::NotLeader {
                leader_hint: self.leader,
            });
        }
        let limit = self.cfg.pending_proposals_max;
        if self.forwarded.proposals.len() + batch.len() > limit {
            return Err(RejectReason::TooManyPendingProposals { limit });
        }
        let first = self.take_request_ids(batch.len());
        for (i, data) in batch.into_iter().enumerate() {
            let id = first + i as u64;
            self.forwarded.proposals.insert(id, self.now_ticks);
            self.forwarded.proposal_buffer.push((id, data));
        }
        Ok(first)
    }
}
