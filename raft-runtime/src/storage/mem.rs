//! Storage in memory, for tests and single-process clusters. Clones share one "disk", so a test
//! can stop a node and start it again on the same durable state.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use parking_lot::Mutex;
use raft_core::{Entry, HardState, Index, Persist, Restore, Snapshot};

use super::{SnapshotStore, SnapshotWriter, Storage, StorageError};

/// Storage in memory: durable as long as the process lives. Clones share the same state.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    inner: Arc<Mutex<Durable>>,
    data: MemSnapshots,
}

#[derive(Debug, Default)]
struct Durable {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    /// The log after the snapshot.
    entries: Vec<Entry>,
    /// A snapshot arriving from the leader: its index and the bytes written so far.
    incoming: Option<(Index, Vec<u8>)>,
}

impl Durable {
    fn base(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |s| s.meta.index)
    }
}

/// Snapshot data by index. Clones share it.
#[derive(Clone, Debug, Default)]
struct MemSnapshots {
    data: Arc<Mutex<BTreeMap<Index, Arc<Vec<u8>>>>>,
}

impl MemSnapshots {
    fn get(&self, index: Index) -> Result<Arc<Vec<u8>>, StorageError> {
        self.data
            .lock()
            .get(&index)
            .cloned()
            .ok_or_else(|| missing(index))
    }

    /// Keeps the data of `index` and anything newer.
    fn drop_before(&self, index: Index) {
        self.data.lock().retain(|i, _| *i >= index);
    }
}

fn missing(index: Index) -> StorageError {
    StorageError::Io {
        path: format!("memory snapshot {index}"),
        source: Arc::new(std::io::ErrorKind::NotFound.into()),
    }
}

impl SnapshotStore for MemSnapshots {
    fn create(&self, index: Index) -> Result<Box<dyn SnapshotWriter>, StorageError> {
        Ok(Box::new(MemWriter {
            index,
            bytes: Vec::new(),
            into: self.data.clone(),
        }))
    }

    fn open(&self, index: Index) -> Result<Box<dyn Read + Send>, StorageError> {
        Ok(Box::new(std::io::Cursor::new(self.get(index)?.to_vec())))
    }

    fn read(&self, index: Index, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let data = self.get(index)?;
        let from = (offset as usize).min(data.len());
        let to = from.saturating_add(len as usize).min(data.len());
        Ok(data[from..to].to_vec())
    }

    fn discard(&self, index: Index) {
        self.data.lock().remove(&index);
    }
}

/// A snapshot being written in memory.
struct MemWriter {
    index: Index,
    bytes: Vec<u8>,
    into: Arc<Mutex<BTreeMap<Index, Arc<Vec<u8>>>>>,
}

impl std::io::Write for MemWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SnapshotWriter for MemWriter {
    fn finish(self: Box<Self>) -> Result<u64, StorageError> {
        let n = self.bytes.len() as u64;
        self.into.lock().insert(self.index, Arc::new(self.bytes));
        Ok(n)
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
        let mut d = self.inner.lock();
        // A snapshot half received is lost in a restart; the leader sends it again.
        d.incoming = None;
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
            for c in &p.snapshot_chunks {
                if c.offset == 0 {
                    d.incoming = Some((c.meta.index, Vec::new()));
                }
                let Some((index, bytes)) = d.incoming.as_mut() else {
                    return Err(out_of_order(c.meta.index));
                };
                if *index != c.meta.index || bytes.len() as u64 != c.offset {
                    return Err(out_of_order(c.meta.index));
                }
                bytes.extend_from_slice(&c.data);
            }
            if let Some(s) = &p.snapshot {
                let Some((index, bytes)) = d.incoming.take() else {
                    return Err(out_of_order(s.meta.index));
                };
                if index != s.meta.index || bytes.len() as u64 != s.bytes {
                    return Err(out_of_order(s.meta.index));
                }
                self.data.data.lock().insert(index, Arc::new(bytes));
                self.data.drop_before(index);
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

    fn snapshots(&self) -> Arc<dyn SnapshotStore> {
        Arc::new(self.data.clone())
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let mut d = self.inner.lock();
        if snapshot.meta.index <= d.base() {
            return Ok(());
        }
        self.data.get(snapshot.meta.index)?;
        let covered = ((snapshot.meta.index - d.base()) as usize).min(d.entries.len());
        d.entries.drain(..covered);
        d.snapshot = Some(snapshot.clone());
        self.data.drop_before(snapshot.meta.index);
        Ok(())
    }
}

/// Chunks of a snapshot from the leader that do not follow each other: the core never hands
/// them out so.
fn out_of_order(index: Index) -> StorageError {
    StorageError::Corrupt {
        path: format!("memory snapshot {index}"),
        offset: 0,
        reason: "snapshot chunks out of order".into(),
    }
}
