//! Safety invariants, checked by the simulator after every step:
//! - Election Safety: at most one leader per term.
//! - Log Matching: two logs with an entry of the same index and term hold the same entry there
//!   and agree on the term of the entry before it (hence, inductively, on the whole prefix).
//! - Leader Completeness: a leader holds every entry committed in an earlier term.
//! - State Machine Safety: no two nodes apply different entries at one index.
//! - A node's commit index never decreases within one incarnation.
//! - A read served at index i covers every entry committed before the read was requested.

use std::collections::{BTreeMap, HashMap};

use raft_core::{Entry, Index, NodeId, Payload, Raft, Role, Term};

#[derive(Default, Debug)]
pub struct Checker {
    leaders: BTreeMap<Term, NodeId>,
    /// (index, term) -> (payload, term of the previous entry), for every entry any node wrote.
    written: HashMap<(Index, Term), (Payload, Term)>,
    /// Entries known committed, by index - 1: the entry's term, its payload, and the term of the
    /// node that first saw it committed (an upper bound on the term it was committed in: every
    /// leader of a later term must hold it).
    committed: Vec<(Term, Payload, Term)>,
    /// Entries applied, by index - 1 (the first node to apply an index sets it).
    applied: Vec<(Term, Payload)>,
    last_commit: BTreeMap<NodeId, Index>,
    /// Reads in flight: (node, read id) -> the committed index when requested.
    reads: HashMap<(NodeId, u64), Index>,
    pub reads_served: u64,
    pub entries_applied: u64,
    /// The state machine's hash after applying each index, as first seen.
    states: HashMap<Index, u64>,
}

pub type Violation = String;

impl Checker {
    /// The highest index known committed anywhere.
    pub fn committed_index(&self) -> Index {
        self.committed.len() as Index
    }

    pub fn committed_term(&self, index: Index) -> Option<Term> {
        self.committed.get(index as usize - 1).map(|(t, _, _)| *t)
    }

    /// A node restarted: its commit index may legitimately start lower.
    pub fn restarted(&mut self, id: NodeId) {
        self.last_commit.remove(&id);
        self.reads.retain(|(n, _), _| *n != id);
    }

    /// Entries a node hands to storage (its log as it now is).
    pub fn wrote(&mut self, raft: &Raft, entries: &[Entry]) -> Result<(), Violation> {
        for e in entries {
            let prev_term = if e.index == 1 {
                0
            } else {
                raft.entry_term(e.index - 1)
                    .ok_or("written entry without predecessor")?
            };
            match self.written.get(&(e.index, e.term)) {
                None => {
                    self.written.insert((e.index, e.term), (e.data.clone(), prev_term));
                }
                Some((data, pt)) if *data == e.data && *pt == prev_term => {}
                Some((data, pt)) => {
                    return Err(format!(
                        "Log Matching: node {} wrote ({}, {}) = {:?} after term {}, another log has {:?} after term {}",
                        raft.id(), e.index, e.term, e.data, prev_term, data, pt
                    ))
                }
            }
        }
        Ok(())
    }

    /// Observes a node's state after a step.
    pub fn observe(&mut self, raft: &Raft) -> Result<(), Violation> {
        let id = raft.id();
        if raft.commit_index() > raft.last_index() {
            return Err(format!("node {id}: commit index beyond last index"));
        }
        let last = self.last_commit.entry(id).or_insert(0);
        if raft.commit_index() < *last {
            return Err(format!(
                "node {id}: commit index went back from {} to {}",
                last,
                raft.commit_index()
            ));
        }
        let previous_commit = *last;
        *last = raft.commit_index();
        if raft.role() == Role::Leader {
            match self.leaders.get(&raft.term()) {
                Some(other) if *other != id => {
                    return Err(format!(
                        "Election Safety: nodes {other} and {id} both lead term {}",
                        raft.term()
                    ))
                }
                Some(_) => {}
                None => {
                    self.leaders.insert(raft.term(), id);
                    self.check_leader_complete(raft)?;
                }
            }
        }
        // Entries below the first index were compacted into a snapshot on this node: committed
        // there, and checked when they were first seen.
        for index in (previous_commit + 1).max(raft.first_index())..=raft.commit_index() {
            let term = raft.entry_term(index).ok_or("committed entry missing")?;
            let (data, _) = self
                .written
                .get(&(index, term))
                .ok_or_else(|| format!("node {id} committed ({index}, {term}) nobody wrote"))?
                .clone();
            self.record_committed(index, term, data, raft.term())?;
        }
        Ok(())
    }

