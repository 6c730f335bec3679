//! Crash consistency of the disk storage, in the style of redb's tests: the storage runs on a
//! simulated file system that keeps a "written" and a "durable" image of every file and of the
//! directory. A workload of persist batches (appends, conflicting suffixes, votes, snapshots) is
//! run with a crash at the Nth sync, for every N the workload reaches, and the unsynced bytes of
//! the last write reach the disk in several ways: not at all, half of them, or page by page in
//! any order (holes, with later pages written and the file's length either extended or not).
//! After reopening from the durable image: everything acknowledged is present, and nothing
//! appears that was never written.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use raft_core::{
    Entry, EntryKind, HardState, Index, Membership, Payload, Persist, Snapshot, SnapshotMeta,
};
use raft_runtime::storage::Vfs;
use std::io::{Read, Write};

use raft_runtime::{DiskOptions, DiskStorage, Storage, StorageError, SyncPolicy};

#[derive(Default)]
struct FileData {
    written: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Default)]
struct SimState {
    files: Vec<FileData>,
    /// The directory as written, and as durable: name -> file.
    names: BTreeMap<PathBuf, usize>,
    durable_names: BTreeMap<PathBuf, usize>,
    syncs: u64,
    crash_at: Option<u64>,
    crashed: bool,
}

#[derive(Clone, Default)]
struct SimFs(Arc<Mutex<SimState>>);

fn file_id(s: &SimState, path: &Path) -> io::Result<usize> {
    s.names
        .get(path)
        .copied()
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash")
}

/// The page size of the simulated disk: small, so that one batch spans several pages.
const PAGE_BYTES: usize = 16;

/// How the unsynced bytes of the last write reach the disk in a crash.
#[derive(Clone, Debug)]
enum Writeback {
    /// None of them.
    Nothing,
    /// The first half (a write cut short).
    Half,
    /// The pages (of `PAGE_BYTES`, at file offsets) marked true, in whatever order they went:
    /// the others read as zeros. With `full_length`, the file's size reached the disk too;
    /// otherwise it ends with the last page written.
    Pages {
        written: Vec<bool>,
        full_length: bool,
    },
}

impl Writeback {
    /// The file after the crash, from what was durable and what was written.
    fn apply(&self, durable: &[u8], written: &[u8]) -> Vec<u8> {
        let mut content = durable.to_vec();
        let Some((start, end)) = unsynced(durable, written) else {
            return content;
        };
        match self {
            Writeback::Nothing => {}
            Writeback::Half => {
                let mid = start + (end - start) / 2;
                if content.len() < mid {
                    content.resize(mid, 0);
                }
                content[start..mid].copy_from_slice(&written[start..mid]);
            }
            Writeback::Pages {
                written: pages,
                full_length,
            } => {
                let first_page = start / PAGE_BYTES;
                let mut last = durable.len();
                content.resize(written.len().max(durable.len()), 0);
                for (i, on) in pages.iter().enumerate() {
                    let from = ((first_page + i) * PAGE_BYTES).max(start);
                    let to = ((first_page + i + 1) * PAGE_BYTES).min(written.len());
                    if *on && from < to {
                        content[from..to].copy_from_slice(&written[from..to]);
                        last = last.max(to);
                    }
                }
                if !full_length {
                    // A file never shrinks below what was durable (its preallocated size).
                    content.truncate(last);
                }
            }
        }
        content
    }
}

/// The bytes of a file written since its last sync: from the first that differs from the
/// durable image to the last (or to the end, when the file grew).
fn unsynced(durable: &[u8], written: &[u8]) -> Option<(usize, usize)> {
    let common = durable.len().min(written.len());
    let first = (0..common)
        .find(|i| durable[*i] != written[*i])
        .unwrap_or(common);
    if written.len() > durable.len() {
        return Some((first, written.len()));
    }
    if first == common {
        return None;
    }
    let last = (0..common).rev().find(|i| durable[*i] != written[*i])?;
    Some((first, last + 1))
}

impl SimFs {
    /// The file system as a machine would find it after the crash: only what was durable, and
    /// the unsynced bytes last appended to file `tear` as `writeback` says.
    fn after_crash(&self, tear: Option<usize>, writeback: &Writeback) -> SimFs {
        let s = self.0.lock();
        let mut next = SimState::default();
        for (name, id) in &s.durable_names {
            let f = &s.files[*id];
            let mut content = f.durable.clone();
            if tear == Some(*id) && f.written.len() >= f.durable.len() {
                content = writeback.apply(&f.durable, &f.written);
            }
            next.files.push(FileData {
                written: content.clone(),
                durable: content,
            });
            let new_id = next.files.len() - 1;
            next.names.insert(name.clone(), new_id);
            next.durable_names.insert(name.clone(), new_id);
        }
        SimFs(Arc::new(Mutex::new(next)))
    }

