//! One I/O thread: an event loop (epoll through `mio`) over many connections.
//!
//! Each turn it reads every connection that has bytes waiting, starts every whole request
//! they hold, hands all the turn's writes to the node in one call (one batch in the log), all
//! its linearizable reads in another (one ReadIndex round), then writes every answer that has
//! arrived. Answers come back through the loop's [`Mailbox`], which wakes it; nothing spins.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use raft_runtime::{Completions, Node};
use slab::Slab;

use super::clients::Client;
use super::conn::{Conn, KEYS_MAX};
use super::mailbox::{Done, Mailbox};
use super::session::Session;
use super::stats::{self, LoopStats};
use super::{ServerConfig, Shared};
use crate::machine::{wall_clock_ms, KvStore, Read, Reply};
use crate::resp::Value;

pub(super) const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
/// Connection `key` is registered as token `key + CONN_BASE`.
const CONN_BASE: usize = 2;
/// How often requests waiting for the cluster are checked against their deadlines.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// Administrative requests (membership changes) running at once, each on a helper thread.
const ADMIN_RUNNING_MAX: usize = 16;
const SCRATCH_BYTES: usize = 64 << 10;

/// What one turn hands to the node.
#[derive(Default)]
pub(super) struct Batch {
    seq: u64,
    pub(super) writes: Vec<(Vec<u8>, u64)>,
    pub(super) reads: Vec<(Read, u64)>,
    pub(super) stale: Vec<(Read, u64)>,
}

impl Batch {
    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// What a connection needs from its loop while it starts requests.
pub(super) struct Context {
    pub(super) node: Arc<Node<KvStore>>,
    pub(super) config: Arc<ServerConfig>,
    pub(super) now: Instant,
    /// The wall clock at the same moment, in milliseconds since the Unix epoch: what writes
    /// are stamped with and reads are answered at.
    pub(super) now_ms: u64,
    mailbox: Arc<Mailbox>,
    pub(super) shared: Arc<Shared>,
    /// This loop's index among the server's loops (its counters).
    index: usize,
    /// Whether a leader was known at the turn that began at the instant noted.
    leader: std::cell::Cell<Option<(Instant, bool)>>,
}

impl Context {
    /// This loop's counters.
    pub(super) fn stats(&self) -> &LoopStats {
        self.shared.stats.of_loop(self.index)
    }

    /// Whether this node knows a leader, asked of the node at most once per turn.
    pub(super) fn leader_known(&self) -> bool {
        if let Some((at, known)) = self.leader.get() {
            if at == self.now {
                return known;
            }
        }
        let known = self
            .node
            .status()
            .is_ok_and(|s| s.role == raft_core::Role::Leader || s.leader.is_some());
        self.leader.set(Some((self.now, known)));
        known
    }

