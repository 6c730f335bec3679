//! The snapshot format: the whole replicated state as a stream of checksummed frames, written
//! from an immutable image while the store goes on applying, and read back frame by frame, so
//! neither side ever holds the serialized state whole.
//!
//! `[version: u8]`, then frames `[kind: u8][length: u32 LE][CRC-32 of kind and payload: u32 LE]
//! [payload]`: one header (clock, index, where removals are complete from), the keys, the
//! removals and the sessions in order (each frame a run of postcard-encoded items, about
//! [`FRAME_BYTES`] long), and an end frame with the count of each, so a stream cut short is told
//! apart from a complete one.

use std::io::{Read, Write};

use imbl::OrdMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::hkey::HKey;
use super::keyspace::{Entry, KeyspaceImage};
use super::sessions::ClientSession;

/// The version of the snapshot format this build writes and reads: 4 since the state is
/// written as a stream of frames. A snapshot of another version is refused with a clear
/// error, never misread.
pub const SNAPSHOT_VERSION: u8 = 4;

/// A frame is flushed once its payload is at least this long.
pub const FRAME_BYTES: usize = 256 << 10;

/// The longest frame payload accepted: one item larger than the largest string allowed, with
/// its key, is refused as damage.
const FRAME_BYTES_MAX: u32 = 1 << 30;

const HEADER: u8 = 1;
const KEYS: u8 = 2;
const REMOVALS: u8 = 3;
const SESSIONS: u8 = 4;
const END: u8 = 5;

#[derive(Serialize, Deserialize)]
struct Header {
    clock: u64,
    index: u64,
    removals_complete_from: u64,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Counts {
    keys: u64,
    removals: u64,
    sessions: u64,
}

/// An immutable image of the whole replicated state at one entry.
#[derive(Debug)]
pub struct KvImage {
    pub(super) keys: KeyspaceImage,
    pub(super) sessions: OrdMap<u64, ClientSession>,
}

impl raft_runtime::SnapshotImage for KvImage {
    fn write_to(self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(&[SNAPSHOT_VERSION])?;
        let mut frames = Frames {
            out,
            buf: Vec::with_capacity(FRAME_BYTES * 2),
        };
        let header = Header {
            clock: self.keys.clock,
            index: self.keys.index,
            removals_complete_from: self.keys.removals.complete_from,
        };
        frames.item(HEADER, &header)?;
        frames.flush(HEADER)?;
        for item in &self.keys.keys {
            frames.item(KEYS, &item)?;
        }
        frames.flush(KEYS)?;
        for item in &self.keys.removals.by_key {
            frames.item(REMOVALS, &item)?;
        }
        frames.flush(REMOVALS)?;
        for item in &self.sessions {
            frames.item(SESSIONS, &item)?;
        }
        frames.flush(SESSIONS)?;
        let counts = Counts {
            keys: self.keys.keys.len() as u64,
            removals: self.keys.removals.by_key.len() as u64,
            sessions: self.sessions.len() as u64,
        };
        frames.item(END, &counts)?;
        frames.flush(END)
    }
}

/// Frames being written: items of one kind gather in `buf` until it is long enough.
struct Frames<'a> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
}

