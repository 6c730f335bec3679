//! Why the state machine refused a command or a query. These are part of the replicated state
//! (a session remembers its last reply, errors included), so they are plain data: the words a
//! protocol shows for each are chosen at the server's edge, never here. The texts are Redis's
//! own, without the leading word (`ERR`, `WRONGTYPE`) that [`KvError::kind`] gives.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A command or query the state machine refused. Nothing changed.
#[derive(Clone, Debug, Error, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvError {
    /// The value is not a 64-bit signed integer in decimal.
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// A hash field's value is not a 64-bit signed integer in decimal.
    #[error("hash value is not an integer")]
    HashNotAnInteger,
    /// The value is not a decimal floating-point number.
    #[error("value is not a valid float")]
    NotAFloat,
    /// A hash field's value is not a decimal floating-point number.
    #[error("hash value is not a float")]
    HashNotAFloat,
    /// The result would not fit in a 64-bit signed integer.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// A floating-point increment would leave the range of numbers.
    #[error("increment would produce NaN or Infinity")]
    NanOrInfinity,
    /// The key holds a value of another type than the command works on.
    #[error("Operation against a key holding the wrong kind of value")]
    WrongType,
    /// The key named does not exist (RENAME).
    #[error("no such key")]
    NoSuchKey,
    /// The string would grow past [`STRING_BYTES_MAX`](super::STRING_BYTES_MAX).
    #[error("string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    /// A relative expiry added to the clock leaves the range of times.
    #[error("invalid expire time in '{command}' command")]
    InvalidExpireTime {
        /// The command, in lower case, as Redis names it.
        command: String,
    },
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
    /// A transaction was sent inside a session (its reads may answer differently on each
    /// replica, and a session keeps its reply).
    #[error("a transaction cannot be sent inside a session")]
    NotInSession,
    /// A transaction or a session registration was queued inside a transaction.
    #[error("this command is not allowed inside a transaction")]
    NotInTransaction,
    /// `RegisterSession` was sent inside a session.
    #[error("a session cannot be registered inside a session")]
    NestedSession,
    /// The bytes in the log are not a command this version can read.
    #[error("undecodable command: {0}")]
    Undecodable(String),
    /// The reply would hold more than `REPLY_ITEMS_MAX` elements.
    #[error("the reply would hold {items} elements, over the limit of {max}; ask for fewer")]
    TooManyItems {
        /// Elements the reply would hold.
        items: u64,
        /// The limit.
        max: usize,
    },
    /// The reply would be larger than `REPLY_BYTES_MAX`.
    #[error("the reply would be {bytes} bytes, over the limit of {max}; ask for fewer keys")]
    ReplyTooLarge {
        /// Bytes of keys and values the reply would hold.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}

impl KvError {
    /// The word a Redis error reply starts with for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            KvError::WrongType => "WRONGTYPE",
            _ => "ERR",
        }
    }
}