    /// Runs a membership change on a helper thread, whose answer comes back tagged `tag`; the
    /// refusal to give if too many are running already.
    pub(super) fn run_admin(&self, tag: u64, a: super::commands::Admin) -> Result<(), Value> {
        let busy = || Value::Error("ERR too many administrative requests in progress".into());
        if self.shared.admin_running.fetch_add(1, Ordering::AcqRel) >= ADMIN_RUNNING_MAX {
            self.shared.admin_running.fetch_sub(1, Ordering::AcqRel);
            return Err(busy());
        }
        let (node, config) = (self.node.clone(), self.config.clone());
        let (mailbox, shared) = (self.mailbox.clone(), self.shared.clone());
        let spawned = std::thread::Builder::new()
            .name("resp-admin".into())
            .spawn(move || {
                let v = Session::admin(&node, &config, a);
                shared.admin_running.fetch_sub(1, Ordering::AcqRel);
                mailbox.post(tag, Done::Value(v));
            });
        spawned.map(|_| ()).map_err(|_| {
            self.shared.admin_running.fetch_sub(1, Ordering::AcqRel);
            busy()
        })
    }
}

pub(super) struct EventLoop {
    poll: Poll,
    cx: Context,
    /// The same mailbox, as the node sees it.
    sink: Arc<dyn Completions<Reply>>,
    /// The first loop accepts, and deals connections out to every loop in turn.
    listener: Option<(TcpListener, Vec<Arc<Mailbox>>, usize)>,
    conns: Slab<Conn>,
    batch: Batch,
    /// Connections with work for the next turn, and whether each is listed.
    active: Vec<usize>,
    listed: Vec<bool>,
    answers: Vec<(u64, Done)>,
    arrived: Vec<TcpStream>,
    scratch: Vec<u8>,
    next_sweep: Instant,
}

impl EventLoop {
    pub(super) fn new(
        poll: Poll,
        node: Arc<Node<KvStore>>,
        config: Arc<ServerConfig>,
        mailbox: Arc<Mailbox>,
        shared: Arc<Shared>,
        index: usize,
    ) -> EventLoop {
        EventLoop {
            poll,
            sink: mailbox.clone(),
            cx: Context {
                node,
                config,
                now: Instant::now(),
                now_ms: wall_clock_ms(),
                mailbox,
                shared,
                index,
                leader: std::cell::Cell::new(None),
            },
            listener: None,
            conns: Slab::new(),
            batch: Batch {
                seq: 0,
                writes: Vec::new(),
                reads: Vec::new(),
                stale: Vec::new(),
            },
            active: Vec::new(),
            listed: Vec::new(),
            answers: Vec::new(),
            arrived: Vec::new(),
            scratch: vec![0; SCRATCH_BYTES],
            next_sweep: Instant::now(),
        }
    }

