//! Turning a RESP request (a command name and its arguments) into what the server does.

use raft_core::NodeId;

use crate::command::{Command, Query, Session, SetCondition, Write};
use crate::resp::Value;

/// What one request asks for.
#[derive(Debug)]
pub(crate) enum Op {
    /// A write, through the log.
    Write(Write),
    /// A read: linearizable, or local when the connection chose READONLY.
    Read(Query),
    /// A read of this node's own state, whatever the connection chose.
    LocalRead(Query),
    /// Answered at once (PING, ECHO, errors).
    Now(Value),
    /// READONLY (true) / READWRITE (false).
    SetReadOnly(bool),
    Info,
    Admin(Admin),
    Quit,
}

#[derive(Debug)]
pub(crate) enum Admin {
    /// Learn a node's address (on this node only).
    Peer(NodeId, std::net::SocketAddr),
    AddLearner(NodeId, Option<std::net::SocketAddr>),
    Promote(NodeId),
    Remove(NodeId),
    Transfer(NodeId),
}

fn arity(name: &str) -> Op {
    Op::Now(Value::Error(format!(
        "ERR wrong number of arguments for '{name}' command"
    )))
}

fn int(arg: &[u8]) -> Option<i64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

fn not_int() -> Op {
    Op::Now(Value::Error(
        "ERR value is not an integer or out of range".into(),
    ))
}

fn write(command: Command) -> Op {
    Op::Write(Write {
        session: None,
        command,
    })
}

