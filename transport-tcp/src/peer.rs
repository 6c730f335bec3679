//! One outgoing connection per peer, owned by its writer thread: a bounded queue in front,
//! reconnects with backoff and jitter, and every message waiting written in one go.

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;
use raft_core::{Message, NodeId};
use rand::Rng;

use crate::config::TcpConfig;
use crate::frame::{self, Handshake};

/// Most messages written in one go.
const BATCH_MAX: usize = 1024;

/// A connection that has carried writes this long is healthy: the backoff starts over.
const HEALTHY_AFTER: Duration = Duration::from_secs(1);

pub(crate) struct PeerWriter {
    pub(crate) me: NodeId,
    pub(crate) peer: NodeId,
    /// The address book, read at every connect: a peer that moved is found at its new address.
    pub(crate) peers: Arc<Mutex<HashMap<NodeId, SocketAddr>>>,
    pub(crate) config: TcpConfig,
    pub(crate) queue: Receiver<Message>,
    pub(crate) dropped: Arc<AtomicU64>,
}

/// The connection and when it was opened and last written.
struct Conn {
    stream: TcpStream,
    opened: Instant,
    written: Instant,
}

impl PeerWriter {
    pub(crate) fn run(self) {
        let mut conn: Option<Conn> = None;
        let mut backoff = self.config.backoff_min;
        let mut buf = Vec::new();
        // The reader at the other end closes a connection silent for `read_timeout`; a write
        // into it would vanish. A connection idle for half that is replaced instead.
        let idle_max = self.config.read_timeout / 2;
        loop {
            let first = match self.queue.recv_timeout(Duration::from_secs(1)) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => continue,
                // The transport is gone: the node shut down.
                Err(RecvTimeoutError::Disconnected) => return,
            };
            buf.clear();
            let mut count = self.add(&first, &mut buf);
            let mut taken = 1;
            while taken < BATCH_MAX {
                let Ok(m) = self.queue.try_recv() else { break };
                count += self.add(&m, &mut buf);
                taken += 1;
            }
            if count == 0 {
                continue;
            }
            if conn
                .as_ref()
                .is_some_and(|c| c.written.elapsed() > idle_max)
            {
                conn = None;
            }
            if conn.is_none() {
                match self.connect() {
                    Ok(stream) => {
                        let now = Instant::now();
                        conn = Some(Conn {
                            stream,
                            opened: now,
                            written: now,
                        });
                    }
                    Err(e) => {
                        tracing::debug!(peer = self.peer, error = %e, "cannot reach peer; retrying later");
                        self.dropped.fetch_add(count as u64, Ordering::Relaxed);
                        backoff = self.back_off(backoff);
                        continue;
                    }
                }
            }
            let c = conn.as_mut().expect("connected above");
            match c.stream.write_all(&buf) {
                Ok(()) => {
                    c.written = Instant::now();
                    if c.opened.elapsed() > HEALTHY_AFTER {
                        backoff = self.config.backoff_min;
                    }
                }
                Err(e) => {
                    tracing::debug!(peer = self.peer, error = %e, "write failed; reconnecting");
                    self.dropped.fetch_add(count as u64, Ordering::Relaxed);
                    conn = None;
                    // A peer that accepts and then refuses us is not redialled at message rate.
                    backoff = self.back_off(backoff);
                }
            }
        }
    }

    /// Appends `m`'s frame to `buf`, or drops it (logged and counted) when it is larger than a
    /// peer accepts: sent, it would make the peer close the connection and lose what follows.
    fn add(&self, m: &Message, buf: &mut Vec<u8>) -> usize {
        let start = buf.len();
        frame::encode(m, buf);
        let payload = buf.len() - start - frame::HEADER_BYTES;
        if payload > self.config.frame_bytes_max as usize {
            buf.truncate(start);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                peer = self.peer,
                bytes = payload,
                limit = self.config.frame_bytes_max,
                "message larger than a frame may be; dropped"
            );
            return 0;
        }
        1
    }

    /// Sleeps for `backoff` plus jitter, dropping what queues meanwhile (Raft retries what
    /// matters), and returns the next backoff.
    fn back_off(&self, backoff: Duration) -> Duration {
        let jitter = rand::thread_rng().gen_range(0..=backoff.as_millis() as u64 / 2 + 1);
        std::thread::sleep(backoff + Duration::from_millis(jitter));
        while self.queue.try_recv().is_ok() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        (backoff * 2).min(self.config.backoff_max)
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let addr = self.peers.lock().get(&self.peer).copied().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address for this peer")
        })?;
        let mut stream = TcpStream::connect_timeout(&addr, self.config.connect_timeout)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(self.config.write_timeout))?;
        let mut hello = Vec::new();
        frame::encode(
            &Handshake::new(self.config.cluster_id, self.me, self.peer),
            &mut hello,
        );
        stream.write_all(&hello)?;
        Ok(stream)
    }
}
