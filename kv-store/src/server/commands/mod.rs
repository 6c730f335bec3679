//! Turning a RESP request (a command name and its arguments) into what the server does,
//! through one command table: what the server dispatches on is what COMMAND describes.

mod args;
mod connection;
mod docs;
mod hashes;
mod keys;
mod server;
mod strings;
mod table;

use raft_core::NodeId;

use crate::machine::{Command, Query, Session};
use crate::resp::{Protocol, Value};
use crate::server::clients::Filter;
use crate::server::info::Sections;
pub(crate) use args::Args;
use args::{arity, Refusal};
pub(crate) use table::{COMMANDS, SUBCOMMANDS};

/// What one request asks for.
#[derive(Debug)]
pub(crate) enum Op {
    /// A write, through the log (exactly once when it names a session).
    Write {
        command: Command,
        session: Option<Session>,
    },
    /// A read: linearizable, or local when the connection chose READONLY.
    Read(Query),
    /// A read of this node's own state, whatever the connection chose.
    LocalRead(Query),
    /// Answered at once (PING, ECHO, errors).
    Now(Value),
    /// READONLY (true) / READWRITE (false).
    SetReadOnly(bool),
    /// INFO (and RAFT.STATUS): the sections asked for.
    Info(Sections),
    /// CLIENT subcommands.
    Client(ClientOp),
    /// Answered from the node's status and the server's own state.
    Introspect(Introspect),
    /// HELLO: switch protocol (if given) and name the connection, and describe the server.
    Hello(Hello),
    /// RESET: the connection back to its first state.
    Reset,
    /// MULTI, EXEC, DISCARD (see `transaction.rs`).
    Multi,
    Exec,
    Discard,
    /// WATCH: a linearizable read of what the keys are now, remembered by the connection.
    Watch(Vec<Vec<u8>>),
    Unwatch,
    /// Refused before it is run: an unknown command or a wrong number of arguments (inside
    /// MULTI, this aborts the transaction).
    Rejected(String),
    /// EXEC with arguments: the transaction is discarded.
    ExecAbort(String),
    Admin(Admin),
    Quit,
}

impl Op {
    /// What the operation is, for messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Write { .. } => "a write",
            Op::Read(_) | Op::LocalRead(_) => "a read",
            Op::Now(_) => "a reply",
            Op::SetReadOnly(_) => "READONLY/READWRITE",
            Op::Info(_) => "INFO",
            Op::Client(_) => "CLIENT",
            Op::Introspect(_) => "a command about the server",
            Op::Hello(_) => "HELLO",
            Op::Reset => "RESET",
            Op::Multi => "MULTI",
            Op::Exec | Op::ExecAbort(_) => "EXEC",
            Op::Discard => "DISCARD",
            Op::Watch(_) => "WATCH",
            Op::Unwatch => "UNWATCH",
            Op::Rejected(_) => "a refused command",
            Op::Admin(_) => "a RAFT.* command",
            Op::Quit => "QUIT",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Hello {
    pub(crate) protocol: Option<Protocol>,
    pub(crate) name: Option<Vec<u8>>,
}

#[derive(Debug)]
pub(crate) enum ClientOp {
    Id,
    GetName,
    SetName(Vec<u8>),
    /// CLIENT SETINFO LIB-NAME (`lib_name`) or LIB-VER.
    SetInfo {
        lib_name: bool,
        value: Vec<u8>,
    },
    Info,
    List(Filter),
    /// `old`: the one-address form, answered OK or an error rather than a count.
    Kill {
        filter: Filter,
        old: bool,
    },
}

#[derive(Debug)]
pub(crate) enum Introspect {
    Role,
    LastSave,
    /// CONFIG GET with its patterns.
    ConfigGet(Vec<Vec<u8>>),
    /// CONFIG RESETSTAT.
    ResetStat,
    Cluster(ClusterOp),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum ClusterOp {
    Slots,
    Shards,
    Nodes,
    Info,
    MyId,
}

/// A request parsed: the operation, and the command it names (its index in the table) if
/// it names one.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) op: Op,
    pub(crate) command: Option<u16>,
    /// Its subcommand's index in `SUBCOMMANDS`, for a container command (CLIENT, CONFIG, ...).
    pub(crate) sub: Option<u8>,
}

impl Op {
    /// Refused before it ran (an unknown command, a wrong number of arguments), which Redis
    /// counts as a rejected call; an error from the command's own checks is a failed one.
    pub(crate) fn refused_before_running(&self) -> bool {
        matches!(self, Op::Rejected(_) | Op::ExecAbort(_))
    }
}

#[derive(Debug)]
pub(crate) enum Admin {
    /// Override a node's address on this node only, until the membership next changes it.
    Peer(NodeId, std::net::SocketAddr),
    /// A learner's peer address, and where it will serve clients.
    AddLearner(NodeId, std::net::SocketAddr, Option<std::net::SocketAddr>),
    Promote(NodeId),
    Remove(NodeId),
    Transfer(NodeId),
}

/// A write without a session.
fn write(command: Command) -> Result<Op, Refusal> {
    Ok(Op::Write {
        command,
        session: None,
    })
}

/// The request for `args` (the first is the command name), received at `now_ms`.
pub(crate) fn parse(args: Vec<Vec<u8>>, now_ms: u64) -> Parsed {
    let command = args.first().and_then(|name| table::index(name));
    let sub = match (command, args.get(1)) {
        (Some(c), Some(sub)) => table::subcommand(COMMANDS[usize::from(c)].name, sub),
        _ => None,
    };
    Parsed {
        op: parse_op(args, now_ms),
        command,
        sub,
    }
}

/// The operation for `args`, received at `now_ms`.
fn parse_op(mut args: Vec<Vec<u8>>, now_ms: u64) -> Op {
    if args.is_empty() {
        return Op::Rejected("ERR empty command".into());
    }
    let given = args.remove(0);
    let Some(spec) = table::find(&given) else {
        return Op::Rejected(unknown(&given, &args));
    };
    let n = args.len() as i64 + 1;
    let arity_ok = match i64::from(spec.arity) {
        a if a >= 0 => n == a,
        a => n >= -a,
    };
    if !arity_ok && spec.name == "exec" {
        return Op::ExecAbort(format!(
            "EXECABORT Transaction discarded because of: {}",
            &arity(spec.name)["ERR ".len()..]
        ));
    }
    if !arity_ok {
        return Op::Rejected(arity(spec.name));
    }
    let mut a = Args::new(spec.name, args, now_ms);
    (spec.parse)(&mut a).unwrap_or_else(|e| Op::Now(Value::Error(e)))
}

/// Redis's reply to a command it does not know: the name and the first arguments, each cut
/// to 128 characters, line breaks shown as spaces.
fn unknown(name: &[u8], args: &[Vec<u8>]) -> Refusal {
    const SHOWN_MAX: usize = 128;
    let shown = |b: &[u8]| -> String {
        String::from_utf8_lossy(b)
            .chars()
            .take(SHOWN_MAX)
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect()
    };
    let mut list = String::new();
    for a in args {
        if list.len() >= SHOWN_MAX {
            break;
        }
        let room = SHOWN_MAX - list.len();
        list.push_str(&format!(
            "'{}' ",
            shown(a).chars().take(room).collect::<String>()
        ));
    }
    format!(
        "ERR unknown command '{}', with args beginning with: {list}",
        shown(name)
    )
}