impl Frames<'_> {
    fn item(&mut self, kind: u8, item: &impl Serialize) -> std::io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        self.buf = postcard::to_extend(item, buf).map_err(std::io::Error::other)?;
        if self.buf.len() >= FRAME_BYTES {
            self.flush(kind)?;
        }
        Ok(())
    }

    fn flush(&mut self, kind: u8) -> std::io::Result<()> {
        // A kind with no items has no frame (the header and end frames always hold one).
        if self.buf.is_empty() {
            return Ok(());
        }
        let len = u32::try_from(self.buf.len())
            .ok()
            .filter(|l| *l <= FRAME_BYTES_MAX)
            .ok_or_else(|| std::io::Error::other("a snapshot item is larger than 1 GiB"))?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[kind]);
        crc.update(&self.buf);
        let mut head = [0u8; 9];
        head[0] = kind;
        head[1..5].copy_from_slice(&len.to_le_bytes());
        head[5..9].copy_from_slice(&crc.finalize().to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

/// Reads a snapshot back: the keyspace's image and the session table.
pub(super) fn read(
    input: &mut dyn Read,
) -> Result<(KeyspaceImage, OrdMap<u64, ClientSession>), String> {
    let mut version = [0u8];
    input
        .read_exact(&mut version)
        .map_err(|e| format!("snapshot unreadable: {e}"))?;
    if version[0] != SNAPSHOT_VERSION {
        return Err(format!(
            "snapshot format version {}; this build reads version {SNAPSHOT_VERSION}",
            version[0]
        ));
    }
    let mut reader = FrameReader {
        input,
        buf: Vec::new(),
        frames: 0,
    };
    let kind = reader.next()?;
    if kind != HEADER {
        return Err(reader.damage("the first frame is not the header"));
    }
    let header: Header = reader.single()?;
    let mut image = KeyspaceImage {
        clock: header.clock,
        index: header.index,
        ..KeyspaceImage::default()
    };
    image.removals.complete_from = header.removals_complete_from;
    let mut sessions = OrdMap::new();
    // Frames come in kind order; each kind may have none.
    let mut last_kind = HEADER;
    loop {
        let kind = reader.next()?;
        if kind < last_kind || kind <= HEADER {
            return Err(reader.damage("frames out of order"));
        }
        last_kind = kind;
        match kind {
            KEYS => reader.items(|k: HKey, e: Entry| {
                image.keys.insert(k, e);
            })?,
            REMOVALS => reader.items(|k: HKey, i: u64| {
                image.removals.by_key.insert(k, i);
            })?,
            SESSIONS => reader.items(|c: u64, s: ClientSession| {
                sessions.insert(c, s);
            })?,
            END => {
                let counts: Counts = reader.single()?;
                let found = Counts {
                    keys: image.keys.len() as u64,
                    removals: image.removals.by_key.len() as u64,
                    sessions: sessions.len() as u64,
                };
                if counts != found {
                    return Err(reader.damage(&format!(
                        "the end frame counts {counts:?}, the frames held {found:?}"
                    )));
                }
                return Ok((image, sessions));
            }
            _ => return Err(reader.damage(&format!("unknown frame kind {kind}"))),
        }
    }
}

/// Frames being read, one at a time, into `buf`.
struct FrameReader<'a> {
    input: &'a mut dyn Read,
    buf: Vec<u8>,
    frames: u64,
}

impl FrameReader<'_> {
    fn damage(&self, what: &str) -> String {
        format!("snapshot damaged at frame {}: {what}", self.frames)
    }

    /// Reads the next frame, checks it, and returns its kind (its payload is in `buf`).
    fn next(&mut self) -> Result<u8, String> {
        let mut head = [0u8; 9];
        self.input
            .read_exact(&mut head)
            .map_err(|e| self.damage(&format!("cut short ({e})")))?;
        self.frames += 1;
        let kind = head[0];
        let len = u32::from_le_bytes(head[1..5].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[5..9].try_into().expect("4 bytes"));
        if len > FRAME_BYTES_MAX {
            return Err(self.damage(&format!("a frame of {len} bytes")));
        }
        self.buf.clear();
        // Read as it arrives, so a damaged length costs no allocation beyond the bytes there.
        let got = (&mut *self.input)
            .take(u64::from(len))
            .read_to_end(&mut self.buf)
            .map_err(|e| self.damage(&e.to_string()))?;
        if got != len as usize {
            return Err(self.damage("cut short"));
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&[kind]);
        h.update(&self.buf);
        if h.finalize() != crc {
            return Err(self.damage("checksum mismatch"));
        }
        Ok(kind)
    }

    /// The frame's one item.
    fn single<T: DeserializeOwned>(&self) -> Result<T, String> {
        match postcard::take_from_bytes::<T>(&self.buf) {
            Ok((t, [])) => Ok(t),
            Ok(_) => Err(self.damage("bytes after its item")),
            Err(e) => Err(self.damage(&e.to_string())),
        }
    }

    /// Each of the frame's items, in order.
    fn items<K: DeserializeOwned, V: DeserializeOwned>(
        &self,
        mut each: impl FnMut(K, V),
    ) -> Result<(), String> {
        let mut rest = &self.buf[..];
        while !rest.is_empty() {
            let ((k, v), after) = postcard::take_from_bytes::<(K, V)>(rest)
                .map_err(|e| self.damage(&e.to_string()))?;
            each(k, v);
            rest = after;
        }
        Ok(())
    }
}
