//! One client connection: read what has arrived, start every request in it (proposals and reads
//! go out together, so a pipeline becomes one batch in the log), then answer in order.

use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::sync::Arc;

use crossbeam_channel::Receiver;
use raft_core::Role;
use raft_runtime::{Error, Node};

use super::commands::{self, Admin, ClientOp, Op};
use super::replies::{from_error, from_reply};
use super::ServerConfig;
use crate::machine::{KvStore, Reply};
use crate::resp::{self, Value};

/// A request started and not yet answered.
enum Pending {
    Ready(Value),
    /// A write or a read on its way through the cluster.
    Waiting(Receiver<Result<Reply, Error>>, Kind),
}

/// What a started request touches, for ordering within a pipeline.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Write,
    Read,
    /// Everything else (answered locally, or an admin request): sees everything before it.
    Other,
}

fn kind(op: &Op) -> Kind {
    match op {
        Op::Write(_) => Kind::Write,
        Op::Read(_) | Op::LocalRead(_) => Kind::Read,
        _ => Kind::Other,
    }
}

pub(crate) struct Conn {
    pub(crate) node: Arc<Node<KvStore>>,
    pub(crate) config: ServerConfig,
    pub(crate) read_only: bool,
    /// A request found the node shut down.
    pub(crate) node_gone: bool,
    /// Writing to the client failed: the connection closes.
    pub(crate) broken: bool,
    /// CLIENT ID: unique among this server's connections.
    pub(crate) client_id: u64,
    /// CLIENT SETNAME.
    pub(crate) name: Option<Vec<u8>>,
    /// A MULTI was refused and its EXEC or DISCARD has not come yet: every command in between
    /// is refused too, so nothing a client meant to run atomically runs piecemeal.
    pub(crate) in_multi: bool,
}

/// Answers buffered beyond this go out before the rest of a pipeline is waited for.
const OUT_BYTES_FLUSH: usize = 1 << 20;

