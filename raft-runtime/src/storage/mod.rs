//! Durable state: the log, the hard state and snapshots (whose data a [`SnapshotStore`] holds).

mod disk;
mod mem;
mod snapshot_store;

pub use disk::{DirLock, DiskOptions, DiskStorage, FileRead, RealFs, SyncPolicy, Vfs};
pub use mem::MemStorage;
pub use snapshot_store::{SnapshotStore, SnapshotWriter};

use std::sync::Arc;

use raft_core::{Persist, Restore, Snapshot};
use thiserror::Error;

/// A storage failure. The node stops rather than go on with state it could not make durable.
#[derive(Debug, Error, Clone)]
pub enum StorageError {
    /// A file operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    /// Stored data is damaged where a crash cannot explain it (in bytes that were once synced, or
    /// in a file written atomically), or its records leave a gap in the log: the node refuses to
    /// start rather than lose entries.
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// The byte offset of the damage in it.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// The data directory is locked by another open storage, in this process or another.
    #[error(
        "the data directory {path} is in use: another process (or another storage in this one) \
         holds its lock; two nodes must never share a directory"
    )]
    Locked {
        /// The data directory.
        path: String,
    },
    /// The storage thread is gone, so nothing more can be made durable.
    #[error("storage closed")]
    Closed,
}

/// Equal when the same variant carries equal data; operating-system errors compare by kind.
impl PartialEq for StorageError {
    fn eq(&self, other: &StorageError) -> bool {
        use StorageError::*;
        match (self, other) {
            (Io { path: a, source: x }, Io { path: b, source: y }) => {
                a == b && x.kind() == y.kind()
            }
            (
                Corrupt {
                    path: a,
                    offset: o,
                    reason: r,
                },
                Corrupt {
                    path: b,
                    offset: p,
                    reason: s,
                },
            ) => (a, o, r) == (b, p, s),
            (Locked { path: a }, Locked { path: b }) => a == b,
            (Closed, Closed) => true,
            _ => false,
        }
    }
}

impl Eq for StorageError {}

/// Where a node keeps what must survive a crash. Called from the node's storage thread only.
pub trait Storage: Send + 'static {
    /// Everything durable, to restart from.
    fn load(&mut self) -> Result<Restore, StorageError>;

    /// Makes a batch of persist requests durable, in order, with as few syncs as possible
    /// (group commit: one for the whole batch is the point). Returns once all are durable.
    fn persist(&mut self, batch: &[Persist]) -> Result<(), StorageError>;

    /// The store of snapshot data, which the node's other threads write and read.
    fn snapshots(&self) -> Arc<dyn SnapshotStore>;

    /// Makes the snapshot whose data was written to [`Storage::snapshots`] (and finished) the
    /// one a restart begins from; entries it covers, and older snapshots, may then be dropped.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError>;
}

impl Storage for Box<dyn Storage> {
    fn load(&mut self) -> Result<Restore, StorageError> {
        (**self).load()
    }

    fn persist(&mut self, batch: &[Persist]) -> Result<(), StorageError> {
        (**self).persist(batch)
    }

    fn snapshots(&self) -> Arc<dyn SnapshotStore> {
        (**self).snapshots()
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        (**self).save_snapshot(snapshot)
    }
}
