//! The leader's view of every follower ([`Progress`]) and the votes of an election, over the
//! current [`JointConfig`]. Quorum decisions are delegated to `quorum`.

mod inflights;
mod progress;

pub(crate) use progress::Progress;
pub use progress::ProgressState;

use std::collections::BTreeSet;

use crate::membership::Membership;
use crate::quorum::{JointConfig, VoteResult};
use crate::types::{Index, NodeId};

#[derive(Clone, Debug)]
pub(crate) struct Tracker {
    config: JointConfig,
    /// Voters and learners alike: everyone the leader replicates to.
    members: Vec<NodeId>,
    /// One entry per member, sorted by id; small clusters make a linear scan the fastest map.
    progress: Vec<(NodeId, Progress)>,
    votes: Vec<(NodeId, bool)>,
}

impl Tracker {
    pub(crate) fn new(membership: &Membership) -> Tracker {
        Tracker {
            config: membership.quorum(),
            members: membership.members(),
            progress: Vec::new(),
            votes: Vec::new(),
        }
    }

    /// Switches to a new membership. With `keep_progress` (a leader), members that stay keep
    /// their progress and new ones start probing at `next_index`.
    pub(crate) fn set_membership(
        &mut self,
        membership: &Membership,
        next_index: Index,
        messages_max: usize,
        bytes_max: u64,
    ) {
        self.config = membership.quorum();
        self.members = membership.members();
        let members = &self.members;
        self.progress.retain(|(id, _)| members.contains(id));
        for id in members {
            if !self.progress.iter().any(|(p, _)| p == id) {
                let mut pr = Progress::new(next_index, messages_max, bytes_max);
                pr.set_recent_active(true);
                self.progress.push((*id, pr));
            }
        }
        self.progress.sort_by_key(|(id, _)| *id);
    }

    pub(crate) fn members(&self) -> &[NodeId] {
        &self.members
    }

    pub(crate) fn config(&self) -> &JointConfig {
        &self.config
    }

    /// Resets every member's progress, as a new leader does.
    pub(crate) fn reset_progress(
        &mut self,
        next_index: Index,
        messages_max: usize,
        bytes_max: u64,
    ) {
        self.progress = self
            .members
            .iter()
            .map(|&id| (id, Progress::new(next_index, messages_max, bytes_max)))
            .collect();
    }

    pub(crate) fn progress(&self, id: NodeId) -> Option<&Progress> {
        self.progress
            .iter()
            .find(|(p, _)| *p == id)
            .map(|(_, pr)| pr)
    }

    pub(crate) fn progress_mut(&mut self, id: NodeId) -> Option<&mut Progress> {
        self.progress
            .iter_mut()
            .find(|(p, _)| *p == id)
            .map(|(_, pr)| pr)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (NodeId, &Progress)> {
        self.progress.iter().map(|(id, pr)| (*id, pr))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (NodeId, &mut Progress)> {
        self.progress.iter_mut().map(|(id, pr)| (*id, pr))
    }

    /// The index a quorum has durably matched.
    pub(crate) fn committed_index(&self) -> Index {
        self.config
            .committed_index(|id| self.progress(id).map(Progress::match_index))
    }

    /// The newest read round a quorum has confirmed.
    pub(crate) fn confirmed_read_seq(&self) -> u64 {
        self.config
            .committed_index(|id| self.progress(id).map(Progress::read_ack))
    }

    /// Whether a quorum was heard from since the flags were last cleared (`self_id` counts).
    pub(crate) fn quorum_active(&self, self_id: NodeId) -> bool {
        let result = self.config.vote_result(|id| {
            Some(id == self_id || self.progress(id).is_some_and(Progress::recent_active))
        });
        result == VoteResult::Won
    }

    /// How many of `voters` were heard from recently (`self_id` counts), and whether they are a
    /// majority of them.
    pub(crate) fn heard_quorum_of(
        &self,
        voters: &BTreeSet<NodeId>,
        self_id: NodeId,
    ) -> (usize, bool) {
        let heard = voters
            .iter()
            .filter(|id| {
                **id == self_id || self.progress(**id).is_some_and(Progress::heard_recently)
            })
            .count();
        (heard, heard * 2 > voters.len())
    }

    pub(crate) fn reset_votes(&mut self) {
        self.votes.clear();
    }

    /// Records `id`'s vote (the first answer counts) and returns the tally.
    pub(crate) fn record_vote(&mut self, id: NodeId, granted: bool) -> VoteResult {
        if !self.votes.iter().any(|(v, _)| *v == id) {
            self.votes.push((id, granted));
        }
        self.tally()
    }

    pub(crate) fn tally(&self) -> VoteResult {
        self.config.vote_result(|id| {
            self.votes
                .iter()
                .find(|(v, _)| *v == id)
                .map(|(_, granted)| *granted)
        })
    }
}
