//! Log replication: the leader's side (appends, heartbeats, flow control, commit) and the
//! follower's side (accepting or rejecting appends).

use super::{Raft, RoleState};
use crate::error::RejectReason;
use crate::message::{AppendOutcome, Message, MessageBody};
use crate::tracker::ProgressState;
use crate::types::{Entry, EntryKind, Index, NodeId, Payload, Term};

impl Raft {
    pub(super) fn tick_leader(&mut self) {
        self.heartbeat_elapsed_ticks += 1;
        self.election_elapsed_ticks += 1;
        if self.election_elapsed_ticks >= self.cfg.election_timeout_ticks_min {
            self.election_elapsed_ticks = 0;
            if self.cfg.check_quorum && !self.tracker.quorum_active(self.id) {
                // Cut off from a quorum: someone else may be leading by now, so stop serving.
                self.become_follower(self.term, None, None);
                return;
            }
            let me = self.id;
            for (id, pr) in self.tracker.iter_mut() {
                pr.new_activity_round(id == me);
            }
        }
        self.tick_transfer();
        self.expire_leader_reads();
        if !self.is_leader() {
            return;
        }
        if self.heartbeat_elapsed_ticks >= self.cfg.heartbeat_interval_ticks {
            self.heartbeat_elapsed_ticks = 0;
            self.broadcast_heartbeat();
        }
    }

    /// A heartbeat to every follower; each one is also a read round (see `reads`).
    pub(super) fn broadcast_heartbeat(&mut self) {
        let read_seq = self.start_read_round();
        let commit = self.log.commit();
        let mut i = 0;
        while let Some(peer) = self.peer(i) {
            i += 1;
            let match_index = self.tracker.progress(peer).map_or(0, |pr| pr.match_index());
            self.send(
                peer,
                MessageBody::Heartbeat {
                    commit: commit.min(match_index),
                    read_seq,
                },
            );
        }
    }

    pub(super) fn step_leader(&mut self, m: Message) {
        let from = m.from;
        match m.body {
            MessageBody::AppendResponse(outcome) => {
                let Some(pr) = self.tracker.progress_mut(from) else {
                    return;
                };
                pr.mark_answered();
                match outcome {
                    AppendOutcome::Accepted { match_index } => {
                        self.append_accepted(from, match_index)
                    }
                    AppendOutcome::Rejected {
                        rejected_index,
                        hint_index,
                        hint_term,
                    } => self.append_rejected(from, rejected_index, hint_index, hint_term),
                }
            }
            MessageBody::HeartbeatResponse { read_seq } => {
                // A follower cannot confirm a round that has not started.
                let read_seq = read_seq.min(self.current_read_seq());
                let last = self.log.last_index();
                let Some(pr) = self.tracker.progress_mut(from) else {
                    return;
                };
                pr.mark_answered();
                pr.heartbeat_answered(pr.match_index() < last);
                pr.ack_read(read_seq);
            }
            MessageBody::SnapshotResponse { index, next_offset } => {
                self.snapshot_chunk_answered(from, index, next_offset)
            }
            // Two leaders in one term cannot happen; old vote answers need nothing.
            _ => {}
        }
    }

    fn append_accepted(&mut self, from: NodeId, match_index: Index) {
        let last = self.log.last_index();
        if match_index > last {
            // A follower claiming entries this leader never had: not a correct peer.
            return;
        }
        let Some(pr) = self.tracker.progress_mut(from) else {
            return;
        };
        let updated = pr.accepted(match_index);
        if pr.next_index() <= last {
            pr.want_send(true);
        }
        if updated {
            self.maybe_commit();
            self.transfer_target_caught_up(from);
        }
    }

    fn append_rejected(
        &mut self,
        from: NodeId,
        rejected: Index,
        hint_index: Index,
        hint_term: Term,
    ) {
        // The follower's hint names its last entry at or below `hint_index` with a term at most
        // the one we asked about; on our side, skip to our last entry no newer than that term.
        let hint_index = hint_index.min(self.log.last_index());
        let match_hint = if hint_term > 0 {
            self.log.find_conflict_by_term(hint_index, hint_term).0
        } else {
            hint_index
        };
        let Some(pr) = self.tracker.progress_mut(from) else {
            return;
        };
        if pr.rejected(rejected, match_hint) {
            pr.want_send(true);
        }
    }

