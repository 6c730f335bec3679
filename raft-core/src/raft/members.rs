//! Membership changes: proposing them, and following the membership in the log.
//!
//! A node uses the newest membership in its log, committed or not (Raft thesis 4.1), so the
//! tracker follows the log: it changes when a leader appends a membership entry, when a
//! follower receives one, when a conflicting suffix holding one is truncated, and when a
//! snapshot is installed. Only one change may be uncommitted at a time.

use super::ready::Event;
use super::{Raft, RoleState};
use crate::error::RejectReason;
use crate::membership::{ChangeStep, Membership, MembershipChange};
use crate::message::ProposalId;
use crate::types::{Entry, EntryKind, Index, Payload, Term};

impl Raft {
    /// Proposes a membership change. Only the leader takes it, and only when the previous change
    /// has committed. The outcome comes back like any proposal's.
    pub fn propose_membership(
        &mut self,
        change: MembershipChange,
    ) -> Result<ProposalId, RejectReason> {
        if !self.is_leader() {
            return self.forward_membership(change);
        }
        let (index, term) = self.append_membership_change(change)?;
        let id = self.take_request_id();
        self.events
            .push(Event::ProposalAppended { id, index, term });
        Ok(id)
    }

    /// On the leader: checks `change` and appends it; its position in the log.
    pub(super) fn append_membership_change(
        &mut self,
        change: MembershipChange,
    ) -> Result<(Index, Term), RejectReason> {
        let RoleState::Leader(ls) = &self.role else {
            return Err(RejectReason::NotLeader {
                leader_hint: self.leader,
            });
        };
        if let Some(t) = ls.transfer {
            return Err(RejectReason::TransferInProgress { target: t.target });
        }
        if self.log.has_pending_membership() {
            return Err(RejectReason::MembershipChangePending);
        }
        let next = self.log.membership().apply(&change)?;
        if let MembershipChange::Steps { steps, .. } = &change {
            self.check_promotions_caught_up(steps)?;
            self.check_new_voters_reachable(steps, &next)?;
        }
        Ok(self.append_membership(next))
    }

    /// `Promote`: the learner must answer the leader and be within `promote_lag_entries_max` of
    /// its last index (like etcd's "learner is ready"), so it takes part in commits almost at
    /// once. `AddVoter` of a learner: it must hold everything committed, so that adding it
    /// cannot stall the commit index while it catches up.
    fn check_promotions_caught_up(&self, steps: &[ChangeStep]) -> Result<(), RejectReason> {
        let last = self.log.last_index();
        for step in steps {
            let (node, needed) = match *step {
                ChangeStep::Promote(node) => {
                    let heard = self
                        .tracker
                        .progress(node)
                        .is_some_and(|pr| pr.heard_recently());
                    if !heard {
                        return Err(RejectReason::LearnerUnreachable { node });
                    }
                    (node, last.saturating_sub(self.cfg.promote_lag_entries_max))
                }
                ChangeStep::AddVoter(node) if self.log.membership().learners.contains(&node) => {
                    (node, self.log.commit())
                }
                _ => continue,
            };
            let matched = self.tracker.progress(node).map_or(0, |pr| pr.match_index());
            if matched < needed {
                return Err(RejectReason::LearnerNotCaughtUp {
                    node,
                    matched,
                    needed,
                });
            }
        }
        Ok(())
    }

    /// The strict reconfiguration check: a change of voters is refused unless the new voters
    /// heard from recently are a quorum of them.
    fn check_new_voters_reachable(
        &self,
        steps: &[ChangeStep],
        next: &Membership,
    ) -> Result<(), RejectReason> {
        let risky = steps.iter().any(|s| {
            matches!(
                s,
                ChangeStep::Promote(_) | ChangeStep::AddVoter(_) | ChangeStep::Remove(_)
            )
        });
        if !self.cfg.strict_reconfiguration || !risky || next.voters == self.log.membership().voters
        {
            return Ok(());
        }
        let (active, quorum) = self.tracker.heard_quorum_of(&next.voters, self.id);
        if quorum {
            Ok(())
        } else {
            Err(RejectReason::QuorumAtRisk {
                active,
                voters: next.voters.len(),
            })
        }
    }

    fn append_membership(&mut self, membership: Membership) -> (Index, Term) {
        let entry = Entry {
            term: self.term,
            index: self.log.last_index() + 1,
            kind: EntryKind::Membership(Box::new(membership)),
            data: Payload::empty(),
        };
        let position = (entry.index, entry.term);
        self.append_to_own_log(entry);
        self.follow_membership();
        position
    }

    /// A leader whose joint membership has committed, marked `auto_leave`, appends the
    /// membership that leaves it.
    pub(super) fn maybe_leave_joint(&mut self) {
        let m = self.log.membership();
        if !self.is_leader() || !m.is_joint() || !m.auto_leave || self.log.has_pending_membership()
        {
            return;
        }
        if let Ok(next) = m.apply(&MembershipChange::LeaveJoint) {
            self.append_membership(next);
        }
    }

    /// Points the tracker at the log's membership when it changed.
    pub(super) fn follow_membership(&mut self) {
        if self.log.membership_epoch() == self.membership_epoch {
            return;
        }
        self.membership_epoch = self.log.membership_epoch();
        let membership = self.log.membership().clone();
        self.tracker.set_membership(
            &membership,
            self.log.last_index() + 1,
            self.cfg.inflight_messages_max,
            self.cfg.inflight_bytes_max,
        );
        if !self.is_leader() {
            return;
        }
        let me = self.id;
        for (id, pr) in self.tracker.iter_mut() {
            if id != me {
                pr.want_send(true);
            }
        }
        // The quorum changed: what counts as committed may have too.
        self.maybe_commit();
    }

    /// The leader's commit index advanced: a committed membership without this node ends its
    /// leadership (the remaining voters elect one among themselves), and a committed joint
    /// membership is left if it asked to be.
    pub(super) fn membership_committed_here(&mut self) {
        if !self.is_leader() || self.log.has_pending_membership() {
            return;
        }
        if !self.log.membership().is_voter(self.id) {
            self.become_follower(self.term, None, None);
            return;
        }
        self.maybe_leave_joint();
    }
}
