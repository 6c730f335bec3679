//! The RESP server (RESP2, and RESP3 after HELLO 3): any Redis client can talk to any node. Writes go through the log (followers
//! forward them to the leader); reads are linearizable unless the connection said READONLY;
//! pipelined requests are answered in order; every error is a RESP error a person can act on.
//!
//! A few I/O threads each run an event loop over many connections (`event_loop.rs`); a
//! connection is a buffer and a line of requests (`conn.rs`), not a thread, so idle clients
//! cost memory only.

mod clients;
mod cluster;
mod commands;
mod conn;
mod event_loop;
mod expirer;
mod info;
mod introspect;
mod mailbox;
mod replies;
mod session;
mod stats;
mod transaction;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use raft_runtime::Node;

use crate::machine::KvStore;
use crate::resp::Limits;
use event_loop::EventLoop;
use mailbox::Mailbox;

/// Teaches this node's transport an address (`RAFT.PEER id host:port`, an override on this node
/// only; members' addresses otherwise come from the membership in the log).
pub type AddPeer = std::sync::Arc<dyn Fn(raft_core::NodeId, SocketAddr) + Send + Sync>;

/// The settings of a [`Server`].
#[derive(Clone)]
pub struct ServerConfig {
    /// The address to accept clients on (port 0: any free port; see [`Server::addr`]).
    pub listen: SocketAddr,
    /// Connections beyond this are refused with an error.
    pub clients_max: usize,
    /// Bounds on each request as RESP.
    pub limits: Limits,
    /// Bytes buffered for one unfinished request before the connection is closed.
    pub request_bytes_max: usize,
    /// How long a request may wait for the cluster.
    pub request_timeout: Duration,
    /// Called with the address given to `RAFT.PEER id host:port`.
    pub add_peer: Option<AddPeer>,
    /// Event-loop threads serving the clients (at least one).
    pub io_threads: usize,
    /// Replies a client may leave unread before it is disconnected, in bytes.
    pub output_bytes_max: usize,
    /// How long a client may leave 256 KiB or more of replies unread (its further requests
    /// waiting in its socket meanwhile) before it is disconnected.
    pub output_stall_max: Duration,
    /// The node's storage syncs every write to disk before acknowledging it (disk storage with
    /// `SyncPolicy::Always`): what INFO and CONFIG GET then report as `appendonly yes`,
    /// `appendfsync always`. Off by default, since the server cannot see the storage.
    pub durable: bool,
}

impl ServerConfig {
    /// The defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            listen,
            clients_max: 10_000,
            limits: Limits::default(),
            request_bytes_max: 32 << 20,
            request_timeout: Duration::from_secs(5),
            add_peer: None,
            io_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            output_bytes_max: 64 << 20,
            output_stall_max: Duration::from_secs(60),
            durable: false,
        }
    }
}

/// What the server's threads share.
struct Shared {
    stop: AtomicBool,
    /// Where the server listens.
    addr: SocketAddr,
    /// Connections open (each counted from its accept until it closes).
    clients: AtomicUsize,
    /// The connections themselves, as CLIENT LIST and KILL see them.
    registry: clients::Clients,
    next_client_id: AtomicU64,
    /// Administrative requests running on helper threads.
    admin_running: AtomicUsize,
    stats: stats::Stats,
    /// INFO's `run_id`: 40 random hexadecimal digits, new at each start.
    run_id: String,
}

/// A running server; dropping it closes every connection and stops its threads.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    mailboxes: Vec<Arc<Mailbox>>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Serves `node` on `config.listen`.
    pub fn start(node: Arc<Node<KvStore>>, config: ServerConfig) -> std::io::Result<Server> {
        let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
        if config.io_threads == 0 {
            return Err(invalid("io_threads must be at least 1"));
        }
        if config.clients_max >= conn::KEYS_MAX {
            return Err(invalid("clients_max is too large"));
        }
        let listener = std::net::TcpListener::bind(config.listen)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let listener = mio::net::TcpListener::from_std(listener);
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            addr,
            clients: AtomicUsize::new(0),
            registry: clients::Clients::default(),
            next_client_id: AtomicU64::new(0),
            admin_running: AtomicUsize::new(0),
            stats: stats::Stats::new(config.io_threads),
            run_id: (0..40)
                .map(|_| char::from_digit(rand::random::<u32>() % 16, 16).unwrap_or('0'))
                .collect(),
        });
        let config = Arc::new(config);
        let mut loops = Vec::new();
        let mut mailboxes = Vec::new();
        for index in 0..config.io_threads {
            let poll = mio::Poll::new()?;
            let waker = mio::Waker::new(poll.registry(), event_loop::WAKER)?;
            let mailbox = Arc::new(Mailbox::new(waker));
            mailboxes.push(mailbox.clone());
            loops.push(EventLoop::new(
                poll,
                node.clone(),
                config.clone(),
                mailbox,
                shared.clone(),
                index,
            ));
        }
        loops[0].accept_on(listener, mailboxes.clone())?;
        let mut server = Server {
            addr,
            shared,
            mailboxes,
            threads: Vec::new(),
        };
        let (n, sh) = (node.clone(), server.shared.clone());
        let t = std::thread::Builder::new()
            .name(format!("resp-{}-expiry", addr.port()))
            .spawn(move || expirer::run(n, sh))?;
        server.threads.push(t);
        for (i, l) in loops.into_iter().enumerate() {
            let t = std::thread::Builder::new()
                .name(format!("resp-{}-{i}", addr.port()))
                .spawn(move || l.run())?;
            server.threads.push(t);
        }
        Ok(server)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Client connections open now.
    pub fn clients(&self) -> usize {
        self.shared.clients.load(Ordering::Acquire)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for m in &self.mailboxes {
            m.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
