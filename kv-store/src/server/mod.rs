//! The RESP2 server: any Redis client can talk to any node. Writes go through the log (followers
//! forward them to the leader); reads are linearizable unless the connection said READONLY;
//! pipelined requests are answered in order; every error is a RESP error a person can act on.

mod commands;
mod conn;
mod replies;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use raft_runtime::Node;

use crate::machine::KvStore;
use crate::resp::Limits;

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
        }
    }
}

/// A running server; dropping it stops accepting connections.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `node` on `config.listen`.
    pub fn start(node: Arc<Node<KvStore>>, config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.listen)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let clients = Arc::new(AtomicUsize::new(0));
        let mut next_client_id: u64 = 0;
        let stop_flag = stop.clone();
        let accept = thread::Builder::new()
            .name(format!("resp-{addr}"))
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            if clients.load(Ordering::Relaxed) >= config.clients_max {
                                use std::io::Write;
                                let _ = stream.write_all(b"-ERR max number of clients reached\r\n");
                                continue;
                            }
                            clients.fetch_add(1, Ordering::Relaxed);
                            let _ = stream.set_nonblocking(false);
                            next_client_id += 1;
                            let conn = conn::Conn {
                                node: node.clone(),
                                config: config.clone(),
                                read_only: false,
                                node_gone: false,
                                broken: false,
                                client_id: next_client_id,
                                name: None,
                                in_multi: false,
                            };
                            let count = clients.clone();
                            let spawned =
                                thread::Builder::new()
                                    .name("resp-conn".into())
                                    .spawn(move || {
                                        conn.serve(stream);
                                        count.fetch_sub(1, Ordering::Relaxed);
                                    });
                            if let Err(e) = spawned {
                                // The stream went down with the closure: the client sees a close.
                                tracing::warn!(error = %e, "no thread for a client connection");
                                clients.fetch_sub(1, Ordering::Relaxed);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })?;
        Ok(Server {
            addr,
            stop,
            accept: Some(accept),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}
