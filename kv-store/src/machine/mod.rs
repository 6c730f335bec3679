//! The key-value state machine: a sorted map (prefix scans) and the session table that makes
//! retried writes exactly-once. Deterministic: the same log gives the same state and replies.
//!
//! This module knows nothing of any wire protocol: commands arrive as postcard bytes from the
//! log, and replies and errors leave as typed values ([`Reply`], [`KvError`]) that the server
//! turns into RESP at its edge.

mod command;
mod error;
mod sessions;

use std::collections::BTreeMap;

use raft_core::Index;
use raft_runtime::StateMachine;

pub use command::{Command, Key, Query, Reply, Session, SetCondition, Value, Write};
pub use error::KvError;
pub use sessions::SESSIONS_MAX;

use sessions::{Check, ClientSession, Sessions};

/// How long a client's session lives without writes, in log entries. Expiry is by log position,
/// never by wall clock, so every replica expires the same sessions at the same entry. A write
/// that names an expired session is refused, never run again.
pub const SESSION_TTL_ENTRIES: u64 = 1_000_000;

/// The version of the snapshot format this build writes and reads: 2 since replies (which
/// sessions keep) became typed. A snapshot of another version is refused with a clear error,
/// never misread.
pub const SNAPSHOT_VERSION: u8 = 2;

/// The most bytes of keys and values one read may return: a larger MGET or SCANPREFIX gets an
/// error instead of making the node allocate without bound.
pub const REPLY_BYTES_MAX: usize = 64 << 20;

/// The replicated key-value state: the map and the session table.
#[derive(Debug)]
pub struct KvStore {
    map: BTreeMap<Key, Value>,
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
            map: BTreeMap::new(),
            sessions: Sessions::new(ttl_entries),
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sessions open.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Applies one write at `index`.
    pub fn write(&mut self, index: Index, write: Write) -> Reply {
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
        match command {
            Command::Set {
                key,
                value,
                condition,
            } => {
                let present = self.map.contains_key(&key);
                let allowed = match condition {
                    SetCondition::Always => true,
                    SetCondition::IfAbsent => !present,
                    SetCondition::IfPresent => present,
                };
                if allowed {
                    self.map.insert(key, value);
                    Reply::Ok
                } else {
                    Reply::Nil
                }
            }
            Command::Del { keys } => {
                let removed = keys
                    .iter()
                    .filter(|k| self.map.remove(*k).is_some())
                    .count();
                Reply::Int(removed as i64)
            }
            Command::IncrBy { key, by } => {
                let current = match self.map.get(&key) {
                    None => 0,
                    Some(v) => match std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                    {
                        Some(n) => n,
                        None => return Reply::Error(KvError::NotAnInteger),
                    },
                };
                match current.checked_add(by) {
                    Some(n) => {
                        self.map.insert(key, n.to_string().into_bytes());
                        Reply::Int(n)
                    }
                    None => Reply::Error(KvError::Overflow),
                }
            }
            Command::MSet { pairs } => {
                for (k, v) in pairs {
                    self.map.insert(k, v);
                }
                Reply::Ok
            }
            Command::Cas { key, expected, new } => {
                if self.map.get(&key) == expected.as_ref() {
                    self.map.insert(key, new);
                    Reply::Int(1)
                } else {
                    Reply::Int(0)
                }
            }
            // Handled by `write`, which knows the entry's index.
            Command::RegisterSession => Reply::Error(KvError::NestedSession),
        }
    }

    /// Answers a query from the current state.
    pub fn read(&self, query: &Query) -> Reply {
        match query {
            Query::Get { key } => self.map.get(key).cloned().map_or(Reply::Nil, Reply::Bulk),
            Query::Exists { keys } => {
                Reply::Int(keys.iter().filter(|k| self.map.contains_key(*k)).count() as i64)
            }
            Query::MGet { keys } => {
                let found: Vec<Option<&Value>> = keys.iter().map(|k| self.map.get(k)).collect();
                let bytes: usize = found.iter().flatten().map(|v| v.len()).sum();
                if bytes > REPLY_BYTES_MAX {
                    return too_large(bytes);
                }
                Reply::Values(found.into_iter().map(|v| v.cloned()).collect())
            }
            Query::Digest => Reply::Int(i64::from(self.digest())),
            Query::Scan { prefix, limit } => {
                let found = self
                    .map
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .take(*limit as usize)
                    .collect::<Vec<_>>();
                let bytes: usize = found.iter().map(|(k, v)| k.len() + v.len()).sum();
                if bytes > REPLY_BYTES_MAX {
                    return too_large(bytes);
                }
                Reply::Pairs(
                    found
                        .into_iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            }
        }
    }

    /// A digest of the whole state, for comparing replicas. Computed in place: no copy of the
    /// state is made.
    pub fn digest(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        for (k, v) in &self.map {
            h.update(&(k.len() as u64).to_le_bytes());
            h.update(k);
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(v);
        }
        let sessions = postcard::to_allocvec(&self.sessions.ordered()).expect("sessions encode");
        h.update(&sessions);
        h.finalize()
    }

    fn encode_state(&self) -> Vec<u8> {
        postcard::to_allocvec(&(&self.map, self.sessions.ordered())).expect("state encodes")
    }
}

fn too_large(bytes: usize) -> Reply {
    Reply::Error(KvError::ReplyTooLarge {
        bytes,
        max: REPLY_BYTES_MAX,
    })
}

impl StateMachine for KvStore {
    type Query = Query;
    type Response = Reply;

    fn apply(&mut self, index: Index, command: &[u8]) -> Reply {
        match Write::decode(command) {
            Ok(write) => self.write(index, write),
            // A command this version cannot read changes nothing, on every replica alike.
            Err(e) => Reply::Error(KvError::Undecodable(e.to_string())),
        }
    }

    fn query(&self, query: &Query) -> Reply {
        self.read(query)
    }

    /// `[crc32 of the rest][version][state]`.
    fn snapshot(&self) -> Vec<u8> {
        let mut body = vec![SNAPSHOT_VERSION];
        body.extend_from_slice(&self.encode_state());
        let mut out = crc32fast::hash(&body).to_le_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        if snapshot.len() < 5 {
            return Err("snapshot too short".into());
        }
        let (crc, body) = snapshot.split_at(4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("snapshot checksum mismatch".into());
        }
        let (version, state) = (body[0], &body[1..]);
        if version != SNAPSHOT_VERSION {
            return Err(format!(
                "snapshot format version {version}; this build reads version {SNAPSHOT_VERSION}"
            ));
        }
        let (map, sessions): (BTreeMap<Key, Value>, BTreeMap<u64, ClientSession>) =
            postcard::from_bytes(state).map_err(|e| format!("snapshot undecodable: {e}"))?;
        self.map = map;
        self.sessions.restore(sessions);
        Ok(())
    }
}
