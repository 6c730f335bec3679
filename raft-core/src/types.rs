//! Plain data: identifiers, log entries and the state that must survive a restart.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::membership::Membership;

/// A node's identity. `0` is never a valid id.
pub type NodeId = u64;
/// A Raft term. Terms start at 0 and never decrease on a node.
pub type Term = u64;
/// A log index. The first entry has index 1; index 0 is the empty prefix.
pub type Index = u64;

/// The bytes of a command. Cloning is cheap (a reference count), so one entry can be sent to
/// every follower without copying its payload.
///
/// Every way to make one copies the bytes into a single allocation, and says so: there is no
/// `From<Vec<u8>>`, which would look like a move and be a copy. (A payload that adopted a
/// vector would need a second allocation or a branch on every clone; measured on the commit
/// benchmark, both cost more than the copy.)
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Payload(Arc<[u8]>);

impl Payload {
    /// An empty payload.
    pub fn empty() -> Payload {
        Payload(Arc::from(&[][..]))
    }

    /// A payload holding a copy of `bytes`.
    pub fn copy_from_slice(bytes: &[u8]) -> Payload {
        Payload(Arc::from(bytes))
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the payload holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::empty()
    }
}

impl Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Copies the bytes.
impl From<&[u8]> for Payload {
    fn from(v: &[u8]) -> Self {
        Payload::copy_from_slice(v)
    }
}

/// Copies the bytes.
impl From<&str> for Payload {
    fn from(v: &str) -> Self {
        Payload::copy_from_slice(v.as_bytes())
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self) {
            Ok(s) if s.len() <= 32 => write!(f, "{s:?}"),
            _ => write!(f, "<{} bytes>", self.len()),
        }
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Payload, E> {
                Ok(Payload::from(v))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Payload, E> {
                Ok(Payload::copy_from_slice(&v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Payload, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                Ok(Payload::copy_from_slice(&bytes))
            }
        }
        d.deserialize_bytes(Visitor)
    }
}

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// The empty entry a new leader appends at once, so that it can commit in its own term.
    /// The state machine skips it.
    Blank,
    /// A command proposed by a client, for the state machine.
    Command,
    /// A new membership, in force once this entry commits. The state machine skips it.
    Membership(Box<Membership>),
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that created the entry.
    pub term: Term,
    /// The entry's position in the log.
    pub index: Index,
    /// What the entry carries.
    pub kind: EntryKind,
    /// The command's bytes; empty for `Blank` and `Membership` entries.
    pub data: Payload,
}

impl Entry {
    /// The bytes this entry counts for in every byte limit: its payload plus a fixed header cost,
    /// so that a flood of empty entries is bounded too.
    pub fn size_bytes(&self) -> u64 {
        self.data.len() as u64 + ENTRY_OVERHEAD_BYTES
    }
}

/// The fixed cost charged for each entry on top of its payload.
pub const ENTRY_OVERHEAD_BYTES: u64 = 24;

/// The state that must be durable before the node acts on it: the current term, the vote cast in
/// it, and the commit index (the last is an optimisation: it lets a restarted node apply at once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// The current term.
    pub term: Term,
    /// The node this one voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// The highest index known to be committed.
    pub commit: Index,
}

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Follows the leader of its term, or waits to hear from one; every node starts as one.
    Follower,
    /// Running a pre-vote: asking whether it could win before it disturbs anyone's term.
    PreCandidate,
    /// Campaigning for votes in a term of its own.
    Candidate,
    /// Leads its term: takes proposals and replicates the log.
    Leader,
}

/// Where a snapshot stands in the log, and the membership in force there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The index of the last entry the snapshot covers.
    pub index: Index,
    /// The term of that entry.
    pub term: Term,
    /// The membership in force at `index`.
    pub membership: Membership,
}

/// A snapshot as the core knows it: the state machine's state after applying every entry up to
/// `meta.index`, whose `bytes` of data the caller keeps. The core never holds the data: it asks
/// the caller for the chunks it sends ([`SnapshotRead`]), and hands over the chunks it receives
/// to be written ([`SnapshotChunk`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Where the snapshot stands.
    pub meta: SnapshotMeta,
    /// The size of its data.
    pub bytes: u64,
}

/// The core asks the caller for bytes `offset..offset + len` (fewer at the end) of the data of
/// its snapshot at `index`, to send to `peer`; the caller answers with
/// [`Raft::snapshot_chunk`](crate::Raft::snapshot_chunk), or not at all if that snapshot is
/// gone (a newer one replaced it): the core asks again when it next sends to that peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotRead {
    /// Whom the chunk is for.
    pub peer: NodeId,
    /// The snapshot's index.
    pub index: Index,
    /// The first byte.
    pub offset: u64,
    /// How many bytes at most.
    pub len: u64,
}

/// A chunk of a snapshot received from the leader, to write (see
/// [`Persist::snapshot_chunks`](crate::Persist::snapshot_chunks)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotChunk {
    /// The snapshot it belongs to.
    pub meta: SnapshotMeta,
    /// Where it starts in the snapshot's data: 0 starts the snapshot anew (anything written of
    /// another is dropped); otherwise exactly where the previous chunk ended.
    pub offset: u64,
    /// The size of the whole snapshot's data.
    pub total_bytes: u64,
    /// The bytes.
    pub data: Payload,
}

#[cfg(test)]
mod tests {
    use super::Payload;

    #[test]
    fn a_payload_copies_once_and_its_clones_share_the_bytes() {
        let borrowed: &[u8] = b"command";
        let p = Payload::copy_from_slice(borrowed);
        assert_ne!(
            p.as_ptr(),
            borrowed.as_ptr(),
            "made from borrowed bytes: a copy"
        );
        assert_eq!(p.clone().as_ptr(), p.as_ptr(), "a clone shares the bytes");
        assert_eq!(&*p, borrowed);
        assert_eq!(Payload::from("command"), p);
        assert_eq!(&*Payload::from(""), b"");
        assert_eq!(Payload::from(""), Payload::empty());
    }
}
