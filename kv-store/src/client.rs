//! A Rust client for the store, speaking RESP to any of a list of nodes. It learns which node
//! leads (from `INFO`) and prefers it, retries through failovers until its timeout, and tags
//! every write with an exactly-once session it registers through the log (`XREGISTER`), so a
//! retried write is never applied twice. If the session expired while a write was being
//! retried, the write is refused, never run again: the caller gets
//! [`ClientError::SessionExpired`] (the write may or may not have been applied before), and the
//! next write registers a new session.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::resp::{encode, parse_reply, Limits, Value};

/// Why a request of a [`Client`] failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// No node completed the request within the client's timeout (the `Duration`); the `String`
    /// describes the last failure.
    #[error("no node could complete the request within {0:?}: {1}")]
    Unavailable(Duration, String),
    /// A node answered with an error other than those the client retries (`TRYAGAIN`, an unknown
    /// outcome): its text.
    #[error("the server refused the request: {0}")]
    Refused(String),
    /// A node answered with a reply the command does not give.
    #[error("unexpected reply: {0:?}")]
    UnexpectedReply(Value),
    /// The client's session expired while this write was outstanding: it was not executed
    /// now, but an earlier attempt may have been. The next write opens a new session.
    #[error("the session expired; the write may or may not have been applied: {0}")]
    SessionExpired(String),
}

struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    fn open(addr: SocketAddr, timeout: Duration) -> std::io::Result<Connection> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Connection {
            stream,
            buf: Vec::new(),
        })
    }

    fn call(&mut self, args: &[Vec<u8>]) -> std::io::Result<Value> {
        let mut out = Vec::new();
        encode(
            &Value::Array(Some(
                args.iter().map(|a| Value::Bulk(Some(a.clone()))).collect(),
            )),
            &mut out,
        );
        self.stream.write_all(&out)?;
        loop {
            match parse_reply(&self.buf, &Limits::default()) {
                Ok(Some((v, used))) => {
                    self.buf.drain(..used);
                    return Ok(v);
                }
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            }
            let mut chunk = [0u8; 16 << 10];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A client of the cluster.
pub struct Client {
    nodes: Vec<SocketAddr>,
    /// Node ids learnt from INFO, to find the leader's address.
    ids: HashMap<u64, usize>,
    current: usize,
    conn: Option<Connection>,
    /// The registered session, once the first write has opened one.
    session: Option<u64>,
    seq: u64,
    timeout: Duration,
}

impl Client {
    /// A client of the cluster at `nodes` (RESP addresses). Each request retries until `timeout`.
    pub fn new(nodes: Vec<SocketAddr>, timeout: Duration) -> Client {
        Client {
            nodes,
            ids: HashMap::new(),
            current: 0,
            conn: None,
            session: None,
            seq: 0,
            timeout,
        }
    }

    /// The value of `key` (`None` when absent), read linearizably.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        match self.read(&[b"GET".to_vec(), key.to_vec()])? {
            Value::Bulk(v) => Ok(v),
            other => Err(ClientError::UnexpectedReply(other)),
        }
    }

    /// Sets `key` to `value`, exactly once.
    pub fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        match self.write(&[b"SET".to_vec(), key.to_vec(), value.to_vec()])? {
            Value::Simple(_) => Ok(()),
            other => Err(ClientError::UnexpectedReply(other)),
        }
    }

    /// Adds `by` to the integer at `key` (0 when absent), exactly once, and returns the new value.
    pub fn incr_by(&mut self, key: &[u8], by: i64) -> Result<i64, ClientError> {
        match self.write(&[
            b"INCRBY".to_vec(),
            key.to_vec(),
            by.to_string().into_bytes(),
        ])? {
            Value::Integer(n) => Ok(n),
            other => Err(ClientError::UnexpectedReply(other)),
        }
    }

    /// Deletes `key`, exactly once; returns whether it existed.
    pub fn del(&mut self, key: &[u8]) -> Result<bool, ClientError> {
        match self.write(&[b"DEL".to_vec(), key.to_vec()])? {
            Value::Integer(n) => Ok(n > 0),
            other => Err(ClientError::UnexpectedReply(other)),
        }
    }

    /// Sets `key` to `new` if it holds `expected`; returns whether it did.
    pub fn cas(&mut self, key: &[u8], expected: &[u8], new: &[u8]) -> Result<bool, ClientError> {
        match self.write(&[
            b"CAS".to_vec(),
            key.to_vec(),
            expected.to_vec(),
            new.to_vec(),
        ])? {
            Value::Integer(n) => Ok(n == 1),
            other => Err(ClientError::UnexpectedReply(other)),
        }
    }

    /// A write command, applied exactly once however often it is retried.
    pub fn write(&mut self, args: &[Vec<u8>]) -> Result<Value, ClientError> {
        let session = self.session()?;
        self.seq += 1;
        let mut tagged = vec![
            b"XSESSION".to_vec(),
            session.to_string().into_bytes(),
            self.seq.to_string().into_bytes(),
        ];
        tagged.extend_from_slice(args);
        match self.call(&tagged) {
            Err(ClientError::Refused(e)) if e.starts_with("ERR session expired") => {
                self.session = None;
                Err(ClientError::SessionExpired(e))
            }
            other => other,
        }
    }

    /// This client's session, registered through the log on first use. A registration retried
    /// through a failover may open a second session; the unused one just expires.
    fn session(&mut self) -> Result<u64, ClientError> {
        if let Some(s) = self.session {
            return Ok(s);
        }
        match self.call(&[b"XREGISTER".to_vec()])? {
            Value::Integer(id) if id > 0 => {
                self.session = Some(id as u64);
                self.seq = 0;
                Ok(id as u64)
            }
            other => Err(ClientError::UnexpectedReply(other)),
        }
    }

    /// A read command (linearizable).
    pub fn read(&mut self, args: &[Vec<u8>]) -> Result<Value, ClientError> {
        self.call(args)
    }

    /// Sends `args`, retrying on other nodes and after failovers until the timeout.
    fn call(&mut self, args: &[Vec<u8>]) -> Result<Value, ClientError> {
        if self.nodes.is_empty() {
            return Err(ClientError::Unavailable(
                self.timeout,
                "the client was given no nodes".into(),
            ));
        }
        let deadline = Instant::now() + self.timeout;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            let conn = match self.conn.as_mut() {
                Some(c) => c,
                None => match Connection::open(self.nodes[self.current], self.per_try()) {
                    Ok(c) => {
                        self.conn = Some(c);
                        self.learn_leader();
                        match self.conn.as_mut() {
                            Some(c) => c,
                            None => continue,
                        }
                    }
                    Err(e) => {
                        last = format!("{}: {e}", self.nodes[self.current]);
                        self.next_node();
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                },
            };
            match conn.call(args) {
                Ok(Value::Error(e))
                    if e.starts_with("TRYAGAIN") || e.starts_with("ERR outcome unknown") =>
                {
                    // Leadership is moving: the same request (same session and sequence for
                    // writes) is sent again, so it takes effect once.
                    last = e;
                    self.conn = None;
                    self.learn_leader_or_rotate();
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(Value::Error(e)) => return Err(ClientError::Refused(e)),
                Ok(v) => return Ok(v),
                Err(e) => {
                    last = format!("{}: {e}", self.nodes[self.current]);
                    self.conn = None;
                    self.next_node();
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Err(ClientError::Unavailable(self.timeout, last))
    }

    fn per_try(&self) -> Duration {
        (self.timeout / 4).max(Duration::from_millis(200))
    }

    fn next_node(&mut self) {
        self.current = (self.current + 1) % self.nodes.len();
    }

    fn learn_leader_or_rotate(&mut self) {
        let before = self.current;
        if let Ok(mut c) = Connection::open(self.nodes[self.current], self.per_try()) {
            if let Ok(Some(leader)) = info_field(&mut c, "leader") {
                if let Some(&i) = self.ids.get(&leader) {
                    self.current = i;
                }
            }
        }
        if self.current == before {
            self.next_node();
        }
    }

    /// Asks the connected node who leads, learning node ids on the way, and switches to the
    /// leader when its address is known.
    fn learn_leader(&mut self) {
        if self.ids.len() < self.nodes.len() {
            for (i, addr) in self.nodes.iter().enumerate() {
                if let Ok(mut c) = Connection::open(*addr, self.per_try()) {
                    if let Ok(Some(id)) = info_field(&mut c, "node_id") {
                        self.ids.insert(id, i);
                    }
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        match info_field(conn, "leader") {
            Ok(Some(leader)) => {
                if let Some(&i) = self.ids.get(&leader) {
                    if i != self.current {
                        self.current = i;
                        self.conn = Connection::open(self.nodes[i], self.per_try()).ok();
                    }
                }
            }
            Ok(None) => {}
            // The INFO reply may still arrive and would be taken for the next request's answer:
            // the connection goes.
            Err(_) => self.conn = None,
        }
    }
}

/// A numeric field of INFO: `Ok(None)` when the node does not report it (no leader known), an
/// error when the connection failed or answered something else (it must not be reused).
fn info_field(c: &mut Connection, field: &str) -> std::io::Result<Option<u64>> {
    let text = match c.call(&[b"INFO".to_vec(), b"raft".to_vec()])? {
        Value::Bulk(Some(text)) => text,
        Value::Error(_) => return Ok(None),
        other => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("INFO answered {other:?}"),
            ))
        }
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok()))
}