    /// Commits what a quorum has durably matched, if that is an entry of this term.
    pub(super) fn maybe_commit(&mut self) {
        let stable = self.log.stable();
        if let Some(pr) = self.tracker.progress_mut(self.id) {
            pr.set_self_match(stable);
        }
        let quorum_index = self.tracker.committed_index();
        let old_commit = self.log.commit();
        // Paper 5.4.2 (Figure 8): counting replicas commits only entries of the current term.
        if quorum_index <= old_commit || self.log.term(quorum_index) != Some(self.term) {
            return;
        }
        let freed = self.bytes_of_own_term(old_commit, quorum_index);
        self.log.commit_to(quorum_index);
        if let RoleState::Leader(ls) = &mut self.role {
            ls.uncommitted_bytes = ls.uncommitted_bytes.saturating_sub(freed);
            ls.commit_broadcast_wanted = true;
        }
        self.commit_reached_term();
        // Last, as a committed membership may end this node's leadership.
        self.membership_committed_here();
    }

    fn bytes_of_own_term(&self, lo: Index, hi: Index) -> u64 {
        let term = self.term;
        (lo + 1..=hi)
            .filter_map(|i| self.log.entry(i))
            .filter(|e| e.term == term)
            .map(Entry::size_bytes)
            .sum()
    }

    /// Appends a client command on the leader and returns its position.
    pub(super) fn append_proposal(&mut self, data: Payload) -> Result<(Index, Term), RejectReason> {
        let entry = Entry {
            term: self.term,
            index: self.log.last_index() + 1,
            kind: EntryKind::Command,
            data,
        };
        self.check_room(1, entry.size_bytes())?;
        let position = (entry.index, entry.term);
        self.append_to_own_log(entry);
        Ok(position)
    }

    /// Whether the leader may append `count` proposals of `bytes` (entry overhead included)
    /// now: no transfer under way, and room under `uncommitted_bytes_max`. An empty pipeline
    /// lets a single entry through whatever its size, so that it is not starved, but not a
    /// batch larger than the limit.
    pub(super) fn check_room(&self, count: usize, bytes: u64) -> Result<(), RejectReason> {
        let RoleState::Leader(ls) = &self.role else {
            return Err(RejectReason::NotLeader {
                leader_hint: self.leader,
            });
        };
        if let Some(t) = ls.transfer {
            return Err(RejectReason::TransferInProgress { target: t.target });
        }
        let limit_bytes = self.cfg.uncommitted_bytes_max;
        let alone = ls.uncommitted_bytes == 0 && count == 1;
        if !alone && ls.uncommitted_bytes + bytes > limit_bytes {
            return Err(RejectReason::UncommittedBytesFull { limit_bytes });
        }
        Ok(())
    }

    /// Appends to the leader's log and marks every follower as wanting an append.
    pub(super) fn append_to_own_log(&mut self, entry: Entry) {
        let size = entry.size_bytes();
        self.log.push(entry);
        if let RoleState::Leader(ls) = &mut self.role {
            ls.uncommitted_bytes += size;
        }
        let me = self.id;
        for (id, pr) in self.tracker.iter_mut() {
            if id != me {
                pr.want_send(true);
            }
        }
    }

    /// Sends appends to every follower that wants one, as far as flow control allows. Called
    /// once per `ready`, so everything proposed since the last call travels together.
    pub(super) fn flush_appends(&mut self) {
        let broadcast = match &mut self.role {
            RoleState::Leader(ls) => std::mem::take(&mut ls.commit_broadcast_wanted),
            _ => return,
        };
        let mut i = 0;
        while let Some(peer) = self.peer(i) {
            i += 1;
            let Some(pr) = self.tracker.progress(peer) else {
                continue;
            };
            let nudge = pr.nudge_wanted();
            if pr.send_wanted() || broadcast || nudge {
                self.send_appends_to(peer, broadcast || nudge);
            }
        }
    }

