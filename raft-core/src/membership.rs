//! Cluster membership: who votes, who only learns, and the changes between memberships.
//!
//! A membership is stored whole in a log entry ([`EntryKind::Membership`](crate::EntryKind)) and
//! takes effect when that entry commits. Changing the voters always goes through a joint
//! membership (old and new voters must both agree), which the leader leaves by appending the
//! new voters alone, automatically once the joint entry commits unless asked not to.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::RejectReason;
use crate::quorum::{JointConfig, MajorityConfig};
use crate::types::NodeId;

/// Who is in the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Membership {
    /// The voters (the incoming voters, during a joint phase).
    pub voters: BTreeSet<NodeId>,
    /// The previous voters, while a change is in its joint phase; empty otherwise.
    pub outgoing: BTreeSet<NodeId>,
    /// Members that receive the log but neither vote nor count toward commit.
    pub learners: BTreeSet<NodeId>,
    /// Leave the joint phase as soon as it commits.
    pub auto_leave: bool,
    /// Where members can be reached, as the application spells it (`host:port` for TCP).
    /// Carried in the log and in snapshots with the rest of the membership, so every node
    /// learns, keeps and recovers the address of every member, including those added later.
    pub addresses: BTreeMap<NodeId, String>,
}

/// One step of a membership change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangeStep {
    /// Adds a voter, or promotes a learner to voter.
    AddVoter(NodeId),
    /// Promotes a learner to voter: refused unless `id` is a learner (and, on the leader, has
    /// caught up). The safe way to grow a cluster: add a learner, let it catch up, promote it.
    Promote(NodeId),
    /// Adds a learner.
    AddLearner(NodeId),
    /// Adds a learner reachable at this address, which the membership then carries.
    AddLearnerAt(NodeId, String),
    /// Removes a voter or a learner.
    Remove(NodeId),
}

/// A requested membership change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Applies the steps together. If the voters change, the cluster enters a joint membership,
    /// left automatically once committed when `auto_leave` is set.
    Steps {
        /// The steps, applied in order to the membership in force.
        steps: Vec<ChangeStep>,
        /// When the voters change, leave the joint membership automatically once it commits (see
        /// [`Membership::auto_leave`]).
        auto_leave: bool,
    },
    /// Leaves the joint membership now in force.
    LeaveJoint,
}

impl Membership {
    /// The membership of a new cluster: these voters, no learners.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Membership {
        Membership {
            voters: voters.into_iter().collect(),
            ..Membership::default()
        }
    }

    /// Whether a change of voters is in its joint phase (`outgoing` is not empty).
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Votes in either half.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.outgoing.contains(&id)
    }

    /// Whether `id` is a voter (in either half) or a learner.
    pub fn is_member(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.learners.contains(&id)
    }

    /// Every member, once, in ascending order.
    pub fn members(&self) -> Vec<NodeId> {
        let mut all: BTreeSet<NodeId> = self.voters.clone();
        all.extend(&self.outgoing);
        all.extend(&self.learners);
        all.into_iter().collect()
    }

    /// The quorum configuration of this membership.
    pub fn quorum(&self) -> JointConfig {
        JointConfig::new(
            MajorityConfig::new(self.voters.iter().copied()),
            MajorityConfig::new(self.outgoing.iter().copied()),
        )
    }

    /// The membership after `change`, or why it cannot be made from this one.
    pub fn apply(&self, change: &MembershipChange) -> Result<Membership, RejectReason> {
        match change {
            MembershipChange::LeaveJoint => {
                if !self.is_joint() {
                    return Err(RejectReason::NotJoint);
                }
                let mut addresses = self.addresses.clone();
                addresses.retain(|id, _| self.voters.contains(id) || self.learners.contains(id));
                Ok(Membership {
                    voters: self.voters.clone(),
                    outgoing: BTreeSet::new(),
                    learners: self.learners.clone(),
                    auto_leave: false,
                    addresses,
                })
            }
            MembershipChange::Steps { steps, auto_leave } => {
                if self.is_joint() {
                    return Err(RejectReason::AlreadyJoint);
                }
                let mut voters = self.voters.clone();
                let mut learners = self.learners.clone();
                let mut addresses = self.addresses.clone();
                for step in steps {
                    match *step {
                        ChangeStep::AddLearnerAt(id, ref address) => {
                            if id == 0 || voters.contains(&id) || learners.contains(&id) {
                                return Err(RejectReason::InvalidMembershipChange { node: id });
                            }
                            learners.insert(id);
                            addresses.insert(id, address.clone());
                        }
                        ChangeStep::AddVoter(id) => {
                            if id == 0 || voters.contains(&id) {
                                return Err(RejectReason::InvalidMembershipChange { node: id });
                            }
                            learners.remove(&id);
                            voters.insert(id);
                        }
                        ChangeStep::Promote(id) => {
                            if !learners.remove(&id) {
                                return Err(RejectReason::NotALearner { node: id });
                            }
                            voters.insert(id);
                        }
                        ChangeStep::AddLearner(id) => {
                            if id == 0 || voters.contains(&id) || learners.contains(&id) {
                                return Err(RejectReason::InvalidMembershipChange { node: id });
                            }
                            learners.insert(id);
                        }
                        ChangeStep::Remove(id) => {
                            if !voters.remove(&id) && !learners.remove(&id) {
                                return Err(RejectReason::InvalidMembershipChange { node: id });
                            }
                            // A removed voter still votes, as an outgoing one, until the joint
                            // phase is left: its address goes then.
                            if !self.voters.contains(&id) {
                                addresses.remove(&id);
                            }
                        }
                    }
                }
                if voters.is_empty() {
                    return Err(RejectReason::NoVotersLeft);
                }
                let outgoing = if voters == self.voters {
                    BTreeSet::new()
                } else {
                    self.voters.clone()
                };
                let auto_leave = *auto_leave && !outgoing.is_empty();
                Ok(Membership {
                    voters,
                    outgoing,
                    learners,
                    auto_leave,
                    addresses,
                })
            }
        }
    }
}
