//! What goes through the log (writes), what is answered locally (queries), and the replies.
//! Writes are postcard-encoded into the log, and only this file knows their shape; queries and
//! replies stay in the process and are never encoded.

use serde::{Deserialize, Serialize};

use super::error::KvError;

/// A key: any bytes.
pub type Key = Vec<u8>;
/// A value: any bytes.
pub type Value = Vec<u8>;

/// A write, replicated through the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Write {
    /// Present for exactly-once writes: the write is applied at most once per (client, seq).
    /// The client must name a session it registered (`Command::RegisterSession`); a write that
    /// names an unknown or expired one is refused and never executed.
    pub session: Option<Session>,
    /// What the write does.
    pub command: Command,
}

/// Identifies one write of one client: retries carry the same pair. `client` is the id a
/// `RegisterSession` returned; `seq` starts at 1 and grows by one per new write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The session's id: the log index of its `RegisterSession` entry.
    pub client: u64,
    /// The write's number within the session: 1 for the first, one more for each new write; a retry
    /// repeats it.
    pub seq: u64,
}

/// When a `Set` takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    /// Whether or not the key exists (a plain SET).
    Always,
    /// Only if the key does not exist (NX).
    IfAbsent,
    /// Only if the key exists (XX).
    IfPresent,
}

/// What a write does to the map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sets `key` to `value` if `condition` holds. Replies `Ok`, or `Nil` when the condition kept
    /// it from happening.
    Set {
        /// The key.
        key: Key,
        /// Its new value.
        value: Value,
        /// When to set it.
        condition: SetCondition,
    },
    /// Deletes the keys; replies with how many existed.
    Del {
        /// The keys to delete.
        keys: Vec<Key>,
    },
    /// Adds `by` to the decimal integer at `key` (0 when absent) and stores the sum; replies with
    /// it. Refused with `NotAnInteger` or `Overflow`, changing nothing.
    IncrBy {
        /// The key holding the integer.
        key: Key,
        /// The amount to add (negative to subtract).
        by: i64,
    },
    /// Sets every pair in one step.
    MSet {
        /// Each key with its new value, set in order (a later pair for the same key wins).
        pairs: Vec<(Key, Value)>,
    },
    /// Sets `new` if the current value is `expected` (`None`: the key is absent).
    Cas {
        /// The key.
        key: Key,
        /// The value it must hold (`None`: absent).
        expected: Option<Value>,
        /// Its new value.
        new: Value,
    },
    /// Opens an exactly-once session (Raft thesis 6.3). Its id, the answer, is the log index of
    /// this entry, so every replica agrees on it.
    RegisterSession,
}

/// A read-only question, answered from a node's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query {
    /// The value of `key`; `Nil` when absent.
    Get {
        /// The key.
        key: Key,
    },
    /// How many of `keys` exist (a key named twice counts twice).
    Exists {
        /// The keys to look for.
        keys: Vec<Key>,
    },
    /// The values of `keys`, in order, with `None` for each absent one. Refused with
    /// `ReplyTooLarge` beyond [`REPLY_BYTES_MAX`](super::REPLY_BYTES_MAX).
    MGet {
        /// The keys to read.
        keys: Vec<Key>,
    },
    /// Keys starting with `prefix`, in order, at most `limit` of them, with their values.
    Scan {
        /// The prefix the keys start with.
        prefix: Key,
        /// The most pairs returned.
        limit: u32,
    },
    /// A checksum of the whole state, for comparing replicas.
    Digest,
}

/// What a write or query answers. Typed, and never encoded: a reply goes from the state
/// machine to the waiting connection as it is, and the server turns it into RESP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Done.
    Ok,
    /// No value (a missing key, or a conditional write that did not happen).
    #[default]
    Nil,
    /// A count or a number.
    Int(i64),
    /// One value.
    Bulk(Value),
    /// An array of values that may be missing (MGET).
    Values(Vec<Option<Value>>),
    /// An array of key, value, key, value... (SCAN).
    Pairs(Vec<(Key, Value)>),
    /// The command was refused by the state machine; it changed nothing.
    Error(KvError),
}

impl Write {
    /// The bytes that go into the log.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("writes always encode")
    }

    /// Reads a write back from the log.
    pub fn decode(bytes: &[u8]) -> Result<Write, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}
