//! Regression tests for disk storage bugs found by review, each of which failed before its fix.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod disk_support;

use disk_support::{entry, install, open, persist, save};
use parking_lot::Mutex;
use raft_core::HardState;
use raft_runtime::storage::{RealFs, Vfs};
use raft_runtime::{DiskOptions, DiskStorage, Storage, SyncPolicy};

fn restarts(r: raft_core::Restore) -> bool {
    raft_core::Raft::restore(raft_core::Config::new(1, vec![1, 2, 3], 1), r).is_ok()
}

/// A follower's stale suffix is replaced and a snapshot taken at the end of the new log: the
/// replaced entries must not come back on reload.
#[test]
fn entries_replaced_before_a_snapshot_stay_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    s.persist(&[persist(1, None, (1..=100).map(|i| entry(i, 1)).collect())])
        .unwrap();
    let hs = HardState {
        term: 2,
        vote: Some(2),
        commit: 60,
    };
    s.persist(&[persist(
        2,
        Some(hs),
        (51..=60).map(|i| entry(i, 2)).collect(),
    )])
    .unwrap();
    save(&mut s, 60, 2, "state");
    drop(s);
    let r = open(dir.path(), 1 << 20).load().unwrap();
    assert!(
        r.entries.is_empty(),
        "resurrected {} entries",
        r.entries.len()
    );
    assert!(restarts(r));
}

/// A leader's snapshot later in a batch replaces the entries of earlier requests in it.
#[test]
fn a_snapshot_later_in_a_batch_replaces_earlier_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    s.persist(&[persist(1, None, (1..=4).map(|i| entry(i, 1)).collect())])
        .unwrap();
    s.persist(&[
        persist(2, None, (5..=12).map(|i| entry(i, 2)).collect()),
        install(
            3,
            Some(HardState {
                term: 3,
                vote: None,
                commit: 10,
            }),
            10,
            3,
            "state",
        ),
    ])
    .unwrap();
    drop(s);
    let r = open(dir.path(), 1 << 20).load().unwrap();
    assert!(
        r.entries.is_empty(),
        "{:?}",
        r.entries
            .iter()
            .map(|e| (e.index, e.term))
            .collect::<Vec<_>>()
    );
    assert!(restarts(r));
}

/// A damaged length field in the middle of the last segment is corruption, not a torn tail:
/// the records after it must not be silently cut off.
#[test]
fn a_damaged_length_field_mid_segment_is_refused_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), 1 << 20);
    s.load().unwrap();
    for i in 1..=3 {
        s.persist(&[persist(i, None, vec![entry(i, 1)])]).unwrap();
    }
    drop(s);
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let before = std::fs::read(&seg).unwrap();
    let mut bytes = before.clone();
    bytes[3] = 0x7f; // the first record's length becomes huge
    std::fs::write(&seg, &bytes).unwrap();
    assert!(open(dir.path(), 1 << 20).load().is_err());
    assert_eq!(
        std::fs::read(&seg).unwrap().len(),
        before.len(),
        "nothing was cut off"
    );
}

/// Records every file operation.
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<(&'static str, PathBuf)>>>);

impl Logged {
    fn note(&self, op: &'static str, p: &Path) {
        self.0.lock().push((op, p.to_path_buf()));
    }
}

impl Vfs for Logged {
    fn create_dir_all(&self, d: &Path) -> io::Result<()> {
        RealFs.create_dir_all(d)
    }
    fn list(&self, d: &Path) -> io::Result<Vec<String>> {
        RealFs.list(d)
    }
    fn read(&self, p: &Path) -> io::Result<Vec<u8>> {
        RealFs.read(p)
    }
    fn open_read(&self, p: &Path) -> io::Result<Box<dyn raft_runtime::storage::FileRead>> {
        RealFs.open_read(p)
    }
    fn append(&self, p: &Path, data: &[u8]) -> io::Result<()> {
        self.note(if data.is_empty() { "create" } else { "append" }, p);
        RealFs.append(p, data)
    }
    fn write_at(&self, p: &Path, offset: u64, data: &[u8]) -> io::Result<()> {
        self.note("append", p);
        RealFs.write_at(p, offset, data)
    }
    fn preallocate(&self, p: &Path, len: u64) -> io::Result<()> {
        RealFs.preallocate(p, len)
    }
    fn truncate(&self, p: &Path, len: u64) -> io::Result<()> {
        RealFs.truncate(p, len)
    }
    fn sync(&self, p: &Path) -> io::Result<()> {
        self.note("sync", p);
        RealFs.sync(p)
    }
    fn rename(&self, a: &Path, b: &Path) -> io::Result<()> {
        RealFs.rename(a, b)
    }
    fn remove(&self, p: &Path) -> io::Result<()> {
        RealFs.remove(p)
    }
    fn sync_dir(&self, d: &Path) -> io::Result<()> {
        RealFs.sync_dir(d)
    }
}

/// A batch that only moves the commit index is written unsynced; when the next batch starts a
/// new segment, the old one must be synced first, or a power cut could leave a torn record in a
/// segment that is not the last, and the node would refuse to start.
#[test]
fn a_segment_is_synced_before_the_next_one_starts() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Logged::default();
    let options = DiskOptions {
        sync: SyncPolicy::Always,
        segment_bytes_max: 120,
        ..DiskOptions::default()
    };
    let mut s = DiskStorage::open_with(fs.clone(), dir.path(), options).unwrap();
    s.load().unwrap();
    for i in 0..20u64 {
        s.persist(&[persist(2 * i + 1, None, vec![entry(i + 1, 1)])])
            .unwrap();
        s.persist(&[persist(
            2 * i + 2,
            Some(HardState {
                term: 1,
                vote: None,
                commit: i + 1,
            }),
            vec![],
        )])
        .unwrap();
    }
    let log = fs.0.lock().clone();
    let created: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| *op == "create")
        .map(|(i, _)| i)
        .collect();
    assert!(created.len() >= 3, "the segments rolled");
    for &c in created.iter().skip(1) {
        // The last write to an earlier segment before this creation was followed by its sync.
        let earlier = &log[..c];
        let last_append = earlier.iter().rposition(|(op, _)| *op == "append").unwrap();
        let file = &earlier[last_append].1;
        assert!(
            earlier[last_append..]
                .iter()
                .any(|(op, p)| *op == "sync" && p == file),
            "{} was left unsynced when a new segment started",
            file.display()
        );
    }
}