impl Conn {
    pub(crate) fn serve(mut self, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        let mut out = Vec::new();
        let mut framer = resp::Framer::new();
        loop {
            let n = match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            // Requests of one kind in a row start together (a pipeline of writes becomes one
            // batch in the log); when the kind changes, the earlier ones finish first, so each
            // request sees exactly the effects of those before it on this connection, as Redis
            // clients expect.
            let mut pending = Vec::new();
            let mut pending_kind = None;
            let mut used = 0;
            let mut close = false;
            out.clear();
            loop {
                // The framer says when a whole request is here; only then is it parsed.
                let parsed = match framer.complete(&buf[used..], &self.config.limits) {
                    Ok(Some(len)) => {
                        resp::parse_request(&buf[used..used + len], &self.config.limits)
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                };
                let op = match parsed {
                    Ok(Some((args, len))) => {
                        used += len;
                        if args.is_empty() {
                            continue;
                        }
                        commands::parse(args)
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.finish(&mut pending, &mut out, &mut stream);
                        resp::encode(&Value::Error(format!("ERR {e}")), &mut out);
                        close = true;
                        break;
                    }
                };
                let op = self.transaction_gate(op);
                if let Op::Quit = op {
                    self.finish(&mut pending, &mut out, &mut stream);
                    resp::encode(&Value::Simple("OK".into()), &mut out);
                    close = true;
                    break;
                }
                let k = kind(&op);
                if pending_kind != Some(k) || k == Kind::Other {
                    self.finish(&mut pending, &mut out, &mut stream);
                    pending_kind = Some(k);
                }
                let p = self.start(op);
                pending.push(p);
            }
            self.finish(&mut pending, &mut out, &mut stream);
            buf.drain(..used);
            if !close && buf.len() > self.config.request_bytes_max {
                resp::encode(
                    &Value::Error("ERR Protocol error: request too large".into()),
                    &mut out,
                );
                close = true;
            }
            // A node that has shut down keeps no connections open: clients move on.
            if self.broken || stream.write_all(&out).is_err() || close || self.node_gone {
                return;
            }
        }
    }

    /// Waits for every pending request, in order, and encodes the answers. One deadline covers
    /// them all, so a stalled cluster costs a pipeline one timeout, not one per request.
    fn finish(&mut self, pending: &mut Vec<Pending>, out: &mut Vec<u8>, stream: &mut TcpStream) {
        let deadline = std::time::Instant::now() + self.config.request_timeout;
        for p in pending.drain(..) {
            let v = match p {
                Pending::Ready(v) => v,
                Pending::Waiting(rx, kind) => {
                    let answer = rx.recv_deadline(deadline).unwrap_or_else(|e| match e {
                        crossbeam_channel::RecvTimeoutError::Timeout => Err(Error::Timeout),
                        // The node dropped the request without an answer: it is going away.
                        // A write it dropped may have reached the log and may still commit.
                        crossbeam_channel::RecvTimeoutError::Disconnected => {
                            self.node_gone = true;
                            Err(match kind {
                                Kind::Write => Error::OutcomeUnknown,
                                _ => Error::Shutdown,
                            })
                        }
                    });
                    match answer {
                        Ok(reply) => from_reply(reply),
                        // A write that timed out may still commit: saying TRYAGAIN would
                        // invite a retry that applies it twice.
                        Err(Error::Timeout) if kind == Kind::Write => {
                            from_error(Error::OutcomeUnknown)
                        }
                        Err(e) => {
                            self.node_gone |= matches!(e, Error::Shutdown);
                            from_error(e)
                        }
                    }
                }
            };
            resp::encode(&v, out);
            if out.len() > OUT_BYTES_FLUSH {
                // The answers left are still drained, to nobody once the client is gone.
                self.broken |= stream.write_all(out).is_err();
                out.clear();
            }
        }
    }

    fn start(&mut self, op: Op) -> Pending {
        let k = kind(&op);
        let started = match op {
            Op::Write(w) => self.node.propose_async(w.encode()),
            Op::Read(q) if self.read_only => self.node.read_stale_async(q),
            Op::Read(q) => self.node.read_async(q),
            Op::LocalRead(q) => self.node.read_stale_async(q),
            Op::Now(v) => return Pending::Ready(v),
            Op::SetReadOnly(on) => {
                self.read_only = on;
                return Pending::Ready(Value::Simple("OK".into()));
            }
            Op::Info { raft } => return Pending::Ready(self.info(raft)),
            Op::Client(c) => return Pending::Ready(self.client(c)),
            // The transaction gate has turned these into answers already.
            Op::Multi | Op::Exec | Op::Discard => {
                return Pending::Ready(Value::Error("ERR transactions are not supported".into()))
            }
            Op::Admin(a) => return Pending::Ready(self.admin(a)),
            Op::Quit => return Pending::Ready(Value::Simple("OK".into())),
        };
        match started {
            Ok(rx) => Pending::Waiting(rx, k),
            Err(e) => {
                self.node_gone |= matches!(e, Error::Shutdown);
                Pending::Ready(from_error(e))
            }
        }
    }

    fn admin(&self, a: Admin) -> Value {
        let t = self.config.request_timeout;
        let r = match a {
            Admin::Peer(id, addr) => match &self.config.add_peer {
                Some(add) => {
                    add(id, addr);
                    Ok(())
                }
                None => {
                    return Value::Error("ERR this server's transport learns no addresses".into())
                }
            },
            // The address travels in the membership entry: every node's transport learns it
            // from the log, now and after any restart.
            Admin::AddLearner(id, addr) => self.node.add_learner_at(id, addr.to_string(), t),
            Admin::Promote(id) => self.node.promote(id, t),
            Admin::Remove(id) => self.node.remove(id, t),
            Admin::Transfer(id) => self.node.transfer_leadership(id, t),
        };
        match r {
            Ok(()) => Value::Simple("OK".into()),
            Err(e) => from_error(e),
        }
    }

    /// Transactions are not implemented. MULTI is refused and opens a stretch in which every
    /// command is refused; EXEC ends it with Redis's EXECABORT (nothing was run), DISCARD with
    /// OK. QUIT still closes the connection.
    fn transaction_gate(&mut self, op: Op) -> Op {
        let error = |e: &str| Op::Now(Value::Error(e.into()));
        match (self.in_multi, op) {
            (false, Op::Multi) => {
                self.in_multi = true;
                error("ERR MULTI is not supported (no transactions yet): commands up to EXEC or DISCARD will be refused")
            }
            (false, Op::Exec) => error("ERR EXEC without MULTI"),
            (false, Op::Discard) => error("ERR DISCARD without MULTI"),
            (false, op) | (true, op @ Op::Quit) => op,
            (true, Op::Multi) => error("ERR MULTI calls can not be nested"),
            (true, Op::Exec) => {
                self.in_multi = false;
                error("EXECABORT Transaction discarded because of previous errors.")
            }
            (true, Op::Discard) => {
                self.in_multi = false;
                Op::Now(Value::Simple("OK".into()))
            }
            (true, _) => error(
                "ERR command refused: this connection's MULTI was refused, so nothing runs until EXEC or DISCARD",
            ),
        }
    }

    fn client(&mut self, c: ClientOp) -> Value {
        match c {
            ClientOp::Id => Value::Integer(self.client_id as i64),
            ClientOp::GetName => Value::Bulk(self.name.clone()),
            ClientOp::SetName(name) => {
                // An empty name removes it, as on Redis.
                self.name = (!name.is_empty()).then_some(name);
                Value::Simple("OK".into())
            }
        }
    }

    fn info(&self, raft: bool) -> Value {
        if !raft {
            // A section this server does not have: empty, as Redis answers.
            return Value::Bulk(Some(Vec::new()));
        }
        let Ok(s) = self.node.status() else {
            return from_error(Error::Shutdown);
        };
        let role = match s.role {
            Role::Leader => "leader",
            Role::Candidate | Role::PreCandidate => "candidate",
            Role::Follower => "follower",
        };
        let ids = |v: &std::collections::BTreeSet<u64>| {
            v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        };
        let mut text = format!(
            "# Raft\r\nnode_id:{}\r\nrole:{role}\r\nterm:{}\r\nleader:{}\r\ncommit_index:{}\r\napplied_index:{}\r\n\
             first_index:{}\r\nlast_index:{}\r\nlog_entries:{}\r\nsnapshot_index:{}\r\nsnapshot_bytes:{}\r\n\
             voters:{}\r\nlearners:{}\r\njoint:{}\r\nremoved:{}\r\n",
            s.id,
            s.term,
            s.leader.map_or("none".into(), |l| l.to_string()),
            s.commit_index,
            s.applied_index,
            s.first_index,
            s.last_index,
            s.log_entries,
            s.snapshot.as_ref().map_or(0, |m| m.index),
            s.snapshot_bytes,
            ids(&s.membership.voters),
            ids(&s.membership.learners),
            s.membership.is_joint(),
            u8::from(s.removed),
        );
        for (id, addr) in &s.membership.addresses {
            text.push_str(&format!("address_{id}:{addr}\r\n"));
        }
        for (id, p) in &s.peers {
            text.push_str(&format!(
                "peer_{id}:match={},next={}\r\n",
                p.match_index, p.next_index
            ));
        }
        Value::Bulk(Some(text.into_bytes()))
    }
}
