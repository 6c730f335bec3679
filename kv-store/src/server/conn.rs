//! One client connection inside an event loop: the bytes read and not yet parsed, the requests
//! started and not yet answered (in order, as slots), and the replies not yet written.
//!
//! Order: requests of one kind in a row start together, so a pipeline of writes becomes one
//! batch in the log. A request of another kind, or one that must see everything before it
//! (INFO, an administrative request), is held until the earlier ones are answered: each
//! request sees exactly the effects of those before it on this connection. Requests answered
//! on the spot (PING, CLIENT, errors) take their place in line and need not wait.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read as _, Write as _};
use std::sync::Arc;
use std::time::Instant;

use raft_runtime::Error;

use super::clients::Client;
use super::commands::{self, Admin, ClusterOp, Introspect, Op, Parsed};
use super::event_loop::{Batch, Context};
use super::info::{self, KeyspaceFigures, Sections};
use super::introspect;
use super::mailbox::Done;
use super::replies::{from_error, from_reply};
use super::session::Session;
use super::stats::{self, Outcome};
use super::transaction::{self, exec_reply, Multi, Template};
use crate::machine::{Command, Query, Read, Reply, Write};
use crate::resp::{self, Framer, Protocol, Value};

/// A request's tag is its connection's slab key above these bits and the request's sequence
/// number (drawn from its loop's counter, so a later connection at the same key never sees an
/// earlier one's answers) in them.
const SEQ_BITS: u32 = 40;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
/// The most connections one loop can tell apart in its tags.
pub(super) const KEYS_MAX: usize = 1 << (64 - SEQ_BITS);

/// Requests started and not yet written back, per connection: beyond this, the connection's
/// further requests wait in its socket.
const SLOTS_MAX: usize = 4096;
/// Replies buffered and not yet written, beyond which the connection's further requests wait
/// in its socket until the client reads.
const OUT_SOFT: usize = 256 << 10;
/// Bytes read from one connection per loop turn, so one busy client cannot starve the rest.
const READ_BURST: usize = 64 << 10;
/// Buffers larger than this are given back once empty, so idle connections cost little.
const BUFFER_KEEP: usize = 16 << 10;

/// What a started request touches, for ordering within a pipeline.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Write,
    Read,
    /// Sees everything before it (INFO, administrative requests, DISCARD, UNWATCH).
    Other,
    /// EXEC: sees everything before it, and is a write (its outcome may be unknown).
    Transaction,
}

impl Kind {
    fn waits_for_all(self) -> bool {
        matches!(self, Kind::Other | Kind::Transaction)
    }

    fn writes(self) -> bool {
        matches!(self, Kind::Write | Kind::Transaction)
    }
}

/// What a waiting request's answer is turned into, beyond the usual.
enum Purpose {
    /// WATCH: the keys, to remember with what the read found.
    Watch(Vec<Vec<u8>>),
    /// EXEC: the replies already known, between which the log's go.
    Exec(Template),
    /// INFO: the sections, to render once the keyspace figures are in.
    Info(Sections),
    /// A CLUSTER reply held while no leader is known (see `CLUSTER_HOLD`).
    Cluster(ClusterOp),
}

/// How long CLUSTER SLOTS (and SHARDS, NODES, INFO) waits for a leader to be known, checked at
/// each sweep, before answering with this node as master. A client that refreshes its map
/// during an election thus learns the new leader rather than this node. Below ioredis's
/// one-second refresh timeout.
const CLUSTER_HOLD: std::time::Duration = std::time::Duration::from_millis(800);

struct Slot {
    seq: u64,
    kind: Kind,
    /// The protocol the request was sent in, which its reply is given in (a HELLO or RESET
    /// after it changes the connection's, not this one's).
    proto: Protocol,
    purpose: Option<Box<Purpose>>,
    /// The command the request named (its index in the table), to count its reply under.
    command: Option<u16>,
    /// The request was refused before it ran.
    rejected: bool,
    started: Instant,
    answer: Answer,
}

enum Answer {
    /// Waiting for the cluster. `then_read`: a linearizable read waiting for the tick that
    /// moves the replicated clock to its time (the query, and that time) before it is asked
    /// again.
    Waiting {
        deadline: Instant,
        then_read: Option<Box<(Query, u64)>>,
    },
    Done(Value),
}

