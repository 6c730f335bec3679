//! Helpers shared by the disk storage tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;

use raft_core::{
    Entry, EntryKind, HardState, Membership, Payload, Persist, Snapshot, SnapshotChunk,
    SnapshotMeta,
};
use raft_runtime::{DiskOptions, DiskStorage, Storage, SyncPolicy};

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
        snapshot_chunks: vec![],
        snapshot: None,
        entries,
    }
}

/// Disk storage in `dir`, syncing every batch.
pub fn open(dir: &Path, segment_bytes_max: u64) -> DiskStorage {
    let options = DiskOptions {
        sync: SyncPolicy::Always,
        segment_bytes_max,
        snapshot_block_bytes: 16,
    };
    DiskStorage::open(dir, options).unwrap()
}

/// A snapshot at (`index`, `term`) of `data`.
pub fn snap(index: u64, term: u64, data: &str) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            index,
            term,
            membership: Membership::with_voters([1, 2, 3]),
        },
        bytes: data.len() as u64,
    }
}

/// Takes a snapshot as a node does: writes `data` to the store, then saves it.
pub fn save(s: &mut impl Storage, index: u64, term: u64, data: &str) -> Snapshot {
    let mut w = s.snapshots().create(index).unwrap();
    w.write_all(data.as_bytes()).unwrap();
    assert_eq!(w.finish().unwrap(), data.len() as u64);
    let snapshot = snap(index, term, data);
    s.save_snapshot(&snapshot).unwrap();
    snapshot
}

/// A persist request that installs `data` as a snapshot from the leader, in chunks of 5 bytes.
pub fn install(id: u64, hs: Option<HardState>, index: u64, term: u64, data: &str) -> Persist {
    let snapshot = snap(index, term, data);
    let snapshot_chunks = data
        .as_bytes()
        .chunks(5)
        .enumerate()
        .map(|(i, c)| SnapshotChunk {
            meta: snapshot.meta.clone(),
            offset: i as u64 * 5,
            total_bytes: data.len() as u64,
            data: Payload::from(c),
        })
        .collect();
    Persist {
        id,
        hard_state: hs,
        snapshot_chunks,
        snapshot: Some(Box::new(snapshot)),
        entries: vec![],
    }
}

/// The data of the snapshot at `index`.
pub fn data_of(s: &impl Storage, index: u64) -> String {
    let mut out = String::new();
    s.snapshots()
        .open(index)
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}
