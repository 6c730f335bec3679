//! Parsing the commands that describe the server and its connections: CLIENT, CONFIG, INFO,
//! CLUSTER, TIME, ROLE and LASTSAVE. Their answers come from the server's state (`clients.rs`,
//! `stats.rs`, `info.rs`, `introspect.rs`), not from the store.

use super::args::{arity, syntax, Args, Refusal};
use super::{ClientOp, ClusterOp, Introspect, Op};
use crate::resp::Value;
use crate::server::clients::Filter;
use crate::server::info::Sections;

fn unknown_subcommand(a: &Args, command: &str) -> Refusal {
    format!(
        "ERR unknown subcommand '{}'. Try {command} HELP.",
        a.text(0).chars().take(128).collect::<String>()
    )
}

/// The arity Redis gives a subcommand (the command and subcommand names counted).
fn sub_arity(a: &Args, sub: &str, n: usize) -> Result<(), Refusal> {
    match a.len() + 1 == n {
        true => Ok(()),
        false => Err(arity(&format!("{}|{sub}", a.name))),
    }
}

fn help(lines: &[&str]) -> Op {
    Op::Now(Value::Array(Some(
        lines.iter().map(|l| Value::Simple(l.to_string())).collect(),
    )))
}

/// Redis's rule for names shown in one line of CLIENT LIST: no spaces or control characters.
pub(super) fn one_word(name: &[u8]) -> bool {
    name.iter().all(|b| (b'!'..=b'~').contains(b))
}

pub(super) fn client_name(name: &[u8]) -> Result<Vec<u8>, Refusal> {
    if !one_word(name) {
        return Err(
            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
        );
    }
    Ok(name.to_vec())
}

/// Whether the client type named by argument `i` is `normal` (this server's connections all
/// are), or an error if it names no type Redis knows.
fn is_normal_type(a: &Args, i: usize) -> Result<bool, Refusal> {
    match a.lower(i).as_str() {
        "normal" => Ok(true),
        "master" | "slave" | "replica" | "pubsub" => Ok(false),
        _ => Err(format!("ERR Unknown client type '{}'", a.text(i))),
    }
}

/// CLIENT ID | GETNAME | SETNAME | SETINFO | INFO | LIST | KILL | HELP.
pub(super) fn client(a: &mut Args) -> Result<Op, Refusal> {
    let sub = a.lower(0);
    let op =
        match sub.as_str() {
            "id" => sub_arity(a, "id", 2).map(|_| ClientOp::Id)?,
            "getname" => sub_arity(a, "getname", 2).map(|_| ClientOp::GetName)?,
            "info" => sub_arity(a, "info", 2).map(|_| ClientOp::Info)?,
            "setname" => {
                sub_arity(a, "setname", 3)?;
                ClientOp::SetName(client_name(a.get(1))?)
            }
            "setinfo" => {
                sub_arity(a, "setinfo", 4)?;
                let lib_name = match a.lower(1).as_str() {
                    "lib-name" => true,
                    "lib-ver" => false,
                    _ => return Err(format!("ERR Unrecognized option '{}'", a.text(1))),
                };
                if !one_word(a.get(2)) {
                    return Err(format!(
                        "ERR {} cannot contain spaces, newlines or special characters.",
                        a.text(1)
                    ));
                }
                ClientOp::SetInfo {
                    lib_name,
                    value: a.take(2),
                }
            }
            "list" => ClientOp::List(list_filter(a)?),
            "kill" => kill(a)?,
            "help" => return Ok(help(&[
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are: ID <client-id>, TYPE <type>, USER <username>,",
                "    ADDR <ip:port>, LADDR <ip:port>, SKIPME (YES|NO).",
                "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]",
                "    Return information about client connections.",
                "SETINFO <option> <value>",
                "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "HELP",
                "    Print this help.",
            ])),
            _ => return Err(unknown_subcommand(a, "CLIENT")),
        };
    Ok(Op::Client(op))
}

/// CLIENT LIST [TYPE type] [ID id ...].
fn list_filter(a: &Args) -> Result<Filter, Refusal> {
    let mut f = Filter::default();
    if a.len() == 3 && a.is(1, "type") {
        f.other_type = !is_normal_type(a, 2)?;
    } else if a.len() > 2 && a.is(1, "id") {
        for i in 2..a.len() {
            let id = a.int(i).map_err(|_| "ERR Invalid client ID".to_string())?;
            // A negative id names no connection.
            f.ids.push(u64::try_from(id).unwrap_or(u64::MAX));
        }
    } else if a.len() != 1 {
        return Err(syntax());
    }
    Ok(f)
}

