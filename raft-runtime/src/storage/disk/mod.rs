//! Durable storage on disk: a segmented write-ahead log, an atomically replaced file for the
//! term and vote, and checksummed snapshot files.
//!
//! Layout of the directory:
//! - `wal-<seq>.log`: log segments, each a sequence of records (see `record.rs`), one per persist
//!   request: its entries and the commit index. A batch of requests is written with one write and
//!   one `fdatasync` (group commit). A segment rolls once it passes `segment_bytes_max`; it is
//!   preallocated to that size when created, and its unwritten rest reads as zeros.
//! - `hardstate`: the term and vote, replaced atomically (temporary file, sync, rename, directory
//!   sync) before any entry of the same batch is written.
//! - `snap-<index>.data` and `snap-<index>.snap`: a snapshot's data, in checksummed blocks, and
//!   its header, written atomically once the data is durable (see `snapshots.rs`). The header
//!   names the first segment still needed after the snapshot; older segments and snapshots are
//!   then deleted.
//!
//! - `LOCK`: locked (`flock`) for as long as the storage is open, so two processes never share
//!   the directory.
//!
//! On open: the newest valid snapshot, then the log replayed from the segment it names. Each
//! record says how much of its segment was synced when it was written. Damage in the last
//! segment that no later record claims was synced is the unsynced batch a crash cut short (its
//! pages may have reached the disk in any order): the log is cut there and the cut logged.
//! Damage in bytes that were once synced is an error that names the file and offset, and the
//! node refuses to start rather than silently lose entries.

mod record;
mod snapshots;
mod vfs;

pub use vfs::{DirLock, FileRead, RealFs, Vfs};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use raft_core::{Entry, HardState, Index, NodeId, Persist, Restore, Snapshot, Term};
use serde::{Deserialize, Serialize};

use super::{SnapshotStore, Storage, StorageError};
use record::Decoded;
use snapshots::{DataWriter, DiskSnapshots, Header};

/// When to `fdatasync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After every batch, before acknowledging it: what Raft's safety assumes.
    Always,
    /// Never. Much faster, but a machine crash (not a process crash) can lose acknowledged
    /// writes and votes, which can break Raft's guarantees. For tests and benchmarks only.
    Never,
}

/// How a [`DiskStorage`] writes.
#[derive(Clone, Debug)]
pub struct DiskOptions {
    /// When to sync ([`SyncPolicy::Always`] by default).
    pub sync: SyncPolicy,
    /// A segment rolls once it is at least this large.
    pub segment_bytes_max: u64,
    /// Snapshot data files are written in checksummed blocks of this many bytes (each chunk a
    /// follower is sent is read and checked by whole blocks).
    pub snapshot_block_bytes: u32,
}

impl Default for DiskOptions {
    fn default() -> DiskOptions {
        DiskOptions {
            sync: SyncPolicy::Always,
            segment_bytes_max: 64 << 20,
            snapshot_block_bytes: 1 << 20,
        }
    }
}

/// One persist request as written in the log.
#[derive(Serialize, Deserialize)]
struct WalRecord {
    commit: Index,
    entries: Vec<Entry>,
    /// How many bytes of this segment were durable (synced) when this record was written. A
    /// damaged spot below this offset was once synced: that is corruption, not a crash's
    /// leftover (see `load`).
    synced_bytes: u64,
}

#[derive(Serialize, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
struct TermVote {
    term: Term,
    vote: Option<NodeId>,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    seq: u64,
    /// The highest index ever written into it.
    max_index: Index,
    bytes: u64,
    /// The bytes known durable: everything before the last completed sync.
    synced_bytes: u64,
}

/// Storage in a directory. See the module documentation for the layout.
pub struct DiskStorage<F: Vfs = RealFs> {
    fs: Arc<F>,
    dir: PathBuf,
    snapshots: Arc<DiskSnapshots<F>>,
    /// A snapshot arriving from the leader, being written.
    incoming: Option<(Index, DataWriter<F>)>,
    options: DiskOptions,
    segments: Vec<Segment>,
    term_vote: TermVote,
    snapshot_index: Index,
    last_index: Index,
    loaded: bool,
    /// Held for the storage's whole life: no other opener can use the directory meanwhile.
    _lock: DirLock,
}

