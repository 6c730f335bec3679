//! One outgoing connection per peer, owned by its writer thread: a bounded queue in front,
//! reconnects with backoff and jitter, and every message waiting written in one go.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use raft_core::{Message, NodeId};
use rand::Rng;

use crate::config::TcpConfig;
use crate::frame::{self, Handshake};

/// Most messages written in one go.
const BATCH_MAX: usize = 1024;

pub(crate) struct PeerWriter {
    pub(crate) me: NodeId,
    pub(crate) peer: NodeId,
    pub(crate) addr: SocketAddr,
    pub(crate) config: TcpConfig,
    pub(crate) queue: Receiver<Message>,
    pub(crate) dropped: Arc<AtomicU64>,
}

impl PeerWriter {
    pub(crate) fn run(self) {
        let mut conn: Option<TcpStream> = None;
        let mut backoff = self.config.backoff_min;
        let mut buf = Vec::new();
        loop {
            let first = match self.queue.recv_timeout(Duration::from_secs(1)) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => continue,
                // The transport is gone: the node shut down.
                Err(RecvTimeoutError::Disconnected) => return,
            };
            buf.clear();
            frame::encode(&first, &mut buf);
            let mut count = 1;
            while count < BATCH_MAX {
                let Ok(m) = self.queue.try_recv() else { break };
                frame::encode(&m, &mut buf);
                count += 1;
            }
            if conn.is_none() {
                match self.connect() {
                    Ok(c) => {
                        conn = Some(c);
                        backoff = self.config.backoff_min;
                    }
                    Err(e) => {
                        tracing::debug!(peer = self.peer, error = %e, "cannot reach peer; retrying later");
                        self.dropped.fetch_add(count as u64, Ordering::Relaxed);
                        // Messages are dropped meanwhile: Raft retries what matters.
                        let jitter =
                            rand::thread_rng().gen_range(0..=backoff.as_millis() as u64 / 2 + 1);
                        std::thread::sleep(backoff + Duration::from_millis(jitter));
                        backoff = (backoff * 2).min(self.config.backoff_max);
                        while self.queue.try_recv().is_ok() {
                            self.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                }
            }
            let stream = conn.as_mut().expect("connected above");
            if let Err(e) = stream.write_all(&buf) {
                tracing::debug!(peer = self.peer, error = %e, "write failed; reconnecting");
                self.dropped.fetch_add(count as u64, Ordering::Relaxed);
                conn = None;
            }
        }
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect_timeout(&self.addr, self.config.connect_timeout)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(self.config.write_timeout))?;
        let mut hello = Vec::new();
        frame::encode(
            &Handshake::new(self.config.cluster_id, self.me, self.peer),
            &mut hello,
        );
        let mut s = stream;
        s.write_all(&hello)?;
        Ok(s)
    }
}
