//! From the store's replies and the runtime's errors to RESP values a person can act on.

use raft_runtime::Error;

use crate::machine::Reply;
use crate::resp::Value;

pub(crate) fn from_reply(r: Reply) -> Value {
    match r {
        Reply::Ok => Value::Simple("OK".into()),
        Reply::Nil => Value::Bulk(None),
        Reply::Int(n) => Value::Integer(n),
        Reply::Bulk(b) => Value::Bulk(Some(b)),
        Reply::Values(vs) => Value::Array(Some(vs.into_iter().map(Value::Bulk).collect())),
        Reply::Pairs(ps) => Value::Array(Some(
            ps.into_iter()
                .flat_map(|(k, v)| [Value::Bulk(Some(k)), Value::Bulk(Some(v))])
                .collect(),
        )),
        // The machine's errors carry no protocol wording; RESP gives them the generic prefix.
        Reply::Error(e) => Value::Error(format!("ERR {e}")),
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
