//! The disk storage on the real file system: what is persisted comes back, torn tails are cut
//! off, corruption before the tail is refused with the file and offset, snapshots compact.

mod disk_support;

use disk_support::{data_of, entry, install, open, persist, save};
use raft_core::HardState;
use raft_runtime::{Storage, StorageError};

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

#[test]
fn what_is_persisted_comes_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 1 << 20);
    assert_eq!(s.load().unwrap().entries, vec![]);
    let hs = HardState {
        term: 2,
        vote: Some(3),
        commit: 2,
    };
    s.persist(&[
        persist(1, None, vec![entry(1, 1), entry(2, 1)]),
        persist(2, Some(hs), vec![entry(3, 2)]),
    ])
    .unwrap();
    // A follower's conflicting suffix is replaced.
    s.persist(&[persist(3, None, vec![entry(3, 3), entry(4, 3)])])
        .unwrap();
    drop(s);
    let r = open(dir.path(), 1 << 20).load().unwrap();
    assert_eq!(
        r.entries,
        vec![entry(1, 1), entry(2, 1), entry(3, 3), entry(4, 3)]
    );
    assert_eq!(r.hard_state, hs);
}

#[test]
fn segments_roll_and_a_snapshot_deletes_those_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 200);
    s.load().unwrap();
    for i in 1..=60 {
        s.persist(&[persist(i, None, vec![entry(i, 1)])]).unwrap();
    }
    let before = segments(dir.path()).len();
    assert!(before > 3, "{before} segments");
    let snap = save(&mut s, 50, 1, "state at 50, in several blocks");
    assert!(segments(dir.path()).len() < before);
    drop(s);
    let mut s = open(dir.path(), 200);
    let r = s.load().unwrap();
    assert_eq!(r.snapshot, Some(snap));
    assert_eq!(data_of(&s, 50), "state at 50, in several blocks");
    assert_eq!(r.applied, 50);
    assert_eq!(
        r.entries,
        (51..=60).map(|i| entry(i, 1)).collect::<Vec<_>>()
    );
}

#[test]
fn a_torn_last_record_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    s.persist(&[persist(1, None, vec![entry(1, 1), entry(2, 1)])])
        .unwrap();
    s.persist(&[persist(2, None, vec![entry(3, 1)])]).unwrap();
    drop(s);
    let seg = segments(dir.path()).pop().unwrap();
    let len = records_end(&seg) as u64;
    // The crash cut the second record short (and the file's preallocated rest with it).
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 3).unwrap();
    let r = open(dir.path(), 1 << 20).load().unwrap();
    assert_eq!(r.entries, vec![entry(1, 1), entry(2, 1)]);
    // The file was repaired: new records follow the last good one.
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    s.persist(&[persist(3, None, vec![entry(3, 2)])]).unwrap();
    drop(s);
    let r = open(dir.path(), 1 << 20).load().unwrap();
    assert_eq!(r.entries, vec![entry(1, 1), entry(2, 1), entry(3, 2)]);
}

#[test]
fn corruption_before_the_tail_is_refused_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    s.persist(&[persist(1, None, vec![entry(1, 1)])]).unwrap();
    s.persist(&[persist(2, None, vec![entry(2, 1)])]).unwrap();
    drop(s);
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[10] ^= 0x55; // inside the first record's payload
    std::fs::write(&seg, bytes).unwrap();
    match open(dir.path(), 1 << 20).load() {
        Err(StorageError::Corrupt { path, offset, .. }) => {
            assert!(path.ends_with(".log"), "{path}");
            assert_eq!(offset, 0);
        }
        other => panic!("expected corruption to be reported, got {other:?}"),
    }
}

#[test]
fn a_snapshot_from_the_leader_replaces_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    s.persist(&[persist(
        1,
        None,
        vec![entry(1, 1), entry(2, 1), entry(3, 1)],
    )])
    .unwrap();
    let p = install(2, None, 10, 4, "the leader's state, in chunks");
    let snap = (**p.snapshot.as_ref().unwrap()).clone();
    // The chunks may come in requests of their own before the one that completes it.
    let (first, rest) = p.snapshot_chunks.split_at(2);
    let mut early = persist(2, None, vec![]);
    early.snapshot_chunks = first.to_vec();
    s.persist(&[early]).unwrap();
    let mut last = p.clone();
    last.id = 3;
    last.snapshot_chunks = rest.to_vec();
    s.persist(&[last]).unwrap();
    s.persist(&[persist(4, None, vec![entry(11, 4)])]).unwrap();
    drop(s);
    let mut s = open(dir.path(), 1 << 20);
    let r = s.load().unwrap();
    assert_eq!(r.snapshot, Some(snap));
    assert_eq!(data_of(&s, 10), "the leader's state, in chunks");
    assert_eq!(
        r.entries,
        vec![entry(11, 4)],
        "the old entries 1..3 are gone"
    );
}

