//! Turning a RESP request (a command name and its arguments) into what the server does,
//! through one command table: what the server dispatches on is what COMMAND describes.

mod args;
mod connection;
mod hashes;
mod keys;
mod strings;
mod table;

use raft_core::NodeId;

use crate::machine::{Command, Query, Session};
use crate::resp::{Protocol, Value};
pub(crate) use args::Args;
use args::{arity, Refusal};

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
    /// INFO: with the Raft section, or (for any section this server does not have) empty.
    Info {
        raft: bool,
    },
    /// CLIENT subcommands about this connection.
    Client(ClientOp),
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
            Op::Info { .. } => "INFO",
            Op::Client(_) => "CLIENT",
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

/// A write without a session.
fn write(command: Command) -> Result<Op, Refusal> {
    Ok(Op::Write {
        command,
        session: None,
    })
}

/// The operation for `args` (the first is the command name), received at `now_ms`.
pub(crate) fn parse(mut args: Vec<Vec<u8>>, now_ms: u64) -> Op {
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
