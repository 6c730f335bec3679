//! Snapshot files. A snapshot is two files:
//! - `snap-<index>.data`: a preamble (`RSD1` and the block size, u32 LE), then the data in
//!   blocks of that size (the last one shorter), each a checksummed record (`record.rs`), so
//!   that any chunk can be read, and checked, on its own.
//!   Written as a stream, by the snapshot thread for the node's own snapshots and by the storage
//!   thread for one arriving from the leader, then synced.
//! - `snap-<index>.snap`: its header (where it stands in the log, its size, the first log segment
//!   still needed after it), replaced atomically once the data is durable. A snapshot counts
//!   only once its header exists, so a crash while its data is written leaves the previous one
//!   in force.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use raft_core::{Index, Snapshot};
use serde::{Deserialize, Serialize};

use super::record::{self, Decoded, HEADER_BYTES};
use super::vfs::{self, FileRead, Vfs};
use super::{corrupt, io as io_error};
use crate::storage::{SnapshotStore, SnapshotWriter, StorageError};

/// The first bytes of a data file, before its block size.
const MAGIC: &[u8; 4] = b"RSD1";
const PREAMBLE_BYTES: u64 = 8;

/// The header file's contents.
#[derive(Serialize, Deserialize)]
pub(crate) struct Header {
    pub(crate) snapshot: Snapshot,
    /// The first log segment still needed after this snapshot.
    pub(crate) first_segment: u64,
}

/// The snapshot files of one directory.
pub(crate) struct DiskSnapshots<F: Vfs> {
    fs: Arc<F>,
    dir: PathBuf,
    /// The block size of the data files this writes.
    block_bytes: u32,
}

impl<F: Vfs> DiskSnapshots<F> {
    pub(crate) fn new(fs: Arc<F>, dir: PathBuf, block_bytes: u32) -> DiskSnapshots<F> {
        DiskSnapshots {
            fs,
            dir,
            block_bytes: block_bytes.max(1),
        }
    }

    pub(crate) fn data_path(&self, index: Index) -> PathBuf {
        self.dir.join(format!("snap-{index:020}.data"))
    }

    pub(crate) fn header_path(&self, index: Index) -> PathBuf {
        self.dir.join(format!("snap-{index:020}.snap"))
    }

    /// A writer of the data file for `index`, from empty.
    pub(crate) fn writer(&self, index: Index) -> Result<DataWriter<F>, StorageError> {
        let path = self.data_path(index);
        match self.fs.remove(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path, e)),
        }
        let mut preamble = MAGIC.to_vec();
        preamble.extend_from_slice(&self.block_bytes.to_le_bytes());
        self.fs
            .append(&path, &preamble)
            .map_err(|e| io_error(&path, e))?;
        Ok(DataWriter {
            fs: self.fs.clone(),
            dir: self.dir.clone(),
            path,
            block_bytes: self.block_bytes as usize,
            block: Vec::with_capacity(self.block_bytes as usize),
            written: 0,
        })
    }

    /// Makes `header` durable: the snapshot it names is the node's from now on.
    pub(crate) fn write_header(&self, header: &Header) -> Result<(), StorageError> {
        let mut buf = Vec::new();
        record::encode(&postcard::to_allocvec(header).expect("encodes"), &mut buf);
        let path = self.header_path(header.snapshot.meta.index);
        vfs::write_atomic(&*self.fs, &path, &buf).map_err(|e| io_error(&path, e))
    }

    /// The header at `index`, if it reads back whole and its data file has the length it
    /// implies.
    pub(crate) fn read_header(&self, index: Index) -> Result<Option<Header>, StorageError> {
        let path = self.header_path(index);
        let buf = self.fs.read(&path).map_err(|e| io_error(&path, e))?;
        let Decoded::Record(payload, end) = record::decode(&buf, 0) else {
            return Ok(None);
        };
        let Some(header) = postcard::from_bytes::<Header>(payload)
            .ok()
            .filter(|_| end == buf.len())
        else {
            return Ok(None);
        };
        let data = self.data_path(index);
        let blocks = match self.fs.open_read(&data) {
            Ok(file) => Blocks::open(file, data)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&data, e)),
        };
        Ok((blocks.len()? == blocks.file_len(header.snapshot.bytes)).then_some(header))
    }

    fn blocks(&self, index: Index) -> Result<Blocks, StorageError> {
        let path = self.data_path(index);
        let file = self.fs.open_read(&path).map_err(|e| io_error(&path, e))?;
        Blocks::open(file, path)
    }

    /// Removes both files of the snapshot at `index` (the header first, so a crash between
    /// the two leaves data without a header, which counts for nothing).
    pub(crate) fn remove(&self, index: Index) {
        let _ = self.fs.remove(&self.header_path(index));
        let _ = self.fs.remove(&self.data_path(index));
    }
}

impl<F: Vfs> SnapshotStore for DiskSnapshots<F> {
    fn create(&self, index: Index) -> Result<Box<dyn SnapshotWriter>, StorageError> {
        Ok(Box::new(self.writer(index)?))
    }

    fn open(&self, index: Index) -> Result<Box<dyn Read + Send>, StorageError> {
        Ok(Box::new(DataReader {
            file: self.blocks(index)?,
            block: Vec::new(),
            at: 0,
            next: 0,
        }))
    }

