//! The node's log as the core sees it: every entry after the compaction point, plus the cursors
//! that say how far it is durable, committed, handed out for applying and applied.
//!
//! Invariant: `applied <= apply_cursor <= commit <= last_index()` and `stable <= last_index()`.
//! Entries are held in memory from `first_index()` on; the caller's storage holds the durable copy.

use std::collections::VecDeque;

use crate::membership::Membership;
use crate::types::{Entry, EntryKind, Index, Snapshot, SnapshotChunk, Term};

#[derive(Clone, Debug)]
pub(crate) struct Log {
    /// The index and term of the entry just before `entries[0]` (0, 0 for a fresh log).
    prev_index: Index,
    prev_term: Term,
    entries: VecDeque<Entry>,
    commit: Index,
    /// Entries up to here are durable (acknowledged by the caller).
    stable: Index,
    /// Entries up to here were handed out in a persist request.
    persist_cursor: Index,
    /// Entries up to here were handed out to be applied.
    apply_cursor: Index,
    /// Entries up to here were applied (acknowledged by the caller).
    applied: Index,
    /// The membership in force at `prev_index` (from the snapshot, or the initial one), then
    /// every membership entry in the log, oldest first. The last one is in force: a node uses the
    /// newest membership in its log, committed or not (Raft thesis 4.1), and falls back to the
    /// one before when a conflicting suffix is truncated.
    memberships: VecDeque<(Index, Membership)>,
    /// Counts changes to `memberships`, so the node knows when to follow them.
    membership_epoch: u64,
    /// Chunks of a snapshot from the leader, not yet handed out to be written.
    snapshot_chunks: Vec<SnapshotChunk>,
    /// A snapshot received from the leader that replaced the log, not yet handed out to persist.
    snapshot_to_persist: Option<Snapshot>,
    /// The same snapshot, to hand to the state machine once durable and before later entries.
    snapshot_to_restore: Option<Snapshot>,
}

/// What `take_unpersisted` hands out: snapshot chunks to write, then a snapshot from the
/// leader, then entries.
pub(crate) type Unpersisted = (Vec<SnapshotChunk>, Option<Box<Snapshot>>, Vec<Entry>);

impl Log {
    /// A log restored from durable state: `entries` must be contiguous and follow
    /// (`prev_index`, `prev_term`), the point of the snapshot the caller restored (0, 0 without).
    pub(crate) fn restore(
        prev_index: Index,
        prev_term: Term,
        base_membership: Membership,
        entries: Vec<Entry>,
        commit: Index,
        applied: Index,
    ) -> Log {
        let last = prev_index + entries.len() as Index;
        let commit = commit.clamp(prev_index, last);
        let applied = applied.clamp(prev_index, commit);
        let mut log = Log {
            prev_index,
            prev_term,
            entries: VecDeque::with_capacity(entries.len()),
            commit,
            stable: last,
            persist_cursor: last,
            apply_cursor: applied,
            applied,
            memberships: VecDeque::from([(prev_index, base_membership)]),
            membership_epoch: 0,
            snapshot_chunks: Vec::new(),
            snapshot_to_persist: None,
            snapshot_to_restore: None,
        };
        for e in entries {
            log.push(e);
        }
        log
    }

    pub(crate) fn prev_index(&self) -> Index {
        self.prev_index
    }

