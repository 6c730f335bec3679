//! What the leader knows of one follower's log, and how it paces replication to it.

use super::inflights::Inflights;
use crate::types::Index;

/// How the leader sends to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// The leader does not know where the follower's log matches: it sends one append at a time
    /// and waits for the answer (or the next heartbeat answer) before sending another.
    Probe,
    /// The follower's log matches up to `match_index`: the leader streams appends optimistically,
    /// bounded by the inflight window.
    Replicate,
    /// The follower needs entries the leader has compacted away: the leader streams it a
    /// snapshot, one chunk in flight at a time.
    Snapshot,
}

#[derive(Clone, Debug)]
pub(crate) struct Progress {
    match_index: Index,
    next_index: Index,
    state: ProgressState,
    /// In probe state: an append is out and unanswered.
    probe_sent: bool,
    inflights: Inflights,
    /// Heard from since the last check-quorum round.
    recent_active: bool,
    /// Answered the leader in this check-quorum round, and in the one before (unlike
    /// `recent_active`, never presumed for a new leader or a new member).
    answered: bool,
    answered_before: bool,
    /// The newest read round this follower confirmed.
    read_ack: u64,
    /// Something (new entries, a rejection, a commit advance) wants an append sent soon.
    send_wanted: bool,
    /// A heartbeat answer showed the follower behind: send one append now, even past a full
    /// window and even with no entries. If appends were lost, its answer (an acceptance, or a
    /// rejection for the gap) puts replication back on track.
    nudge: bool,
    /// In snapshot state: the snapshot being sent, the next byte to send, and whether a chunk is
    /// out unanswered.
    snapshot_index: Index,
    snapshot_offset: u64,
    chunk_in_flight: bool,
}

impl Progress {
    pub(crate) fn new(next_index: Index, messages_max: usize, bytes_max: u64) -> Progress {
        Progress {
            match_index: 0,
            next_index,
            state: ProgressState::Probe,
            probe_sent: false,
            inflights: Inflights::new(messages_max, bytes_max),
            recent_active: false,
            answered: false,
            answered_before: false,
            read_ack: 0,
            send_wanted: true,
            nudge: false,
            snapshot_index: 0,
            snapshot_offset: 0,
            chunk_in_flight: false,
        }
    }

    pub(crate) fn match_index(&self) -> Index {
        self.match_index
    }

    pub(crate) fn next_index(&self) -> Index {
        self.next_index
    }

    pub(crate) fn state(&self) -> ProgressState {
        self.state
    }

    pub(crate) fn recent_active(&self) -> bool {
        self.recent_active
    }

    pub(crate) fn set_recent_active(&mut self, active: bool) {
        self.recent_active = active;
    }

    /// The follower answered the leader.
    pub(crate) fn mark_answered(&mut self) {
        self.recent_active = true;
        self.answered = true;
    }

    /// A new check-quorum round starts: what was answered in the last one is kept for
    /// `heard_recently`.
    pub(crate) fn new_activity_round(&mut self, active: bool) {
        self.recent_active = active;
        self.answered_before = self.answered;
        self.answered = false;
    }

    /// Answered the leader within the last one or two check-quorum rounds (at least an
    /// election timeout).
    pub(crate) fn heard_recently(&self) -> bool {
        self.answered || self.answered_before
    }

    pub(crate) fn read_ack(&self) -> u64 {
        self.read_ack
    }

    pub(crate) fn ack_read(&mut self, seq: u64) {
        self.read_ack = self.read_ack.max(seq);
    }

    pub(crate) fn send_wanted(&self) -> bool {
        self.send_wanted
    }

    pub(crate) fn nudge_wanted(&self) -> bool {
        self.nudge
    }

    pub(crate) fn want_send(&mut self, wanted: bool) {
        self.send_wanted = wanted;
    }

    pub(crate) fn inflight_count(&self) -> usize {
        self.inflights.len()
    }

    /// The leader's own progress: its durable log is its match.
    pub(crate) fn set_self_match(&mut self, stable: Index) {
        self.match_index = stable;
        self.next_index = self.next_index.max(stable + 1);
    }

