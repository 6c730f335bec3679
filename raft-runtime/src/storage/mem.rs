//! Storage in memory, for tests and single-process clusters. Clones share one "disk", so a test
//! can stop a node and start it again on the same durable state.

use std::sync::Arc;

use parking_lot::Mutex;
use raft_core::{Entry, HardState, Index, Persist, Restore, Snapshot};

use super::{Storage, StorageError};

/// Storage in memory: durable as long as the process lives. Clones share the same state.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    inner: Arc<Mutex<Durable>>,
}

#[derive(Debug, Default)]
struct Durable {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    /// The log after the snapshot.
    entries: Vec<Entry>,
}

impl Durable {
    fn base(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |s| s.meta.index)
    }
}

impl MemStorage {
    /// Empty storage, as for a new node.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// The last durable log index.
    pub fn last_index(&self) -> Index {
        let d = self.inner.lock();
        d.base() + d.entries.len() as Index
    }

    /// Durable entries held (after the snapshot).
    pub fn entry_count(&self) -> usize {
        self.inner.lock().entries.len()
    }
}

impl Storage for MemStorage {
    fn load(&mut self) -> Result<Restore, StorageError> {
        let d = self.inner.lock();
        Ok(Restore {
            hard_state: d.hard_state,
            snapshot: d.snapshot.clone(),
            entries: d.entries.clone(),
            applied: d.base(),
        })
    }

    fn persist(&mut self, batch: &[Persist]) -> Result<(), StorageError> {
        let mut d = self.inner.lock();
        for p in batch {
            if let Some(s) = &p.snapshot {
                d.snapshot = Some((**s).clone());
                d.entries.clear();
            }
            if let Some(first) = p.entries.first() {
                let keep = first.index.saturating_sub(d.base() + 1) as usize;
                d.entries.truncate(keep);
                d.entries.extend(p.entries.iter().cloned());
            }
            if let Some(hs) = p.hard_state {
                d.hard_state = hs;
            }
        }
        Ok(())
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let mut d = self.inner.lock();
        if snapshot.meta.index <= d.base() {
            return Ok(());
        }
        let covered = ((snapshot.meta.index - d.base()) as usize).min(d.entries.len());
        d.entries.drain(..covered);
        d.snapshot = Some(snapshot.clone());
        Ok(())
    }
}
