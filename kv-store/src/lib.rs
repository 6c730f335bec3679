//! `kv-store`: a replicated key-value store on `raft-runtime`.
//!
//! - [`KvStore`] is the state machine: strings and hashes with Redis's commands, deadlines on a
//!   clock that moves only through the log, transactions (one log entry, with WATCHed keys);
//!   snapshots with a checksum; and exactly-once writes: a write tagged with a client id and
//!   sequence number is applied at most once, through a session table that is part of the
//!   replicated state and expires by log position.
//! - [`resp`] is the Redis serialization protocol (RESP2 and RESP3), and [`Server`] serves it,
//!   so `redis-cli`, `redis-benchmark` and Redis client libraries work against any node.
#![warn(missing_docs)]

mod client;
mod local;
pub mod machine;
mod member;
pub mod resp;
mod server;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{Client, ClientError};
pub use local::read_linearizable;
pub use machine::{
    wall_clock_ms, Command, Expiry, Key, KvError, KvStore, Query, Read, Reply, Session,
    SetCondition, StringRead, StringWrite, Value, Write, REPLY_BYTES_MAX, SESSION_TTL_ENTRIES,
};
pub use member::MemberAddress;
pub use server::{Server, ServerConfig};