    /// How many pages the unsynced bytes of file `id` touch.
    fn unsynced_pages(&self, id: usize) -> usize {
        let s = self.0.lock();
        let f = &s.files[id];
        match unsynced(&f.durable, &f.written) {
            Some((start, end)) => (end - 1) / PAGE_BYTES - start / PAGE_BYTES + 1,
            None => 0,
        }
    }

    /// The file most recently written past its durable length, if any.
    fn unsynced_file(&self) -> Option<usize> {
        let s = self.0.lock();
        s.durable_names
            .values()
            .copied()
            .find(|id| unsynced(&s.files[*id].durable, &s.files[*id].written).is_some())
    }

    fn syncs(&self) -> u64 {
        self.0.lock().syncs
    }

    fn op<T>(&self, f: impl FnOnce(&mut SimState) -> io::Result<T>) -> io::Result<T> {
        let mut s = self.0.lock();
        if s.crashed {
            return Err(crashed());
        }
        f(&mut s)
    }

    fn sync_point(s: &mut SimState) -> io::Result<()> {
        s.syncs += 1;
        if s.crash_at == Some(s.syncs) {
            s.crashed = true;
            return Err(crashed());
        }
        Ok(())
    }
}

/// A simulated file open for reading: its contents when it was opened.
struct SimFile(Vec<u8>);

impl raft_runtime::storage::FileRead for SimFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let from = offset as usize;
        let bytes = self
            .0
            .get(from..from + buf.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.0.len() as u64)
    }
}

impl Vfs for SimFs {
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn raft_runtime::storage::FileRead>> {
        let bytes = self.read(path)?;
        Ok(Box::new(SimFile(bytes)))
    }

    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        self.op(|_| Ok(()))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.op(|s| {
            Ok(s.names
                .keys()
                .filter(|p| p.parent() == Some(dir))
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect())
        })
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.op(|s| {
            let id = file_id(s, path)?;
            Ok(s.files[id].written.clone())
        })
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.op(|s| {
            let id = match s.names.get(path) {
                Some(id) => *id,
                None => {
                    s.files.push(FileData::default());
                    let id = s.files.len() - 1;
                    s.names.insert(path.to_path_buf(), id);
                    id
                }
            };
            s.files[id].written.extend_from_slice(data);
            Ok(())
        })
    }

    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<()> {
        self.op(|s| {
            let id = file_id(s, path)?;
            let f = &mut s.files[id].written;
            let (from, to) = (offset as usize, offset as usize + data.len());
            if f.len() < to {
                f.resize(to, 0);
            }
            f[from..to].copy_from_slice(data);
            Ok(())
        })
    }

    fn preallocate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.op(|s| {
            let id = file_id(s, path)?;
            let f = &mut s.files[id].written;
            if f.len() < len as usize {
                f.resize(len as usize, 0);
            }
            Ok(())
        })
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.op(|s| {
            let id = file_id(s, path)?;
            s.files[id].written.truncate(len as usize);
            Ok(())
        })
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        self.op(|s| {
            SimFs::sync_point(s)?;
            let id = file_id(s, path)?;
            let f = &mut s.files[id];
            f.durable = f.written.clone();
            Ok(())
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.op(|s| {
            let id = s
                .names
                .remove(from)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            s.names.insert(to.to_path_buf(), id);
            Ok(())
        })
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.op(|s| {
            s.names
                .remove(path)
                .map(|_| ())
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        })
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        self.op(|s| {
            SimFs::sync_point(s)?;
            s.durable_names = s.names.clone();
            Ok(())
        })
    }
}

fn entry(index: Index, term: u64) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Command,
        data: Payload::from(format!("e{index}-t{term}").as_str()),
    }
}

