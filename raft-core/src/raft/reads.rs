//! Linearizable reads on the leader: ReadIndex with quorum rounds, and the opt-in lease.
//!
//! A read gets the commit index at the moment the leader takes it, then waits for a quorum to
//! confirm a heartbeat round sent after that moment: at that point nobody else can have been
//! leader in between, so the index covers every write that completed before the read began.
//! Every periodic heartbeat is such a round, and a read arriving between heartbeats asks for an
//! extra round at the next `ready`, so reads that arrive together share one round.

use std::collections::VecDeque;

use super::ready::{Event, Request};
use super::{LeaderState, Raft, RoleState};
use crate::config::ReadMode;
use crate::error::RejectReason;
use crate::message::{MessageBody, ReadId, ReadOutcome};
use crate::types::{Index, NodeId};

/// How many recent rounds remember their start tick, for the lease. A round older than these
/// can no longer give a valid lease anyway.
const ROUND_TICKS_MAX: usize = 1024;

#[derive(Debug, Default)]
pub(super) struct LeaderReads {
    /// Reads that arrived before this leader committed an entry of its term: its commit index
    /// may still lag behind its predecessor's, so they wait (they are not dropped).
    awaiting_commit: VecDeque<(NodeId, ReadId, u64)>,
    /// Reads with their index, waiting for a quorum to confirm round `seq`.
    awaiting_round: VecDeque<PendingRead>,
    /// The last round started.
    read_seq: u64,
    /// A read arrived after the last round started; start another at the next `ready`.
    round_wanted: bool,
    /// `(seq, tick it started)` of recent rounds, oldest first.
    round_ticks: VecDeque<(u64, u64)>,
    /// Answers for reads forwarded by followers, sent at the next `ready`.
    answers: Vec<(NodeId, ReadId, ReadOutcome)>,
    /// A TimeoutNow went out in this term. Its receiver's election overrides every voter's
    /// lease promise, however late it arrives, so this leader's lease is void for the rest of
    /// its term.
    lease_void: bool,
}

#[derive(Debug)]
struct PendingRead {
    seq: u64,
    index: Index,
    origin: NodeId,
    id: ReadId,
    /// The tick the read arrived at.
    since: u64,
}

impl LeaderReads {
    /// Queues a read at `index` for the next round (one started after now).
    fn await_next_round(&mut self, origin: NodeId, id: ReadId, index: Index, since: u64) {
        self.awaiting_round.push_back(PendingRead {
            seq: self.read_seq + 1,
            index,
            origin,
            id,
            since,
        });
        self.round_wanted = true;
    }

    fn len(&self) -> usize {
        self.awaiting_commit.len() + self.awaiting_round.len()
    }

    /// Whether `ready` has something to do for reads: a round to start or answers to send. (A
    /// read waiting for a quorum's answers makes no work until those answers arrive.)
    pub(super) fn has_work(&self) -> bool {
        self.round_wanted || !self.answers.is_empty()
    }

    /// The round the oldest read waits for.
    pub(super) fn first_waiting_seq(&self) -> Option<u64> {
        self.awaiting_round.front().map(|r| r.seq)
    }
}

impl Raft {
    /// Takes a read on the leader, on behalf of `origin` (this node or a follower).
    pub(super) fn leader_read(&mut self, origin: NodeId, id: ReadId) -> Result<(), RejectReason> {
        let limit = self.cfg.pending_reads_max;
        let committed_in_term = self.log.term(self.log.commit()) == Some(self.term);
        let lease_valid = self.lease_valid();
        let commit = self.log.commit();
        let me = self.id;
        let now = self.now_ticks;
        let RoleState::Leader(ls) = &mut self.role else {
            return Err(RejectReason::NotLeader {
                leader_hint: self.leader,
            });
        };
        let reads = &mut ls.reads;
        if reads.len() >= limit {
            return Err(RejectReason::TooManyPendingReads { limit });
        }
        if !committed_in_term {
            reads.awaiting_commit.push_back((origin, id, now));
        } else if lease_valid && ls.transfer.is_none() {
            deliver(me, &mut self.events, reads, origin, id, Ok(commit));
        } else {
            reads.await_next_round(origin, id, commit, now);
        }
        Ok(())
    }

    /// The first commit in this leader's term: reads that waited for it get their index now.
    pub(super) fn commit_reached_term(&mut self) {
        let commit = self.log.commit();
        let RoleState::Leader(ls) = &mut self.role else {
            return;
        };
        let reads = &mut ls.reads;
        while let Some((origin, id, since)) = reads.awaiting_commit.pop_front() {
            reads.await_next_round(origin, id, commit, since);
        }
    }

    /// Starts a new read round and returns its sequence number; this node confirms it at once.
    pub(super) fn start_read_round(&mut self) -> u64 {
        let now = self.now_ticks;
        let RoleState::Leader(ls) = &mut self.role else {
            return 0;
        };
        let reads = &mut ls.reads;
        reads.read_seq += 1;
        reads.round_wanted = false;
        reads.round_ticks.push_back((reads.read_seq, now));
        if reads.round_ticks.len() > ROUND_TICKS_MAX {
            reads.round_ticks.pop_front();
        }
        let seq = reads.read_seq;
        if let Some(pr) = self.tracker.progress_mut(self.id) {
            pr.ack_read(seq);
        }
        seq
    }

