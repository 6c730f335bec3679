//! The node's log as the core sees it: every entry after the compaction point, plus the cursors
//! that say how far it is durable, committed, handed out for applying and applied.
//!
//! Invariant: `applied <= apply_cursor <= commit <= last_index()` and `stable <= last_index()`.
//! Entries are held in memory from `first_index()` on; the caller's storage holds the durable copy.

use std::collections::VecDeque;

use crate::types::{Entry, Index, Term};

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
}

impl Log {
    /// A log restored from durable state: `entries` must be contiguous and start at index 1.
    pub(crate) fn restore(entries: Vec<Entry>, commit: Index, applied: Index) -> Log {
        let last = entries.last().map_or(0, |e| e.index);
        let mut log = Log {
            prev_index: 0,
            prev_term: 0,
            entries: entries.into(),
            commit: commit.min(last),
            stable: last,
            persist_cursor: last,
            apply_cursor: 0,
            applied: 0,
        };
        let applied = applied.min(log.commit);
        log.apply_cursor = applied;
        log.applied = applied;
        log
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
        let mut out = Vec::new();
        let mut bytes = 0;
        if lo <= self.prev_index {
            return (out, 0);
        }
        let start = (lo - self.prev_index - 1) as usize;
        for e in self.entries.iter().skip(start).take(count_max) {
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
        self.entries.push_back(entry);
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

    /// The entries not yet handed out for persisting, and marks them handed out.
    pub(crate) fn take_unpersisted(&mut self) -> Vec<Entry> {
        let from = self.persist_cursor + 1;
        let (entries, _) = self.slice(from, usize::MAX, u64::MAX);
        self.persist_cursor = self.last_index();
        entries
    }

    pub(crate) fn has_unpersisted(&self) -> bool {
        self.persist_cursor < self.last_index()
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
    pub(crate) fn take_committed(&mut self, bytes_max: u64) -> Vec<Entry> {
        let hi = self.commit.min(self.stable);
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

    pub(crate) fn has_committed_to_apply(&self) -> bool {
        self.commit.min(self.stable) > self.apply_cursor
    }

    pub(crate) fn applied_to(&mut self, index: Index) {
        let index = index.min(self.apply_cursor);
        self.applied = self.applied.max(index);
    }
}