/// A deterministic workload of what a follower persists: appends, replaced suffixes, new terms
/// and votes, commit advances and snapshots.
fn workload() -> Vec<Vec<Persist>> {
    let mut batches = Vec::new();
    let (mut last, mut term, mut commit, mut id) = (0u64, 1u64, 0u64, 0u64);
    let mut next_id = || {
        id += 1;
        id
    };
    for step in 0..40u64 {
        let mut batch = Vec::new();
        for _ in 0..(1 + step % 3) {
            let entries = if step % 7 == 6 && last > commit + 1 {
                // A new leader replaces the uncommitted suffix.
                term += 1;
                let from = commit + 2;
                last = from + 1;
                vec![entry(from, term), entry(from + 1, term)]
            } else {
                let n = 1 + step % 4;
                let v: Vec<Entry> = (last + 1..=last + n).map(|i| entry(i, term)).collect();
                last += n;
                v
            };
            commit = commit.max(last.saturating_sub(2));
            let hs = HardState {
                term,
                vote: Some(1 + term % 3),
                commit,
            };
            batch.push(Persist {
                id: next_id(),
                hard_state: Some(hs),
                snapshot_chunks: vec![],
                snapshot: None,
                entries,
            });
        }
        batches.push(batch);
        if step % 4 == 3 {
            // A batch that only moves the commit index: written without a sync.
            commit = last.saturating_sub(1);
            let hs = HardState {
                term,
                vote: Some(1 + term % 3),
                commit,
            };
            batches.push(vec![Persist {
                id: next_id(),
                hard_state: Some(hs),
                snapshot_chunks: vec![],
                snapshot: None,
                entries: vec![],
            }]);
        }
    }
    batches
}

/// What acknowledging batches `0..n` (and possibly part of batch n) may leave on disk.
struct Model {
    /// Every entry written by any batch, by (index, term).
    written: HashSet<(Index, u64)>,
    /// The log after the acknowledged batches.
    acked: Vec<Entry>,
    acked_term: u64,
    /// The batch that was being written when the crash came: any prefix of its requests may
    /// have reached the disk (each request is one record).
    in_flight: Vec<Persist>,
    /// The snapshots saved (acknowledged), as (index, data), oldest first.
    snapshots: Vec<(Index, String)>,
    /// A snapshot being written or saved when the crash came.
    snapshot_in_flight: Option<(Index, String)>,
}

impl Model {
    /// The logs the disk may legitimately hold: the acknowledged one, then with each prefix of
    /// the in-flight batch applied.
    fn allowed(&self) -> Vec<Vec<Entry>> {
        let mut log = self.acked.clone();
        let mut out = vec![log.clone()];
        for p in &self.in_flight {
            apply(&mut log, &p.entries);
            out.push(log.clone());
        }
        out
    }
}

fn apply(log: &mut Vec<Entry>, entries: &[Entry]) {
    if let Some(first) = entries.first() {
        log.truncate(first.index as usize - 1);
        log.extend(entries.iter().cloned());
    }
}

/// Runs the workload, crashing at sync `crash_at`: the file system as it was at the crash, the
/// model of what may be on disk, and how many syncs the run made.
fn run(crash_at: Option<u64>) -> (SimFs, Model, u64) {
    let fs = SimFs::default();
    fs.0.lock().crash_at = crash_at;
    let options = DiskOptions {
        sync: SyncPolicy::Always,
        segment_bytes_max: 300,
        snapshot_block_bytes: 8,
    };
    let mut storage = DiskStorage::open_with(fs.clone(), "/data", options).unwrap();
    storage.load().unwrap();
    let mut model = Model {
        written: HashSet::new(),
        acked: Vec::new(),
        acked_term: 0,
        in_flight: Vec::new(),
        snapshots: Vec::new(),
        snapshot_in_flight: None,
    };
    let mut log = Vec::new();
    for (n, batch) in workload().iter().enumerate() {
        for p in batch {
            model
                .written
                .extend(p.entries.iter().map(|e| (e.index, e.term)));
        }
        let ok = storage.persist(batch).is_ok();
        if !ok {
            model.in_flight = batch.clone();
            break;
        }
        for p in batch {
            apply(&mut log, &p.entries);
            model.acked_term = p.hard_state.map_or(model.acked_term, |h| h.term);
        }
        model.acked = log.clone();
        // Every ninth batch, the state machine's snapshot compacts the log: its data streamed
        // in blocks, then saved.
        if n % 9 == 8 {
            let index = log.len() as u64 - 3;
            let data = format!("state@{index}:").repeat(4);
            model.snapshot_in_flight = Some((index, data.clone()));
            let written = storage.snapshots().create(index).and_then(|mut w| {
                w.write_all(data.as_bytes()).map_err(|e| StorageError::Io {
                    path: "snapshot".into(),
                    source: Arc::new(e),
                })?;
                w.finish()
            });
            let snap = Snapshot {
                meta: SnapshotMeta {
                    index,
                    term: log[index as usize - 1].term,
                    membership: Membership::with_voters([1, 2, 3]),
                },
                bytes: data.len() as u64,
            };
            if written.is_err() || storage.save_snapshot(&snap).is_err() {
                break;
            }
            model
                .snapshots
                .push(model.snapshot_in_flight.take().expect("set above"));
        }
    }
    let total = fs.syncs();
    (fs, model, total)
}

