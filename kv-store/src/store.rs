//! The key-value state machine: a sorted map (prefix scans) and the session table that makes
//! retried writes exactly-once. Deterministic: the same log gives the same state and replies.

use std::collections::{BTreeMap, HashMap};

use raft_core::Index;
use raft_runtime::StateMachine;
use serde::{Deserialize, Serialize};

use crate::command::{Command, Key, Query, Reply, Session, SetCondition, Value, Write};

/// How long a client's session lives without writes, in log entries. Expiry is by log position,
/// never by wall clock, so every replica expires the same sessions at the same entry. A write
/// that names an expired session is refused, never run again.
pub const SESSION_TTL_ENTRIES: u64 = 1_000_000;

/// The most sessions kept: registering one more expires the one idle longest.
pub const SESSIONS_MAX: usize = 100_000;

/// The most bytes of keys and values one read may return: a larger MGET or SCANPREFIX gets an
/// error instead of making the node allocate without bound.
pub const REPLY_BYTES_MAX: usize = 64 << 20;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ClientSession {
    last_seq: u64,
    last_reply: Reply,
    last_index: Index,
}

#[derive(Debug)]
pub struct KvStore {
    map: BTreeMap<Key, Value>,
    sessions: HashMap<u64, ClientSession>,
    /// Sessions by the index of their last write, for expiry in log order.
    expiry: BTreeMap<(Index, u64), ()>,
    session_ttl_entries: u64,
}

impl Default for KvStore {
    fn default() -> KvStore {
        KvStore::new()
    }
}

impl KvStore {
    pub fn new() -> KvStore {
        KvStore::with_session_ttl(SESSION_TTL_ENTRIES)
    }

    /// A store whose idle sessions expire after `ttl_entries` log entries.
    pub fn with_session_ttl(ttl_entries: u64) -> KvStore {
        KvStore {
            map: BTreeMap::new(),
            sessions: HashMap::new(),
            expiry: BTreeMap::new(),
            session_ttl_entries: ttl_entries,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Applies one write at `index`.
    pub fn write(&mut self, index: Index, write: Write) -> Reply {
        self.expire_sessions(index);
        if write.command == Command::RegisterSession {
            if write.session.is_some() {
                return Reply::Error("ERR a session cannot be registered inside a session".into());
            }
            return self.register_session(index);
        }
        let Some(Session { client, seq }) = write.session else {
            return self.execute(write.command);
        };
        let Some(s) = self.sessions.get(&client) else {
            // Unknown or expired: this may be a retry of a write that already ran before the
            // session expired, so running it now could apply it twice.
            return Reply::Error(format!(
                "ERR session expired: session {client} is unknown or has expired, and this \
                 write was not executed; register a new session"
            ));
        };
        if seq == 0 {
            return Reply::Error("ERR session sequence numbers start at 1".into());
        }
        if seq == s.last_seq {
            // A retry of the last write: answer as the first time, change nothing.
            return s.last_reply.clone();
        }
        if seq < s.last_seq {
            return Reply::Error(format!(
                "ERR stale request: client {client} already wrote sequence {} after {seq}",
                s.last_seq
            ));
        }
        let reply = self.execute(write.command);
        if let Some(old) = self.sessions.get(&client) {
            self.expiry.remove(&(old.last_index, client));
        }
        self.sessions.insert(
            client,
            ClientSession {
                last_seq: seq,
                last_reply: reply.clone(),
                last_index: index,
            },
        );
        self.expiry.insert((index, client), ());
        reply
    }

    /// Opens session `index`; when the table is full, the session idle longest goes first.
    fn register_session(&mut self, index: Index) -> Reply {
        while self.sessions.len() >= SESSIONS_MAX {
            let Some((&(last, client), _)) = self.expiry.first_key_value() else {
                break;
            };
            self.expiry.remove(&(last, client));
            self.sessions.remove(&client);
        }
        self.sessions.insert(
            index,
            ClientSession {
                last_seq: 0,
                last_reply: Reply::Nil,
                last_index: index,
            },
        );
        self.expiry.insert((index, index), ());
        Reply::Int(index as i64)
    }

    fn expire_sessions(&mut self, index: Index) {
        let Some(horizon) = index.checked_sub(self.session_ttl_entries) else {
            return;
        };
        while let Some((&(last, client), _)) = self.expiry.first_key_value() {
            if last > horizon {
                break;
            }
            self.expiry.remove(&(last, client));
            self.sessions.remove(&client);
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
                        None => {
                            return Reply::Error(
                                "ERR value is not an integer or out of range".into(),
                            )
                        }
                    },
                };
                match current.checked_add(by) {
                    Some(n) => {
                        self.map.insert(key, n.to_string().into_bytes());
                        Reply::Int(n)
                    }
                    None => Reply::Error("ERR increment or decrement would overflow".into()),
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
            Command::RegisterSession => {
                Reply::Error("ERR a session is registered on its own".into())
            }
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
        let sessions: BTreeMap<&u64, &ClientSession> = self.sessions.iter().collect();
        let sessions = postcard::to_allocvec(&sessions).expect("sessions encode");
        h.update(&sessions);
        h.finalize()
    }

    fn encode_state(&self) -> Vec<u8> {
        // Sessions in a fixed order, so equal states encode equally.
        let sessions: BTreeMap<&u64, &ClientSession> = self.sessions.iter().collect();
        postcard::to_allocvec(&(&self.map, sessions)).expect("state encodes")
    }
}

fn too_large(bytes: usize) -> Reply {
    Reply::Error(format!(
        "ERR the reply would be {bytes} bytes, over the limit of {REPLY_BYTES_MAX}; ask for fewer keys"
    ))
}

impl StateMachine for KvStore {
    fn apply(&mut self, index: Index, command: &[u8]) -> Vec<u8> {
        let reply = match postcard::from_bytes::<Write>(command) {
            Ok(write) => self.write(index, write),
            // A command this version cannot read changes nothing, on every replica alike.
            Err(e) => Reply::Error(format!("ERR undecodable command: {e}")),
        };
        reply.encode()
    }

    fn query(&self, query: &[u8]) -> Vec<u8> {
        let reply = match postcard::from_bytes::<Query>(query) {
            Ok(q) => self.read(&q),
            Err(e) => Reply::Error(format!("ERR undecodable query: {e}")),
        };
        reply.encode()
    }

    /// `[crc32 of the rest][state]`.
    fn snapshot(&self) -> Vec<u8> {
        let state = self.encode_state();
        let mut out = crc32fast::hash(&state).to_le_bytes().to_vec();
        out.extend_from_slice(&state);
        out
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        if snapshot.len() < 4 {
            return Err("snapshot too short".into());
        }
        let (crc, state) = snapshot.split_at(4);
        if crc32fast::hash(state).to_le_bytes() != crc {
            return Err("snapshot checksum mismatch".into());
        }
        let (map, sessions): (BTreeMap<Key, Value>, BTreeMap<u64, ClientSession>) =
            postcard::from_bytes(state).map_err(|e| format!("snapshot undecodable: {e}"))?;
        self.map = map;
        self.expiry = sessions
            .iter()
            .map(|(c, s)| ((s.last_index, *c), ()))
            .collect();
        self.sessions = sessions.into_iter().collect();
        Ok(())
    }
}
