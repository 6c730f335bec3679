//! The leader's view of every follower ([`Progress`]) and the votes of an election, over the
//! current [`JointConfig`]. Quorum decisions are delegated to `quorum`.

mod inflights;
mod progress;

pub(crate) use progress::Progress;
pub use progress::ProgressState;

use crate::quorum::{JointConfig, VoteResult};
use crate::types::{Index, NodeId};

#[derive(Clone, Debug)]
pub(crate) struct Tracker {
    config: JointConfig,
    /// One entry per member, sorted by id; small clusters make a linear scan the fastest map.
    progress: Vec<(NodeId, Progress)>,
    votes: Vec<(NodeId, bool)>,
}

impl Tracker {
    pub(crate) fn new(config: JointConfig) -> Tracker {
        Tracker {
            config,
            progress: Vec::new(),
            votes: Vec::new(),
        }
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
            .config
            .voter_ids()
            .into_iter()
            .map(|id| (id, Progress::new(next_index, messages_max, bytes_max)))
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
