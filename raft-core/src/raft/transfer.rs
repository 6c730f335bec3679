//! Leadership transfer: catch the target up, then tell it to start an election at once.

use super::ready::{Event, Request};
use super::{LeaderState, Raft, RoleState, Transfer};
use crate::error::RejectReason;
use crate::message::MessageBody;
use crate::types::NodeId;

impl Raft {
    pub(super) fn start_transfer(&mut self, target: NodeId) -> Result<(), RejectReason> {
        let RoleState::Leader(ls) = &mut self.role else {
            return Err(RejectReason::NotLeader {
                leader_hint: self.leader,
            });
        };
        if target == self.id {
            self.events.push(Event::TransferHandedOff { target });
            return Ok(());
        }
        if let Some(t) = ls.transfer {
            return if t.target == target {
                Ok(())
            } else {
                Err(RejectReason::TransferInProgress { target: t.target })
            };
        }
        if !self.tracker.config().contains(target) {
            return Err(RejectReason::InvalidTransferTarget { target });
        }
        ls.transfer = Some(Transfer {
            target,
            elapsed_ticks: 0,
        });
        // Proposals are refused from now on, so the target's log can catch up with a fixed end.
        self.transfer_target_caught_up(target);
        if let Some(pr) = self.tracker.progress_mut(target) {
            pr.want_send(true);
        }
        Ok(())
    }

    /// Sends TimeoutNow once the transfer target holds the leader's whole log.
    pub(super) fn transfer_target_caught_up(&mut self, peer: NodeId) {
        let RoleState::Leader(ls) = &self.role else {
            return;
        };
        if ls.transfer.is_none_or(|t| t.target != peer) {
            return;
        }
        let caught_up = self
            .tracker
            .progress(peer)
            .is_some_and(|pr| pr.match_index() == self.log.last_index());
        if caught_up {
            self.void_lease();
            self.send(peer, MessageBody::TimeoutNow);
        }
    }

    /// A transfer that has not completed within an election timeout is abandoned.
    pub(super) fn tick_transfer(&mut self) {
        let RoleState::Leader(ls) = &mut self.role else {
            return;
        };
        let Some(t) = &mut ls.transfer else {
            return;
        };
        t.elapsed_ticks += 1;
        if t.elapsed_ticks >= self.cfg.election_timeout_ticks_min {
            let target = t.target;
            ls.transfer = None;
            self.events.push(Event::Rejected {
                request: Request::Transfer(target),
                reason: RejectReason::TransferTimedOut { target },
            });
        }
    }

    /// Cleans up after leadership ends. `cause` sent the message that ended it.
    pub(super) fn leader_stepped_down(&mut self, mut ls: LeaderState, cause: Option<NodeId>) {
        self.reject_leader_reads(&mut ls);
        if let Some(t) = ls.transfer {
            self.events.push(if cause == Some(t.target) {
                Event::TransferHandedOff { target: t.target }
            } else {
                Event::Rejected {
                    request: Request::Transfer(t.target),
                    reason: RejectReason::LeadershipLost { term: self.term },
                }
            });
        }
    }
}
