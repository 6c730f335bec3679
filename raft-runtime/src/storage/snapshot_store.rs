//! Where snapshot data lives. The snapshot thread writes a new snapshot into it as it serializes
//! the state machine's image; the leader reads chunks of it for followers; the apply thread reads
//! it back as a stream to restore from. No snapshot is ever held whole in memory on the way.

use std::io::{Read, Write};

use raft_core::Index;

use super::StorageError;

/// The snapshot data of one node, shared by its threads.
pub trait SnapshotStore: Send + Sync + 'static {
    /// Starts writing the data of the snapshot at `index` (replacing any data of that index
    /// not yet saved as a snapshot). It counts for nothing until the storage saves it
    /// ([`Storage::save_snapshot`](super::Storage::save_snapshot)).
    fn create(&self, index: Index) -> Result<Box<dyn SnapshotWriter>, StorageError>;

    /// The data of the snapshot at `index`, as a stream from its first byte. A stream opened
    /// stays readable to its end even if the snapshot is replaced meanwhile. Damage found on
    /// the way is an error of the stream's `read`.
    fn open(&self, index: Index) -> Result<Box<dyn Read + Send>, StorageError>;

    /// Bytes `offset..offset + len` (fewer at the end) of the data of the snapshot at `index`:
    /// a chunk for a follower. Fails once that snapshot is replaced.
    fn read(&self, index: Index, offset: u64, len: u64) -> Result<Vec<u8>, StorageError>;

    /// Drops data written for `index` that never became a snapshot (the core refused it: a
    /// newer snapshot came from the leader meanwhile).
    fn discard(&self, index: Index);
}

/// The data of a new snapshot, being written.
pub trait SnapshotWriter: Write + Send {
    /// Makes everything written durable, and returns how many bytes that was.
    fn finish(self: Box<Self>) -> Result<u64, StorageError>;
}
