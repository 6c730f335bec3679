//! What goes through the log (writes) and what is answered locally (reads). Writes are
//! postcard-encoded into the log, and only this module knows their shape; reads stay in the
//! process and are never encoded.

use serde::{Deserialize, Serialize};

use super::hashes::{HashRead, HashWrite};
use super::keys::{KeyRead, KeyWrite};
use super::strings::{Expiry, SetCondition, StringRead, StringWrite};

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
    /// The proposer's wall clock when it proposed the write, in milliseconds since the Unix
    /// epoch. The replicated clock is the largest time applied so far: it never goes backwards,
    /// and deadlines are measured against it.
    pub time_ms: u64,
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

/// What a write does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A string command.
    String(StringWrite),
    /// A hash command.
    Hash(HashWrite),
    /// A keyspace command.
    Key(KeyWrite),
    /// Sets `new` if the key holds `expected` (`None`: the key is absent); 1 if swapped.
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
    /// Active expiry: reclaims up to `limit` keys whose deadline the replicated clock has
    /// reached; replies how many.
    ExpireDue {
        /// The most keys reclaimed.
        limit: u32,
    },
    /// MULTI ... EXEC: if no watched key changed, runs every operation in order, as one entry
    /// (a runtime error in one does not stop the others), and replies with their replies in
    /// an array; if one changed, runs nothing and replies `NilArray`.
    Exec {
        /// The keys WATCHed, and what they were then.
        watched: Vec<Watched>,
        /// The operations queued.
        ops: Vec<TxOp>,
    },
    /// Moves the replicated clock to the write's time, and does nothing else; replies `Ok`.
    /// (Proposed for a linearizable read that got [`Reply::ReadThroughLog`](super::Reply)
    /// before it is asked again.)
    Tick,
}

/// A key WATCHed: after which entry it was read, and whether it existed then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// The key.
    pub key: Key,
    /// The index of the last entry applied when it was read.
    pub since: u64,
    /// Whether it existed then.
    pub present: bool,
}

/// One operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxOp {
    /// A write.
    Write(Command),
    /// A read, answered at its place in the transaction.
    Read(Query),
}

/// A read-only question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query {
    /// A string read.
    String(StringRead),
    /// A hash read.
    Hash(HashRead),
    /// A keyspace read.
    Key(KeyRead),
    /// String keys starting with `prefix`, in byte order, at most `limit` of them, with their
    /// values (SCANPREFIX).
    ScanPrefix {
        /// The prefix the keys start with.
        prefix: Key,
        /// The most pairs returned.
        limit: u32,
    },
    /// A checksum of the whole state, for comparing replicas.
    Digest,
    /// The earliest deadline of any key (`Int`), or `Nil`: for the active expirer.
    NextDeadline,
    /// The replicated clock (`Int`, milliseconds since the Unix epoch).
    Clock,
    /// WATCH: the index of the last entry applied, then for each key 1 if it exists, else 0
    /// (all `Int`).
    Watch {
        /// The keys.
        keys: Vec<Key>,
    },
    /// INFO's keyspace figures (all `Int`): keys held (expired ones not yet reclaimed
    /// included, as Redis counts them), keys with a deadline, and the average time to their
    /// deadlines in milliseconds.
    Keyspace,
}

/// A query as a node answers it: at a time, linearizably or from the node's own state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// The reader's wall clock, in milliseconds since the Unix epoch: keys whose deadline it
    /// has reached are absent.
    pub time_ms: u64,
    /// A local (possibly stale) read, which may rely on the reader's clock as it is. A
    /// linearizable read instead gets [`Reply::ReadThroughLog`](super::Reply) when its answer
    /// relies on a deadline the replicated clock has not reached.
    pub local: bool,
    /// The question.
    pub query: Query,
}

impl Command {
    /// SET `key` `value` (no condition, no deadline).
    pub fn set(key: impl Into<Key>, value: impl Into<Value>) -> Command {
        Command::String(StringWrite::Set {
            key: key.into(),
            value: value.into(),
            condition: SetCondition::Always,
            expiry: Expiry::Never,
            get: false,
        })
    }

    /// INCRBY `key` `by`.
    pub fn incr_by(key: impl Into<Key>, by: i64) -> Command {
        Command::String(StringWrite::IncrBy {
            key: key.into(),
            by,
        })
    }

    /// DEL `keys`.
    pub fn del(keys: Vec<Key>) -> Command {
        Command::Key(KeyWrite::Del { keys })
    }
}

impl Query {
    /// GET `key`.
    pub fn get(key: impl Into<Key>) -> Query {
        Query::String(StringRead::Get { key: key.into() })
    }

    /// MGET `keys`.
    pub fn mget(keys: Vec<Key>) -> Query {
        Query::String(StringRead::MGet { keys })
    }
}

impl Read {
    /// A linearizable read of `query` now, on this machine's clock.
    pub fn now(query: Query) -> Read {
        Read::at(wall_clock_ms(), query)
    }

    /// A local read of `query` now, on this machine's clock.
    pub fn local_now(query: Query) -> Read {
        Read::local_at(wall_clock_ms(), query)
    }

    /// A linearizable read of `query` at `time_ms`.
    pub fn at(time_ms: u64, query: Query) -> Read {
        Read {
            time_ms,
            local: false,
            query,
        }
    }

    /// A local read of `query` at `time_ms`.
    pub fn local_at(time_ms: u64, query: Query) -> Read {
        Read {
            time_ms,
            local: true,
            query,
        }
    }
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

/// Milliseconds since the Unix epoch on this machine's clock (0 if it is set before 1970).
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
