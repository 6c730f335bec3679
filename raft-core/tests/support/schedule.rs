//! Random schedules for the simulator: mostly ticks and deliveries, sometimes a persist
//! completing, a request, a membership change or a fault; then healing and the liveness check.

use raft_core::{ChangeStep, MembershipChange, NodeId, Payload};

use super::rng::SimRng;
use super::sim::{Faults, Sim};

impl Sim {
    /// One random step: mostly ticks and deliveries, sometimes a persist completing, a request,
    /// or a fault.
    pub fn random_step(&mut self) {
        self.stats.steps += 1;
        let ids = self.ids();
        let pick = |rng: &mut SimRng| ids[rng.below(ids.len() as u64) as usize];
        let roll = self.rng.below(1000);
        match roll {
            0..=99 => self.tick(),
            100..=599 => {
                let now = self.now_ticks;
                let ready: Vec<(NodeId, NodeId)> = self
                    .links
                    .iter()
                    .filter(|(_, q)| q.iter().any(|f| f.deliverable_at <= now))
                    .map(|(k, _)| *k)
                    .collect();
                if ready.is_empty() {
                    self.tick();
                } else {
                    let (from, to) = ready[self.rng.below(ready.len() as u64) as usize];
                    let reorder = self.rng.chance(self.faults.reorder);
                    self.deliver_one(from, to, reorder);
                }
            }
            600..=799 => {
                let busy: Vec<NodeId> = ids
                    .iter()
                    .copied()
                    .filter(|id| !self.nodes[id].pending_persists.is_empty())
                    .collect();
                if !busy.is_empty() {
                    let id = busy[self.rng.below(busy.len() as u64) as usize];
                    self.complete_persist(id);
                }
            }
            800..=879 => {
                let id = pick(&mut self.rng);
                if self.nodes[&id].is_up() {
                    let v = format!("v{}", self.stats.proposals);
                    self.propose(id, &v);
                }
            }
            880..=939 => {
                let id = pick(&mut self.rng);
                if self.nodes[&id].is_up() {
                    self.read(id);
                }
            }
            940..=949 => {
                let id = pick(&mut self.rng);
                let target = pick(&mut self.rng);
                if self.nodes[&id].is_up() {
                    let r = self.raft_mut(id).transfer_leadership(target);
                    self.note(format!("transfer {id} -> {target}: {r:?}"));
                    self.process(id);
                }
            }
            950..=964 if self.membership_changes => self.random_membership_change(),
            _ => self.random_fault(),
        }
    }

    /// Asks the leader for a random membership change: grow, shrink, add or promote a learner,
    /// or replace the leader itself.
    fn random_membership_change(&mut self) {
        let Some(leader) = self.leader() else {
            return;
        };
        let m = self.raft(leader).membership().clone();
        let change = if m.is_joint() {
            MembershipChange::LeaveJoint
        } else {
            let outsiders: Vec<NodeId> = self
                .ids()
                .into_iter()
                .filter(|n| !m.is_member(*n) && !self.decommissioned.contains(n))
                .collect();
            let voters: Vec<NodeId> = m.voters.iter().copied().collect();
            let learners: Vec<NodeId> = m.learners.iter().copied().collect();
            let pick = |rng: &mut SimRng, v: &[NodeId]| {
                (!v.is_empty()).then(|| v[rng.below(v.len() as u64) as usize])
            };
            let step = match self.rng.below(6) {
                0 => pick(&mut self.rng, &outsiders).map(|n| vec![ChangeStep::AddLearner(n)]),
                1 => pick(&mut self.rng, &learners).map(|n| vec![ChangeStep::AddVoter(n)]),
                2 => pick(&mut self.rng, &outsiders).map(|n| vec![ChangeStep::AddVoter(n)]),
                3 if voters.len() > 2 => {
                    pick(&mut self.rng, &voters).map(|n| vec![ChangeStep::Remove(n)])
                }
                4 => pick(&mut self.rng, &learners).map(|n| vec![ChangeStep::Remove(n)]),
                5 => pick(&mut self.rng, &outsiders)
                    .map(|n| vec![ChangeStep::AddVoter(n), ChangeStep::Remove(leader)]),
                _ => None,
            };
            let Some(steps) = step else {
                return;
            };
            MembershipChange::Steps {
                steps,
                auto_leave: self.rng.chance(800),
            }
        };
        let r = self.raft_mut(leader).propose_membership(change.clone());
        self.note(format!(
            "membership change at {leader}: {change:?} -> {r:?}"
        ));
        if r.is_ok() {
            self.stats.membership_changes += 1;
        }
        self.process(leader);
    }

    fn random_fault(&mut self) {
        let ids = self.ids();
        let id = ids[self.rng.below(ids.len() as u64) as usize];
        if self.decommissioned.contains(&id) {
            return;
        }
        if self.rng.chance(self.faults.crash * 20) {
            if self.nodes[&id].is_up() {
                self.crash(id);
            } else {
                self.restart(id);
            }
        } else if self.rng.chance(self.faults.partition * 20) {
            if self.cut.is_empty() {
                let side: Vec<NodeId> = ids
                    .iter()
                    .copied()
                    .filter(|_| self.rng.chance(500))
                    .collect();
                self.partition(&side);
            } else {
                self.heal();
            }
        }
    }

    /// Removes every fault: heals the network, restarts crashed nodes, completes all pending
    /// persists and stops injecting faults.
    pub fn heal_all(&mut self) {
        self.faults = Faults::none();
        self.heal();
        for id in self.ids() {
            if !self.nodes[&id].is_up() && !self.decommissioned.contains(&id) {
                self.restart(id);
            }
        }
        self.instant_persist = true;
        for id in self.ids() {
            while self.complete_persist(id) {}
        }
    }

    /// After `heal_all`: within `ticks_max` ticks a leader is elected, accepts a proposal (it may
    /// refuse while, say, a transfer it started is still running) and that proposal is applied on
    /// every node. Fails the run otherwise.
    pub fn check_liveness(&mut self, ticks_max: u64) {
        let value = format!("liveness-{}", self.seed);
        // (leader, term) that accepted the proposal. If leadership moves before it commits, the
        // entry may be legitimately lost, so the new leader is asked again.
        let mut accepted: Option<(NodeId, u64)> = None;
        for _ in 0..ticks_max {
            self.deliver_all();
            let current = self.leader().map(|l| (l, self.raft(l).term()));
            if accepted.is_some() && accepted != current {
                accepted = None;
            }
            if let (None, Some((leader, term))) = (accepted, current) {
                let r = self.raft_mut(leader).propose(Payload::from(value.as_str()));
                self.note(format!("liveness proposal at {leader}: {r:?}"));
                if r.is_ok() {
                    accepted = Some((leader, term));
                }
                self.process(leader);
                self.deliver_all();
            }
            if let Some(index) = self.checker.committed_position(value.as_bytes()) {
                let members = self
                    .latest_membership()
                    .map_or_else(|| self.ids(), |m| m.members());
                let done = members
                    .iter()
                    .all(|id| self.nodes[id].is_up() && self.nodes[id].sm.index >= index);
                if done {
                    return;
                }
            }
            self.tick();
        }
        self.fail(&format!(
            "no proposal was committed on every node within {ticks_max} ticks after healing (accepted by: {accepted:?})"
        ));
    }
}
