//! Incoming connections: one reader thread each. A connection must open with a valid handshake;
//! after that every frame must be a message from that peer to this node. Anything else closes
//! the connection (logged), and the node keeps running.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use raft_core::NodeId;
use raft_runtime::Inbound;

use crate::config::TcpConfig;
use crate::frame::{self, FrameError};

pub(crate) struct Listener {
    pub(crate) listener: TcpListener,
    pub(crate) config: TcpConfig,
    pub(crate) known: Arc<Mutex<std::collections::HashMap<NodeId, std::net::SocketAddr>>>,
    pub(crate) inbound: Inbound,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) refused: Arc<AtomicU64>,
}

impl Listener {
    pub(crate) fn run(self) {
        let _ = self.listener.set_nonblocking(true);
        let open = Arc::new(AtomicUsize::new(0));
        while !self.stop.load(Ordering::Relaxed) {
            match self.listener.accept() {
                Ok((stream, peer_addr)) => {
                    if open.load(Ordering::Relaxed) >= self.config.inbound_connections_max {
                        self.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%peer_addr, limit = self.config.inbound_connections_max, "too many incoming connections; closing this one");
                        continue;
                    }
                    open.fetch_add(1, Ordering::Relaxed);
                    let reader = Reader {
                        config: self.config.clone(),
                        known: self.known.clone(),
                        inbound: self.inbound.clone(),
                        stop: self.stop.clone(),
                        refused: self.refused.clone(),
                    };
                    let count = open.clone();
                    let spawned = thread::Builder::new()
                        .name(format!("tcp-in-{peer_addr}"))
                        .spawn(move || {
                            reader.run(stream);
                            count.fetch_sub(1, Ordering::Relaxed);
                        });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "no thread for an incoming connection");
                        open.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}

struct Reader {
    config: TcpConfig,
    known: Arc<Mutex<std::collections::HashMap<NodeId, std::net::SocketAddr>>>,
    inbound: Inbound,
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
}

impl Reader {
    fn run(self, stream: TcpStream) {
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        if let Err(e) = self.serve(stream) {
            match e {
                FrameError::Io(ref io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {}
                // A peer with nothing to say for a while: its writer reconnects when it has.
                FrameError::Io(ref io) if matches!(io.kind(), std::io::ErrorKind::WouldBlock) => {
                    tracing::debug!(peer, "closing an idle connection");
                }
                _ => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(peer, error = %e, "closing connection");
                }
            }
        }
    }

    fn serve(&self, stream: TcpStream) -> Result<(), FrameError> {
        let _ = stream.set_nonblocking(false);
        // A handshake is small, and must arrive whole within the connect timeout: a stranger
        // can neither make us allocate a large frame nor hold the thread by dribbling bytes.
        let deadline = Instant::now() + self.config.connect_timeout;
        let hello = frame::read_frame(&mut Deadline(&stream, deadline), 256)?;
        let hello = frame::decode_handshake(&hello)?;
        stream.set_read_timeout(Some(self.config.read_timeout))?;
        let mut r = std::io::BufReader::with_capacity(64 << 10, stream);
        let me = self.config.node_id;
        hello.check(self.config.cluster_id, me, |id| {
            self.known.lock().contains_key(&id)
        })?;
        while !self.stop.load(Ordering::Relaxed) {
            let m =
                frame::decode_message(&frame::read_frame(&mut r, self.config.frame_bytes_max)?)?;
            if m.from != hello.from || m.to != me {
                return Err(FrameError::Refused(format!(
                    "message from {} to {} on node {}'s connection",
                    m.from, m.to, hello.from
                )));
            }
            // A full inbox drops the message, like a congested network.
            self.inbound.deliver(m);
        }
        Ok(())
    }
}

/// Reads from a stream until a deadline, however slowly the bytes come.
struct Deadline<'a>(&'a TcpStream, Instant);

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.1.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.0.set_read_timeout(Some(left))?;
        // Out of time is a refusal, not the quiet close of an idle connection.
        self.0.read(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => std::io::ErrorKind::TimedOut.into(),
            _ => e,
        })
    }
}