pub(super) struct Conn {
    stream: mio::net::TcpStream,
    session: Session,
    framer: Framer,
    /// Bytes read and not yet parsed.
    inbuf: Vec<u8>,
    /// Replies encoded, of which the first `written` bytes have gone out.
    out: Vec<u8>,
    written: usize,
    slots: VecDeque<Slot>,
    /// Slots still waiting for an answer; while any are, all are of `waiting_kind`.
    waiting: usize,
    waiting_kind: Kind,
    /// A request parsed and held back until the requests before it are answered.
    held: Option<Parsed>,
    /// The request being started: what its slot counts under (see `Slot`).
    current: (Option<u16>, bool),
    /// CLIENT KILL named this connection itself: it closes once that reply is written.
    killed_itself: bool,
    /// Whole requests wait in `inbuf`, not started for lack of room.
    backlog: bool,
    /// Since when the unwritten replies have stood at `OUT_SOFT` or more.
    stalled_since: Option<Instant>,
    /// The socket may have bytes not read yet (readiness is edge-triggered).
    readable: bool,
    /// No further request is taken (QUIT, a protocol error, the node gone): the connection
    /// closes once everything before is answered and written.
    closing: bool,
    /// The connection is finished: the client went away, writing failed, or it stopped reading
    /// its replies while they piled past the limit.
    dead: bool,
}

