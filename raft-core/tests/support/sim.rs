//! A deterministic cluster simulator: N `Raft` nodes, simulated time, one message queue per
//! directed link, storage that completes when the schedule says so, and faults (drop, duplicate,
//! delay, reorder, partition, crash and restart losing whatever was not acknowledged durable).
//! Every run is a function of its seed; any failure panics with that seed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raft_core::{
    Config, Entry, Event, Index, Membership, Message, MessageBody, NodeId, Payload, Raft, Request,
    Restore, Role, Snapshot,
};

use super::checker::Checker;
pub use super::node::{Durable, Faults, SimNode, StateMachine};
use super::rng::SimRng;

/// Drops the next messages matching it: (from, to, how many more, which).
type DropRule = (NodeId, NodeId, usize, fn(&MessageBody) -> bool);

pub(super) struct InFlight {
    pub(super) deliverable_at: u64,
    message: Message,
}

pub struct Sim {
    pub seed: u64,
    pub(super) rng: SimRng,
    pub nodes: BTreeMap<NodeId, SimNode>,
    pub(super) links: BTreeMap<(NodeId, NodeId), VecDeque<InFlight>>,
    /// Directed links currently cut.
    pub(super) cut: BTreeSet<(NodeId, NodeId)>,
    pub now_ticks: u64,
    pub faults: Faults,
    /// Storage acknowledges every persist at once (for scenario tests).
    pub instant_persist: bool,
    pub checker: Checker,
    trace: VecDeque<String>,
    pub stats: Stats,
    /// Each node snapshots and compacts after applying this many entries past its snapshot.
    pub snapshot_every: Option<u64>,
    /// Random schedules also change the membership.
    pub membership_changes: bool,
    /// The newest membership applied anywhere, with its index.
    latest_membership: Option<(Index, Membership)>,
    /// Nodes that have been members; one removed from the newest membership is shut down for
    /// good, as an operator would.
    ever_members: BTreeSet<NodeId>,
    pub decommissioned: BTreeSet<NodeId>,
    /// Shut down nodes once they are removed (true), or leave them running, as a node that
    /// missed its removal would be.
    pub decommission_removed: bool,
    drop_rules: Vec<DropRule>,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct Stats {
    pub steps: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub crashes: u64,
    pub proposals: u64,
    pub snapshots_taken: u64,
    pub snapshots_installed: u64,
    pub snapshot_chunks_delivered: u64,
    pub membership_changes: u64,
}

const TRACE_LEN: usize = 60;

impl Sim {
    /// A cluster of nodes 1..=n, each configured by `tune` on top of the defaults.
    pub fn new(n: u64, seed: u64, tune: impl Fn(&mut Config)) -> Sim {
        Sim::with_spares(n, 0, seed, tune)
    }

    /// A cluster of voters 1..=n plus `spares` more nodes (n+1..) that start outside the
    /// cluster, waiting to be added.
    pub fn with_spares(n: u64, spares: u64, seed: u64, tune: impl Fn(&mut Config)) -> Sim {
        let voters: Vec<NodeId> = (1..=n).collect();
        let mut nodes = BTreeMap::new();
        for id in 1..=n + spares {
            let initial = if id <= n { voters.clone() } else { Vec::new() };
            let node_seed = seed.wrapping_mul(31).wrapping_add(id);
            let mut config = Config::new(id, initial, node_seed);
            config.snapshot_chunk_bytes = 1000;
            config.compaction_tail_entries = 5;
            tune(&mut config);
            let raft = Raft::new(config.clone()).expect("valid config");
            nodes.insert(
                id,
                SimNode {
                    raft: Some(raft),
                    config,
                    durable: Durable::default(),
                    pending_persists: VecDeque::new(),
                    applied: Vec::new(),
                    sm: StateMachine::default(),
                    events: Vec::new(),
                    pending_snapshot: None,
                },
            );
        }
        Sim {
            seed,
            rng: SimRng::new(seed),
            nodes,
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            now_ticks: 0,
            faults: Faults::none(),
            instant_persist: true,
            checker: Checker::default(),
            trace: VecDeque::new(),
            stats: Stats::default(),
            snapshot_every: None,
            membership_changes: false,
            latest_membership: Some((0, Membership::with_voters(voters.iter().copied()))),
            ever_members: voters.iter().copied().collect(),
            decommissioned: BTreeSet::new(),
            decommission_removed: true,
            drop_rules: Vec::new(),
        }
    }