    fn record_committed(
        &mut self,
        index: Index,
        term: Term,
        data: Payload,
        seen_in: Term,
    ) -> Result<(), Violation> {
        let i = index as usize - 1;
        if i < self.committed.len() {
            if self.committed[i].0 != term {
                return Err(format!(
                    "two different entries committed at index {index}: terms {} and {term}",
                    self.committed[i].0
                ));
            }
            return Ok(());
        }
        if i > self.committed.len() {
            return Err(format!(
                "checker gap: index {index} committed before index {} was seen committed",
                self.committed.len() + 1
            ));
        }
        self.committed.push((term, data, seen_in));
        Ok(())
    }

    /// A leader must hold every entry committed in an earlier term.
    fn check_leader_complete(&self, raft: &Raft) -> Result<(), Violation> {
        for (i, (term, _, seen_in)) in self.committed.iter().enumerate() {
            let index = i as Index + 1;
            let compacted = index < raft.first_index();
            if *seen_in < raft.term() && !compacted && raft.entry_term(index) != Some(*term) {
                return Err(format!(
                    "Leader Completeness: node {} leads term {} without committed entry ({index}, {term})",
                    raft.id(),
                    raft.term()
                ));
            }
        }
        Ok(())
    }

    /// Every live leader of a later term must hold a newly committed entry.
    pub fn check_leaders_hold_committed(&self, rafts: &[&Raft]) -> Result<(), Violation> {
        for r in rafts {
            if r.role() == Role::Leader {
                self.check_leader_complete(r)?;
            }
        }
        Ok(())
    }

    pub fn applied(&mut self, id: NodeId, e: &Entry) -> Result<(), Violation> {
        self.entries_applied += 1;
        let i = e.index as usize - 1;
        if i < self.applied.len() {
            let (t, d) = &self.applied[i];
            if *t != e.term || *d != e.data {
                return Err(format!(
                    "State Machine Safety: node {id} applied ({}, {}) where another applied ({}, {t})",
                    e.index, e.term, e.index
                ));
            }
        } else if i == self.applied.len() {
            self.applied.push((e.term, e.data.clone()));
        } else {
            return Err(format!("node {id} applied index {} out of order", e.index));
        }
        Ok(())
    }

    /// Node `id`'s state machine is at `index` with `hash`: every node must agree, whether it
    /// replayed the log or restored a snapshot and applied the rest.
    pub fn state(&mut self, id: NodeId, index: Index, hash: u64) -> Result<(), Violation> {
        match self.states.get(&index) {
            None => {
                self.states.insert(index, hash);
                Ok(())
            }
            Some(h) if *h == hash => Ok(()),
            Some(h) => Err(format!(
                "node {id}'s state at index {index} is {hash:#x}, another node had {h:#x}"
            )),
        }
    }

    /// Where a committed entry with this payload is.
    pub fn committed_position(&self, data: &[u8]) -> Option<Index> {
        self.committed
            .iter()
            .position(|(_, d, _)| **d == *data)
            .map(|i| i as Index + 1)
    }

    pub fn read_requested(&mut self, node: NodeId, id: u64) {
        self.reads.insert((node, id), self.committed_index());
    }

    pub fn read_ready(&mut self, node: NodeId, id: u64, index: Index) -> Result<(), Violation> {
        let Some(bound) = self.reads.remove(&(node, id)) else {
            return Err(format!(
                "node {node}: read {id} ready twice or never requested"
            ));
        };
        self.reads_served += 1;
        if index < bound {
            return Err(format!(
                "stale read: node {node} read {id} served at index {index}, but {bound} was committed when it was requested"
            ));
        }
        Ok(())
    }

    pub fn read_finished(&mut self, node: NodeId, id: u64) {
        self.reads.remove(&(node, id));
    }
}
