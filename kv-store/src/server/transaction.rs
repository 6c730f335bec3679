//! MULTI ... EXEC on a connection: what is queued, and how EXEC's reply is put together.
//!
//! A transaction is one log entry (`Command::Exec`), applied atomically on every replica with
//! the keys WATCHed and what they were when watched; it runs only if none has changed since.
//! As on Redis: a command refused while queueing (unknown, wrong arity, or not allowed here)
//! aborts the transaction at EXEC (`EXECABORT`); an error found when a queued command runs
//! (a syntax error included) is that command's reply and does not stop the others.

use super::commands::Op;
use super::replies::from_reply;
use crate::machine::{Command, Reply, TxOp, Watched};
use crate::resp::{Protocol, Value};

/// The commands queued since MULTI.
#[derive(Default)]
pub(super) struct Multi {
    /// Each queued command: an operation for the log, or its reply already known.
    queued: Vec<Queued>,
    /// A command was refused while queueing: EXEC will abort.
    dirty: bool,
}

enum Queued {
    Op(TxOp),
    Known(Value),
}

/// What EXEC's reply is made of: for each queued command, its reply if known, or `None`
/// for the next of the log's replies.
pub(super) type Template = Vec<Option<Value>>;

fn error(text: &str) -> Value {
    Value::Error(text.into())
}

impl Multi {
    /// Commands queued so far.
    pub(super) fn len(&self) -> usize {
        self.queued.len()
    }

    /// Queues `op`; the reply to give now.
    pub(super) fn queue(&mut self, op: Op) -> Value {
        let queued = match op {
            Op::Write {
                command,
                session: None,
            } => Queued::Op(TxOp::Write(command)),
            Op::Read(q) | Op::LocalRead(q) => Queued::Op(TxOp::Read(q)),
            Op::Now(v) => Queued::Known(v),
            Op::Unwatch => Queued::Known(Value::Simple("OK".into())),
            // Refused, without spoiling the transaction.
            Op::Multi => return error("ERR MULTI calls can not be nested"),
            Op::Watch(_) => return error("ERR WATCH inside MULTI is not allowed"),
            // Refused, and the transaction with it.
            Op::Rejected(e) => {
                self.dirty = true;
                return Value::Error(e);
            }
            other => {
                self.dirty = true;
                return Value::Error(format!(
                    "ERR {} inside MULTI is not supported by this server",
                    other.name()
                ));
            }
        };
        self.queued.push(queued);
        Value::Simple("QUEUED".into())
    }

    /// EXEC: the entry for the log and the template of its reply; or the reply itself, when
    /// nothing need go through the log (an aborted or empty transaction).
    pub(super) fn exec(self, watched: Vec<Watched>) -> Result<(Command, Template), Value> {
        if self.dirty {
            return Err(error(
                "EXECABORT Transaction discarded because of previous errors.",
            ));
        }
        if self.queued.is_empty() && watched.is_empty() {
            return Err(Value::Array(Some(Vec::new())));
        }
        let mut ops = Vec::new();
        let template = self
            .queued
            .into_iter()
            .map(|q| match q {
                Queued::Op(op) => {
                    ops.push(op);
                    None
                }
                Queued::Known(v) => Some(v),
            })
            .collect();
        Ok((Command::Exec { watched, ops }, template))
    }
}

/// EXEC's reply: the log's replies in the template's gaps, or the null array when a watched
/// key had changed.
pub(super) fn exec_reply(template: Template, reply: Reply, proto: Protocol) -> Value {
    match reply {
        Reply::Array(replies) => {
            let mut replies = replies.into_iter();
            Value::Array(Some(
                template
                    .into_iter()
                    .map(|known| {
                        known.unwrap_or_else(|| {
                            replies
                                .next()
                                .map_or(Value::Bulk(None), |r| from_reply(r, proto))
                        })
                    })
                    .collect(),
            ))
        }
        other => from_reply(other, proto),
    }
}

/// The keys WATCHed, from the reply to `Query::Watch`; `None` if the reply is not one.
pub(super) fn watched(keys: Vec<Vec<u8>>, reply: &Reply) -> Option<Vec<Watched>> {
    let Reply::Array(ints) = reply else {
        return None;
    };
    let mut ints = ints.iter().map(|r| match r {
        Reply::Int(n) => Some(*n),
        _ => None,
    });
    let since = ints.next()??;
    keys.into_iter()
        .map(|key| {
            Some(Watched {
                key,
                since: since as u64,
                present: ints.next()?? == 1,
            })
        })
        .collect()
}