    /// A cluster of `n` nodes that has elected a leader (instant storage, no faults).
    pub fn elected(n: u64, seed: u64, tune: impl Fn(&mut Config)) -> (Sim, NodeId) {
        let mut sim = Sim::new(n, seed, tune);
        let Some(leader) = sim.elect(400) else {
            sim.fail("no leader elected in a healthy cluster");
        };
        (sim, leader)
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    pub fn node(&self, id: NodeId) -> &SimNode {
        &self.nodes[&id]
    }

    pub fn raft(&self, id: NodeId) -> &Raft {
        self.nodes[&id].raft()
    }

    pub fn raft_mut(&mut self, id: NodeId) -> &mut Raft {
        self.nodes.get_mut(&id).expect("known node").raft_mut()
    }

    pub(super) fn note(&mut self, s: String) {
        if self.trace.len() == TRACE_LEN {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("t={} {s}", self.now_ticks));
    }

    /// Panics with the seed and the recent trace.
    pub fn fail(&self, why: &str) -> ! {
        let trace: Vec<&str> = self.trace.iter().map(String::as_str).collect();
        let mut nodes = String::new();
        for (id, n) in &self.nodes {
            match &n.raft {
                None => nodes.push_str(&format!("  node {id}: down\n")),
                Some(r) => {
                    nodes.push_str(&format!(
                        "  node {id}: {:?} term {} leader {:?} first {} last {} stable {} commit {} applied {} pending persists {}\n    membership {:?}\n",
                        r.role(), r.term(), r.leader(), r.first_index(), r.last_index(), r.stable_index(),
                        r.commit_index(), n.applied_index(), n.pending_persists.len(), r.membership()
                    ));
                    for peer in self.nodes.keys() {
                        if let Some(p) = r.progress(*peer) {
                            nodes.push_str(&format!("    progress of {peer}: {p:?}\n"));
                        }
                    }
                }
            }
        }
        nodes.push_str(&format!(
            "  decommissioned {:?}; newest membership seen {:?}\n",
            self.decommissioned, self.latest_membership
        ));
        panic!(
            "simulation failed (seed {seed}): {why}\nreplay with RAFT_SIM_SEED={seed}\nnodes:\n{nodes}last steps:\n  {}",
            trace.join("\n  "),
            seed = self.seed
        );
    }

    fn check(&mut self, r: Result<(), String>) {
        if let Err(why) = r {
            self.fail(&why);
        }
    }

    // ----- Driving nodes -----

    /// Drains every `Ready` of node `id`, carrying out its actions, and checks the invariants.
    pub fn process(&mut self, id: NodeId) {
        let instant = self.instant_persist;
        loop {
            let node = self.nodes.get_mut(&id).expect("known node");
            let Some(raft) = node.raft.as_mut() else {
                return;
            };
            if !raft.has_ready() {
                break;
            }
            let rd = raft.ready();
            if let Some(p) = &rd.persist {
                let r = self.checker.wrote(self.nodes[&id].raft(), &p.entries);
                self.check(r);
            }
            let mut violations = Vec::new();
            // The contract's order: events, then the snapshot and the committed entries.
            for ev in &rd.events {
                match ev {
                    Event::ReadReady { id: rid, index } => {
                        if let Err(v) = self.checker.read_ready(id, *rid, *index) {
                            violations.push(v);
                        }
                    }
                    Event::Rejected {
                        request: Request::Read(rid),
                        ..
                    } => self.checker.read_finished(id, *rid),
                    _ => {}
                }
            }
            let node = self.nodes.get_mut(&id).expect("known node");
            if let Some(snapshot) = &rd.snapshot {
                let durable = node.durable.snapshot.as_ref().map(|s| s.meta.index);
                assert_eq!(
                    durable,
                    Some(snapshot.meta.index),
                    "restored from what is durable"
                );
                node.sm = StateMachine::decode(&node.durable.snapshot_data);
                self.stats.snapshots_installed += 1;
                if let Err(v) = self.checker.state(id, node.sm.index, node.sm.hash) {
                    violations.push(v);
                }
            }
            let mut applied_memberships = Vec::new();
            if let Some(snapshot) = &rd.snapshot {
                applied_memberships.push((snapshot.meta.index, snapshot.meta.membership.clone()));
            }
            for e in &rd.committed {
                if let Err(v) = self.checker.applied(id, e) {
                    violations.push(v);
                }
                if let raft_core::EntryKind::Membership(m) = &e.kind {
                    applied_memberships.push((e.index, (**m).clone()));
                }
                node.sm.apply(e);
                if let Err(v) = self.checker.state(id, node.sm.index, node.sm.hash) {
                    violations.push(v);
                }
                let data = if e.kind == raft_core::EntryKind::Command {
                    e.data.clone()
                } else {
                    Payload::empty()
                };
                node.applied.push(Entry { data, ..e.clone() });
            }
            let raft = node.raft.as_mut().expect("up");
            if let Some(last) = rd.committed.last() {
                raft.handle_applied(last.index);
            }
            // Chunks of the snapshot for followers, read from this node's "disk". A read can
            // fail (as when the snapshot was replaced meanwhile): the core asks again.
            for read in &rd.snapshot_reads {
                if self.rng.chance(self.faults.drop) {
                    continue;
                }
                if let Some(data) = node.durable.read(read) {
                    node.raft.as_mut().expect("up").snapshot_chunk(read, data);
                }
            }
            let node = self.nodes.get_mut(&id).expect("known node");
            node.events.extend(rd.events.iter().cloned());
            let mut sent = rd.messages;
            if let Some(p) = rd.persist {
                if instant {
                    node.durable.write(&p);
                    sent.extend(rd.persisted_messages);
                    node.raft_mut().handle_persisted(p.id);
                } else {
                    node.pending_persists.push_back((p, rd.persisted_messages));
                }
            } else {
                assert!(
                    rd.persisted_messages.is_empty(),
                    "messages waiting on a persist that was not handed out"
                );
            }
            for m in sent {
                self.enqueue(m);
            }
            if let Some(v) = violations.into_iter().next() {
                self.fail(&v);
            }
            for (index, m) in applied_memberships {
                self.membership_applied(index, m);
            }
            // Observe the commit advance before compaction can hide the entries it covers.
            self.observe(id);
            self.maybe_compact(id);
        }
        self.observe(id);
    }

    /// Takes a snapshot of node `id`'s state machine when `snapshot_every` says so, in the
    /// background as the runtime does: the image is taken now, and "written" over a random
    /// number of later steps while the node goes on applying; then the "runtime" makes it
    /// durable and tells the core to compact behind it (which the core may refuse, if a newer
    /// snapshot came from the leader meanwhile).
    fn maybe_compact(&mut self, id: NodeId) {
        let Some(every) = self.snapshot_every else {
            return;
        };
        let written = self.rng.chance(400);
        let node = self.nodes.get_mut(&id).expect("known node");
        let Some(raft) = node.raft.as_mut() else {
            return;
        };
        if let Some((index, data)) = node.pending_snapshot.take() {
            if !written {
                node.pending_snapshot = Some((index, data));
            } else if raft.compact(index, data.len() as u64).is_ok() {
                let meta = raft.snapshot_meta().expect("just compacted").clone();
                let bytes = data.len() as u64;
                node.durable.compacted(Snapshot { meta, bytes }, data);
                self.stats.snapshots_taken += 1;
            }
            return;
        }
        let base = raft.snapshot_meta().map_or(0, |m| m.index);
        if node.sm.index < base + every || raft.applied_index() < node.sm.index {
            return;
        }
        node.pending_snapshot = Some((node.sm.index, node.sm.encode()));
    }

    fn observe(&mut self, id: NodeId) {
        let before = self.checker.committed_index();
        let Some(raft) = self.nodes[&id].raft.as_ref() else {
            return;
        };
        if let Err(why) = self.checker.observe(raft) {
            self.fail(&why);
        }
        // A leader may go on leading, without voting, a membership that removes it only until
        // that membership commits (Raft thesis 4.2.2).
        if raft.role() == Role::Leader
            && !raft.membership().is_voter(id)
            && raft.membership_committed()
        {
            self.fail(&format!(
                "node {id} leads the committed membership {:?} without being a voter in it",
                raft.membership()
            ));
        }
        if self.checker.committed_index() > before {
            let rafts: Vec<&Raft> = self
                .nodes
                .values()
                .filter_map(|n| n.raft.as_ref())
                .collect();
            let r = self.checker.check_leaders_hold_committed(&rafts);
            self.check(r);
        }
    }

    fn enqueue(&mut self, m: Message) {
        let delay = if self.faults.delay_ticks_max > 0 {
            self.rng.below(self.faults.delay_ticks_max + 1)
        } else {
            0
        };
        self.links
            .entry((m.from, m.to))
            .or_default()
            .push_back(InFlight {
                deliverable_at: self.now_ticks + delay,
                message: m,
            });
    }

    /// Ticks every live node once.
    pub fn tick(&mut self) {
        self.now_ticks += 1;
        for id in self.ids() {
            if let Some(r) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
                r.tick();
            }
            self.process(id);
        }
    }

