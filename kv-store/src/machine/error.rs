//! Why the state machine refused a command or a query. These are part of the replicated state
//! (a session remembers its last reply, errors included), so they are plain data: the words a
//! protocol shows for each are chosen at the server's edge, never here.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A command or query the state machine refused. Nothing changed.
#[derive(Clone, Debug, Error, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvError {
    /// The value is not a 64-bit signed integer in decimal.
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// The result would not fit in a 64-bit signed integer.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// The session named is unknown or has expired, so the write (which may be a retry of one
    /// that already ran) was not executed.
    #[error(
        "session expired: session {client} is unknown or has expired, and this write was not \
         executed; register a new session"
    )]
    SessionExpired {
        /// The session named.
        client: u64,
    },
    /// Sequence number 0 names no write.
    #[error("session sequence numbers start at 1")]
    SequenceZero,
    /// The session already wrote a later sequence number: this is an old retry.
    #[error("stale request: client {client} already wrote sequence {last} after {seq}")]
    StaleRequest {
        /// The session.
        client: u64,
        /// The newest sequence number it wrote.
        last: u64,
        /// The sequence number of this request.
        seq: u64,
    },
    /// `RegisterSession` was sent inside a session.
    #[error("a session cannot be registered inside a session")]
    NestedSession,
    /// The bytes in the log are not a command this version can read.
    #[error("undecodable command: {0}")]
    Undecodable(String),
    /// The reply would be larger than `REPLY_BYTES_MAX`.
    #[error("the reply would be {bytes} bytes, over the limit of {max}; ask for fewer keys")]
    ReplyTooLarge {
        /// Bytes of keys and values the reply would hold.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}