impl DiskStorage<RealFs> {
    /// Storage in `dir` (created if missing), locked against every other opener, in this
    /// process or another, until the storage is dropped. Nothing is read until `load`.
    pub fn open(
        dir: impl AsRef<Path>,
        options: DiskOptions,
    ) -> Result<DiskStorage<RealFs>, StorageError> {
        DiskStorage::open_with(RealFs, dir, options)
    }
}

impl<F: Vfs> DiskStorage<F> {
    /// Like [`DiskStorage::open`], on the file system `fs` (a simulated one in crash tests).
    pub fn open_with(
        fs: F,
        dir: impl AsRef<Path>,
        options: DiskOptions,
    ) -> Result<DiskStorage<F>, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        fs.create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let lock = fs.lock_dir(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => StorageError::Locked {
                path: dir.display().to_string(),
            },
            _ => io(&dir.join(vfs::LOCK_FILE), e),
        })?;
        let fs = Arc::new(fs);
        Ok(DiskStorage {
            snapshots: Arc::new(DiskSnapshots::new(
                fs.clone(),
                dir.clone(),
                options.snapshot_block_bytes,
            )),
            incoming: None,
            fs,
            dir,
            options,
            segments: Vec::new(),
            term_vote: TermVote::default(),
            snapshot_index: 0,
            last_index: 0,
            loaded: false,
            _lock: lock,
        })
    }

    fn segment_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("wal-{seq:020}.log"))
    }

    fn hardstate_path(&self) -> PathBuf {
        self.dir.join("hardstate")
    }

    fn list(&self, prefix: &str, suffix: &str) -> Result<Vec<u64>, StorageError> {
        let mut found: Vec<u64> = self
            .fs
            .list(&self.dir)
            .map_err(|e| io(&self.dir, e))?
            .iter()
            .filter_map(|n| n.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok())
            .collect();
        found.sort_unstable();
        Ok(found)
    }

    /// The newest snapshot whose header reads back whole and whose data file has its length,
    /// with the first segment it needs. Data files without a header (a crash while one was
    /// written) are deleted.
    fn load_snapshot(&self) -> Result<Option<(Snapshot, u64)>, StorageError> {
        let headers = self.list("snap-", ".snap")?;
        for index in self.list("snap-", ".data")? {
            if !headers.contains(&index) {
                self.snapshots.discard(index);
            }
        }
        for index in headers.into_iter().rev() {
            match self.snapshots.read_header(index)? {
                Some(h) => return Ok(Some((h.snapshot, h.first_segment))),
                None => tracing::warn!(index, "skipping a damaged or incomplete snapshot"),
            }
        }
        Ok(None)
    }

    fn load_term_vote(&self) -> Result<TermVote, StorageError> {
        let path = self.hardstate_path();
        let buf = match self.fs.read(&path) {
            Ok(buf) => buf,
            // Never written: a new node. Any other error must not pass for "no vote yet".
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TermVote::default()),
            Err(e) => return Err(io(&path, e)),
        };
        match record::decode(&buf, 0) {
            Decoded::Record(payload, _) => {
                postcard::from_bytes(payload).map_err(|e| corrupt(&path, 0, &e.to_string()))
            }
            _ => Err(corrupt(
                &path,
                0,
                "damaged hard state (it is written atomically)",
            )),
        }
    }

    fn write_term_vote(&mut self, tv: TermVote) -> Result<(), StorageError> {
        let mut buf = Vec::new();
        record::encode(&postcard::to_allocvec(&tv).expect("encodes"), &mut buf);
        let path = self.hardstate_path();
        vfs::write_atomic(&*self.fs, &path, &buf).map_err(|e| io(&path, e))?;
        self.term_vote = tv;
        Ok(())
    }

    /// Starts a new segment (created and made durable in the directory). The current one is
    /// synced first: an unsynced record must never end up torn in a segment that is not last.
    fn roll(&mut self) -> Result<(), StorageError> {
        if let Some(current) = self.segments.last() {
            let path = self.segment_path(current.seq);
            self.fs.sync(&path).map_err(|e| io(&path, e))?;
        }
        let seq = self.segments.last().map_or(1, |s| s.seq + 1);
        let path = self.segment_path(seq);
        self.fs.append(&path, &[]).map_err(|e| io(&path, e))?;
        // Allocated whole now, so that each batch's fdatasync need not also grow the file and
        // allocate its blocks (the rest reads as zeros: see `record::decode`).
        self.fs
            .preallocate(&path, self.options.segment_bytes_max)
            .and_then(|()| self.fs.sync(&path))
            .map_err(|e| io(&path, e))?;
        self.fs.sync_dir(&self.dir).map_err(|e| io(&self.dir, e))?;
        self.segments.push(Segment {
            seq,
            max_index: 0,
            bytes: 0,
            synced_bytes: 0,
        });
        Ok(())
    }

    /// Damage at `offset` of the last segment. After a power cut the pages of the batch being
    /// written can reach the disk in any order, leaving holes and valid records after them; none
    /// of that batch was acknowledged, so cutting the log at the first damage loses nothing
    /// promised. But if a valid record after the damage was written once the damaged bytes had
    /// been synced, they were durable and are now damaged: that is corruption, and the node
    /// refuses to start rather than lose acknowledged entries.
    fn cut_unsynced_tail(
        &self,
        path: &Path,
        buf: &[u8],
        offset: usize,
        why: &str,
    ) -> Result<(), StorageError> {
        let later = record::records_after(buf, offset);
        let synced_over = later.iter().find_map(|(at, payload)| {
            let rec: WalRecord = postcard::from_bytes(payload).ok()?;
            // A real record was written after the synced bytes it names, so they end at or
            // before it; anything else is a record-like value inside some entry's data.
            let real = rec.synced_bytes <= *at as u64;
            (real && rec.synced_bytes > offset as u64).then_some(*at)
        });
        if let Some(at) = synced_over {
            return Err(corrupt(
                path,
                offset as u64,
                &format!(
                    "{why}, in bytes that were synced before the record at offset {at} was written"
                ),
            ));
        }
        tracing::warn!(
            path = %path.display(),
            offset,
            damage = why,
            records_dropped = later.len(),
            "cutting the log at damage in its last, unsynced batch (a write cut short by a crash)"
        );
        self.fs
            .truncate(path, offset as u64)
            .and_then(|()| self.fs.preallocate(path, self.options.segment_bytes_max))
            .map_err(|e| io(path, e))?;
        self.fs.sync(path).map_err(|e| io(path, e))
    }

    /// Makes `snapshot` (its data durable already) the node's, naming `first_segment`, then
    /// deletes what it makes obsolete.
    fn write_snapshot(
        &mut self,
        snapshot: &Snapshot,
        first_segment: u64,
    ) -> Result<(), StorageError> {
        let index = snapshot.meta.index;
        self.snapshots.write_header(&Header {
            snapshot: snapshot.clone(),
            first_segment,
        })?;
        self.snapshot_index = index;
        // Only now that the snapshot is durable can what it covers go.
        for old in self.list("snap-", ".snap")? {
            if old < index {
                self.snapshots.remove(old);
            }
        }
        for old in self.list("snap-", ".data")? {
            if old < index {
                self.snapshots.discard(old);
            }
        }
        let (gone, kept): (Vec<Segment>, Vec<Segment>) =
            self.segments.iter().partition(|s| s.seq < first_segment);
        for s in gone {
            let _ = self.fs.remove(&self.segment_path(s.seq));
        }
        self.segments = kept;
        let _ = self.fs.sync_dir(&self.dir);
        Ok(())
    }

    /// Writes chunks of a snapshot arriving from the leader.
    fn write_chunks(&mut self, p: &Persist) -> Result<(), StorageError> {
        for c in &p.snapshot_chunks {
            let index = c.meta.index;
            if c.offset == 0 {
                if let Some((old, _)) = self.incoming.take().filter(|(i, _)| *i != index) {
                    self.snapshots.discard(old);
                }
                self.incoming = Some((index, self.snapshots.writer(index)?));
            }
            match &mut self.incoming {
                Some((i, w)) if *i == index && w.written() == c.offset => w.take(&c.data)?,
                _ => return Err(chunk_out_of_order(&self.snapshots.data_path(index))),
            }
        }
        Ok(())
    }

    /// Makes the snapshot from the leader, whose chunks are all written, the node's: it
    /// replaces the whole log.
    fn install(&mut self, s: &Snapshot) -> Result<(), StorageError> {
        let path = self.snapshots.data_path(s.meta.index);
        let writer = match self.incoming.take() {
            Some((index, w)) if index == s.meta.index && w.written() == s.bytes => w,
            _ => return Err(chunk_out_of_order(&path)),
        };
        writer.complete()?;
        // The old segments may hold entries that conflict with it: it names a fresh one.
        self.roll()?;
        let first = self.segments.last().expect("just rolled").seq;
        self.write_snapshot(s, first)?;
        self.last_index = s.meta.index;
        Ok(())
    }
}