    /// Ticks one node once, without advancing the others (for scenario tests).
    pub fn tick_node(&mut self, id: NodeId) {
        self.raft_mut(id).tick();
        self.process(id);
    }

    /// Delivers one message of the link `from -> to` (the oldest, or a random one when
    /// `reorder`), subject to cuts and fault rates. Returns whether something was taken off.
    pub fn deliver_one(&mut self, from: NodeId, to: NodeId, reorder: bool) -> bool {
        let now = self.now_ticks;
        let Some(q) = self.links.get_mut(&(from, to)) else {
            return false;
        };
        let candidates: Vec<usize> = q
            .iter()
            .enumerate()
            .filter(|(_, f)| f.deliverable_at <= now)
            .map(|(i, _)| i)
            .collect();
        if candidates.is_empty() {
            return false;
        }
        let pick = if reorder {
            candidates[self.rng.below(candidates.len() as u64) as usize]
        } else {
            candidates[0]
        };
        let duplicate = self.rng.chance(self.faults.duplicate);
        let drop = self.rng.chance(self.faults.drop);
        let m = if duplicate {
            q[pick].message.clone()
        } else {
            q.remove(pick).expect("index in range").message
        };
        if drop || self.cut.contains(&(from, to)) || !self.nodes[&to].is_up() {
            self.stats.dropped += 1;
            return true;
        }
        self.stats.delivered += 1;
        self.hand_over(m);
        true
    }