/// The operation for `args` (the first is the command name).
pub(crate) fn parse(args: Vec<Vec<u8>>) -> Op {
    let Some(first) = args.first() else {
        return Op::Now(Value::Error("ERR empty command".into()));
    };
    let name = String::from_utf8_lossy(first).to_lowercase();
    let mut rest: Vec<Vec<u8>> = args.into_iter().skip(1).collect();
    let n = rest.len();
    match name.as_str() {
        "ping" => match n {
            0 => Op::Now(Value::Simple("PONG".into())),
            1 => Op::Now(Value::Bulk(rest.pop())),
            _ => arity("ping"),
        },
        "echo" if n == 1 => Op::Now(Value::Bulk(rest.pop())),
        "echo" => arity("echo"),
        "quit" => Op::Quit,
        "get" if n == 1 => Op::Read(Query::Get {
            key: rest.remove(0),
        }),
        "get" => arity("get"),
        "set" if n == 2 || n == 3 => {
            let condition = match rest.get(2).map(|o| o.to_ascii_lowercase()) {
                None => SetCondition::Always,
                Some(o) if o == b"nx" => SetCondition::IfAbsent,
                Some(o) if o == b"xx" => SetCondition::IfPresent,
                Some(_) => return Op::Now(Value::Error("ERR syntax error".into())),
            };
            let mut it = rest.into_iter();
            let (key, value) = (it.next().expect("n >= 2"), it.next().expect("n >= 2"));
            write(Command::Set {
                key,
                value,
                condition,
            })
        }
        "set" => arity("set"),
        "del" if n >= 1 => write(Command::Del { keys: rest }),
        "del" => arity("del"),
        "exists" if n >= 1 => Op::Read(Query::Exists { keys: rest }),
        "exists" => arity("exists"),
        "incr" if n == 1 => write(Command::IncrBy {
            key: rest.remove(0),
            by: 1,
        }),
        "incr" => arity("incr"),
        "decr" if n == 1 => write(Command::IncrBy {
            key: rest.remove(0),
            by: -1,
        }),
        "decr" => arity("decr"),
        "incrby" if n == 2 => match int(&rest[1]) {
            Some(by) => write(Command::IncrBy {
                key: rest.remove(0),
                by,
            }),
            None => not_int(),
        },
        "incrby" => arity("incrby"),
        "mget" if n >= 1 => Op::Read(Query::MGet { keys: rest }),
        "mget" => arity("mget"),
        "mset" if n >= 2 && n.is_multiple_of(2) => {
            let mut pairs = Vec::with_capacity(n / 2);
            let mut it = rest.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            write(Command::MSet { pairs })
        }
        "mset" => arity("mset"),
        "cas" if n == 3 => {
            let mut it = rest.into_iter();
            let (key, expected, new) = (
                it.next().expect("3"),
                it.next().expect("3"),
                it.next().expect("3"),
            );
            write(Command::Cas {
                key,
                expected: Some(expected),
                new,
            })
        }
        "cas" => arity("cas"),
        "scanprefix" if n == 1 || n == 2 => {
            let limit = match rest.get(1) {
                None => 100,
                Some(l) => match int(l) {
                    Some(l) if (0..=100_000).contains(&l) => l as u32,
                    _ => return not_int(),
                },
            };
            Op::Read(Query::Scan {
                prefix: rest.remove(0),
                limit,
            })
        }
        "scanprefix" => arity("scanprefix"),
        // XSESSION <client-id> <seq> <write command...>: an exactly-once write (client library).
        "xsession" if n >= 3 => {
            let (Some(client), Some(seq)) = (int(&rest[0]), int(&rest[1])) else {
                return not_int();
            };
            let inner = rest.split_off(2);
            // One level only: a nested XSESSION would make parsing recurse once per level.
            if inner[0].eq_ignore_ascii_case(b"xsession") {
                return Op::Now(Value::Error("ERR XSESSION cannot wrap XSESSION".into()));
            }
            match parse(inner) {
                Op::Write(mut w) => {
                    w.session = Some(Session {
                        client: client as u64,
                        seq: seq as u64,
                    });
                    Op::Write(w)
                }
                Op::Now(e @ Value::Error(_)) => Op::Now(e),
                _ => Op::Now(Value::Error("ERR XSESSION wraps a write command".into())),
            }
        }
        "xsession" => arity("xsession"),
        "readonly" if n == 0 => Op::SetReadOnly(true),
        "readwrite" if n == 0 => Op::SetReadOnly(false),
        "info" | "raft.status" => Op::Info,
        // A checksum of this node's state, to compare replicas.
        "raft.digest" if n == 0 => Op::LocalRead(Query::Digest),
        "raft.digest" => arity("raft.digest"),
        "raft.addlearner" if n == 1 || n == 2 => {
            let Some(id) = int(&rest[0]).filter(|i| *i > 0) else {
                return Op::Now(Value::Error(
                    "ERR node id must be a positive integer".into(),
                ));
            };
            let addr = match rest.get(1) {
                None => None,
                Some(a) => match std::str::from_utf8(a).ok().and_then(|a| a.parse().ok()) {
                    Some(a) => Some(a),
                    None => {
                        return Op::Now(Value::Error("ERR the address must be host:port".into()))
                    }
                },
            };
            Op::Admin(Admin::AddLearner(id as NodeId, addr))
        }
        "raft.peer" if n == 2 => {
            let id = int(&rest[0]).filter(|i| *i > 0);
            let addr = std::str::from_utf8(&rest[1])
                .ok()
                .and_then(|a| a.parse().ok());
            match (id, addr) {
                (Some(id), Some(addr)) => Op::Admin(Admin::Peer(id as NodeId, addr)),
                _ => Op::Now(Value::Error("ERR usage: RAFT.PEER <id> <host:port>".into())),
            }
        }
        "raft.peer" => arity("raft.peer"),
        "raft.promote" | "raft.remove" | "raft.transfer" if n == 1 => {
            let Some(id) = int(&rest[0]).filter(|i| *i > 0) else {
                return Op::Now(Value::Error(
                    "ERR node id must be a positive integer".into(),
                ));
            };
            let id = id as NodeId;
            Op::Admin(match name.as_str() {
                "raft.promote" => Admin::Promote(id),
                "raft.remove" => Admin::Remove(id),
                _ => Admin::Transfer(id),
            })
        }
        "raft.addlearner" | "raft.promote" | "raft.remove" | "raft.transfer" => arity(&name),
        // Redis clients probe these on connect; answer harmlessly.
        // HELLO stays unknown, as on Redis before 6: clients then fall back to RESP2.
        "client" | "config" | "command" | "select" => Op::Now(Value::Simple("OK".into())),
        _ => Op::Now(Value::Error(format!(
            "ERR unknown command '{}'",
            name.chars().take(64).collect::<String>()
        ))),
    }
}
