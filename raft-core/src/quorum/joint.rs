//! A joint configuration: two majorities that must both agree.

use super::{MajorityConfig, VoteResult};
use crate::types::{Index, NodeId};

/// The configuration of a cluster: `incoming` alone in the steady state, `incoming` and
/// `outgoing` together while a membership change is in its joint phase.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JointConfig {
    incoming: MajorityConfig,
    outgoing: MajorityConfig,
}

impl JointConfig {
    pub fn new(incoming: MajorityConfig, outgoing: MajorityConfig) -> JointConfig {
        JointConfig { incoming, outgoing }
    }

    /// A steady (non-joint) configuration.
    pub fn simple(voters: impl IntoIterator<Item = NodeId>) -> JointConfig {
        JointConfig::new(MajorityConfig::new(voters), MajorityConfig::default())
    }

    pub fn incoming(&self) -> &MajorityConfig {
        &self.incoming
    }

    pub fn outgoing(&self) -> &MajorityConfig {
        &self.outgoing
    }

    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Whether `id` votes in either half.
    pub fn contains(&self, id: NodeId) -> bool {
        self.incoming.contains(id) || self.outgoing.contains(id)
    }

    /// Every voter of either half, once, in ascending order.
    pub fn voter_ids(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self
            .incoming
            .voters()
            .iter()
            .chain(self.outgoing.voters())
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Committed in a joint configuration means committed in both halves.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> Option<Index>) -> Index {
        let a = self.incoming.committed_index(&acked);
        let b = self.outgoing.committed_index(&acked);
        a.min(b)
    }

    /// Won needs both halves; lost if either half is lost.
    pub fn vote_result(&self, votes: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        let a = self.incoming.vote_result(&votes);
        let b = self.outgoing.vote_result(&votes);
        match (a, b) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }
}
