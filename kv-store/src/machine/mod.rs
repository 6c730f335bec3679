//! The key-value state machine: strings and hashes with deadlines, a replicated clock, and the
//! session table that makes retried writes exactly-once. Deterministic: the same log gives the
//! same state and replies on every replica.
//!
//! This module knows nothing of any wire protocol: commands arrive as postcard bytes from the
//! log, and replies and errors leave as typed values ([`Reply`], [`KvError`]) that the server
//! turns into RESP at its edge.

mod command;
mod deadlines;
mod error;
pub(crate) mod glob;
mod hashes;
mod hkey;
mod keys;
mod keyspace;
pub(crate) mod numbers;
mod removals;
mod reply;
mod sessions;
mod snapshot;
mod strings;

use raft_core::Index;
use raft_runtime::StateMachine;

pub use command::{wall_clock_ms, Command, Key, Query, Read, Session, TxOp, Value, Watched, Write};
pub use error::KvError;
pub use hashes::{HashRead, HashWrite, Parts};
pub use keys::{ExpireCondition, KeyRead, KeyWrite};
pub use removals::REMOVALS_MAX;
pub use reply::Reply;
pub use sessions::SESSIONS_MAX;
pub use snapshot::{KvImage, FRAME_BYTES, SNAPSHOT_VERSION};
pub use strings::{Expiry, SetCondition, StringRead, StringWrite};

use keyspace::{Data, Keyspace};
use sessions::{Check, Sessions};

/// How long a client's session lives without writes, in log entries. Expiry is by log position,
/// never by wall clock, so every replica expires the same sessions at the same entry. A write
/// that names an expired session is refused, never run again.
pub const SESSION_TTL_ENTRIES: u64 = 1_000_000;

/// The most bytes of keys and values one read may return: a larger one gets an error instead
/// of making the node allocate without bound.
pub const REPLY_BYTES_MAX: usize = 64 << 20;

/// The most elements one reply may hold (HRANDFIELD with a huge negative count).
pub const REPLY_ITEMS_MAX: usize = 1 << 22;

/// The longest a string may grow by APPEND or SETRANGE (Redis's `proto-max-bulk-len`).
pub const STRING_BYTES_MAX: u64 = 512 << 20;

/// The replicated key-value state: the keyspace (with its clock) and the session table.
#[derive(Debug)]
pub struct KvStore {
    keys: Keyspace,
    sessions: Sessions,
}

impl Default for KvStore {
    fn default() -> KvStore {
        KvStore::new()
    }
}

impl KvStore {
    /// An empty store whose idle sessions expire after [`SESSION_TTL_ENTRIES`].
    pub fn new() -> KvStore {
        KvStore::with_session_ttl(SESSION_TTL_ENTRIES)
    }

    /// A store whose idle sessions expire after `ttl_entries` log entries.
    pub fn with_session_ttl(ttl_entries: u64) -> KvStore {
        KvStore {
            keys: Keyspace::default(),
            sessions: Sessions::new(ttl_entries),
        }
    }

