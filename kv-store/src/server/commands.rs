//! Turning a RESP request (a command name and its arguments) into what the server does.

use raft_core::NodeId;

use crate::machine::{Command, Query, Session, SetCondition, Write};
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
    /// INFO: with the Raft section, or (for any section this server does not have) empty.
    Info {
        raft: bool,
    },
    /// CLIENT subcommands about this connection.
    Client(ClientOp),
    /// MULTI: transactions are not implemented, so the connection refuses everything up to
    /// the matching EXEC or DISCARD.
    Multi,
    Exec,
    Discard,
    Admin(Admin),
    Quit,
}

#[derive(Debug)]
pub(crate) enum ClientOp {
    Id,
    GetName,
    SetName(Vec<u8>),
}

#[derive(Debug)]
pub(crate) enum Admin {
    /// Override a node's address on this node only, until the membership next changes it.
    Peer(NodeId, std::net::SocketAddr),
    AddLearner(NodeId, std::net::SocketAddr),
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
    let given_name = String::from_utf8_lossy(first).into_owned();
    let name = given_name.to_lowercase();
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
        // XREGISTER: opens an exactly-once session; the answer is its id (client library).
        "xregister" if n == 0 => write(Command::RegisterSession),
        "xregister" => arity("xregister"),
        "readonly" if n == 0 => Op::SetReadOnly(true),
        "readwrite" if n == 0 => Op::SetReadOnly(false),
        "info" | "raft.status" => info(&rest),
        "select" if n == 1 => match int(&rest[0]) {
            Some(0) => Op::Now(Value::Simple("OK".into())),
            // One database: any other index is refused, never silently mapped to db 0.
            Some(_) => Op::Now(Value::Error("ERR DB index is out of range".into())),
            None => not_int(),
        },
        "select" => arity("select"),
        "client" => client(&rest),
        "config" if n >= 1 && rest[0].eq_ignore_ascii_case(b"get") => match n {
            // No configuration parameter is exposed: every pattern matches none.
            2.. => Op::Now(Value::Array(Some(Vec::new()))),
            _ => arity("config|get"),
        },
        "multi" if n == 0 => Op::Multi,
        "multi" => arity("multi"),
        "exec" if n == 0 => Op::Exec,
        "exec" => arity("exec"),
        "discard" if n == 0 => Op::Discard,
        "discard" => arity("discard"),
        // A checksum of this node's state, to compare replicas.
        "raft.digest" if n == 0 => Op::LocalRead(Query::Digest),
        "raft.digest" => arity("raft.digest"),
        // The address is required: a learner nobody can reach would only hold up a promotion.
        "raft.addlearner" if n == 2 => {
            let Some(id) = int(&rest[0]).filter(|i| *i > 0) else {
                return Op::Now(Value::Error(
                    "ERR node id must be a positive integer".into(),
                ));
            };
            let Some(addr) = std::str::from_utf8(&rest[1])
                .ok()
                .and_then(|a| a.parse().ok())
            else {
                return Op::Now(Value::Error("ERR the address must be host:port".into()));
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
        // Everything else, COMMAND, HELLO (clients then fall back to RESP2) and CONFIG SET
        // among them, is not implemented: an error, and nothing changes.
        "config" => Op::Now(Value::Error(format!(
            "ERR unknown subcommand '{}'. This server implements CONFIG GET only.",
            rest.first()
                .map(|s| String::from_utf8_lossy(s)
                    .chars()
                    .take(64)
                    .collect::<String>())
                .unwrap_or_default()
        ))),
        _ => unknown(&given_name, &rest),
    }
}

/// Redis's reply to a command it does not know, naming the command and its first arguments.
fn unknown(name: &str, args: &[Vec<u8>]) -> Op {
    const SHOWN_BYTES_MAX: usize = 128;
    let mut shown = String::new();
    for a in args {
        if shown.len() >= SHOWN_BYTES_MAX {
            break;
        }
        let a = String::from_utf8_lossy(a);
        let room = SHOWN_BYTES_MAX - shown.len();
        shown.push_str(&format!("'{}' ", a.chars().take(room).collect::<String>()));
    }
    Op::Now(Value::Error(format!(
        "ERR unknown command '{}', with args beginning with: {shown}",
        name.chars().take(SHOWN_BYTES_MAX).collect::<String>()
    )))
}

/// INFO [section ...]: this server has one section, `raft`; `all`, `default` and `everything`
/// (or no section) mean all of it, and any other section is empty, as on Redis.
fn info(sections: &[Vec<u8>]) -> Op {
    let raft = sections.is_empty()
        || sections.iter().any(|s| {
            ["raft", "all", "default", "everything"]
                .iter()
                .any(|w| s.eq_ignore_ascii_case(w.as_bytes()))
        });
    Op::Info { raft }
}

/// CLIENT ID, GETNAME and SETNAME; other subcommands are not implemented.
fn client(args: &[Vec<u8>]) -> Op {
    let Some(sub) = args.first() else {
        return arity("client");
    };
    let sub_name = String::from_utf8_lossy(sub).to_lowercase();
    match (sub_name.as_str(), args.len()) {
        ("id", 1) => Op::Client(ClientOp::Id),
        ("getname", 1) => Op::Client(ClientOp::GetName),
        ("setname", 2) => {
            let name = &args[1];
            // Redis's rule: names are shown in one line of CLIENT LIST, so no spaces or
            // control characters.
            if name.iter().any(|b| !(b'!'..=b'~').contains(b)) {
                return Op::Now(Value::Error(
                    "ERR Client names cannot contain spaces, newlines or special characters."
                        .into(),
                ));
            }
            Op::Client(ClientOp::SetName(name.clone()))
        }
        ("id" | "getname" | "setname", _) => arity(&format!("client|{sub_name}")),
        _ => Op::Now(Value::Error(format!(
            "ERR unknown subcommand '{}'. This server implements CLIENT ID, GETNAME and SETNAME.",
            sub_name.chars().take(64).collect::<String>()
        ))),
    }
}