    /// At `ready`: starts a round if reads asked for one, serves every read whose round a quorum
    /// confirmed, and queues the answers for followers.
    pub(super) fn flush_reads(&mut self) {
        let round_wanted = match &self.role {
            RoleState::Leader(ls) => ls.reads.round_wanted,
            _ => return,
        };
        if round_wanted {
            self.broadcast_heartbeat();
        }
        let confirmed = self.tracker.confirmed_read_seq();
        let me = self.id;
        let RoleState::Leader(ls) = &mut self.role else {
            return;
        };
        let reads = &mut ls.reads;
        while reads
            .awaiting_round
            .front()
            .is_some_and(|r| r.seq <= confirmed)
        {
            let r = reads.awaiting_round.pop_front().expect("front exists");
            deliver(me, &mut self.events, reads, r.origin, r.id, Ok(r.index));
        }
        let answers = std::mem::take(&mut reads.answers);
        self.send_read_answers(answers);
    }

    /// Lease: a quorum confirmed a round started recently enough that no other leader can exist
    /// yet (see `ReadMode::Lease` for the clock assumption).
    fn lease_valid(&mut self) -> bool {
        if self.cfg.read_mode != ReadMode::Lease {
            return false;
        }
        let confirmed = self.tracker.confirmed_read_seq();
        let window = self.cfg.election_timeout_ticks_min - self.cfg.lease_drift_margin_ticks;
        let now = self.now_ticks;
        let RoleState::Leader(ls) = &mut self.role else {
            return false;
        };
        if ls.reads.lease_void {
            return false;
        }
        let ticks = &mut ls.reads.round_ticks;
        while ticks.len() > 1 && ticks.get(1).is_some_and(|(seq, _)| *seq <= confirmed) {
            ticks.pop_front();
        }
        match ticks.front() {
            Some(&(seq, started)) if seq == confirmed => now < started + window,
            _ => false,
        }
    }

    /// The newest read round started.
    pub(super) fn current_read_seq(&self) -> u64 {
        match &self.role {
            RoleState::Leader(ls) => ls.reads.read_seq,
            _ => 0,
        }
    }

    /// Voids the lease for the rest of the term (a TimeoutNow went out).
    pub(super) fn void_lease(&mut self) {
        if let RoleState::Leader(ls) = &mut self.role {
            ls.reads.lease_void = true;
        }
    }

    /// Reads a quorum has not confirmed within two maximum election timeouts are refused: this
    /// leader is cut off (without check-quorum it would never step down), and the caller should
    /// try elsewhere.
    pub(super) fn expire_leader_reads(&mut self) {
        let horizon = 2 * self.cfg.election_timeout_ticks_max;
        let Some(oldest) = self.now_ticks.checked_sub(horizon) else {
            return;
        };
        let me = self.id;
        let RoleState::Leader(ls) = &mut self.role else {
            return;
        };
        let reads = &mut ls.reads;
        let mut expired = Vec::new();
        while reads
            .awaiting_commit
            .front()
            .is_some_and(|(_, _, since)| *since <= oldest)
        {
            let (origin, id, _) = reads.awaiting_commit.pop_front().expect("front exists");
            expired.push((origin, id));
        }
        while reads
            .awaiting_round
            .front()
            .is_some_and(|r| r.since <= oldest)
        {
            let r = reads.awaiting_round.pop_front().expect("front exists");
            expired.push((r.origin, r.id));
        }
        for (origin, id) in expired {
            deliver(
                me,
                &mut self.events,
                reads,
                origin,
                id,
                Err(RejectReason::LeadershipUnconfirmed),
            );
        }
    }

    /// The leader lost leadership: every read still waiting is refused.
    pub(super) fn reject_leader_reads(&mut self, ls: &mut LeaderState) {
        let reason = RejectReason::LeadershipLost { term: self.term };
        let reads = &mut ls.reads;
        let waiting: Vec<(NodeId, ReadId)> = reads
            .awaiting_commit
            .drain(..)
            .map(|(origin, id, _)| (origin, id))
            .chain(reads.awaiting_round.drain(..).map(|r| (r.origin, r.id)))
            .collect();
        for (origin, id) in waiting {
            deliver(
                self.id,
                &mut self.events,
                reads,
                origin,
                id,
                Err(reason.clone()),
            );
        }
        let answers = std::mem::take(&mut reads.answers);
        self.send_read_answers(answers);
    }

    fn send_read_answers(&mut self, mut answers: Vec<(NodeId, ReadId, ReadOutcome)>) {
        answers.sort_by_key(|(origin, _, _)| *origin);
        let mut i = 0;
        while i < answers.len() {
            let origin = answers[i].0;
            let mut outcomes = Vec::new();
            while i < answers.len() && answers[i].0 == origin {
                outcomes.push((answers[i].1, answers[i].2.clone()));
                i += 1;
            }
            self.send(origin, MessageBody::ReadResponse { outcomes });
        }
    }
}

/// Hands a read's outcome to the local caller or queues it for the follower that forwarded it.
fn deliver(
    me: NodeId,
    events: &mut Vec<Event>,
    reads: &mut LeaderReads,
    origin: NodeId,
    id: ReadId,
    outcome: ReadOutcome,
) {
    if origin == me {
        events.push(match outcome {
            Ok(index) => Event::ReadReady { id, index },
            Err(reason) => Event::Rejected {
                request: Request::Read(id),
                reason,
            },
        });
    } else {
        reads.answers.push((origin, id, outcome));
    }
}
