//! The session table that makes retried writes exactly-once (Raft thesis 6.3): per client, the
//! last sequence number written and its reply. It is replicated state, and expires by log
//! position, never by wall clock, so every replica expires the same sessions at the same entry.

use std::collections::BTreeMap;

use imbl::OrdMap;
use raft_core::Index;
use serde::{Deserialize, Serialize};

use super::command::Session;
use super::error::KvError;
use super::reply::Reply;

/// The most sessions kept: registering one more expires the one idle longest.
pub const SESSIONS_MAX: usize = 100_000;

/// One client's session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ClientSession {
    last_seq: u64,
    last_reply: Reply,
    last_index: Index,
}

/// What to do with a write that names a session.
pub(super) enum Check {
    /// A new write: run it, then `record` its reply.
    Run,
    /// A retry of the last write: answer this, as the first time, and change nothing.
    Replay(Reply),
    /// Refused; nothing runs.
    Refuse(KvError),
}

#[derive(Debug)]
pub(super) struct Sessions {
    /// Persistent, so that a snapshot's image of it is a pointer copy.
    table: OrdMap<u64, ClientSession>,
    /// Sessions by the index of their last write, for expiry in log order.
    expiry: BTreeMap<(Index, u64), ()>,
    ttl_entries: u64,
}

impl Sessions {
    pub(super) fn new(ttl_entries: u64) -> Sessions {
        Sessions {
            table: OrdMap::new(),
            expiry: BTreeMap::new(),
            ttl_entries,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Expires the sessions idle for the time-to-live as of entry `index`.
    pub(super) fn expire(&mut self, index: Index) {
        let Some(horizon) = index.checked_sub(self.ttl_entries) else {
            return;
        };
        while let Some((&(last, client), _)) = self.expiry.first_key_value() {
            if last > horizon {
                break;
            }
            self.expiry.remove(&(last, client));
            self.table.remove(&client);
        }
    }

    /// Opens session `index`; when the table is full, the session idle longest goes first.
    pub(super) fn register(&mut self, index: Index) -> u64 {
        while self.table.len() >= SESSIONS_MAX {
            let Some((&(last, client), _)) = self.expiry.first_key_value() else {
                break;
            };
            self.expiry.remove(&(last, client));
            self.table.remove(&client);
        }
        self.table.insert(
            index,
            ClientSession {
                last_seq: 0,
                last_reply: Reply::Nil,
                last_index: index,
            },
        );
        self.expiry.insert((index, index), ());
        index
    }

    /// Whether the write `session` names runs, is a retry, or is refused.
    pub(super) fn check(&self, Session { client, seq }: Session) -> Check {
        let Some(s) = self.table.get(&client) else {
            // Unknown or expired: this may be a retry of a write that already ran before the
            // session expired, so running it now could apply it twice.
            return Check::Refuse(KvError::SessionExpired { client });
        };
        if seq == 0 {
            return Check::Refuse(KvError::SequenceZero);
        }
        if seq == s.last_seq {
            return Check::Replay(s.last_reply.clone());
        }
        if seq < s.last_seq {
            return Check::Refuse(KvError::StaleRequest {
                client,
                last: s.last_seq,
                seq,
            });
        }
        Check::Run
    }

    /// Records that `session`'s write ran at `index` and answered `reply`.
    pub(super) fn record(&mut self, Session { client, seq }: Session, index: Index, reply: Reply) {
        if let Some(old) = self.table.get(&client) {
            self.expiry.remove(&(old.last_index, client));
        }
        self.table.insert(
            client,
            ClientSession {
                last_seq: seq,
                last_reply: reply,
                last_index: index,
            },
        );
        self.expiry.insert((index, client), ());
    }

    /// The table, in client order, so equal tables encode equally: an image for a snapshot,
    /// by pointer copy.
    pub(super) fn image(&self) -> OrdMap<u64, ClientSession> {
        self.table.clone()
    }

    /// Replaces the table with one an image held.
    pub(super) fn restore(&mut self, table: OrdMap<u64, ClientSession>) {
        self.expiry = table
            .iter()
            .map(|(c, s)| ((s.last_index, *c), ()))
            .collect();
        self.table = table;
    }
}