    /// Sends as many appends to `peer` as its state and window allow; with `even_if_empty`, at
    /// least one (carrying the commit index) unless paused.
    fn send_appends_to(&mut self, peer: NodeId, even_if_empty: bool) {
        let mut sent_any = false;
        loop {
            let Some(pr) = self.tracker.progress(peer) else {
                return;
            };
            if pr.is_paused() {
                break;
            }
            let next = pr.next_index();
            let has_entries = next <= self.log.last_index();
            if !has_entries && (sent_any || !even_if_empty) {
                break;
            }
            let prev_index = next - 1;
            let snapshotting = pr.state() == ProgressState::Snapshot;
            let prev_term = self.log.term(prev_index).filter(|_| !snapshotting);
            let Some(prev_term) = prev_term else {
                // The entry was compacted away; only a snapshot can help this follower.
                self.send_snapshot_chunk(peer);
                break;
            };
            let window_full = pr.window_full();
            let (entries, bytes) = if window_full {
                // A nudge through a full window: empty, so the window's bound still holds.
                (Vec::new(), 0)
            } else {
                self.log
                    .slice(next, self.cfg.append_entries_max, self.cfg.append_bytes_max)
            };
            let last_sent = prev_index + entries.len() as Index;
            let carried = !entries.is_empty();
            let state = pr.state();
            let commit = self.log.commit();
            self.send(
                peer,
                MessageBody::Append {
                    prev_index,
                    prev_term,
                    entries,
                    commit,
                },
            );
            sent_any = true;
            let pr = self.tracker.progress_mut(peer).expect("checked above");
            pr.sent(last_sent, bytes, carried);
            if state == ProgressState::Probe || window_full {
                break;
            }
        }
        if let Some(pr) = self.tracker.progress_mut(peer) {
            pr.want_send(false);
        }
    }

    /// A follower handles an append from the leader of its term.
    pub(super) fn handle_append(
        &mut self,
        leader: NodeId,
        leader_term: Term,
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry>,
        leader_commit: Index,
    ) {
        if !entries_are_contiguous(leader_term, prev_index, prev_term, &entries) {
            // Malformed input: a correct leader never sends this. Refuse it without a reply.
            return;
        }
        let commit = self.log.commit();
        if prev_index < commit {
            // Everything up to our commit index is known to match; start from there.
            self.send(
                leader,
                MessageBody::AppendResponse(AppendOutcome::Accepted {
                    match_index: commit,
                }),
            );
            return;
        }
        if self.log.term(prev_index) == Some(prev_term) {
            let Some(last_match) = self.log.merge(prev_index, entries) else {
                return;
            };
            self.follow_membership();
            self.commit_to(leader_commit.min(last_match));
            self.send(
                leader,
                MessageBody::AppendResponse(AppendOutcome::Accepted {
                    match_index: last_match,
                }),
            );
        } else {
            let hint = prev_index.min(self.log.last_index());
            let (hint_index, hint_term) = self.log.find_conflict_by_term(hint, prev_term);
            self.send(
                leader,
                MessageBody::AppendResponse(AppendOutcome::Rejected {
                    rejected_index: prev_index,
                    hint_index,
                    hint_term,
                }),
            );
        }
    }
}

/// Entries of an append must follow `prev_index` one by one, with terms that never decrease and
/// never exceed the leader's own term (no correct leader holds an entry from its future).
fn entries_are_contiguous(
    leader_term: Term,
    prev_index: Index,
    prev_term: Term,
    entries: &[Entry],
) -> bool {
    if prev_term > leader_term {
        return false;
    }
    let mut term = prev_term;
    for (i, e) in entries.iter().enumerate() {
        let expected = (i as Index)
            .checked_add(1)
            .and_then(|k| prev_index.checked_add(k));
        if Some(e.index) != expected || e.term < term || e.term > leader_term {
            return false;
        }
        term = e.term;
    }
    true
}
