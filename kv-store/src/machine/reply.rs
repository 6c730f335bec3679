//! What a write or a read answers: typed, and never encoded by the machine. The server turns a
//! reply into RESP2 or RESP3 at its edge.

use serde::{Deserialize, Serialize};

use super::command::Query;
use super::error::KvError;

/// A reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Done (`+OK`).
    Ok,
    /// A one-word status other than OK (TYPE's `string`).
    Status(String),
    /// No value (a missing key, or a conditional write that did not happen).
    #[default]
    Nil,
    /// No array (an EXEC whose WATCHed keys changed).
    NilArray,
    /// A count or a number.
    Int(i64),
    /// One value.
    Bulk(Vec<u8>),
    /// An array of replies.
    Array(Vec<Reply>),
    /// Field and value pairs that form a map (HGETALL): a map in RESP3, a flat array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// Pairs that may repeat (HRANDFIELD WITHVALUES): an array of pairs in RESP3, a flat
    /// array in RESP2.
    Pairs(Vec<(Reply, Reply)>),
    /// The command was refused by the state machine; it changed nothing.
    Error(KvError),
    /// A linearizable read's answer depends on a key whose deadline has passed on the reader's
    /// clock but not yet on the replicated one. Never a client's answer: the server proposes a
    /// [`Command::Tick`](super::Command::Tick) at the reader's time, which moves the replicated
    /// clock forward so that no later read can find the key alive again, then asks again.
    ReadThroughLog(Box<Query>),
}

impl Reply {
    /// A bulk reply, or nil.
    pub fn bulk_or_nil(v: Option<&[u8]>) -> Reply {
        v.map_or(Reply::Nil, |v| Reply::Bulk(v.to_vec()))
    }

    /// The reply for a result.
    pub fn from_result(r: Result<Reply, KvError>) -> Reply {
        r.unwrap_or_else(Reply::Error)
    }
}