    /// Makes this loop the one that accepts, dealing connections to `loops` (itself among
    /// them) in turn.
    pub(super) fn accept_on(
        &mut self,
        mut listener: TcpListener,
        loops: Vec<Arc<Mailbox>>,
    ) -> std::io::Result<()> {
        self.poll
            .registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        self.listener = Some((listener, loops, 0));
        Ok(())
    }

    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        while !self.cx.shared.stop.load(Ordering::Acquire) {
            // Connections with bytes left to read go on at once; requests waiting for the
            // cluster need their deadlines checked; an idle loop sleeps until woken.
            let timeout = if !self.active.is_empty() {
                Some(Duration::ZERO)
            } else if !self.conns.is_empty() {
                Some(SWEEP_EVERY)
            } else {
                None
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "the client event loop stops");
                    return;
                }
            }
            self.cx.now = Instant::now();
            self.cx.now_ms = wall_clock_ms();
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    LISTENER => self.accept(),
                    Token(t) => {
                        let key = t - CONN_BASE;
                        if let Some(c) = self.conns.get_mut(key) {
                            if event.is_readable() || event.is_read_closed() || event.is_error() {
                                c.set_readable();
                            }
                            self.activate(key);
                        }
                    }
                }
            }
            self.turn();
        }
    }

    /// Everything one turn does once the events are in.
    fn turn(&mut self) {
        self.cx.mailbox.take(&mut self.answers, &mut self.arrived);
        for stream in std::mem::take(&mut self.arrived) {
            self.add(stream);
        }
        for (tag, done) in self.answers.drain(..) {
            let key = Conn::key_of(tag);
            if let Some(c) = self.conns.get_mut(key) {
                c.settle(tag, done, &mut self.batch, &self.cx);
                list(&mut self.listed, &mut self.active, key);
            }
        }
        if self.cx.mailbox.take_kills() {
            for (key, c) in self.conns.iter_mut() {
                if c.kill_if_asked() {
                    list(&mut self.listed, &mut self.active, key);
                }
            }
        }
        let mut active = std::mem::take(&mut self.active);
        for &key in &active {
            if let Some(c) = self.conns.get_mut(key) {
                c.take_requests(key, &mut self.scratch, &mut self.batch, &self.cx);
            }
        }
        self.submit();
        if self.cx.now >= self.next_sweep {
            self.next_sweep = self.cx.now + SWEEP_EVERY;
            let stall_max = self.cx.config.output_stall_max;
            for (key, c) in self.conns.iter_mut() {
                let expired = c.is_waiting() && c.expire(&self.cx);
                if expired || c.stalled_for(self.cx.now, stall_max) {
                    list(&mut self.listed, &mut active, key);
                }
            }
        }
        for key in active {
            self.listed[key] = false;
            let Some(c) = self.conns.get_mut(key) else {
                continue;
            };
            c.flush(&self.cx);
            if c.finished() {
                self.close(key);
            } else if c.wants_turn() {
                self.activate(key);
            }
        }
    }

    /// Hands the turn's requests to the node: one call for the writes, one for the reads. (A
    /// batch the node cannot take is refused through the mailbox, like any answer.)
    fn submit(&mut self) {
        let (node, b) = (&self.cx.node, &mut self.batch);
        if !b.writes.is_empty() {
            node.propose_batch(std::mem::take(&mut b.writes), &self.sink);
        }
        if !b.reads.is_empty() {
            node.read_batch(std::mem::take(&mut b.reads), &self.sink);
        }
        if !b.stale.is_empty() {
            node.read_stale_batch(std::mem::take(&mut b.stale), &self.sink);
        }
    }

    fn activate(&mut self, key: usize) {
        list(&mut self.listed, &mut self.active, key);
    }

    fn accept(&mut self) {
        let Some((listener, loops, next)) = &mut self.listener else {
            return;
        };
        let mut mine = Vec::new();
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors or memory: the connection stays queued in the kernel
                    // until the next one wakes the listener.
                    tracing::warn!(error = %e, "accepting a client failed");
                    break;
                }
            };
            let shared = &self.cx.shared;
            if shared.clients.load(Ordering::Acquire) >= self.cx.config.clients_max {
                use std::io::Write;
                let mut stream = stream;
                let _ = stream.write_all(b"-ERR max number of clients reached\r\n");
                stats::add(&self.cx.stats().rejected_connections, 1);
                continue;
            }
            shared.clients.fetch_add(1, Ordering::AcqRel);
            let to = *next % loops.len();
            *next = next.wrapping_add(1);
            if Arc::ptr_eq(&loops[to], &self.cx.mailbox) {
                mine.push(stream);
            } else {
                loops[to].hand_over(stream);
            }
        }
        for stream in mine {
            self.add(stream);
        }
    }

    /// Takes a new connection (already counted among the clients).
    fn add(&mut self, mut stream: TcpStream) {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let registered = key < KEYS_MAX
            && self
                .poll
                .registry()
                .register(
                    &mut stream,
                    Token(key + CONN_BASE),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_ok();
        if !registered {
            self.cx.shared.clients.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let id = self.cx.shared.next_client_id.fetch_add(1, Ordering::AcqRel) + 1;
        let client = Arc::new(Client::new(
            id,
            stream.peer_addr().ok(),
            stream.local_addr().ok(),
            i64::from(stream.as_raw_fd()),
            self.cx.mailbox.clone(),
        ));
        self.cx.shared.registry.add(client.clone());
        stats::add(&self.cx.stats().connections, 1);
        entry.insert(Conn::new(stream, client));
        if self.listed.len() <= key {
            self.listed.resize(key + 1, false);
        }
        // Bytes may have arrived before the registration: read at once.
        self.activate(key);
    }

    fn close(&mut self, key: usize) {
        let mut c = self.conns.remove(key);
        let _ = self.poll.registry().deregister(c.stream());
        self.cx.shared.registry.remove(c.client_id());
        self.cx.shared.clients.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Adds `key` to `active` unless it is listed already.
fn list(listed: &mut [bool], active: &mut Vec<usize>, key: usize) {
    if !listed[key] {
        listed[key] = true;
        active.push(key);
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        let n = self.conns.len();
        for (_, c) in self.conns.iter() {
            self.cx.shared.registry.remove(c.client_id());
        }
        self.cx.shared.clients.fetch_sub(n, Ordering::AcqRel);
    }
}