    /// Entries held in memory.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn last_index(&self) -> Index {
        self.prev_index + self.entries.len() as Index
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.back().map_or(self.prev_term, |e| e.term)
    }

    pub(crate) fn commit(&self) -> Index {
        self.commit
    }

    pub(crate) fn stable(&self) -> Index {
        self.stable
    }

    pub(crate) fn applied(&self) -> Index {
        self.applied
    }

    /// The term of the entry at `index`, if the log still holds it (index 0 has term 0).
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        if index == self.prev_index {
            return Some(self.prev_term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub(crate) fn entry(&self, index: Index) -> Option<&Entry> {
        if index <= self.prev_index {
            return None;
        }
        self.entries.get((index - self.prev_index - 1) as usize)
    }

    /// Whether a log ending at (`last_index`, `last_term`) is at least as up to date as this one
    /// (Raft paper 5.4.1: the later last term wins; with equal terms, the longer log).
    pub(crate) fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Entries from `lo` on, at most `count_max` of them and about `bytes_max` bytes (always at
    /// least one when any exist), with their total size.
    pub(crate) fn slice(&self, lo: Index, count_max: usize, bytes_max: u64) -> (Vec<Entry>, u64) {
        if lo <= self.prev_index {
            return (Vec::new(), 0);
        }
        let start = (lo - self.prev_index - 1) as usize;
        if start >= self.entries.len() {
            return (Vec::new(), 0);
        }
        let mut out = Vec::with_capacity((self.entries.len() - start).min(count_max));
        let mut bytes = 0;
        for e in self.entries.range(start..).take(count_max) {
            let size = e.size_bytes();
            if !out.is_empty() && bytes + size > bytes_max {
                break;
            }
            bytes += size;
            out.push(e.clone());
        }
        (out, bytes)
    }

    /// Appends one entry at the end; its index must be `last_index() + 1`.
    pub(crate) fn push(&mut self, entry: Entry) {
        assert_eq!(
            entry.index,
            self.last_index() + 1,
            "log append out of order"
        );
        assert!(
            entry.term >= self.last_term(),
            "log terms must not decrease"
        );
        if let EntryKind::Membership(m) = &entry.kind {
            self.memberships.push_back((entry.index, (**m).clone()));
            self.membership_epoch += 1;
        }
        self.entries.push_back(entry);
    }

    /// The membership in force: the newest in the log.
    pub(crate) fn membership(&self) -> &Membership {
        &self
            .memberships
            .back()
            .expect("a base membership is always there")
            .1
    }

    /// The index of the entry holding the membership in force (the snapshot's index for the base).
    pub(crate) fn membership_index(&self) -> Index {
        self.memberships
            .back()
            .expect("a base membership is always there")
            .0
    }

    /// The membership in force at `index`.
    pub(crate) fn membership_at(&self, index: Index) -> &Membership {
        &self.membership_entry_at(index).1
    }

    /// The index of the entry holding the membership in force at `index`.
    pub(crate) fn membership_index_at(&self, index: Index) -> Index {
        self.membership_entry_at(index).0
    }

    fn membership_entry_at(&self, index: Index) -> &(Index, Membership) {
        self.memberships
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .unwrap_or_else(|| self.memberships.front().expect("base"))
    }

    pub(crate) fn membership_epoch(&self) -> u64 {
        self.membership_epoch
    }

    /// Whether a membership entry is in the log but not committed yet.
    pub(crate) fn has_pending_membership(&self) -> bool {
        self.membership_index() > self.commit
    }

    /// Merges entries received from a leader after a matching (`prev_index`, `prev_term`): skips
    /// those already present, truncates at the first conflict, appends the rest. Returns the
    /// index of the last entry now known to match the leader's log, or `None` when a conflict
    /// would rewrite a committed entry (which a correct leader never asks for).
    pub(crate) fn merge(&mut self, prev_index: Index, entries: Vec<Entry>) -> Option<Index> {
        let last_match = prev_index + entries.len() as Index;
        let mut new_from = entries.len();
        for (i, e) in entries.iter().enumerate() {
            debug_assert_eq!(e.index, prev_index + 1 + i as Index);
            match self.term(e.index) {
                Some(t) if t == e.term => continue,
                Some(_) => {
                    if e.index <= self.commit {
                        return None;
                    }
                    self.truncate_from(e.index);
                    new_from = i;
                    break;
                }
                None => {
                    new_from = i;
                    break;
                }
            }
        }
        for e in entries.into_iter().skip(new_from) {
            self.push(e);
        }
        Some(last_match)
    }

    /// Drops every entry from `index` on; none of them may be committed.
    fn truncate_from(&mut self, index: Index) {
        assert!(index > self.commit, "truncating committed entries");
        assert!(index > self.prev_index);
        self.entries
            .truncate((index - self.prev_index - 1) as usize);
        if self.membership_index() >= index {
            // The base membership sits at or below `prev_index`, so it always stays.
            self.memberships.retain(|(i, _)| *i < index);
            self.membership_epoch += 1;
        }
        self.stable = self.stable.min(index - 1);
        self.persist_cursor = self.persist_cursor.min(index - 1);
    }

    /// The last entry with index at most `index` and term at most `term` (etcd's
    /// findConflictByTerm). Used on both sides of fast backtracking.
    pub(crate) fn find_conflict_by_term(&self, index: Index, term: Term) -> (Index, Term) {
        let mut i = index.min(self.last_index());
        loop {
            match self.term(i) {
                Some(t) if t > term => i -= 1,
                Some(t) => return (i, t),
                // Below the compaction point: the best answer is the compaction point itself.
                None => return (self.prev_index, self.prev_term),
            }
        }
    }

    /// Advances the commit index; it never decreases and never passes the last entry.
    pub(crate) fn commit_to(&mut self, index: Index) -> bool {
        let index = index.min(self.last_index());
        if index > self.commit {
            self.commit = index;
            true
        } else {
            false
        }
    }

    /// The snapshot chunks, snapshot and entries not yet handed out for persisting, and marks
    /// them handed out.
    pub(crate) fn take_unpersisted(&mut self) -> Unpersisted {
        let snapshot_chunks = std::mem::take(&mut self.snapshot_chunks);
        let snapshot = self.snapshot_to_persist.take().map(Box::new);
        let from = self.persist_cursor + 1;
        let (entries, _) = self.slice(from, usize::MAX, u64::MAX);
        self.persist_cursor = self.last_index();
        (snapshot_chunks, snapshot, entries)
    }

    pub(crate) fn has_unpersisted(&self) -> bool {
        self.persist_cursor < self.last_index()
            || self.snapshot_to_persist.is_some()
            || !self.snapshot_chunks.is_empty()
    }

    /// A chunk of a snapshot from the leader, to hand out to be written.
    pub(crate) fn write_snapshot_chunk(&mut self, chunk: SnapshotChunk) {
        self.snapshot_chunks.push(chunk);
    }

    /// Whether a snapshot from the leader waits to be handed out to persist.
    pub(crate) fn has_snapshot_to_persist(&self) -> bool {
        self.snapshot_to_persist.is_some()
    }

    /// The caller made the log durable up to (`index`, `term`). Ignored when the log has since
    /// been rewritten at `index` (the durable copy there is no longer ours).
    pub(crate) fn persisted(&mut self, index: Index, term: Term) -> bool {
        if index > self.stable && self.term(index) == Some(term) {
            self.stable = index;
            true
        } else {
            false
        }
    }

    /// Committed, durable entries not yet handed out for applying, up to `bytes_max` (at least
    /// one), and marks them handed out.
    pub(crate) fn take_committed(&mut self, bytes_max: u64, unapplied_max: u64) -> Vec<Entry> {
        if self.snapshot_to_restore.is_some() {
            return Vec::new();
        }
        // Never more than `unapplied_max` entries handed out and not yet acknowledged applied.
        let hi = self
            .commit
            .min(self.stable)
            .min(self.applied.saturating_add(unapplied_max));
        if hi <= self.apply_cursor {
            return Vec::new();
        }
        let count = (hi - self.apply_cursor) as usize;
        let (entries, _) = self.slice(self.apply_cursor + 1, count, bytes_max);
        if let Some(last) = entries.last() {
            self.apply_cursor = last.index;
        }
        entries
    }

    pub(crate) fn has_committed_to_apply(&self, unapplied_max: u64) -> bool {
        let hi = self
            .commit
            .min(self.stable)
            .min(self.applied.saturating_add(unapplied_max));
        self.snapshot_to_restore
            .as_ref()
            .map_or(hi > self.apply_cursor, |s| self.stable >= s.meta.index)
    }

    /// The received snapshot for the state machine, once it is durable; entries after it are
    /// handed out only after it.
    pub(crate) fn take_snapshot_to_restore(&mut self) -> Option<Box<Snapshot>> {
        let ready = self
            .snapshot_to_restore
            .as_ref()
            .is_some_and(|s| self.stable >= s.meta.index);
        if !ready {
            return None;
        }
        let snapshot = self.snapshot_to_restore.take()?;
        // Restoring the state machine from the snapshot applies everything up to its index.
        self.apply_cursor = snapshot.meta.index;
        self.applied = snapshot.meta.index;
        Some(Box::new(snapshot))
    }

    /// Forgets the entries up to `index` (already applied and covered by a snapshot).
    pub(crate) fn compact_to(&mut self, index: Index) {
        let index = index.min(self.applied).min(self.stable);
        if index <= self.prev_index {
            return;
        }
        let term = self.term(index).expect("compaction point is in the log");
        let drop = (index - self.prev_index) as usize;
        self.entries.drain(..drop);
        self.prev_index = index;
        self.prev_term = term;
        // Keep the membership in force at the new base, and every later one.
        while self.memberships.get(1).is_some_and(|(i, _)| *i <= index) {
            self.memberships.pop_front();
        }
    }

    /// Replaces the whole log with a snapshot received from the leader.
    pub(crate) fn install_snapshot(&mut self, snapshot: Snapshot) {
        let (index, term) = (snapshot.meta.index, snapshot.meta.term);
        assert!(
            index > self.commit,
            "a snapshot must be newer than the commit index"
        );
        self.entries.clear();
        self.memberships = VecDeque::from([(index, snapshot.meta.membership.clone())]);
        self.membership_epoch += 1;
        self.prev_index = index;
        self.prev_term = term;
        self.commit = index;
        self.stable = self.stable.min(index - 1);
        self.persist_cursor = index;
        self.snapshot_to_persist = Some(snapshot.clone());
        self.snapshot_to_restore = Some(snapshot);
    }

    pub(crate) fn applied_to(&mut self, index: Index) {
        let index = index.min(self.apply_cursor);
        self.applied = self.applied.max(index);
    }
}