/// Ways the unsynced pages of a write of `pages` pages can reach the disk: every single page
/// missing (a hole with everything after it written), and a few pseudo-random subsets.
fn page_writebacks(pages: usize, seed: u64) -> Vec<Writeback> {
    let mut out = Vec::new();
    for hole in 0..pages {
        for full_length in [false, true] {
            out.push(Writeback::Pages {
                written: (0..pages).map(|i| i != hole).collect(),
                full_length,
            });
        }
    }
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..4 {
        let written = (0..pages)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.is_multiple_of(2)
            })
            .collect();
        out.push(Writeback::Pages {
            written,
            full_length: x.is_multiple_of(3),
        });
    }
    out
}

fn check(fs: SimFs, model: &Model, what: &str) {
    let mut storage = DiskStorage::open_with(fs, "/data", DiskOptions::default()).unwrap();
    let r = storage
        .load()
        .unwrap_or_else(|e| panic!("{what}: reopening failed: {e}"));
    let base = r.snapshot.as_ref().map_or(0, |s| s.meta.index);
    // The snapshot in force is the last one saved, or the one being saved at the crash (never
    // one whose data was cut short), and its data reads back whole, every block checked.
    let expected: Vec<&(Index, String)> = model
        .snapshots
        .last()
        .into_iter()
        .chain(&model.snapshot_in_flight)
        .collect();
    match &r.snapshot {
        None => assert!(
            model.snapshots.is_empty(),
            "{what}: the saved snapshot is lost"
        ),
        Some(s) => {
            let (_, data) = expected
                .iter()
                .find(|(i, _)| *i == s.meta.index)
                .unwrap_or_else(|| panic!("{what}: snapshot {} is not in force", s.meta.index));
            let mut read = String::new();
            storage
                .snapshots()
                .open(s.meta.index)
                .and_then(|mut r| {
                    r.read_to_string(&mut read).map_err(|e| StorageError::Io {
                        path: "snapshot".into(),
                        source: Arc::new(e),
                    })
                })
                .unwrap_or_else(|e| panic!("{what}: the snapshot's data: {e}"));
            assert_eq!(&read, data, "{what}: the snapshot's data");
            assert_eq!(s.bytes, data.len() as u64, "{what}");
        }
    }
    // The log is the acknowledged one, or that plus part of the batch in flight: everything
    // acknowledged is there unless a later write legitimately replaced it, and nothing appears
    // that was never written. (Entries a snapshot covers count as there.)
    let after_base = |log: &[Entry]| {
        log.iter()
            .filter(|e| e.index > base)
            .cloned()
            .collect::<Vec<_>>()
    };
    let allowed = model.allowed();
    assert!(
        allowed.iter().any(|log| after_base(log) == r.entries),
        "{what}: the log on disk ({} entries after {base}, last {:?}) is none of the {} allowed",
        r.entries.len(),
        r.entries.last().map(|e| (e.index, e.term)),
        allowed.len()
    );
    for e in &r.entries {
        assert!(
            model.written.contains(&(e.index, e.term)),
            "{what}: entry ({}, {}) was never written",
            e.index,
            e.term
        );
    }
    assert!(
        r.hard_state.term >= model.acked_term,
        "{what}: acknowledged term lost"
    );
}

#[test]
fn after_a_crash_at_any_sync_everything_acknowledged_is_back_and_nothing_else() {
    let (_, _, total) = run(None);
    assert!(total > 50, "the workload syncs {total} times");
    let mut holes = 0;
    for n in 1..=total {
        let (fs, model, _) = run(Some(n));
        let torn = fs.unsynced_file();
        let mut writebacks = vec![Writeback::Nothing, Writeback::Half];
        if let Some(id) = torn {
            let pages = fs.unsynced_pages(id);
            holes += pages;
            writebacks.extend(page_writebacks(pages, n));
        }
        for w in &writebacks {
            check(
                fs.after_crash(torn, w),
                &model,
                &format!("crash at sync {n}, {w:?}"),
            );
        }
    }
    assert!(holes > 100, "only {holes} unsynced pages were tried");
    // And without a crash, everything is there.
    let (fs, model, _) = run(None);
    check(
        fs.after_crash(None, &Writeback::Nothing),
        &model,
        "no crash",
    );
}