    /// Whether the window is full; a nudge then goes out without entries.
    pub(crate) fn window_full(&self) -> bool {
        self.inflights.is_full()
    }

    /// Whether no append may be sent now.
    pub(crate) fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.is_full() && !self.nudge,
            ProgressState::Snapshot => self.chunk_in_flight,
        }
    }

    /// Starts sending the snapshot at `index` from its first byte.
    pub(crate) fn become_snapshot(&mut self, index: Index) {
        self.state = ProgressState::Snapshot;
        self.snapshot_index = index;
        self.snapshot_offset = 0;
        self.chunk_in_flight = false;
        self.inflights.reset();
    }

    pub(crate) fn snapshot_index(&self) -> Index {
        self.snapshot_index
    }

    pub(crate) fn snapshot_offset(&self) -> u64 {
        self.snapshot_offset
    }

    pub(crate) fn chunk_sent(&mut self) {
        self.chunk_in_flight = true;
    }

    /// The follower holds the snapshot at `index` up to byte `next_offset`.
    pub(crate) fn chunk_acked(&mut self, index: Index, next_offset: u64) {
        if self.state == ProgressState::Snapshot && index == self.snapshot_index {
            self.snapshot_offset = next_offset;
            self.chunk_in_flight = false;
        }
    }

    /// A heartbeat answer proves the follower is reachable: a probe may go again, and if the
    /// follower is `behind`, one append goes out whatever the window says.
    pub(crate) fn heartbeat_answered(&mut self, behind: bool) {
        self.probe_sent = false;
        self.nudge = behind;
        // A chunk unanswered by the next heartbeat round is presumed lost: send it again.
        self.chunk_in_flight = false;
    }

    /// Records an append carrying entries up to `last_index` (`bytes` of them); `last_index` is
    /// `next_index - 1` for an empty append.
    pub(crate) fn sent(&mut self, last_index: Index, bytes: u64, carried_entries: bool) {
        self.nudge = false;
        match self.state {
            ProgressState::Probe | ProgressState::Snapshot => self.probe_sent = true,
            ProgressState::Replicate => {
                if carried_entries {
                    self.next_index = last_index + 1;
                    self.inflights.add(last_index, bytes);
                }
            }
        }
    }

    /// An acceptance up to `index`. Returns whether it told the leader something new.
    pub(crate) fn accepted(&mut self, index: Index) -> bool {
        let updated = index > self.match_index;
        if updated {
            self.match_index = index;
            self.probe_sent = false;
        }
        self.next_index = self.next_index.max(index + 1);
        self.inflights.free_to(index);
        match self.state {
            ProgressState::Probe if updated => self.become_replicate(),
            // The snapshot is in place (or the follower caught up another way).
            ProgressState::Snapshot if self.match_index >= self.snapshot_index => {
                self.become_replicate()
            }
            _ => {}
        }
        updated
    }

    /// A rejection of the append after `rejected`. `match_hint` is the leader's best guess of
    /// the follower's last matching index. Returns false for a stale rejection (one answering an
    /// append the leader has already moved past).
    pub(crate) fn rejected(&mut self, rejected: Index, match_hint: Index) -> bool {
        match self.state {
            ProgressState::Replicate => {
                if rejected <= self.match_index {
                    return false;
                }
                self.become_probe();
                true
            }
            // A snapshot in flight settles things by itself.
            ProgressState::Snapshot => false,
            ProgressState::Probe => {
                if self.next_index == 0 || self.next_index - 1 != rejected {
                    return false;
                }
                self.next_index =
                    (rejected.min(match_hint.saturating_add(1))).max(self.match_index + 1);
                self.probe_sent = false;
                true
            }
        }
    }

    pub(crate) fn become_probe(&mut self) {
        self.state = ProgressState::Probe;
        self.next_index = self.match_index + 1;
        self.probe_sent = false;
        self.inflights.reset();
    }

    fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next_index = self.match_index + 1;
        self.inflights.reset();
    }
}
