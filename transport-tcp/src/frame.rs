//! The wire format, known only to this crate: every frame is `[length u32 LE][crc32 u32 LE]
//! [postcard payload]`. A connection starts with one handshake frame, then carries messages.

use std::io::{self, Read};

use raft_core::{Message, NodeId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const PROTOCOL_VERSION: u32 = 1;
const MAGIC: u32 = 0x5241_4654; // "RAFT"

/// The first frame on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    pub magic: u32,
    pub version: u32,
    pub cluster_id: u64,
    pub from: NodeId,
    pub to: NodeId,
}

impl Handshake {
    pub fn new(cluster_id: u64, from: NodeId, to: NodeId) -> Handshake {
        Handshake {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            cluster_id,
            from,
            to,
        }
    }

    /// Why a connecting peer is refused, if it is.
    pub fn check(
        &self,
        cluster_id: u64,
        me: NodeId,
        known: impl Fn(NodeId) -> bool,
    ) -> Result<(), FrameError> {
        if self.magic != MAGIC {
            return Err(FrameError::Refused("not a raft peer".into()));
        }
        if self.version != PROTOCOL_VERSION {
            return Err(FrameError::Refused(format!(
                "protocol version {} (expected {PROTOCOL_VERSION})",
                self.version
            )));
        }
        if self.cluster_id != cluster_id {
            return Err(FrameError::Refused(format!(
                "cluster {} (this is cluster {cluster_id})",
                self.cluster_id
            )));
        }
        if self.to != me {
            return Err(FrameError::Refused(format!(
                "it wants node {}, this is node {me}",
                self.to
            )));
        }
        if !known(self.from) {
            return Err(FrameError::Refused(format!(
                "node {} is not a known peer",
                self.from
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Error)]
pub enum FrameError {
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    #[error("frame of {0} bytes exceeds the maximum")]
    TooLarge(u32),
    #[error("frame checksum mismatch")]
    Checksum,
    #[error("undecodable frame: {0}")]
    Decode(String),
    #[error("peer refused: {0}")]
    Refused(String),
}

/// Bytes before a frame's payload: its length and checksum.
pub const HEADER_BYTES: usize = 8;

/// Appends one frame carrying `value`.
pub fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    let payload = postcard::to_allocvec(value).expect("frames always encode");
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

/// Reads one frame's payload, refusing lengths beyond `max_bytes` before allocating.
pub fn read_frame(r: &mut impl Read, max_bytes: u32) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; HEADER_BYTES];
    r.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if len > max_bytes {
        return Err(FrameError::TooLarge(len));
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload)?;
    if crc32fast::hash(&payload) != crc {
        return Err(FrameError::Checksum);
    }
    Ok(payload)
}

pub fn decode_handshake(payload: &[u8]) -> Result<Handshake, FrameError> {
    postcard::from_bytes(payload).map_err(|e| FrameError::Decode(e.to_string()))
}

pub fn decode_message(payload: &[u8]) -> Result<Message, FrameError> {
    postcard::from_bytes(payload).map_err(|e| FrameError::Decode(e.to_string()))
}
