//! From the store's replies and the runtime's errors to RESP values a person can act on.

use raft_runtime::Error;

use crate::machine::Reply;
use crate::resp::{Protocol, Value};

/// The RESP value for a reply, on a connection speaking `proto`.
pub(crate) fn from_reply(r: Reply, proto: Protocol) -> Value {
    let pair = |(k, v): (Reply, Reply)| (from_reply(k, proto), from_reply(v, proto));
    match r {
        Reply::Ok => Value::Simple("OK".into()),
        Reply::Status(s) => Value::Simple(s),
        Reply::Nil => Value::Bulk(None),
        Reply::NilArray => Value::Array(None),
        Reply::Int(n) => Value::Integer(n),
        Reply::Bulk(b) => Value::Bulk(Some(b)),
        Reply::Array(items) => Value::Array(Some(
            items.into_iter().map(|r| from_reply(r, proto)).collect(),
        )),
        Reply::Map(pairs) => Value::Map(pairs.into_iter().map(pair).collect()),
        // RESP3 shows pairs as two-element arrays; RESP2 as one flat array.
        Reply::Pairs(pairs) if proto == Protocol::Resp3 => Value::Array(Some(
            pairs
                .into_iter()
                .map(pair)
                .map(|(k, v)| Value::Array(Some(vec![k, v])))
                .collect(),
        )),
        Reply::Pairs(pairs) => Value::Array(Some(
            pairs
                .into_iter()
                .map(pair)
                .flat_map(|(k, v)| [k, v])
                .collect(),
        )),
        // The machine's errors carry no protocol wording; the kind word comes from the error.
        Reply::Error(e) => Value::Error(format!("{} {e}", e.kind())),
        // The connection ticks the clock and asks again before it gets here.
        Reply::ReadThroughLog(_) => {
            Value::Error("TRYAGAIN the read must go through the log; retry it".into())
        }
    }
}

pub(crate) fn from_error(e: Error) -> Value {
    Value::Error(match e {
        Error::NotLeader { leader_hint: None } => "TRYAGAIN no leader elected yet".into(),
        Error::NotLeader { leader_hint: Some(l) } => format!("TRYAGAIN not the leader; node {l} is"),
        Error::Timeout => "TRYAGAIN timed out waiting for the cluster".into(),
        Error::Busy => "TRYAGAIN the server is busy".into(),
        Error::NotCommitted => "TRYAGAIN the write was not committed (leadership changed); it is safe to retry".into(),
        Error::OutcomeUnknown => {
            "ERR outcome unknown: the write was accepted, then leadership changed, the node stopped or the wait timed out; it may or may not have been applied".into()
        }
        Error::Shutdown => "TRYAGAIN this node is shut down; try another".into(),
        Error::Storage(e) => format!("ERR storage failure: {e}"),
        Error::StateMachine(e) => format!("ERR state machine failure: {e}"),
        Error::ApplyThreadStopped => format!("ERR state machine failure: {e}"),
        // Only `Node::start` gives these; a running node never answers a request with them.
        e @ (Error::Start(_) | Error::Spawn { .. }) => format!("ERR {e}"),
        Error::Rejected(r) if r.is_permanent() => format!("ERR {r}"),
        Error::Rejected(r) => format!("TRYAGAIN {r}"),
    })
}