    /// Keys held, including expired ones not reclaimed yet.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.len() == 0
    }

    /// Sessions open.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// The replicated clock: the largest time of any write applied, in milliseconds since the
    /// Unix epoch.
    pub fn clock_ms(&self) -> u64 {
        self.keys.clock()
    }

    /// Applies one write at `index`.
    pub fn write(&mut self, index: Index, write: Write) -> Reply {
        self.keys.begin(index, write.time_ms);
        self.sessions.expire(index);
        if write.command == Command::RegisterSession {
            if write.session.is_some() {
                return Reply::Error(KvError::NestedSession);
            }
            return Reply::Int(self.sessions.register(index) as i64);
        }
        let Some(session) = write.session else {
            return self.execute(write.command);
        };
        if matches!(write.command, Command::Exec { .. }) {
            // Its reads may answer differently on each replica (RANDOMKEY), and a session
            // keeps its last reply in the replicated state.
            return Reply::Error(KvError::NotInSession);
        }
        match self.sessions.check(session) {
            Check::Replay(reply) => reply,
            Check::Refuse(e) => Reply::Error(e),
            Check::Run => {
                let reply = self.execute(write.command);
                self.sessions.record(session, index, reply.clone());
                reply
            }
        }
    }

    fn execute(&mut self, command: Command) -> Reply {
        let ks = &mut self.keys;
        Reply::from_result(match command {
            Command::String(c) => c.run(ks),
            Command::Hash(c) => c.run(ks),
            Command::Key(c) => c.run(ks),
            Command::Cas { key, expected, new } => cas(ks, key, expected, new),
            Command::ExpireDue { limit } => Ok(Reply::Int(ks.reclaim_due(limit as usize) as i64)),
            // `write` has moved the clock already.
            Command::Tick => Ok(Reply::Ok),
            Command::Exec { watched, ops } => return self.exec(watched, ops),
            // Handled by `write`, which knows the entry's index.
            Command::RegisterSession => Err(KvError::NestedSession),
        })
    }

    /// A transaction: nothing if a watched key changed, else every operation in order.
    fn exec(&mut self, watched: Vec<Watched>, ops: Vec<TxOp>) -> Reply {
        let changed = watched
            .iter()
            .any(|w| self.keys.changed_since(&w.key, w.since, w.present));
        if changed {
            return Reply::NilArray;
        }
        let replies = ops
            .into_iter()
            .map(|op| match op {
                // One level: what cannot be inside a transaction is refused, as data.
                TxOp::Write(Command::Exec { .. } | Command::RegisterSession) => {
                    Reply::Error(KvError::NotInTransaction)
                }
                TxOp::Write(c) => self.execute(c),
                TxOp::Read(q) => self.answer(&q, self.keys.clock(), false),
            })
            .collect();
        Reply::Array(replies)
    }

    /// Answers a read.
    pub fn read(&self, read: &Read) -> Reply {
        self.answer(&read.query, read.time_ms, !read.local)
    }

    fn answer(&self, query: &Query, time_ms: u64, strict: bool) -> Reply {
        let view = self.keys.view(time_ms, strict);
        let reply = Reply::from_result(match query {
            Query::String(q) => q.run(&view),
            Query::Hash(q) => q.run(&view),
            Query::Key(q) => q.run(&view),
            Query::ScanPrefix { prefix, limit } => scan_prefix(&view, prefix, *limit),
            Query::Digest => Ok(Reply::Int(i64::from(self.digest()))),
            Query::Watch { keys } => Ok(Reply::Array(
                std::iter::once(view.index() as i64)
                    .chain(keys.iter().map(|k| i64::from(view.get(k).is_some())))
                    .map(Reply::Int)
                    .collect(),
            )),
            Query::Keyspace => {
                let (expires, avg_ttl) = self.keys.expiry_stats(view.now());
                Ok(Reply::Array(
                    [self.keys.len() as u64, expires as u64, avg_ttl]
                        .into_iter()
                        .map(|n| Reply::Int(n.min(i64::MAX as u64) as i64))
                        .collect(),
                ))
            }
            Query::Clock => Ok(Reply::Int(self.keys.clock().min(i64::MAX as u64) as i64)),
            Query::NextDeadline => Ok(self
                .keys
                .next_deadline()
                .map_or(Reply::Nil, |d| Reply::Int(d.min(i64::MAX as u64) as i64))),
        });
        if view.relied_on_unlogged_time() {
            return Reply::ReadThroughLog(Box::new(query.clone()));
        }
        reply
    }

    /// A digest of the whole state, for comparing replicas. Computed in place: no copy of the
    /// state is made.
    pub fn digest(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&self.keys.clock().to_le_bytes());
        for (k, e) in self.keys.entries() {
            let entry = postcard::to_allocvec(e).expect("entries encode");
            h.update(&(k.bytes().len() as u64).to_le_bytes());
            h.update(k.bytes());
            h.update(&entry);
        }
        let sessions = postcard::to_allocvec(&self.sessions.image()).expect("sessions encode");
        h.update(&sessions);
        h.finalize()
    }
}

fn cas(ks: &mut Keyspace, key: Key, expected: Option<Value>, new: Value) -> Result<Reply, KvError> {
    let current = match ks.live(&key) {
        None => None,
        Some(e) => Some(e.string()?),
    };
    if current != expected.as_deref() {
        return Ok(Reply::Int(0));
    }
    ks.put(key, Data::Str(new), None);
    Ok(Reply::Int(1))
}

fn scan_prefix(view: &keyspace::View, prefix: &[u8], limit: u32) -> Result<Reply, KvError> {
    let mut found: Vec<(&[u8], &[u8])> = view
        .live_from(0)
        .filter(|(k, _)| k.bytes().starts_with(prefix))
        .filter_map(|(k, e)| Some((k.bytes(), e.string().ok()?)))
        .collect();
    found.sort_unstable();
    found.truncate(limit as usize);
    check_reply_size(found.iter().map(|(k, v)| k.len() + v.len()).sum())?;
    Ok(Reply::Array(
        found
            .into_iter()
            .flat_map(|(k, v)| [Reply::Bulk(k.to_vec()), Reply::Bulk(v.to_vec())])
            .collect(),
    ))
}

/// Refuses a reply of more than [`REPLY_BYTES_MAX`] bytes of keys and values.
fn check_reply_size(bytes: usize) -> Result<(), KvError> {
    if bytes > REPLY_BYTES_MAX {
        return Err(KvError::ReplyTooLarge {
            bytes,
            max: REPLY_BYTES_MAX,
        });
    }
    Ok(())
}

impl StateMachine for KvStore {
    type Query = Read;
    type Response = Reply;
    type Snapshot = KvImage;

    fn apply(&mut self, index: Index, command: &[u8]) -> Reply {
        match Write::decode(command) {
            Ok(write) => self.write(index, write),
            // A command this version cannot read changes nothing, on every replica alike.
            Err(e) => Reply::Error(KvError::Undecodable(e.to_string())),
        }
    }

    fn query(&self, read: &Read) -> Reply {
        self.read(read)
    }

    /// An image of the whole state: pointer copies of persistent maps, whatever their size.
    fn snapshot(&self) -> KvImage {
        KvImage {
            keys: self.keys.image(),
            sessions: self.sessions.image(),
        }
    }

    fn restore(&mut self, data: &mut dyn std::io::Read) -> Result<(), String> {
        let (keys, sessions) = snapshot::read(data)?;
        self.keys = Keyspace::from_image(keys);
        self.sessions.restore(sessions);
        Ok(())
    }
}