    /// Drops the next `count` messages from `from` to `to` whose body matches `which`.
    pub fn drop_next(
        &mut self,
        from: NodeId,
        to: NodeId,
        count: usize,
        which: fn(&MessageBody) -> bool,
    ) {
        self.drop_rules.push((from, to, count, which));
    }

    /// Whether a drop rule takes this message (and counts it).
    fn dropped_by_rule(&mut self, m: &Message) -> bool {
        for rule in &mut self.drop_rules {
            if rule.0 == m.from && rule.1 == m.to && rule.2 > 0 && (rule.3)(&m.body) {
                rule.2 -= 1;
                return true;
            }
        }
        false
    }

    /// Hands a message to its node (unless a rule drops it) and processes the node.
    fn hand_over(&mut self, m: Message) {
        if self.dropped_by_rule(&m) {
            self.stats.dropped += 1;
            return;
        }
        if matches!(m.body, MessageBody::InstallSnapshot { .. }) {
            self.stats.snapshot_chunks_delivered += 1;
        }
        self.note(format!("deliver {m:?}"));
        let to = m.to;
        if let Err(e) = self.raft_mut(to).step(m) {
            self.fail(&format!("step refused a message from the simulator: {e}"));
        }
        self.process(to);
    }

    /// Delivers messages in FIFO order on every link until none is left (no faults except cuts).
    pub fn deliver_all(&mut self) {
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds < 100_000, "message storm");
            let links: Vec<(NodeId, NodeId)> = self
                .links
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(k, _)| *k)
                .collect();
            if links.is_empty() {
                return;
            }
            for (from, to) in links {
                let q = self.links.get_mut(&(from, to)).expect("exists");
                let Some(f) = q.pop_front() else { continue };
                if self.cut.contains(&(from, to)) || !self.nodes[&to].is_up() {
                    continue;
                }
                self.hand_over(f.message);
            }
        }
    }

    /// Messages waiting on the link `from -> to`.
    pub fn in_flight(&self, from: NodeId, to: NodeId) -> Vec<&Message> {
        self.links
            .get(&(from, to))
            .map(|q| q.iter().map(|f| &f.message).collect())
            .unwrap_or_default()
    }

    /// Drops every message in flight.
    pub fn clear_in_flight(&mut self) {
        self.links.clear();
    }

    /// Completes the oldest pending persist of `id`.
    pub fn complete_persist(&mut self, id: NodeId) -> bool {
        let node = self.nodes.get_mut(&id).expect("known node");
        let Some((p, after)) = node.pending_persists.pop_front() else {
            return false;
        };
        node.durable.write(&p);
        if let Some(r) = node.raft.as_mut() {
            r.handle_persisted(p.id);
        }
        for m in after {
            self.enqueue(m);
        }
        self.process(id);
        true
    }

    // ----- Requests -----

    pub fn propose(&mut self, id: NodeId, data: &str) -> Option<u64> {
        self.stats.proposals += 1;
        let r = self.raft_mut(id).propose(Payload::from(data)).ok();
        self.note(format!("propose {data:?} at {id} -> {r:?}"));
        self.process(id);
        r
    }

    pub fn read(&mut self, id: NodeId) -> Option<u64> {
        let r = self.raft_mut(id).read_index().ok();
        if let Some(rid) = r {
            self.checker.read_requested(id, rid);
        }
        self.note(format!("read at {id} -> {r:?}"));
        self.process(id);
        r
    }

    // ----- Faults -----

    /// Cuts both directions between `a` and `b`.
    pub fn cut(&mut self, a: NodeId, b: NodeId) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    /// Splits the cluster into `side` and the rest.
    pub fn partition(&mut self, side: &[NodeId]) {
        self.note(format!("partition {side:?}"));
        for a in self.ids() {
            for b in self.ids() {
                if side.contains(&a) != side.contains(&b) {
                    self.cut.insert((a, b));
                }
            }
        }
    }

    /// Cuts every link to and from `id`.
    pub fn isolate(&mut self, id: NodeId) {
        self.partition(&[id]);
    }

    pub fn heal(&mut self) {
        self.note("heal".into());
        self.cut.clear();
    }

    /// Crashes `id`: everything not acknowledged durable may be lost; a random prefix of the
    /// pending writes reached the disk before the crash.
    pub fn crash(&mut self, id: NodeId) {
        self.stats.crashes += 1;
        self.note(format!("crash {id}"));
        let keep = {
            let n = self.nodes[&id].pending_persists.len() as u64;
            self.rng.below(n + 1) as usize
        };
        let node = self.nodes.get_mut(&id).expect("known node");
        // What a crashed node had not sent yet is lost with it.
        for (p, _) in node
            .pending_persists
            .drain(..)
            .take(keep)
            .collect::<Vec<_>>()
        {
            node.durable.write(&p);
        }
        node.raft = None;
        node.applied.clear();
        node.sm = StateMachine::default();
        node.events.clear();
        node.pending_snapshot = None;
    }

    /// Restarts `id` from its durable state, with an empty state machine.
    pub fn restart(&mut self, id: NodeId) {
        self.note(format!("restart {id}"));
        let fresh_seed = self.rng.next_u64();
        let node = self.nodes.get_mut(&id).expect("known node");
        node.config.seed = fresh_seed;
        // The state machine comes back from the durable snapshot, the rest from the log.
        node.sm = match node.durable.snapshot {
            Some(_) => StateMachine::decode(&node.durable.snapshot_data),
            None => StateMachine::default(),
        };
        let restore = Restore {
            snapshot: node.durable.snapshot.clone(),
            hard_state: node.durable.hard_state,
            entries: node.durable.entries.clone(),
            applied: node.sm.index,
        };
        node.raft =
            Some(Raft::restore(node.config.clone(), restore).expect("durable state is valid"));
        self.checker.restarted(id);
        self.process(id);
    }

    // ----- Queries -----

    /// The leader with the highest term among live nodes.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter_map(|n| n.raft.as_ref())
            .filter(|r| r.role() == Role::Leader)
            .max_by_key(|r| r.term())
            .map(|r| r.id())
    }

    /// Ticks (delivering everything after each tick) until some node leads and a quorum of
    /// live nodes agrees on it, or `ticks_max` pass.
    pub fn elect(&mut self, ticks_max: u64) -> Option<NodeId> {
        for _ in 0..ticks_max {
            self.tick();
            self.deliver_all();
            if let Some(l) = self.leader() {
                let term = self.raft(l).term();
                let agree = self
                    .nodes
                    .values()
                    .filter_map(|n| n.raft.as_ref())
                    .filter(|r| r.term() == term && r.leader() == Some(l))
                    .count();
                if agree > self.nodes.len() / 2
                    && self.raft(l).commit_index() >= self.raft(l).last_index()
                {
                    return Some(l);
                }
            }
        }
        None
    }

    // ----- Membership seen by the operator -----

    /// A membership was applied: once the newest one leaves out a node that was a member, that
    /// node is shut down for good, as an operator would.
    fn membership_applied(&mut self, index: Index, m: Membership) {
        if self
            .latest_membership
            .as_ref()
            .is_some_and(|(i, _)| index <= *i)
        {
            return;
        }
        self.ever_members.extend(m.members());
        let removed: Vec<NodeId> = self
            .ever_members
            .iter()
            .copied()
            .filter(|n| !m.is_member(*n) && !self.decommissioned.contains(n))
            .collect();
        self.latest_membership = Some((index, m));
        if !self.decommission_removed {
            return;
        }
        for n in removed {
            self.note(format!("decommission {n}: removed from the cluster"));
            self.decommissioned.insert(n);
            let node = self.nodes.get_mut(&n).expect("known node");
            node.raft = None;
            node.pending_persists.clear();
        }
    }

    /// The newest membership applied anywhere.
    pub fn latest_membership(&self) -> Option<&Membership> {
        self.latest_membership.as_ref().map(|(_, m)| m)
    }
}
