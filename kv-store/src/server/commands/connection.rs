//! Parsing the commands about the connection itself, and this store's own extensions.

use raft_core::NodeId;

use super::args::{arity, syntax, Args, Refusal};
use super::{Admin, Hello, Op};
use crate::machine::{Command, Query, Session};
use crate::resp::{Protocol, Value};

pub(super) fn ping(a: &mut Args) -> Result<Op, Refusal> {
    match a.len() {
        0 => Ok(Op::Now(Value::Simple("PONG".into()))),
        1 => Ok(Op::Now(Value::Bulk(Some(a.take(0))))),
        _ => Err(arity("ping")),
    }
}

pub(super) fn echo(a: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::Now(Value::Bulk(Some(a.take(0)))))
}

pub(super) fn quit(_: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::Quit)
}

pub(super) fn reset(_: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::Reset)
}

/// One database: any other index is refused, never silently mapped to database 0.
pub(super) fn select(a: &mut Args) -> Result<Op, Refusal> {
    match a.int(0)? {
        0 => Ok(Op::Now(Value::Simple("OK".into()))),
        _ => Err("ERR DB index is out of range".into()),
    }
}

/// READONLY and READWRITE.
pub(super) fn readonly(a: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::SetReadOnly(a.name == "readonly"))
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]. No password is configured
/// yet, so the default user authenticates with any password and every other user is refused.
pub(super) fn hello(a: &mut Args) -> Result<Op, Refusal> {
    let mut h = Hello {
        protocol: None,
        name: None,
    };
    if a.len() == 0 {
        return Ok(Op::Hello(h));
    }
    let version = a
        .int(0)
        .map_err(|_| "ERR Protocol version is not an integer or out of range".to_string())?;
    h.protocol = Some(match version {
        2 => Protocol::Resp2,
        3 => Protocol::Resp3,
        _ => return Err("NOPROTO unsupported protocol version".into()),
    });
    let mut i = 1;
    while i < a.len() {
        let left = a.len() - i - 1;
        if a.is(i, "auth") && left >= 2 {
            auth_user(a.get(i + 1))?;
            i += 3;
        } else if a.is(i, "setname") && left >= 1 {
            h.name = Some(super::server::client_name(a.get(i + 1))?);
            i += 2;
        } else {
            return Err(format!("ERR Syntax error in HELLO option '{}'", a.text(i)));
        }
    }
    Ok(Op::Hello(h))
}

/// AUTH [username] password.
pub(super) fn auth(a: &mut Args) -> Result<Op, Refusal> {
    match a.len() {
        1 => Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into()),
        2 => {
            auth_user(a.get(0))?;
            Ok(Op::Now(Value::Simple("OK".into())))
        }
        _ => Err(syntax()),
    }
}

fn auth_user(user: &[u8]) -> Result<(), Refusal> {
    if user == b"default" {
        return Ok(());
    }
    Err("WRONGPASS invalid username-password pair or user is disabled.".into())
}

pub(super) fn multi(_: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::Multi)
}

pub(super) fn exec(_: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::Exec)
}

pub(super) fn discard(_: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::Discard)
}

pub(super) fn watch(a: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::Watch(a.rest(0)))
}

pub(super) fn unwatch(_: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::Unwatch)
}

/// CAS key expected new: 1 if swapped (an extension).
pub(super) fn cas(a: &mut Args) -> Result<Op, Refusal> {
    super::write(Command::Cas {
        key: a.take(0),
        expected: Some(a.take(1)),
        new: a.take(2),
    })
}

/// SCANPREFIX prefix [count]: string keys with the prefix and their values (an extension).
pub(super) fn scanprefix(a: &mut Args) -> Result<Op, Refusal> {
    let limit = match a.len() {
        1 => 100,
        _ => match a.int(1) {
            Ok(l) if (0..=100_000).contains(&l) => l as u32,
            _ => return Err(super::args::not_int()),
        },
    };
    Ok(Op::Read(Query::ScanPrefix {
        prefix: a.take(0),
        limit,
    }))
}

/// XREGISTER: opens an exactly-once session; the answer is its id (client library).
pub(super) fn xregister(_: &mut Args) -> Result<Op, Refusal> {
    super::write(Command::RegisterSession)
}

/// XSESSION <client-id> <seq> <write command...>: an exactly-once write (client library).
pub(super) fn xsession(a: &mut Args) -> Result<Op, Refusal> {
    let (client, seq) = (a.int(0)?, a.int(1)?);
    let inner = a.rest(2);
    // One level only: a nested XSESSION would make parsing recurse once per level.
    if inner[0].eq_ignore_ascii_case(b"xsession") {
        return Err("ERR XSESSION cannot wrap XSESSION".into());
    }
    match super::parse_op(inner, a.now_ms) {
        Op::Write { command, .. } => Ok(Op::Write {
            command,
            session: Some(Session {
                client: client as u64,
                seq: seq as u64,
            }),
        }),
        Op::Now(e @ Value::Error(_)) => Ok(Op::Now(e)),
        Op::Rejected(e) => Err(e),
        _ => Err("ERR XSESSION wraps a write command".into()),
    }
}

/// RAFT.DIGEST: a checksum of this node's state, to compare replicas.
pub(super) fn digest(_: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::LocalRead(Query::Digest))
}

fn node_id(a: &Args, i: usize) -> Result<NodeId, Refusal> {
    match a.int(i) {
        Ok(id) if id > 0 => Ok(id as NodeId),
        _ => Err("ERR node id must be a positive integer".into()),
    }
}

fn address(a: &Args, i: usize) -> Option<std::net::SocketAddr> {
    std::str::from_utf8(a.get(i)).ok()?.parse().ok()
}

/// RAFT.ADDLEARNER id host:port [client-host:port]. The peer address is required: a learner
/// nobody can reach would only hold up a promotion. The client address, where the new member
/// will serve clients, lets cluster-aware clients find it.
pub(super) fn add_learner(a: &mut Args) -> Result<Op, Refusal> {
    let id = node_id(a, 0)?;
    let must = |what: &str| format!("ERR the {what} address must be host:port");
    let addr = address(a, 1).ok_or_else(|| must("peer"))?;
    let client = match a.len() {
        2 => None,
        3 => Some(address(a, 2).ok_or_else(|| must("client"))?),
        _ => return Err(syntax()),
    };
    Ok(Op::Admin(Admin::AddLearner(id, addr, client)))
}

/// RAFT.PEER id host:port: overrides a node's address on this node only.
pub(super) fn peer(a: &mut Args) -> Result<Op, Refusal> {
    match (node_id(a, 0), address(a, 1)) {
        (Ok(id), Some(addr)) => Ok(Op::Admin(Admin::Peer(id, addr))),
        _ => Err("ERR usage: RAFT.PEER <id> <host:port>".into()),
    }
}

/// RAFT.PROMOTE, RAFT.REMOVE, RAFT.TRANSFER id.
pub(super) fn membership(a: &mut Args) -> Result<Op, Refusal> {
    let id = node_id(a, 0)?;
    Ok(Op::Admin(match a.name {
        "raft.promote" => Admin::Promote(id),
        "raft.remove" => Admin::Remove(id),
        _ => Admin::Transfer(id),
    }))
}