/// CLIENT KILL ip:port (the old form: OK or an error), or CLIENT KILL option value ... (the
/// new: how many were killed).
fn kill(a: &Args) -> Result<ClientOp, Refusal> {
    if a.len() == 2 {
        let f = Filter {
            addr: Some(a.text(1)),
            ..Filter::default()
        };
        return Ok(ClientOp::Kill {
            filter: f,
            old: true,
        });
    }
    if a.len() == 1 {
        return Err(arity("client|kill"));
    }
    let mut f = Filter {
        skip_me: true,
        ..Filter::default()
    };
    let mut i = 1;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(syntax());
        }
        match a.lower(i).as_str() {
            "id" => match a.int(i + 1) {
                Ok(id) if id > 0 => f.ids = vec![id as u64],
                _ => return Err("ERR client-id should be greater than 0".into()),
            },
            "type" => f.other_type |= !is_normal_type(a, i + 1)?,
            "addr" => f.addr = Some(a.text(i + 1)),
            "laddr" => f.laddr = Some(a.text(i + 1)),
            "user" if a.is(i + 1, "default") => {}
            "user" => return Err(format!("ERR No such user '{}'", a.text(i + 1))),
            "skipme" if a.is(i + 1, "yes") => f.skip_me = true,
            "skipme" if a.is(i + 1, "no") => f.skip_me = false,
            _ => return Err(syntax()),
        }
        i += 2;
    }
    Ok(ClientOp::Kill {
        filter: f,
        old: false,
    })
}

/// INFO [section ...]; RAFT.STATUS is INFO raft.
pub(super) fn info(a: &mut Args) -> Result<Op, Refusal> {
    if a.name == "raft.status" {
        return Ok(Op::Info(Sections::RAFT));
    }
    let names: Vec<String> = (0..a.len()).map(|i| a.lower(i)).collect();
    Ok(Op::Info(Sections::parse(&names)))
}

/// CONFIG GET | SET | RESETSTAT | REWRITE | HELP. Nothing can be changed at run time: SET
/// refuses every parameter, in Redis's words.
pub(super) fn config(a: &mut Args) -> Result<Op, Refusal> {
    let sub = a.lower(0);
    match sub.as_str() {
        "get" if a.len() >= 2 => Ok(Op::Introspect(Introspect::ConfigGet(a.rest(1)))),
        "set" if a.len() >= 3 && a.len() % 2 == 1 => {
            let name = a.lower(1);
            Err(if crate::server::introspect::is_parameter(&name) {
                format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                )
            } else {
                format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    a.text(1)
                )
            })
        }
        "resetstat" => sub_arity(a, "resetstat", 2).map(|_| Op::Introspect(Introspect::ResetStat)),
        "rewrite" => {
            sub_arity(a, "rewrite", 2)?;
            Err("ERR The server is running without a config file".into())
        }
        "help" => Ok(help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Refused: this server's parameters are set when it starts.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Refused: this server has no configuration file.",
            "HELP",
            "    Print this help.",
        ])),
        "get" | "set" => Err(arity(&format!("config|{sub}"))),
        _ => Err(unknown_subcommand(a, "CONFIG")),
    }
}

/// CLUSTER SLOTS | SHARDS | NODES | INFO | MYID | KEYSLOT | HELP.
pub(super) fn cluster(a: &mut Args) -> Result<Op, Refusal> {
    let sub = a.lower(0);
    let op = match sub.as_str() {
        "slots" => ClusterOp::Slots,
        "shards" => ClusterOp::Shards,
        "nodes" => ClusterOp::Nodes,
        "info" => ClusterOp::Info,
        "myid" => ClusterOp::MyId,
        "keyslot" => {
            sub_arity(a, "keyslot", 3)?;
            let slot = crate::server::cluster::key_slot(a.get(1));
            return Ok(Op::Now(Value::Integer(slot.into())));
        }
        "help" => {
            return Ok(help(&[
                "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "INFO",
                "    Return information about the cluster.",
                "KEYSLOT <key>",
                "    Return the hash slot for <key>.",
                "MYID",
                "    Return the node id.",
                "NODES",
                "    Return cluster configuration seen by node. Output format:",
                "    <id> <ip:port@bus-port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
                "SHARDS",
                "    Return information about slot range mappings and the nodes they belong to.",
                "SLOTS",
                "    Return information about slots range mappings. Each range is made of:",
                "    start, end, master and replicas IP addresses, ports and ids",
                "HELP",
                "    Print this help.",
            ]))
        }
        _ => return Err(unknown_subcommand(a, "CLUSTER")),
    };
    sub_arity(a, &sub, 2)?;
    Ok(Op::Introspect(Introspect::Cluster(op)))
}

/// TIME: the server's clock, seconds and microseconds.
pub(super) fn time(_: &mut Args) -> Result<Op, Refusal> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let text = |n: u64| Value::Bulk(Some(n.to_string().into_bytes()));
    Ok(Op::Now(Value::Array(Some(vec![
        text(now.as_secs()),
        text(u64::from(now.subsec_micros())),
    ]))))
}

/// ROLE and LASTSAVE.
pub(super) fn role(a: &mut Args) -> Result<Op, Refusal> {
    Ok(Op::Introspect(match a.name {
        "role" => Introspect::Role,
        _ => Introspect::LastSave,
    }))
}