impl Conn {
    pub(super) fn new(stream: mio::net::TcpStream, client: Arc<Client>) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            session: Session::new(client),
            framer: Framer::new(),
            inbuf: Vec::new(),
            out: Vec::new(),
            written: 0,
            slots: VecDeque::new(),
            waiting: 0,
            waiting_kind: Kind::Other,
            held: None,
            current: (None, false),
            killed_itself: false,
            backlog: false,
            stalled_since: None,
            readable: true,
            closing: false,
            dead: false,
        }
    }

    pub(super) fn stream(&mut self) -> &mut mio::net::TcpStream {
        &mut self.stream
    }

    pub(super) fn set_readable(&mut self) {
        self.readable = true;
    }

    pub(super) fn client_id(&self) -> u64 {
        self.session.client.id
    }

    /// Closes the connection if CLIENT KILL asked for it (the one that asked closes once its
    /// reply is written; any other at once, whatever it was doing, as on Redis). Whether it
    /// did.
    pub(super) fn kill_if_asked(&mut self) -> bool {
        let kill = self.session.client.killed() && !self.dead && !self.killed_itself;
        if kill {
            self.dead = true;
        }
        kill
    }

    /// Whether the connection can go away now.
    pub(super) fn finished(&self) -> bool {
        self.dead || (self.closing && self.slots.is_empty() && self.written == self.out.len())
    }

    pub(super) fn is_waiting(&self) -> bool {
        self.waiting > 0
    }

    /// Whether the connection has work for another turn without any event: unread bytes or
    /// whole requests waiting and room for them, or a held request whose turn has come.
    pub(super) fn wants_turn(&self) -> bool {
        !self.dead
            && ((self.has_room() && (self.readable || self.backlog))
                || (self.held.is_some() && self.waiting == 0))
    }

    fn has_room(&self) -> bool {
        !self.closing
            && self.held.is_none()
            && self.slots.len() < SLOTS_MAX
            && self.out.len() - self.written < OUT_SOFT
    }

    /// Reads what has arrived (up to a burst) and starts every request it completes.
    pub(super) fn take_requests(
        &mut self,
        key: usize,
        scratch: &mut [u8],
        batch: &mut Batch,
        cx: &Context,
    ) {
        if self.dead {
            // Killed (or gone): nothing more is started.
            return;
        }
        self.start_parsed(key, batch, cx);
        let mut read = 0;
        while self.readable && self.has_room() && read < READ_BURST && !self.dead {
            match self.stream.read(scratch) {
                // The client closed: like Redis, answers it can no longer read are dropped.
                Ok(0) => self.dead = true,
                Ok(n) => {
                    read += n;
                    stats::add(&cx.stats().net_in, n as u64);
                    // A read that did not fill the buffer emptied the socket: bytes arriving
                    // later raise a new readiness event, so no second read is spent to hear
                    // WouldBlock (one system call per request, not two).
                    self.readable = n == scratch.len();
                    self.inbuf.extend_from_slice(&scratch[..n]);
                    self.start_parsed(key, batch, cx);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.dead = true,
            }
        }
        if self.inbuf.is_empty() && self.inbuf.capacity() > BUFFER_KEEP {
            self.inbuf = Vec::new();
        }
    }

    /// Starts the requests already buffered, as far as order and room allow.
    fn start_parsed(&mut self, key: usize, batch: &mut Batch, cx: &Context) {
        let mut used = 0;
        while self.has_room() || self.held.is_some() {
            // A reply pushed while parsing (a protocol error) counts under no command.
            self.current = (None, false);
            let Parsed { op, command, sub } = match self.held.take() {
                Some(p) => p,
                None => match self.parse_one(&mut used, batch, cx) {
                    Some(p) => p,
                    None => break,
                },
            };
            self.current = (
                command.map(|c| stats::index(c, sub)),
                op.refused_before_running(),
            );
            if let Some(op) = self.start(key, op, batch, cx) {
                self.held = Some(Parsed { op, command, sub });
                break;
            }
        }
        self.current = (None, false);
        // Stopped with bytes left for lack of room (not for want of bytes): those may be whole
        // requests, to be started once room is made.
        self.backlog = !self.has_room() && used < self.inbuf.len();
        self.inbuf.drain(..used);
        if !self.closing && self.inbuf.len() > cx.config.request_bytes_max {
            self.push_done(
                batch,
                Value::Error("ERR Protocol error: request too large".into()),
            );
            self.closing = true;
        }
    }

    /// The next whole request after `used` bytes, or `None` when more bytes are needed or the
    /// connection is closing. A malformed request is answered and closes the connection.
    fn parse_one(&mut self, used: &mut usize, batch: &mut Batch, cx: &Context) -> Option<Parsed> {
        let limits = &cx.config.limits;
        loop {
            let rest = &self.inbuf[*used..];
            let parsed = match self.framer.complete(rest, limits) {
                Ok(Some(len)) => resp::parse_request(&rest[..len], limits),
                Ok(None) => return None,
                Err(e) => Err(e),
            };
            match parsed {
                Ok(Some((args, len))) => {
                    *used += len;
                    if !args.is_empty() {
                        let parsed = commands::parse(args, cx.now_ms);
                        if let Some(c) = parsed.command {
                            self.session.client.note_command(c, parsed.sub, cx.now);
                        }
                        return Some(parsed);
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    self.push_done(batch, Value::Error(format!("ERR {e}")));
                    self.closing = true;
                    return None;
                }
            }
        }
    }

    /// Starts `op`, or gives it back when it must wait for the requests before it.
    fn start(&mut self, key: usize, op: Op, batch: &mut Batch, cx: &Context) -> Option<Op> {
        // Inside MULTI, commands are queued (EXEC and what ends a transaction excepted).
        let op = match (&mut self.session.multi, op) {
            (
                Some(multi),
                op @ (Op::Write { .. }
                | Op::Read(_)
                | Op::LocalRead(_)
                | Op::Now(_)
                | Op::Rejected(_)
                | Op::Multi
                | Op::Watch(_)
                | Op::Unwatch
                | Op::SetReadOnly(_)
                | Op::Info(_)
                | Op::Client(_)
                | Op::Introspect(_)
                | Op::Hello(_)
                | Op::Admin(_)),
            ) => {
                let v = multi.queue(op);
                self.session.client.set_multi(Some(multi.len()));
                // A command queued is counted when it runs (under EXEC), unless refused now.
                if !matches!(v, Value::Error(_)) {
                    self.current.0 = None;
                }
                self.push_done(batch, v);
                return None;
            }
            (_, op) => op,
        };
        let kind = match &op {
            Op::Write { .. } => Kind::Write,
            Op::Read(_) | Op::LocalRead(_) | Op::Watch(_) => Kind::Read,
            Op::Info(_) | Op::Admin(_) | Op::Unwatch => Kind::Other,
            Op::Introspect(Introspect::Cluster(_)) if !cx.leader_known() => Kind::Other,
            Op::Discard if self.session.multi.is_some() => Kind::Other,
            Op::Exec if self.session.multi.is_some() => Kind::Transaction,
            _ => {
                self.answer_now(op, batch, cx);
                return None;
            }
        };
        if self.waiting > 0 && (kind != self.waiting_kind || kind.waits_for_all()) {
            return Some(op);
        }
        let deadline = cx.now + cx.config.request_timeout;
        match op {
            Op::Write { command, session } => {
                let tag = self.push_waiting(key, kind, batch, deadline);
                let w = Write {
                    session,
                    time_ms: cx.now_ms,
                    command,
                };
                batch.writes.push((w.encode(), tag));
            }
            Op::Read(q) if !self.session.read_only => {
                let tag = self.push_waiting(key, kind, batch, deadline);
                batch.reads.push((Read::at(cx.now_ms, q), tag));
            }
            Op::Read(q) | Op::LocalRead(q) => {
                let tag = self.push_waiting(key, kind, batch, deadline);
                batch.stale.push((Read::local_at(cx.now_ms, q), tag));
            }
            Op::Watch(keys) => {
                let tag = self.push_waiting(key, kind, batch, deadline);
                let q = Query::Watch { keys: keys.clone() };
                self.set_purpose(Purpose::Watch(keys));
                batch.reads.push((Read::at(cx.now_ms, q), tag));
            }
            Op::Unwatch => {
                self.session.watched.clear();
                self.push_done(batch, Value::Simple("OK".into()));
            }
            Op::Discard => {
                self.session.multi = None;
                self.session.client.set_multi(None);
                self.session.watched.clear();
                self.push_done(batch, Value::Simple("OK".into()));
            }
            Op::Exec => {
                let multi = self
                    .session
                    .multi
                    .take()
                    .expect("Exec is started inside MULTI");
                self.session.client.set_multi(None);
                let watched = std::mem::take(&mut self.session.watched);
                match multi.exec(watched) {
                    Err(reply) => self.push_done(batch, reply),
                    Ok((command, template)) => {
                        let tag = self.push_waiting(key, kind, batch, deadline);
                        self.set_purpose(Purpose::Exec(template));
                        let w = Write {
                            session: None,
                            time_ms: cx.now_ms,
                            command,
                        };
                        batch.writes.push((w.encode(), tag));
                    }
                }
            }
            Op::Introspect(Introspect::Cluster(op)) => {
                self.push_waiting(key, kind, batch, cx.now + CLUSTER_HOLD);
                self.set_purpose(Purpose::Cluster(op));
            }
            Op::Info(sections) if !sections.has("keyspace") => {
                let v = info::render(sections, cx, KeyspaceFigures::default());
                self.push_done(batch, v);
            }
            Op::Info(sections) => {
                let tag = self.push_waiting(key, kind, batch, deadline);
                self.set_purpose(Purpose::Info(sections));
                batch
                    .stale
                    .push((Read::local_at(cx.now_ms, Query::Keyspace), tag));
            }
            Op::Admin(a @ Admin::Peer(..)) => {
                self.push_done(batch, Session::admin(&cx.node, &cx.config, a))
            }
            Op::Admin(a) => {
                // Membership changes block until applied: a helper thread waits for them.
                let deadline = cx.now + 2 * cx.config.request_timeout;
                let tag = self.push_waiting(key, kind, batch, deadline);
                if let Err(refused) = cx.run_admin(tag, a) {
                    self.settle(tag, Done::Value(refused), batch, cx);
                }
            }
            _ => unreachable!("answered above"),
        }
        None
    }

    /// Requests answered from the connection's own state.
    fn answer_now(&mut self, op: Op, batch: &mut Batch, cx: &Context) {
        let v = match op {
            Op::Now(v) => v,
            Op::SetReadOnly(on) => {
                self.session.set_read_only(on);
                Value::Simple("OK".into())
            }
            Op::Client(c) => {
                let v = self.session.client(c, &cx.shared.registry, cx.now);
                // A connection that killed itself closes once this reply is written.
                if self.session.client.killed() {
                    self.killed_itself = true;
                    self.closing = true;
                }
                v
            }
            Op::Introspect(i) => introspect::answer(i, cx),
            Op::Hello(h) => self.session.hello(h, &cx.node),
            Op::Reset => self.session.reset(),
            Op::Quit => {
                self.closing = true;
                Value::Simple("OK".into())
            }
            Op::Rejected(e) => Value::Error(e),
            Op::Multi => {
                self.session.multi = Some(Multi::default());
                self.session.client.set_multi(Some(0));
                Value::Simple("OK".into())
            }
            Op::ExecAbort(e) => {
                self.session.multi = None;
                self.session.client.set_multi(None);
                self.session.watched.clear();
                Value::Error(e)
            }
            Op::Exec => Value::Error("ERR EXEC without MULTI".into()),
            Op::Discard => Value::Error("ERR DISCARD without MULTI".into()),
            op => unreachable!("{} is started, not answered at once", op.name()),
        };
        self.push_done(batch, v);
    }

    /// Every slot takes the next number of its loop's sequence, so a connection's slots are
    /// in increasing order (and found by binary search).
    fn push_done(&mut self, batch: &mut Batch, v: Value) {
        self.slots.push_back(Slot {
            seq: batch.next_seq(),
            kind: Kind::Other,
            proto: self.session.protocol,
            purpose: None,
            command: self.current.0,
            rejected: self.current.1,
            started: Instant::now(),
            answer: Answer::Done(v),
        });
    }

    fn push_waiting(
        &mut self,
        key: usize,
        kind: Kind,
        batch: &mut Batch,
        deadline: Instant,
    ) -> u64 {
        let seq = batch.next_seq();
        self.slots.push_back(Slot {
            seq,
            kind,
            proto: self.session.protocol,
            purpose: None,
            command: self.current.0,
            rejected: self.current.1,
            started: Instant::now(),
            answer: Answer::Waiting {
                deadline,
                then_read: None,
            },
        });
        self.waiting += 1;
        self.waiting_kind = kind;
        ((key as u64) << SEQ_BITS) | (seq & SEQ_MASK)
    }

    /// Gives the slot just pushed a purpose.
    fn set_purpose(&mut self, purpose: Purpose) {
        if let Some(slot) = self.slots.back_mut() {
            slot.purpose = Some(Box::new(purpose));
        }
    }

    /// The connection key a tag names.
    pub(super) fn key_of(tag: u64) -> usize {
        (tag >> SEQ_BITS) as usize
    }

    /// Settles the request tagged `tag`, if it is still waiting here. A linearizable read
    /// whose answer relied on a deadline the replicated clock has not reached first proposes a
    /// tick that moves the clock to `now_ms` (so no later read can find the key alive again),
    /// then is asked again at that time, and keeps waiting meanwhile.
    pub(super) fn settle(&mut self, tag: u64, done: Done, batch: &mut Batch, cx: &Context) {
        let now_ms = cx.now_ms;
        let seq = tag & SEQ_MASK;
        let Ok(i) = self.slots.binary_search_by_key(&seq, |s| s.seq & SEQ_MASK) else {
            return;
        };
        let slot = &mut self.slots[i];
        let Answer::Waiting { then_read, .. } = &mut slot.answer else {
            return;
        };
        let value = match done {
            // Held until a leader is known, or for as long as it may be.
            _ if matches!(slot.purpose.as_deref(), Some(Purpose::Cluster(_))) => {
                let Some(Purpose::Cluster(op)) = slot.purpose.take().map(|p| *p) else {
                    unreachable!("matched above")
                };
                introspect::answer(Introspect::Cluster(op), cx)
            }
            Done::Kv(Ok(Reply::ReadThroughLog(query))) => {
                let tick = Write {
                    session: None,
                    time_ms: now_ms,
                    command: Command::Tick,
                };
                batch.writes.push((tick.encode(), tag));
                *then_read = Some(Box::new((*query, now_ms)));
                return;
            }
            Done::Kv(Ok(_)) if then_read.is_some() => {
                let (query, at) = *then_read.take().expect("checked above");
                batch.reads.push((Read::at(at, query), tag));
                return;
            }
            Done::Value(v) => v,
            Done::Kv(Ok(reply)) => match slot.purpose.take().map(|p| *p) {
                None => from_reply(reply, slot.proto),
                Some(Purpose::Exec(template)) => exec_reply(template, reply, slot.proto),
                Some(Purpose::Info(sections)) => info::render(sections, cx, figures(&reply)),
                Some(Purpose::Cluster(_)) => unreachable!("answered above"),
                Some(Purpose::Watch(keys)) => match transaction::watched(keys, &reply) {
                    Some(w) => {
                        self.session.watched.extend(w);
                        Value::Simple("OK".into())
                    }
                    None => from_reply(reply, slot.proto),
                },
            },
            Done::Kv(Err(e)) => {
                // A node that has shut down keeps no connections open: clients move on.
                self.closing |= matches!(e, Error::Shutdown);
                match e {
                    // A write that timed out may still commit: TRYAGAIN would invite a retry
                    // that applies it twice.
                    Error::Timeout if slot.kind.writes() => from_error(Error::OutcomeUnknown),
                    // A read's tick whose outcome is unknown changed nothing a client sees:
                    // the read may simply be sent again.
                    Error::OutcomeUnknown if slot.kind == Kind::Read => from_error(Error::Timeout),
                    e => from_error(e),
                }
            }
        };
        slot.answer = Answer::Done(value);
        self.waiting -= 1;
    }

    /// Gives up on requests whose deadline has passed: a write's outcome is unknown, a read
    /// may be retried. Whether any was.
    pub(super) fn expire(&mut self, cx: &Context) -> bool {
        let now = cx.now;
        let held: Vec<u64> = self
            .slots
            .iter()
            .filter(|s| matches!(s.purpose.as_deref(), Some(Purpose::Cluster(_))))
            .filter(|s| matches!(s.answer, Answer::Waiting { .. }))
            .map(|s| s.seq & SEQ_MASK)
            .collect();
        let released = !held.is_empty() && cx.leader_known();
        if released {
            for seq in held {
                self.settle(seq, Done::Value(Value::Null), &mut Batch::default(), cx);
            }
        }
        let expired: Vec<u64> = self
            .slots
            .iter()
            .filter(|s| matches!(s.answer, Answer::Waiting { deadline, .. } if deadline <= now))
            .map(|s| s.seq & SEQ_MASK)
            .collect();
        let any = released || !expired.is_empty();
        for seq in expired {
            // The key bits do not matter here: the slot is looked up by sequence only. A
            // timeout is never asked again, so nothing goes into the batch.
            self.settle(
                seq,
                Done::Kv(Err(Error::Timeout)),
                &mut Batch::default(),
                cx,
            );
        }
        any
    }

    /// Encodes the answers at the front of the line and writes what the socket takes.
    pub(super) fn flush(&mut self, cx: &Context) {
        let (now, output_bytes_max) = (cx.now, cx.config.output_bytes_max);
        let stats = cx.stats();
        // The time replies are counted as given (the turn's `now` is earlier than some starts).
        let answered = Instant::now();
        if self.written > 0 {
            // What went out already is dropped before more is added, so the buffer holds only
            // what is still to be written.
            self.out.drain(..self.written);
            self.written = 0;
        }
        while let Some(Slot {
            answer: Answer::Done(_),
            ..
        }) = self.slots.front()
        {
            let Some(Slot {
                answer: Answer::Done(v),
                proto,
                command,
                rejected,
                started,
                ..
            }) = self.slots.pop_front()
            else {
                unreachable!("front is done")
            };
            let failed = matches!(v, Value::Error(_));
            if failed {
                stats::add(&stats.error_replies, 1);
            }
            if let Some(c) = command {
                let outcome = match (rejected, failed) {
                    (true, _) => Outcome::Rejected,
                    (false, true) => Outcome::Failed,
                    (false, false) => Outcome::Ran,
                };
                stats.count(c, outcome, answered.saturating_duration_since(started));
            }
            resp::encode_for(&v, proto, &mut self.out);
        }
        while self.written < self.out.len() && !self.dead {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => self.dead = true,
                Ok(n) => {
                    self.written += n;
                    stats::add(&stats.net_out, n as u64);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.dead = true,
            }
        }
        let unwritten = self.out.len() - self.written;
        if unwritten == 0 {
            self.out.clear();
            self.written = 0;
            if self.out.capacity() > BUFFER_KEEP {
                self.out = Vec::new();
            }
        }
        self.stalled_since = match self.stalled_since {
            _ if unwritten < OUT_SOFT => None,
            None => Some(now),
            since => since,
        };
        if unwritten > output_bytes_max {
            // A client that does not read its replies is not allowed to pile them up.
            self.close_slow_reader(unwritten);
        }
    }

    /// Whether the client has left its replies unread for longer than `max`; such a client is
    /// disconnected (its requests have been waiting in its socket meanwhile).
    pub(super) fn stalled_for(&mut self, now: Instant, max: std::time::Duration) -> bool {
        let stalled = self
            .stalled_since
            .is_some_and(|since| now.duration_since(since) >= max);
        if stalled {
            self.close_slow_reader(self.out.len() - self.written);
        }
        stalled
    }

    fn close_slow_reader(&mut self, unwritten: usize) {
        tracing::debug!(
            client = self.session.client.id,
            bytes = unwritten,
            "closing a client that does not read its replies"
        );
        self.dead = true;
    }
}

/// INFO's keyspace figures from the state machine's answer to `Query::Keyspace`.
fn figures(reply: &Reply) -> KeyspaceFigures {
    let n = |i: usize| match reply {
        Reply::Array(a) => match a.get(i) {
            Some(Reply::Int(n)) => (*n).max(0) as u64,
            _ => 0,
        },
        _ => 0,
    };
    KeyspaceFigures {
        keys: n(0),
        expires: n(1),
        avg_ttl_ms: n(2),
    }
}