/// Where the records of segment `file` end: its first zero length field (the rest of the
/// segment is preallocated zeros) or its end.
fn records_end(file: &std::path::Path) -> usize {
    let bytes = std::fs::read(file).unwrap();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        at += 8 + len;
    }
    at.min(bytes.len())
}

/// Zeroes 12 bytes of `file` at `at`, as a page that never reached the disk; returns the file.
fn punch_hole(file: &std::path::Path, at: usize) -> Vec<u8> {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[at..at + 12].fill(0);
    std::fs::write(file, &bytes).unwrap();
    bytes
}

/// After a power cut the pages of the batch being written can reach the disk in any order: a
/// hole, then valid records of that same batch. None of it was acknowledged, so the log is cut
/// at the hole, and the node starts.
#[test]
fn a_hole_in_the_last_batch_is_cut_off_with_the_records_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    s.persist(&[persist(1, None, vec![entry(1, 1), entry(2, 1)])])
        .unwrap();
    drop(s);
    let seg = segments(dir.path()).pop().unwrap();
    let synced = records_end(&seg);
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    // One batch of three requests: one write, one sync.
    s.persist(&[
        persist(2, None, vec![entry(3, 1)]),
        persist(3, None, vec![entry(4, 1)]),
        persist(4, None, vec![entry(5, 1)]),
    ])
    .unwrap();
    drop(s);
    punch_hole(&seg, synced); // the batch's first page never reached the disk
    let r = open(dir.path(), 1 << 20).load().unwrap();
    assert_eq!(r.entries, vec![entry(1, 1), entry(2, 1)]);
    let after = std::fs::read(&seg).unwrap();
    assert_eq!(records_end(&seg), synced, "cut at the hole");
    assert!(
        after[synced..].iter().all(|b| *b == 0),
        "nothing after the cut"
    );
}

/// The same hole in a batch that a later batch was written after (so the hole's bytes had been
/// synced) is corruption of acknowledged entries: refused, naming the file and the offset.
#[test]
fn a_hole_in_a_batch_synced_before_a_later_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    s.persist(&[persist(1, None, vec![entry(1, 1)])]).unwrap();
    let seg = segments(dir.path()).pop().unwrap();
    let first_end = records_end(&seg);
    s.persist(&[
        persist(2, None, vec![entry(2, 1)]),
        persist(3, None, vec![entry(3, 1)]),
    ])
    .unwrap();
    s.persist(&[persist(4, None, vec![entry(4, 1)])]).unwrap();
    drop(s);
    let bytes = punch_hole(&seg, first_end);
    match open(dir.path(), 1 << 20).load() {
        Err(StorageError::Corrupt { path, offset, .. }) => {
            assert_eq!(path, seg.display().to_string());
            assert_eq!(offset, first_end as u64);
        }
        other => panic!("expected corruption to be reported, got {other:?}"),
    }
    assert_eq!(std::fs::read(&seg).unwrap(), bytes, "nothing was cut off");
}

/// Two storages (two processes, or two nodes of one process) on one directory would both
/// acknowledge writes and lose one side's: the second opener is refused at once.
#[test]
fn a_second_opener_of_a_directory_is_refused_while_the_first_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), 1 << 20);
    let second = raft_runtime::DiskStorage::open(dir.path(), Default::default());
    let Err(e) = second else {
        panic!("a second storage opened the same directory")
    };
    assert_eq!(
        e,
        StorageError::Locked {
            path: dir.path().display().to_string()
        }
    );
    assert!(e.to_string().contains("another process"), "{e}");
    drop(first);
    open(dir.path(), 1 << 20).load().unwrap();
}

/// A snapshot's data is checked block by block, whether it is streamed to restore from or read
/// in chunks for a follower: a damaged byte is an error naming the file and the block's offset.
#[test]
fn a_damaged_snapshot_block_is_detected_when_read() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    s.persist(&[persist(1, None, (1..=5).map(|i| entry(i, 1)).collect())])
        .unwrap();
    let data = "a snapshot long enough for several blocks of sixteen bytes";
    save(&mut s, 5, 1, data);
    let store = s.snapshots();
    assert_eq!(
        store.read(5, 10, 20).unwrap(),
        data.as_bytes()[10..30].to_vec()
    );
    let path = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "data"))
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // The preamble is 8 bytes, each block's header 8: byte 40 is in the second block's data.
    bytes[40] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let mut out = Vec::new();
    let e = store.open(5).unwrap().read_to_end(&mut out).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    match store.read(5, 20, 4) {
        Err(StorageError::Corrupt { path, offset, .. }) => {
            assert!(path.ends_with(".data"), "{path}");
            assert_eq!(offset, 32, "the second block starts at byte 32");
        }
        other => panic!("expected the damage to be reported, got {other:?}"),
    }
    // The blocks before the damage still read.
    assert_eq!(
        store.read(5, 0, 16).unwrap(),
        data.as_bytes()[..16].to_vec()
    );
}
