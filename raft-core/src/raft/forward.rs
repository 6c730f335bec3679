//! Requests a follower forwards to the leader (proposals, reads), and the leader's answers.
//!
//! A follower remembers what it forwarded, bounded by `pending_proposals_max` and
//! `pending_reads_max`. Every forwarded request ends in an event: the leader's answer, or, when
//! the leader changes or stays silent for two maximum election timeouts, a rejection (reads) or
//! `ProposalOutcomeUnknown` (proposals, which the old leader may still have committed).

use super::ready::{Event, Request};
use super::Raft;
use crate::error::RejectReason;
use crate::membership::MembershipChange;
use crate::message::{Message, MessageBody, ProposalId, ProposeOutcome, ReadId};
use crate::types::{Index, Payload, Term};

impl Raft {
    /// A follower's proposals go to the leader in the next `ready`, in messages no larger than
    /// an append (see `flush_forwarded`).
    pub(super) fn forward_proposals(
        &mut self,
        batch: Vec<Payload>,
    ) -> Result<ProposalId, RejectReason> {
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

    /// A membership change asked of a follower goes to the leader like a proposal, and ends
    /// like one: appended, refused with the leader's reason, or of unknown outcome.
    pub(super) fn forward_membership(
        &mut self,
        change: MembershipChange,
    ) -> Result<ProposalId, RejectReason> {
        let Some(leader) = self.leader.filter(|_| self.cfg.forward_proposals) else {
            return Err(RejectReason::NotLeader {
                leader_hint: self.leader,
            });
        };
        let limit = self.cfg.pending_proposals_max;
        if self.forwarded.proposals.len() >= limit {
            return Err(RejectReason::TooManyPendingProposals { limit });
        }
        let id = self.take_request_id();
        self.forwarded.proposals.insert(id, self.now_ticks);
        self.send(leader, MessageBody::ProposeMembership { id, change });
        Ok(id)
    }

    pub(super) fn forward_read(&mut self) -> Result<ReadId, RejectReason> {
        if self.leader.is_none() {
            return Err(RejectReason::NotLeader { leader_hint: None });
        }
        let limit = self.cfg.pending_reads_max;
        if self.forwarded.reads.len() >= limit {
            return Err(RejectReason::TooManyPendingReads { limit });
        }
        let id = self.take_request_id();
        self.forwarded.reads.insert(id, self.now_ticks);
        self.forwarded.read_buffer.push(id);
        Ok(id)
    }

    /// At `ready`: everything forwarded since the last call goes to the leader, proposals in
    /// messages of at most `append_bytes_max` payload bytes (at least one proposal each), like
    /// appends, so no message outgrows what a transport carries; reads in one message.
    pub(super) fn flush_forwarded(&mut self) {
        let Some(leader) = self.leader else {
            return;
        };
        let mut batch = Vec::new();
        let mut batch_bytes = 0u64;
        for (id, data) in std::mem::take(&mut self.forwarded.proposal_buffer) {
            let bytes = data.len() as u64;
            if !batch.is_empty() && batch_bytes + bytes > self.cfg.append_bytes_max {
                let proposals = std::mem::take(&mut batch);
                self.send(leader, MessageBody::Propose { proposals });
                batch_bytes = 0;
            }
            batch_bytes += bytes;
            batch.push((id, data));
        }
        if !batch.is_empty() {
            self.send(leader, MessageBody::Propose { proposals: batch });
        }
        if !self.forwarded.read_buffer.is_empty() {
            let ids = std::mem::take(&mut self.forwarded.read_buffer);
            self.send(leader, MessageBody::ReadRequest { ids });
        }
    }

    /// The leader's answers to forwarded proposals. A run of consecutive proposals placed at
    /// consecutive indexes of one term (a forwarded batch) becomes one `ProposalsAppended`.
    fn answers_from_leader(&mut self, outcomes: Vec<(ProposalId, ProposeOutcome)>) {
        let mut run: Option<(ProposalId, usize, Index, Term)> = None;
        for (id, outcome) in outcomes {
            if self.forwarded.proposals.remove(&id).is_none() {
                continue;
            }
            match outcome {
                Ok((index, term)) => match &mut run {
                    Some((first, count, at, t))
                        if *first + *count as u64 == id
                            && *at + *count as u64 == index
                            && *t == term =>
                    {
                        *count += 1
                    }
                    _ => {
                        self.end_run(run.take());
                        run = Some((id, 1, index, term));
                    }
                },
                Err(reason) => {
                    self.end_run(run.take());
                    self.events.push(Event::Rejected {
                        request: Request::Proposal(id),
                        reason,
                    });
                }
            }
        }
        self.end_run(run);
    }

    fn end_run(&mut self, run: Option<(ProposalId, usize, Index, Term)>) {
        self.events.push(match run {
            None => return,
            Some((id, 1, index, term)) => Event::ProposalAppended { id, index, term },
            Some((first, count, index, term)) => Event::ProposalsAppended {
                first,
                count,
                index,
                term,
            },
        });
    }

    /// Forwarding messages, on either side.
    pub(super) fn step_forwarded(&mut self, m: Message) {
        match m.body {
            MessageBody::Propose { proposals } => {
                let outcomes = proposals
                    .into_iter()
                    .map(|(id, data)| (id, self.accept_forwarded_proposal(data)))
                    .collect();
                self.send(m.from, MessageBody::ProposeResponse { outcomes });
            }
            MessageBody::Removed { membership_index } => self.heard_removed(membership_index),
            MessageBody::ProposeMembership { id, change } => {
                let outcome = self.append_membership_change(change);
                self.send(
                    m.from,
                    MessageBody::ProposeResponse {
                        outcomes: vec![(id, outcome)],
                    },
                );
            }
            MessageBody::ProposeResponse { outcomes } => self.answers_from_leader(outcomes),
            MessageBody::ReadRequest { ids } => {
                for id in ids {
                    if let Err(reason) = self.leader_read(m.from, id) {
                        self.send(
                            m.from,
                            MessageBody::ReadResponse {
                                outcomes: vec![(id, Err(reason))],
                            },
                        );
                    }
                }
            }
            MessageBody::ReadResponse { outcomes } => {
                for (id, outcome) in outcomes {
                    if self.forwarded.reads.remove(&id).is_none() {
                        continue;
                    }
                    self.events.push(match outcome {
                        Ok(index) => Event::ReadReady { id, index },
                        Err(reason) => Event::Rejected {
                            request: Request::Read(id),
                            reason,
                        },
                    });
                }
            }
            _ => {}
        }
    }

    fn accept_forwarded_proposal(&mut self, data: Payload) -> ProposeOutcome {
        let size_bytes = data.len() as u64;
        if size_bytes > self.cfg.proposal_bytes_max {
            return Err(RejectReason::ProposalTooLarge {
                size_bytes,
                limit_bytes: self.cfg.proposal_bytes_max,
            });
        }
        self.append_proposal(data)
    }

    /// The leader changed: nothing forwarded to the old one will be answered.
    pub(super) fn abandon_forwarded(&mut self) {
        let reason = RejectReason::LeadershipLost { term: self.term };
        self.forwarded.proposal_buffer.clear();
        self.forwarded.read_buffer.clear();
        for (id, _) in std::mem::take(&mut self.forwarded.proposals) {
            self.events.push(Event::ProposalOutcomeUnknown { id });
        }
        for (id, _) in std::mem::take(&mut self.forwarded.reads) {
            self.events.push(Event::Rejected {
                request: Request::Read(id),
                reason: reason.clone(),
            });
        }
    }

    /// Forwarded requests unanswered for two maximum election timeouts are given up: the message
    /// or its answer was lost.
    pub(super) fn expire_forwarded(&mut self) {
        let horizon = 2 * self.cfg.election_timeout_ticks_max;
        let Some(oldest) = self.now_ticks.checked_sub(horizon) else {
            return;
        };
        let term = self.term;
        // Ids grow with time, so the oldest requests come first.
        while let Some((&id, &sent)) = self.forwarded.proposals.first_key_value() {
            if sent > oldest {
                break;
            }
            self.forwarded.proposals.remove(&id);
            self.forwarded.proposal_buffer.retain(|(p, _)| *p != id);
            self.events.push(Event::ProposalOutcomeUnknown { id });
        }
        while let Some((&id, &sent)) = self.forwarded.reads.first_key_value() {
            if sent > oldest {
                break;
            }
            self.forwarded.reads.remove(&id);
            self.forwarded.read_buffer.retain(|r| *r != id);
            self.events.push(Event::Rejected {
                request: Request::Read(id),
                reason: RejectReason::LeadershipLost { term },
            });
        }
    }
}