/// Snapshot chunks that do not follow each other: the core never hands them out so.
fn chunk_out_of_order(path: &Path) -> StorageError {
    corrupt(path, 0, "snapshot chunks out of order")
}

impl<F: Vfs> Storage for DiskStorage<F> {
    fn load(&mut self) -> Result<Restore, StorageError> {
        let snapshot = self.load_snapshot()?;
        let (base, first_segment) = snapshot
            .as_ref()
            .map_or((0, 0), |(s, first)| (s.meta.index, *first));
        self.term_vote = self.load_term_vote()?;
        let mut commit = 0;
        let mut entries: Vec<Entry> = Vec::new();
        let seqs: Vec<u64> = self
            .list("wal-", ".log")?
            .into_iter()
            .filter(|s| *s >= first_segment)
            .collect();
        self.segments.clear();
        for (i, &seq) in seqs.iter().enumerate() {
            let last_segment = i + 1 == seqs.len();
            let path = self.segment_path(seq);
            let buf = self.fs.read(&path).map_err(|e| io(&path, e))?;
            let mut offset = 0;
            let mut max_index = 0;
            loop {
                match record::decode(&buf, offset) {
                    Decoded::End => break,
                    Decoded::Record(payload, next) => {
                        let rec: WalRecord = postcard::from_bytes(payload)
                            .map_err(|e| corrupt(&path, offset as u64, &e.to_string()))?;
                        commit = commit.max(rec.commit);
                        if let Some(last) = rec.entries.last() {
                            max_index = max_index.max(last.index);
                        }
                        replay(&mut entries, base, rec.entries)
                            .map_err(|why| corrupt(&path, offset as u64, why))?;
                        offset = next;
                    }
                    Decoded::Damaged(why) if !last_segment => {
                        // A segment is synced before the next one starts.
                        return Err(corrupt(
                            &path,
                            offset as u64,
                            &format!("{why} in a segment that was synced whole"),
                        ));
                    }
                    Decoded::Damaged(why) => {
                        self.cut_unsynced_tail(&path, &buf, offset, why)?;
                        break;
                    }
                }
            }
            if last_segment {
                // What was read may exist only in the page cache (the process died, the
                // machine did not): made durable now, so later records can say it is.
                self.fs.sync(&path).map_err(|e| io(&path, e))?;
            }
            self.segments.push(Segment {
                seq,
                max_index,
                bytes: offset as u64,
                synced_bytes: offset as u64,
            });
        }
        self.snapshot_index = base;
        self.last_index = base + entries.len() as Index;
        self.loaded = true;
        Ok(Restore {
            hard_state: HardState {
                term: self.term_vote.term,
                vote: self.term_vote.vote,
                commit,
            },
            snapshot: snapshot.map(|(s, _)| s),
            entries,
            applied: base,
        })
    }