    fn read(&self, index: Index, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let blocks = self.blocks(index)?;
        let size = blocks.block_bytes;
        let mut out = Vec::with_capacity(len as usize);
        let end = offset.saturating_add(len);
        let mut k = offset / size;
        while (out.len() as u64) < len {
            let Some(block) = blocks.block(k)? else {
                break;
            };
            let start = k * size;
            let from = offset.saturating_sub(start) as usize;
            let to = ((end - start) as usize).min(block.len());
            if from >= to {
                break;
            }
            out.extend_from_slice(&block[from..to]);
            k += 1;
        }
        Ok(out)
    }

    fn discard(&self, index: Index) {
        let _ = self.fs.remove(&self.data_path(index));
    }
}

/// A data file, read block by block.
struct Blocks {
    file: Box<dyn FileRead>,
    path: PathBuf,
    block_bytes: u64,
}

impl Blocks {
    /// The data file `file` at `path`, its preamble checked.
    fn open(file: Box<dyn FileRead>, path: PathBuf) -> Result<Blocks, StorageError> {
        let mut preamble = [0u8; PREAMBLE_BYTES as usize];
        file.read_exact_at(0, &mut preamble)
            .map_err(|e| corrupt(&path, 0, &format!("a preamble cut short ({e})")))?;
        let size = u32::from_le_bytes(preamble[4..8].try_into().expect("4 bytes"));
        if &preamble[..4] != MAGIC || size == 0 {
            return Err(corrupt(&path, 0, "not a snapshot data file"));
        }
        Ok(Blocks {
            file,
            path,
            block_bytes: u64::from(size),
        })
    }

    fn len(&self) -> Result<u64, StorageError> {
        self.file.size().map_err(|e| io_error(&self.path, e))
    }

    /// The length of this file when it holds `bytes` of data.
    fn file_len(&self, bytes: u64) -> u64 {
        PREAMBLE_BYTES + bytes + bytes.div_ceil(self.block_bytes) * HEADER_BYTES as u64
    }

    /// Block `k`'s data, checked; none past the end of the file.
    fn block(&self, k: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let at = PREAMBLE_BYTES + k * (self.block_bytes + HEADER_BYTES as u64);
        let len = self.len()?;
        if at >= len {
            return Ok(None);
        }
        let mut head = [0u8; HEADER_BYTES];
        self.file
            .read_exact_at(at, &mut head)
            .map_err(|e| corrupt(&self.path, at, &format!("a block header cut short ({e})")))?;
        let n = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes")) as u64;
        let crc = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        if n == 0 || n > self.block_bytes {
            return Err(corrupt(&self.path, at, "a block of impossible length"));
        }
        let mut data = vec![0; n as usize];
        self.file
            .read_exact_at(at + HEADER_BYTES as u64, &mut data)
            .map_err(|e| corrupt(&self.path, at, &format!("a block cut short ({e})")))?;
        if crc32fast::hash(&data) != crc {
            return Err(corrupt(
                &self.path,
                at,
                "a checksum mismatch in a snapshot block",
            ));
        }
        Ok(Some(data))
    }
}

/// A data file as a stream.
struct DataReader {
    file: Blocks,
    block: Vec<u8>,
    /// The next byte of `block` to hand out.
    at: usize,
    /// The next block to read.
    next: u64,
}

impl Read for DataReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.block.len() {
            match self.file.block(self.next).map_err(io::Error::other)? {
                Some(b) => {
                    self.block = b;
                    self.at = 0;
                    self.next += 1;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A data file being written: full blocks go out as they fill.
pub(crate) struct DataWriter<F: Vfs> {
    fs: Arc<F>,
    dir: PathBuf,
    path: PathBuf,
    block_bytes: usize,
    block: Vec<u8>,
    written: u64,
}

impl<F: Vfs> DataWriter<F> {
    /// Bytes of data taken so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Takes `data`, writing every block it fills.
    pub(crate) fn take(&mut self, mut data: &[u8]) -> Result<(), StorageError> {
        self.written += data.len() as u64;
        while !data.is_empty() {
            let room = self.block_bytes - self.block.len();
            let n = room.min(data.len());
            self.block.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.block.len() == self.block_bytes {
                self.write_block()?;
            }
        }
        Ok(())
    }

    fn write_block(&mut self) -> Result<(), StorageError> {
        let mut buf = Vec::with_capacity(self.block.len() + HEADER_BYTES);
        record::encode(&self.block, &mut buf);
        self.fs
            .append(&self.path, &buf)
            .map_err(|e| io_error(&self.path, e))?;
        self.block.clear();
        Ok(())
    }

    /// Writes the last block and makes the file durable; the data's length.
    pub(crate) fn complete(mut self) -> Result<u64, StorageError> {
        if !self.block.is_empty() {
            self.write_block()?;
        }
        self.fs
            .sync(&self.path)
            .map_err(|e| io_error(&self.path, e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| io_error(&self.dir, e))?;
        Ok(self.written)
    }
}

impl<F: Vfs> Write for DataWriter<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.take(buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<F: Vfs> SnapshotWriter for DataWriter<F> {
    fn finish(self: Box<Self>) -> Result<u64, StorageError> {
        (*self).complete()
    }
}
