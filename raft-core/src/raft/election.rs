//! Elections: pre-vote, campaigning, granting votes, and becoming leader.

use super::reads::LeaderReads;
use super::{LeaderState, Raft, RoleState};
use crate::message::{Message, MessageBody};
use crate::quorum::VoteResult;
use crate::types::{Entry, EntryKind, NodeId, Payload};

use crate::error::RejectReason;

impl Raft {
    /// Starts an election now, as if this node's election timeout had run out: with a pre-vote
    /// first when [`Config::pre_vote`](crate::Config::pre_vote) is on, so that a node that
    /// cannot win does not disturb a healthy leader. (To move leadership away from a live
    /// leader, [`Raft::transfer_leadership`] is the way.) Refused on the leader, and on a node
    /// that is not a voter or was told it was removed.
    pub fn campaign(&mut self) -> Result<(), RejectReason> {
        if self.is_leader() {
            return Err(RejectReason::AlreadyLeader);
        }
        if !self.can_campaign() || self.told_removed {
            return Err(RejectReason::NotAVoter { node: self.id });
        }
        self.start_election(false);
        Ok(())
    }

    /// Starts an election: a pre-vote first when configured, unless leadership is being handed
    /// to this node (`transfer`), in which case the old leader asked for it and nobody needs
    /// convincing.
    pub(super) fn start_election(&mut self, transfer: bool) {
        if self.cfg.pre_vote && !transfer {
            self.become_pre_candidate();
        } else {
            self.become_candidate(transfer);
        }
    }

    fn become_pre_candidate(&mut self) {
        self.role = RoleState::PreCandidate;
        self.set_leader(None);
        self.reset_election_timer();
        self.tracker.reset_votes();
        let result = self.tracker.record_vote(self.id, true);
        self.request_votes(true, false);
        self.apply_vote_result(result);
    }

    fn become_candidate(&mut self, transfer: bool) {
        self.term += 1;
        self.vote = Some(self.id);
        self.role = RoleState::Candidate;
        self.set_leader(None);
        self.reset_election_timer();
        self.tracker.reset_votes();
        self.request_votes(false, transfer);
        // The node's own vote counts only once it is durable: a candidate that crashed before
        // persisting it could otherwise vote again, for someone else, in the same term.
        self.count_own_vote_if_durable();
    }

    fn request_votes(&mut self, pre_vote: bool, transfer: bool) {
        let term = if pre_vote { self.term + 1 } else { self.term };
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for peer in self.tracker.config().voter_ids() {
            if peer == self.id {
                continue;
            }
            self.outbox.push(super::ready::Outgoing {
                message: Message {
                    from: self.id,
                    to: peer,
                    term,
                    body: MessageBody::Vote {
                        last_index,
                        last_term,
                        pre_vote,
                        transfer,
                    },
                },
                needs_durability: true,
            });
        }
    }

    pub(super) fn count_own_vote_if_durable(&mut self) {
        let durable = self.persist.durable_hard_state;
        if matches!(self.role, RoleState::Candidate)
            && durable.term == self.term
            && durable.vote == Some(self.id)
        {
            let result = self.tracker.record_vote(self.id, true);
            self.apply_vote_result(result);
        }
    }

    fn apply_vote_result(&mut self, result: VoteResult) {
        match (result, &self.role) {
            (VoteResult::Won, RoleState::PreCandidate) => self.become_candidate(false),
            (VoteResult::Won, RoleState::Candidate) => self.become_leader(),
            (VoteResult::Lost, RoleState::PreCandidate | RoleState::Candidate) => {
                self.become_follower(self.term, None, None)
            }
            _ => {}
        }
    }

    /// Answers a vote or pre-vote request (term rules already applied by `step`).
    pub(super) fn handle_vote_request(&mut self, m: &Message) {
        let MessageBody::Vote {
            last_index,
            last_term,
            pre_vote,
            ..
        } = m.body
        else {
            return;
        };
        let can_vote = self.vote == Some(m.from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre_vote && m.term > self.term);
        let granted = can_vote && self.log.is_up_to_date(last_index, last_term);
        // A granted pre-vote answers in the requested term, so the pre-candidate can tell it from
        // answers to older rounds; everything else carries the voter's own term.
        let term = if pre_vote && granted {
            m.term
        } else {
            self.term
        };
        if granted && !pre_vote {
            self.vote = Some(m.from);
            self.election_elapsed_ticks = 0;
        }
        self.outbox.push(super::ready::Outgoing {
            message: Message {
                from: self.id,
                to: m.from,
                term,
                body: MessageBody::VoteResponse { granted, pre_vote },
            },
            needs_durability: !self.is_leader() || granted,
        });
    }

    /// Messages to a candidate or pre-candidate.
    pub(super) fn step_candidate(&mut self, m: Message) {
        match m.body {
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. } => {
                // A leader of this term exists (for a pre-candidate, of its current term).
                self.become_follower(self.term, Some(m.from), Some(m.from));
                self.step_follower(m);
            }
            MessageBody::VoteResponse { granted, pre_vote } => {
                let pre = matches!(self.role, RoleState::PreCandidate);
                let expected_term = if pre && granted {
                    self.term + 1
                } else {
                    self.term
                };
                if pre_vote != pre || m.term != expected_term {
                    return;
                }
                let result = self.tracker.record_vote(m.from, granted);
                self.apply_vote_result(result);
            }
            _ => {}
        }
    }

    fn become_leader(&mut self) {
        debug_assert!(matches!(self.role, RoleState::Candidate));
        self.role = RoleState::Leader(Box::new(LeaderState {
            reads: LeaderReads::default(),
            transfer: None,
            uncommitted_bytes: 0,
            commit_broadcast_wanted: true,
        }));
        self.set_leader(Some(self.id));
        self.heartbeat_elapsed_ticks = 0;
        self.election_elapsed_ticks = 0;
        self.tracker.reset_progress(
            self.log.last_index() + 1,
            self.cfg.inflight_messages_max,
            self.cfg.inflight_bytes_max,
        );
        let me = self.id;
        for (id, pr) in self.tracker.iter_mut() {
            pr.set_recent_active(true);
            if id == me {
                pr.want_send(false);
            }
        }
        // Paper 5.4.2: entries of earlier terms commit only through one of the leader's own term,
        // so append one at once instead of waiting for a client. While the membership exists only
        // in the configuration (a new cluster), that entry records it in the log, so that nodes
        // joining later and replaying the log learn who the members are.
        let kind = if self.log.membership_index() == 0 {
            EntryKind::Membership(Box::new(self.log.membership().clone()))
        } else {
            EntryKind::Blank
        };
        let first = Entry {
            term: self.term,
            index: self.log.last_index() + 1,
            kind,
            data: Payload::empty(),
        };
        self.append_to_own_log(first);
        self.follow_membership();
        // A joint membership left behind by the previous leader is left by this one.
        self.maybe_leave_joint();
        self.maybe_commit();
    }

    /// The `i`th member other than this node (learners included: everyone the leader
    /// replicates to), without allocating; `None` past the last.
    pub(super) fn peer(&self, i: usize) -> Option<NodeId> {
        self.tracker
            .members()
            .iter()
            .copied()
            .filter(|id| *id != self.id)
            .nth(i)
    }
}