    fn persist(&mut self, batch: &[Persist]) -> Result<(), StorageError> {
        assert!(self.loaded, "load() comes before persist()");
        // A snapshot from the leader replaces the whole log, so requests before the last one
        // carrying a snapshot have nothing left to write but their term and vote.
        let from = batch
            .iter()
            .rposition(|p| p.snapshot.is_some())
            .unwrap_or(0);
        // The term and vote go first, so no entry is ever durable without the vote that let it in.
        if let Some(hs) = batch.iter().rev().find_map(|p| p.hard_state) {
            let tv = TermVote {
                term: hs.term,
                vote: hs.vote,
            };
            if tv != self.term_vote {
                self.write_term_vote(tv)?;
            }
        }
        for p in batch {
            self.write_chunks(p)?;
            if let Some(s) = &p.snapshot {
                self.install(s)?;
            }
        }
        let records: Vec<&Persist> = batch[from..]
            .iter()
            .filter(|p| !p.entries.is_empty() || p.hard_state.is_some_and(|h| h.commit > 0))
            .collect();
        if records.is_empty() {
            return Ok(());
        }
        if self
            .segments
            .last()
            .is_none_or(|s| s.bytes >= self.options.segment_bytes_max)
        {
            self.roll()?;
        }
        let synced_bytes = self.segments.last().expect("a segment").synced_bytes;
        let mut buf = Vec::new();
        let mut max_index = 0;
        for p in records {
            if let Some(last) = p.entries.last() {
                max_index = max_index.max(last.index);
                self.last_index = last.index;
            }
            let rec = WalRecord {
                commit: p.hard_state.map_or(0, |h| h.commit),
                entries: p.entries.clone(),
                synced_bytes,
            };
            record::encode(&postcard::to_allocvec(&rec).expect("encodes"), &mut buf);
        }
        let path = self.segment_path(self.segments.last().expect("a segment").seq);
        let seg = self.segments.last_mut().expect("a segment");
        self.fs
            .write_at(&path, seg.bytes, &buf)
            .map_err(|e| io(&path, e))?;
        seg.bytes += buf.len() as u64;
        seg.max_index = seg.max_index.max(max_index);
        // A batch that only moves the commit index needs no sync: losing it in a crash only
        // makes the node restart with an older commit index, which the protocol allows.
        let carries_entries = batch[from..].iter().any(|p| !p.entries.is_empty());
        match self.options.sync {
            SyncPolicy::Always if carries_entries => {
                self.fs.sync(&path).map_err(|e| io(&path, e))?;
                seg.synced_bytes = seg.bytes;
            }
            SyncPolicy::Always => {}
            // Nothing is ever synced; damage is judged as if every batch had been, so that
            // corruption is still told apart from a torn tail.
            SyncPolicy::Never => seg.synced_bytes = seg.bytes,
        }
        Ok(())
    }

