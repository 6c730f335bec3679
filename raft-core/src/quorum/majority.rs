//! A simple majority of a set of voters.

use std::collections::BTreeSet;

use super::VoteResult;
use crate::types::{Index, NodeId};

/// A set of voters decided by simple majority.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MajorityConfig {
    /// Sorted and without duplicates.
    voters: Vec<NodeId>,
}

/// Voter counts up to this size are handled without allocating.
const STACK_VOTERS_MAX: usize = 7;

impl MajorityConfig {
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> MajorityConfig {
        let set: BTreeSet<NodeId> = voters.into_iter().collect();
        MajorityConfig {
            voters: set.into_iter().collect(),
        }
    }

    pub fn voters(&self) -> &[NodeId] {
        &self.voters
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.binary_search(&id).is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.voters.is_empty()
    }

    /// How many voters make a majority.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// The largest index that a majority has acknowledged. A voter missing from `acked` counts as
    /// having acknowledged nothing (0). An empty configuration returns `Index::MAX`, so that it
    /// never holds back the other half of a joint configuration.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> Option<Index>) -> Index {
        let n = self.voters.len();
        if n == 0 {
            return Index::MAX;
        }
        let mut stack = [0 as Index; STACK_VOTERS_MAX];
        let mut heap = Vec::new();
        let values: &mut [Index] = if n <= STACK_VOTERS_MAX {
            &mut stack[..n]
        } else {
            heap.resize(n, 0);
            &mut heap
        };
        for (slot, id) in values.iter_mut().zip(&self.voters) {
            *slot = acked(*id).unwrap_or(0);
        }
        // Sorted descending, the (quorum-1)th value is acknowledged by `quorum` voters.
        values.sort_unstable_by(|a, b| b.cmp(a));
        values[self.quorum() - 1]
    }

    /// The outcome of a vote where `votes` tells each voter's answer, if any.
    pub fn vote_result(&self, votes: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        if self.voters.is_empty() {
            return VoteResult::Won;
        }
        let (mut granted, mut missing) = (0usize, 0usize);
        for id in &self.voters {
            match votes(*id) {
                Some(true) => granted += 1,
                Some(false) => {}
                None => missing += 1,
            }
        }
        let q = self.quorum();
        if granted >= q {
            VoteResult::Won
        } else if granted + missing >= q {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }
}
