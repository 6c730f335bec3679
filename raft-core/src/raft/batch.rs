//! Proposing many commands in one call: one check, consecutive entries, and one event for the
//! whole batch, so that a caller who gathers its clients' writes pays per batch, not per write.

use super::ready::Event;
use super::Raft;
use crate::error::RejectReason;
use crate::message::ProposalId;
use crate::types::{Entry, EntryKind, Payload, ENTRY_OVERHEAD_BYTES};

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
            return self.forward_proposals(batch);
        }
        let bytes = batch
            .iter()
            .map(|p| p.len() as u64 + ENTRY_OVERHEAD_BYTES)
            .sum();
        self.check_room(batch.len(), bytes)?;
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
}