    fn snapshots(&self) -> Arc<dyn SnapshotStore> {
        self.snapshots.clone()
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        if snapshot.meta.index <= self.snapshot_index {
            return Ok(());
        }
        // Keep every segment holding an entry after the snapshot.
        let path = self.snapshots.data_path(snapshot.meta.index);
        if self.fs.open_read(&path).is_err() {
            return Err(corrupt(&path, 0, "no data was written for this snapshot"));
        }
        let first = self
            .segments
            .iter()
            .find(|s| s.max_index > snapshot.meta.index)
            .or(self.segments.last())
            .map_or(1, |s| s.seq);
        self.write_snapshot(snapshot, first)
    }
}

/// Adds a record's entries to the replayed log (entries after `base`). A record rewrites the log
/// from its first entry on, even when that entry is covered by the snapshot: what followed it
/// was truncated.
fn replay(log: &mut Vec<Entry>, base: Index, entries: Vec<Entry>) -> Result<(), &'static str> {
    let Some(first) = entries.first().map(|e| e.index) else {
        return Ok(());
    };
    let last = base + log.len() as Index;
    if first > last + 1 {
        return Err("a gap in the log");
    }
    log.truncate(first.saturating_sub(base + 1) as usize);
    for e in entries {
        if e.index > base {
            log.push(e);
        }
    }
    Ok(())
}

fn io(path: &Path, e: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.display().to_string(),
        source: std::sync::Arc::new(e),
    }
}

fn corrupt(path: &Path, offset: u64, reason: &str) -> StorageError {
    StorageError::Corrupt {
        path: path.display().to_string(),
        offset,
        reason: reason.to_string(),
    }
}
