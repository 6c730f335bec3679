//! Helpers shared by the disk storage tests.
#![allow(dead_code)]

use std::path::Path;

use raft_core::{
    Entry, EntryKind, HardState, Membership, Payload, Persist, Snapshot, SnapshotMeta,
};
use raft_runtime::{DiskOptions, DiskStorage, SyncPolicy};

/// An entry whose payload names its position.
pub fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Command,
        data: Payload::from(format!("e{index}-t{term}").as_str()),
    }
}

pub fn persist(id: u64, hs: Option<HardState>, entries: Vec<Entry>) -> Persist {
    Persist {
        id,
        hard_state: hs,
        snapshot: None,
        entries,
    }
}

/// Disk storage in `dir`, syncing every batch.
pub fn open(dir: &Path, segment_bytes_max: u64) -> DiskStorage {
    let options = DiskOptions {
        sync: SyncPolicy::Always,
        segment_bytes_max,
    };
    DiskStorage::open(dir, options).unwrap()
}

pub fn snap(index: u64, term: u64, data: &str) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            index,
            term,
            membership: Membership::with_voters([1, 2, 3]),
        },
        data: Payload::from(data),
    }
}
