//! What goes through the log (writes), what is answered locally (queries), and the replies.
//! Writes are postcard-encoded into the log, and only this file knows their shape; queries and
//! replies stay in the process and are never encoded.

use serde::{Deserialize, Serialize};

use super::error::KvError;

pub type Key = Vec<u8>;
pub type Value = Vec<u8>;

/// A write, replicated through the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Write {
    /// Present for exactly-once writes: the write is applied at most once per (client, seq).
    /// The client must name a session it registered (`Command::RegisterSession`); a write that
    /// names an unknown or expired one is refused and never executed.
    pub session: Option<Session>,
    pub command: Command,
}

/// Identifies one write of one client: retries carry the same pair. `client` is the id a
/// `RegisterSession` returned; `seq` starts at 1 and grows by one per new write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub client: u64,
    pub seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    Always,
    /// Only if the key does not exist (NX).
    IfAbsent,
    /// Only if the key exists (XX).
    IfPresent,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Set {
        key: Key,
        value: Value,
        condition: SetCondition,
    },
    Del {
        keys: Vec<Key>,
    },
    IncrBy {
        key: Key,
        by: i64,
    },
    /// Sets every pair in one step.
    MSet {
        pairs: Vec<(Key, Value)>,
    },
    /// Sets `new` if the current value is `expected` (`None`: the key is absent).
    Cas {
        key: Key,
        expected: Option<Value>,
        new: Value,
    },
    /// Opens an exactly-once session (Raft thesis 6.3). Its id, the answer, is the log index of
    /// this entry, so every replica agrees on it.
    RegisterSession,
}

/// A read-only question, answered from a node's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query {
    Get {
        key: Key,
    },
    Exists {
        keys: Vec<Key>,
    },
    MGet {
        keys: Vec<Key>,
    },
    /// Keys starting with `prefix`, in order, at most `limit` of them, with their values.
    Scan {
        prefix: Key,
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
